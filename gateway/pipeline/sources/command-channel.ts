// The command topic of a source that writes downlink (Modbus, OPC UA, Sparkplug): its option
// (`commands: { topic, replyTopic }`), the reply topic's default, and the subscription on the
// local broker that never takes the source's own replies for commands.
//
// The default reply topic of a wildcard command topic ('plant/cmd/#' -> 'plant/cmd/reply') is
// inside it: each reply came back as a command and was answered, forever (a core at 100 %,
// millions of replies a minute, a gateway that no longer stopped on SIGTERM: docs/industrial.md).
import { z } from '../../../core/zod.js';
import type { SourceDeps } from './kind.js';

/** The `commands` option: `payload` is the command's JSON shape, `what` what the commands write. */
export function commandsSchema(payload: string, what: string) {
  return z
    .strictObject({
      topic: z.string().min(1).describe(`Local broker topic (filter) whose messages write ${what}: ${payload}`),
      replyTopic: z.string().min(1).optional().describe('Topic the result of each write is published on (default: <topic>/reply)'),
    })
    .strict();
}

export type CommandsOptions = { topic: string; replyTopic?: string | undefined };

/** Why `commands` cannot be taken (a reply topic that is the command topic), else undefined. */
export function replyTopicProblem(c: CommandsOptions | undefined): string | undefined {
  if (c?.replyTopic === undefined || c.replyTopic !== c.topic) return undefined;
  return `the reply topic is the command topic: give replies their own topic, e.g. '${c.topic}/reply' (the default)`;
}

/** The reply topic: the configured one, else the command topic (a trailing wildcard level left out) + '/reply'. */
export function replyTopicOf(c: CommandsOptions): string {
  return c.replyTopic ?? `${c.topic.replace(/\/[#+]$/, '')}/reply`;
}

/**
 * Subscribe to the command topic on the local broker; a message on the reply topic is the
 * source's own reply, never a command. Returns the unsubscribe, or undefined (logged) when this
 * runtime has no local broker subscription.
 */
export function subscribeCommands(
  deps: SourceDeps,
  c: CommandsOptions,
  kind: string,
  onCommand: (payload: Buffer, topic: string) => void,
): (() => void) | undefined {
  if (!deps.subscribe) {
    deps.logger.warn(`${kind} commands configured but this runtime offers no broker subscription; writes are disabled`);
    return undefined;
  }
  const reply = replyTopicOf(c);
  return deps.subscribe(c.topic, (topic, payload) => {
    if (topic !== reply) onCommand(payload, topic);
  });
}
