// Contract of the rules engine (rules/): rule definitions and the action interface the engine
// executes (action kinds themselves live in gateway/pipeline/actions/). rules/ imports core/ only;
// the gateway depends on this file and on rules/index.ts exports. The engine's own interface
// (RuleEngine) is in engine.ts, beside the compiled rule set it runs.
import type { Message } from '../core/message.js';

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
  /**
   * Optional: validate()'s check when it is synchronous and has no side effect (a stream or link
   * that does not exist). Run while compiling, so that a rule set with other errors (bad SQL)
   * reports these too, in one round: a user fixed the SQL only to be told of the stream next.
   */
  check?(): void;
}

export interface ActionFactoryTools {
  compileTemplate(source: string): Template;
  /** Name of the rule the action belongs to (what its GH_ACTION_FAILED errors name). */
  readonly rule: string;
}

export type ActionFactory = (options: Record<string, unknown>, tools: ActionFactoryTools) => Action;

/** Registry of action kinds, filled by the gateway (stream, republish, serial, kinesis...). */
export type ActionRegistry = Map<string, ActionFactory>;

/**
 * Where decode(*, 'proto', bucket, key, file, type) reads its descriptor: AWS reads the object
 * s3://bucket/key, the gateway a file of its own folder (gateway/pipeline/proto-descriptors.ts,
 * `protoDescriptorDir`). Handed to the rule set compiler by the gateway (rules/ reads no files).
 * Synchronous: it is called when a rule compiles (the rule set compiler is synchronous) and, for a
 * rule whose descriptor arguments are not literals, the first time a message needs that file.
 */
export interface ProtoDescriptorSource {
  /** The file's bytes, read now. Throws GH_PROTO_DESCRIPTOR: missing, unreadable, too large, a name that leaves the folder. */
  read(bucket: string, key: string): Buffer;
  /** The file it reads for bucket and key, for messages. */
  pathOf(bucket: string, key: string): string;
}

/**
 * The gateway's local Device Shadows, read by get_thing_shadow(thingName[, shadowName], roleArn)
 * (gateway/shadow/). Handed to the rule set compiler by the gateway, as the Protobuf descriptors
 * are (rules/ holds no shadows). Synchronous: the gateway keeps its shadows in memory.
 */
export interface ShadowLookup {
  /** The shadow document as get/accepted shows it (state with delta, metadata, version, timestamp), or undefined when it does not exist. */
  get(thingName: string, shadowName: string | undefined): unknown;
}

/**
 * The lookup tables get_dynamodb(table, keyName, keyValue, roleArn) reads, injected (the gateway's
 * `tables:`, gateway/tables/): rules/ reads no files. Contents may change between calls (a reload).
 */
export interface LookupTableSource {
  /** The table's key attribute; undefined when no table has that name. */
  keyOf(table: string): string | undefined;
  /** The names of the tables (for an error naming them). */
  names(): readonly string[];
  /**
   * The item whose key is `key`: text as is, a (finite) number as its text (lookupKeyText: 17 and
   * 17.0 are "17"), looked up without making the text; undefined when there is none.
   */
  get(table: string, key: string | number): Readonly<Record<string, unknown>> | undefined;
}

export interface RuleCounters {
  matched: number;
  emitted: number;
  errors: number;
  actionFailures: number;
  /** The latest evaluation or action failure (absent while the rule has none). */
  lastError?: string;
}
