// Built-in action plugins and registry helpers. The gateway adds its own kinds (upstream exporters).
import type { ActionFactory, ActionRegistry } from '../types.js';
import { republishAction, type Publisher } from './republish.js';
import { streamAction, type StreamAppender } from './stream.js';

export { republishAction, republishOptionsSchema, MAX_REPUBLISH_HOPS, type Publisher } from './republish.js';
export { streamAction, streamOptionsSchema, type StreamAppender } from './stream.js';

/** A registry from explicit factories: createActionRegistry({ republish: republishAction(p), ... }). */
export function createActionRegistry(factories: Record<string, ActionFactory> = {}): ActionRegistry {
  return new Map(Object.entries(factories));
}

/** The built-in kinds wired to a publisher and a stream appender. */
export function builtinActionRegistry(deps: { publisher: Publisher; streams: StreamAppender }): ActionRegistry {
  return createActionRegistry({ republish: republishAction(deps.publisher), stream: streamAction(deps.streams) });
}
