// A registry from explicit factories, for tests of the rules engine alone (the gateway builds its
// one registry with gateway/pipeline/actions buildActionRegistry).
import type { ActionFactory, ActionRegistry } from '../../rules/index.js';

export function createActionRegistry(factories: Record<string, ActionFactory> = {}): ActionRegistry {
  return new Map(Object.entries(factories));
}
