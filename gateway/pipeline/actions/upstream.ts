// Rule actions named as in AWS IoT (`kinesis`, `firehose`, `http`, `s3`) plus `mqtt`, `nats` and
// `webhook` (what AWS IoT's HTTP action is: a POST to the user's own endpoint; `http` here speaks the
// Firehose HTTP endpoint protocol):
// shorthand for "append to a local stream that is exported to that destination", so every upstream
// action is durable (the source's PUBACK waits for the append) and goes through the exporter loop
// (batching, retries, dead letters).
//
//   actions: [{ kinesis: { streamName: fleet, region: eu-west-1, partitionKey: '${topic(2)}' } }]
//
// The options are the destination's options (docs/destinations.md) plus `partitionKey` (a ${...}
// template; the record key), `stream` (local stream options: maxBytes, ttl, onFull) and `exporter`
// (batch, backoff, maxAttempts, ...). The local stream and its exporter are named
// `<kind>-<hash of the destination options>`: the same destination used by several rules shares
// one stream and one checkpoint, and the name is stable across restarts and rule updates. A stream
// no rule of the running set appends to any more (the action removed, or its destination changed)
// keeps its exporter until it is drained, across restarts (rule-exporters.ts, docs/upstream.md).
// Both are created when a rule set using them is installed (ExporterSet.activate): a refused rule
// set creates neither.
import { createHash } from 'node:crypto';
import type { RuntimeDeps } from '../../../core/deps.js';
import { ERRORS, isGatehouseError } from '../../../core/errors.js';
import type { z } from '../../../core/zod.js';
import { schemaKeys, unknownKey, zodProblems, type ConfigProblem } from '../../../core/validation.js';
import type { LocalStreams, StreamOptions } from '../../store/types.js';
import { streamDefaultsSchema, toStreamOptions } from '../../store/options.js';
// Not the upstream barrel nor its registry: a kind's module is loaded when a rule set names it (deps.destinations).
import { exporterOptionsSchema, DESTINATION_TYPES, type DestinationType, type ExporterOptions } from '../../upstream/options.js';
import { destinationFrom, type DestinationKinds } from '../../upstream/destination-kind.js';
import { destinationConfigError } from '../../upstream/destinations/common.js';
import { evalContextOf, type Action, type ActionFactory, type CompiledTemplate, type RuleSetDefinition } from '../../../rules/index.js';
import type { ExporterSet } from '../exporters.js';

const DOCS_HINT =
  "see docs/rules-sql.md (Actions) for an upstream action's options: its destination's (docs/configuration.md, Destination options), partitionKey, stream and exporter";

export const UPSTREAM_ACTION_KINDS: readonly DestinationType[] = ['kinesis', 'firehose', 'http', 's3', 'mqtt', 'nats', 'webhook'];

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * Options of AWS IoT's rule action of the same name that mean something else here (the action
 * appends to a stream exported in batches): a rule copied from AWS is refused with what to write.
 * Options with the same meaning under another name are renamed (AWS_RENAMES).
 */
const HTTP_IS_FIREHOSE = 'the http action speaks the Firehose HTTP endpoint protocol (batches, docs/upstream.md)';
const USE_WEBHOOK =
  "For AWS IoT's HTTP action (a POST to your own endpoint, with headers and auth), write `webhook` instead of `http` (docs/destinations.md, webhook)";
const AWS_ONLY: Partial<Record<DestinationType, Record<string, string>>> = {
  s3: {
    bucketName: "AWS's bucketName is `bucket` here",
    key: 'an object holds a batch of records here, not one message: name objects with `keyTemplate` (docs/destinations.md, s3)',
    cannedAcl: 'objects get the bucket default ACL (no cannedAcl)',
  },
  http: {
    headers: `${HTTP_IS_FIREHOSE}; give the receiver an access key with \`accessKey\`. ${USE_WEBHOOK}`,
    confirmationUrl: `${HTTP_IS_FIREHOSE}: no confirmation URL. ${USE_WEBHOOK}`,
    auth: `${HTTP_IS_FIREHOSE}: it authenticates with \`accessKey\`. ${USE_WEBHOOK}`,
  },
  webhook: {
    confirmationUrl: "the endpoint is the gateway owner's (its url in the rule set, signed when rule updates are): no confirmation URL",
    enableBatching: 'records are always batched (exporter.batch; maxRecords: 1 sends one per request)',
    batchConfig: 'batches are set with exporter.batch (maxRecords, maxBytes, lingerMs)',
  },
  firehose: { batchMode: 'records are always batched (exporter.batch)' },
};
const AWS_RENAMES: Partial<Record<DestinationType, Record<string, string>>> = { firehose: { separator: 'recordSeparator' } };

/**
 * AWS IoT's HTTP action lists headers as `[{ key, value }]`; the webhook destination takes a map.
 * Their values are fixed here (a batch of many messages has one request): a substitution template
 * would be sent as its text, so it is refused with what to do instead.
 */
function awsHeaders(list: unknown[]): Record<string, unknown> | unknown[] {
  const map: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  list.forEach((h, i) => {
    const { key, value } = (h && typeof h === 'object' ? h : {}) as { key?: unknown; value?: unknown };
    if (typeof key !== 'string' || typeof value !== 'string') {
      problems.push({ path: `webhook.headers.${i}`, message: "a header in AWS IoT's form is { key: <name>, value: <text> }" });
    } else if (value.includes('${')) {
      problems.push({
        path: `webhook.headers.${i}.value`,
        message: `the header ${key} holds a substitution template (${value}): headers are sent once per batch of many messages, so they are fixed text here; put per-message values in the SELECT`,
      });
    } else {
      map[key] = value;
    }
  });
  if (problems.length > 0)
    throw destinationConfigError('webhook action', problems, { hint: "see docs/rules-sql.md (Actions) for AWS IoT's options and Gatehouse's" });
  return map;
}

/** Rename AWS's spelling of an option that means the same; refuse AWS options that mean something else. */
function fromAwsOptions(kind: DestinationType, destination: Record<string, unknown>): Record<string, unknown> {
  const out = { ...destination };
  if (kind === 'webhook' && Array.isArray(out.headers)) out.headers = awsHeaders(out.headers);
  for (const [aws, ours] of Object.entries(AWS_RENAMES[kind] ?? {})) {
    if (aws in out && !(ours in out)) {
      out[ours] = out[aws];
      delete out[aws];
    }
  }
  const only = AWS_ONLY[kind] ?? {};
  const found = Object.keys(out).filter((k) => Object.hasOwn(only, k));
  if (found.length > 0) {
    throw destinationConfigError(
      `${kind} action`,
      found.map((k) => ({ path: `${kind}.${k}`, message: `an option of AWS IoT's ${kind} action: ${only[k]}` })),
      { hint: "see docs/rules-sql.md (Actions) for AWS IoT's options and Gatehouse's" },
    );
  }
  return out;
}

/**
 * Destination options an action names otherwise, as the action's own key took the name: a nats
 * action's JetStream stream is `jetStream` (its `stream` is the local stream's options, as in
 * every upstream action; it could not name one: every nats action published to GATEHOUSE).
 */
const ACTION_RENAMES: Partial<Record<DestinationType, Record<string, string>>> = { nats: { jetStream: 'stream' } };

/** How each kind names its own stream, for an action that gave `stream` a name. */
const OWN_STREAM_NAME: Partial<Record<DestinationType, string>> = { nats: 'jetStream', kinesis: 'streamName', firehose: 'deliveryStreamName' };

/**
 * The destination block of an action's options: its own options without the local stream's,
 * exporter's and record key's (the certificates it names are watched: config/client-certs.ts).
 */
export function destinationBlock(kind: DestinationType, options: Record<string, unknown>): { type: DestinationType } & Record<string, unknown> {
  const { partitionKey: _k, stream: _s, exporter: _e, roleArn: _roleArn, ...destination } = options;
  for (const [ours, theirs] of Object.entries(ACTION_RENAMES[kind] ?? {})) {
    if (ours in destination) {
      destination[theirs] = destination[ours];
      delete destination[ours];
    }
  }
  return { type: kind, ...fromAwsOptions(kind, destination) };
}

function streamNameOf(kind: DestinationType, block: Record<string, unknown>): string {
  return `${kind}-${createHash('sha256').update(stableJson(block)).digest('hex').slice(0, 10)}`;
}

type ActionOptions = Record<string, unknown> & { partitionKey?: unknown; stream?: unknown; exporter?: unknown };

/** The action's own keys beside its destination's (destinationBlock takes them out). */
const ACTION_KEYS = ['partitionKey', 'stream', 'exporter', 'roleArn'];

/**
 * The keys of an action's options that no option has, each with the option it is nearest to among
 * the action's and its destination's (the destination alone knew only its own: `exportr` was 'not
 * an option here', `destination.exportr`, in an action that has no destination key).
 */
function unknownActionKeys(kind: DestinationType, schema: z.ZodType, options: Record<string, unknown>): ConfigProblem[] {
  const known = [
    ...schemaKeys(schema),
    ...ACTION_KEYS,
    ...Object.keys(ACTION_RENAMES[kind] ?? {}),
    ...Object.keys(AWS_RENAMES[kind] ?? {}),
    ...Object.keys(AWS_ONLY[kind] ?? {}),
  ].filter((k) => k !== 'type');
  return Object.keys(options)
    .filter((k) => !known.includes(k))
    .map((k) => ({ path: `${kind}.${k}`, message: unknownKey(k, known) }));
}

/**
 * The action's `stream` or `exporter` options parsed, a problem named at its place in the action
 * (`kinesis.exporter.batc`), an unknown key with the option it is nearest to: zod's error alone
 * said 'batc: ... not an option here'.
 */
function parseNested<S extends z.ZodType>(kind: DestinationType, key: 'stream' | 'exporter', schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input, { reportInput: true });
  if (r.success) return r.data;
  throw destinationConfigError(`${kind} action`, zodProblems(r.error, `${kind}.${key}`, schema), {
    where: `${kind}.${key}`,
    hint:
      key === 'stream'
        ? 'see docs/configuration.md (streams) for the options of a stream'
        : 'see docs/configuration.md (exporters) for the options of an exporter',
  });
}

/** The stream and exporter (both named after the destination block) an action with these options uses. */
function actionStreamOf(
  block: { type: DestinationType } & Record<string, unknown>,
  stream: unknown,
  exporter: unknown,
): { name: string; stream: StreamOptions; exporter: ExporterOptions } {
  const name = streamNameOf(block.type, block);
  return {
    name,
    stream: toStreamOptions(name, parseNested(block.type, 'stream', streamDefaultsSchema, stream ?? {})),
    exporter: parseNested(block.type, 'exporter', exporterOptionsSchema, {
      ...(typeof exporter === 'object' && exporter ? exporter : {}),
      name,
      stream: name,
      destination: block,
    }),
  };
}

/** A stream an upstream rule action created: `<kind>-<10 hex>` (streamNameOf). */
export const RULE_ACTION_STREAM = new RegExp(`^(${UPSTREAM_ACTION_KINDS.join('|')})-[0-9a-f]{10}$`);

/**
 * Each upstream action of these rule sets (undefined sets skipped) with its destination block and
 * the name of the local stream it appends to; an action whose options are refused is skipped (it
 * never ran: no stream).
 */
function* upstreamActionsIn(
  sets: ReadonlyArray<RuleSetDefinition | undefined>,
): Generator<{ options: ActionOptions; block: { type: DestinationType } & Record<string, unknown>; name: string }> {
  for (const set of sets) {
    for (const rule of set?.rules ?? []) {
      for (const action of [...rule.actions, ...(rule.errorAction ? [rule.errorAction] : [])]) {
        for (const [kind, options] of Object.entries(action)) {
          if (!(UPSTREAM_ACTION_KINDS as readonly string[]).includes(kind) || !options || typeof options !== 'object') continue;
          let block: { type: DestinationType } & Record<string, unknown>;
          try {
            block = destinationBlock(kind as DestinationType, options as Record<string, unknown>);
          } catch {
            continue; // refused options
          }
          yield { options: options as ActionOptions, block, name: streamNameOf(block.type, block) };
        }
      }
    }
  }
}

/**
 * The stream and exporter options of the upstream action of these rule sets that appends to the
 * stream `name`, or undefined when none does (or its options are refused): how an upgrade finds
 * the destination of a stream an earlier version kept no options for
 * (rule-exporter-recovery.ts).
 */
export function upstreamActionOf(
  sets: ReadonlyArray<RuleSetDefinition | undefined>,
  name: string,
): { stream: StreamOptions; exporter: ExporterOptions } | undefined {
  for (const a of upstreamActionsIn(sets)) {
    if (a.name !== name) continue;
    try {
      const found = actionStreamOf(a.block, a.options.stream, a.options.exporter);
      return { stream: found.stream, exporter: found.exporter };
    } catch {
      // refused stream or exporter options: not this stream's action
    }
  }
  return undefined;
}

/**
 * The local streams the upstream actions of these rule sets append to. The exporters of other
 * rule-created streams retire (pipeline/exporters.ts): no rule of the running set appends to them
 * any more.
 */
export function upstreamStreamsOf(sets: ReadonlyArray<RuleSetDefinition | undefined>): Set<string> {
  return new Set([...upstreamActionsIn(sets)].map((a) => a.name));
}

/**
 * The destination kinds the upstream actions of a rule set name (`kinesis`, `webhook`, ...), read
 * from a definition not validated yet (anything else is skipped: compiling it says what is wrong).
 * Loaded before the set is compiled (DestinationKinds.load): an action takes its destination's
 * schema at compile, synchronously.
 */
export function upstreamKindsOf(def: unknown): Set<DestinationType> {
  const kinds = new Set<DestinationType>();
  const rules = (def as { rules?: unknown } | null | undefined)?.rules;
  if (!Array.isArray(rules)) return kinds;
  for (const rule of rules as unknown[]) {
    if (!rule || typeof rule !== 'object') continue;
    const { actions, errorAction } = rule as { actions?: unknown; errorAction?: unknown };
    for (const action of [...(Array.isArray(actions) ? (actions as unknown[]) : []), errorAction]) {
      if (!action || typeof action !== 'object') continue;
      for (const key of Object.keys(action)) if ((UPSTREAM_ACTION_KINDS as readonly string[]).includes(key)) kinds.add(key as DestinationType);
    }
  }
  return kinds;
}

export interface UpstreamActionDeps extends RuntimeDeps {
  dataDir: string;
  /**
   * The destination kinds actions build with. The running gateway's loads each when a rule set
   * names it (rule-host.ts loads a set's kinds before compiling it); offline checks have them all.
   */
  destinations: DestinationKinds;
  /** Absent in offline checks: options are validated, nothing is created. */
  streams?: LocalStreams;
  exporters?: ExporterSet;
}

/** Action factories for every upstream kind. */
export function upstreamActionFactories(deps: UpstreamActionDeps): Map<string, ActionFactory> {
  const out = new Map<string, ActionFactory>();
  for (const kind of UPSTREAM_ACTION_KINDS) {
    if (!DESTINATION_TYPES.includes(kind)) continue;
    out.set(kind, (options, tools) => {
      const { partitionKey, stream, exporter } = options as ActionOptions;
      if (partitionKey !== undefined && typeof partitionKey !== 'string')
        throw ERRORS.GH_ACTION_FAILED(
          { action: kind, rule: tools.rule, reason: 'partitionKey must be a template string' },
          { hint: "e.g. partitionKey: '${topic(2)}'" },
        );
      if (stream !== undefined && (typeof stream !== 'object' || stream === null || Array.isArray(stream)))
        throw ERRORS.GH_ACTION_FAILED(
          { action: kind, rule: tools.rule, reason: "stream is the action's local stream options ({ maxBytes, ttl, onFull }), not a name" },
          { hint: OWN_STREAM_NAME[kind] ? `name the ${kind} stream with ${OWN_STREAM_NAME[kind]}: NAME` : 'see docs/rules-sql.md (Actions)' },
        );
      const schema = deps.destinations.schemaOf(kind);
      // Not reached through the rule host, which loads a set's kinds before compiling it (upstreamKindsOf).
      if (!schema)
        throw ERRORS.GH_ACTION_FAILED(
          { action: kind, rule: tools.rule, reason: `the ${kind} destination was not loaded before the rule set was compiled` },
          { hint: 'load the kinds a rule set names (upstreamKindsOf) with DestinationKinds.load before compiling it' },
        );
      // A misspelt key is named with the option meant, and every problem of the destination with it.
      const unknown = unknownActionKeys(kind, schema, options as Record<string, unknown>);
      const known = Object.fromEntries(Object.entries(options as Record<string, unknown>).filter(([k]) => !unknown.some((p) => p.path === `${kind}.${k}`)));
      const block = destinationBlock(kind, known);
      // Constructing the destination validates its options (nothing connects until start()); its
      // problems are named at their place in the action (kinesis.region), not under `destination`.
      let probe: ReturnType<typeof destinationFrom>;
      try {
        probe = destinationFrom(block, { logger: deps.logger, registry: deps.registry, dataDir: deps.dataDir, where: kind }, deps.destinations.factories);
      } catch (err) {
        if (unknown.length === 0 || !isGatehouseError(err, 'GH_DESTINATION_CONFIG')) throw err;
        throw destinationConfigError(`${kind} action`, [...unknown, ...((err.details as ConfigProblem[] | undefined) ?? [])], { where: kind, hint: err.hint });
      }
      if (unknown.length > 0) throw destinationConfigError(`${kind} action`, unknown, { where: kind, hint: DOCS_HINT });
      const { name, stream: streamOptions, exporter: exporterOptions } = actionStreamOf(block, stream, exporter);
      const key = partitionKey !== undefined ? (tools.compileTemplate(partitionKey) as CompiledTemplate) : undefined;
      const action: Action = {
        kind,
        resource: probe.target,
        durable: true,
        execute(output, ctx) {
          if (!deps.streams) throw ERRORS.GH_ACTION_FAILED({ action: kind, rule: ctx.ruleName, reason: 'not connected to a store' });
          const rec = {
            topic: ctx.message.topic,
            payload: output,
            receivedAt: ctx.message.receivedAt,
            ...(key ? { key: key.renderWith(evalContextOf(ctx)) } : {}),
          };
          return deps.streams.append(name, rec).then(() => undefined);
        },
        validate() {
          // Created once the rule set is installed (ExporterSet.activate), not for a refused one.
          deps.exporters?.declare(streamOptions, exporterOptions);
        },
      };
      return action;
    });
  }
  return out;
}
