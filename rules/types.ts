// Contract of the rules engine (rules/). The gateway depends only on this file and on
// rules/index.ts exports. Rules never import gateway internals other than Message and errors.
import type { Message } from '../core/message.js';
import type { CompiledRuleSet } from './ruleset.js';

export type { CompiledRuleSet };

export type SqlVersion = '2016-03-23' | '2015-10-08';

/**
 * An action as written in a rule, in AWS IoT's shape: an object with exactly one key, the action
 * kind, whose value is that action's options. e.g. { republish: { topic: 'alerts/${topic(2)}', qos: 1 } },
 * { stream: { name: 'archive', partitionKey: '${topic(2)}' } }.
 */
export type ActionConfig = Record<string, Record<string, unknown>>;

export interface RuleDefinition {
  name: string;
  sql: string;
  sqlVersion?: SqlVersion;
  enabled?: boolean;
  description?: string;
  actions: ActionConfig[];
  errorAction?: ActionConfig;
}

export interface RuleSetDefinition {
  version: number;
  rules: RuleDefinition[];
}

/** A compiled ${...} substitution template, rendered against the message being processed. */
export interface Template {
  readonly source: string;
  render(ctx: ActionContext): string;
}

export interface ActionContext {
  message: Message;
  ruleName: string;
  /** The payload parsed as JSON once (undefined for non-JSON payloads). */
  readonly payloadJson: unknown;
}

export interface Action {
  readonly kind: string;
  /** What the action writes to (topic template, stream name, URL): AWS's failedResource. */
  readonly resource: string;
  /** A durable action's completion gates the MQTT PUBACK of the source message. */
  readonly durable: boolean;
  execute(output: Buffer, ctx: ActionContext): void | Promise<void>;
  /** Optional start-time validation (e.g. the stream exists); throwing rejects the rule set. */
  validate?(): void | Promise<void>;
}

export interface ActionFactoryTools {
  compileTemplate(source: string): Template;
}

export type ActionFactory = (options: Record<string, unknown>, tools: ActionFactoryTools) => Action;

/** Registry of action kinds, filled by the gateway (stream, republish, serial, kinesis...). */
export type ActionRegistry = Map<string, ActionFactory>;

export interface RuleCounters {
  matched: number;
  emitted: number;
  errors: number;
  actionFailures: number;
}

export interface RuleEngine {
  /**
   * Evaluate every enabled rule whose FROM filter matches msg.topic and run their actions.
   * Returns undefined when no durable action was started (ack at once), else a promise that
   * resolves when every durable action completed, and rejects if one failed (the source must
   * then not be acknowledged).
   */
  handle(msg: Message): Promise<void> | undefined;
  counters(): Map<string, RuleCounters>;
  /** Replace the active rule set in one step (per-rule counters carry over by rule name). */
  swap(next: CompiledRuleSet): void;
  /** The active rule set. */
  ruleSet(): CompiledRuleSet;
  /** Restore window/detector state from the state store and start periodic checkpoints. */
  start(): Promise<void>;
  /** Restore the state of new stateful rules from the store, then swap (rules with the same name and SQL keep their live state). */
  install(next: CompiledRuleSet): Promise<void>;
  /** Checkpoint changed window/detector state now. */
  checkpoint(): Promise<void>;
  /** Final checkpoint, stop window timers, unregister metrics. */
  stop(): Promise<void>;
  /** Stop window timers and unregister the engine's metrics (no checkpoint). */
  close(): void;
}
