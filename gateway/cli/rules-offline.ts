// `gatehouse rules eval` and `gatehouse rules check`: evaluate one statement, validate a rule set
// file, offline. The rules engine itself stays in rules/; this is only its command-line face.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ERROR_CATALOGUE, GatehouseError, errorMessage } from '../../core/errors.js';
import type { Message } from '../../core/message.js';
import {
  compactJson,
  compileRuleSet,
  compileSql,
  createFunctionRegistry,
  NO_SHADOWS,
  EvalContext,
  loadRuleSetFile,
  rulesetError,
  serializeOutput,
  topicMatches,
} from '../../rules/index.js';
import { protoDescriptorFolder } from '../pipeline/proto-descriptors.js';
import { readTablesFile } from '../tables/file.js';
import type { ActionRegistry, CompiledQuery, SqlVersion, WindowedQuery } from '../../rules/index.js';
import type { CliIO } from './io.js';

/** A gateway started in this folder without --data-dir keeps its descriptors here (./gatehouse-data/proto). */
const DEFAULT_PROTO_DIR = 'gatehouse-data/proto';

const EVAL_USAGE = `usage: gatehouse rules eval --sql 'SQL' --topic TOPIC (--payload 'PAYLOAD' | --payload-file FILE) [--clientid ID]
                           [--sql-version 2016-03-23|2015-10-08] [--proto-dir DIR] [--tables FILE]

Evaluates one AWS IoT SQL statement against one message and prints the payload each action would
receive, one line, as compact JSON. Prints nothing when FROM does not match or WHERE is false.
A windowed rule gets this one message: a per-event window (COUNTWINDOW(1), SLIDINGWINDOW) prints its
row; a window that emits on close prints nothing (stderr says so).
A TOPIC of AWS IoT Basic Ingest, $aws/rules/<rule>/<topic>, runs the statement on <topic> whatever
its FROM, as the gateway does; a rule without FROM runs on any TOPIC.
--payload-file reads the payload's bytes from FILE (a binary payload: Protobuf, a Sparkplug B NDATA).
--proto-dir is the folder of decode(*, 'proto', bucket, key, ...)'s descriptors, <DIR>/<bucket>/<key>
(default ${DEFAULT_PROTO_DIR}, a gateway's in this folder; a gateway reads protoDescriptorDir).
--tables FILE reads the lookup tables of get_dynamodb() from FILE's tables: (a gateway configuration
works: its other settings are not read; table files relative to FILE's folder).
Exit codes: 0 ok, 1 the statement failed on this message (a gateway would count a rule error and
give the message to the rule's errorAction), 2 SQL error or bad arguments.
`;

const CHECK_USAGE = `usage: gatehouse rules check FILE [--proto-dir DIR] [--tables FILE]

Validates a rule set file (YAML or JSON): shape, every rule's SQL, every action's options, and the
descriptor and message type each decode(*, 'proto', ...) names, read from <DIR>/<bucket>/<key>
(default ${DEFAULT_PROTO_DIR}; check-config reads the configuration's protoDescriptorDir), and with
--tables FILE the lookup table and key each get_dynamodb() names (FILE's tables:, as rules eval reads it).
Lists every error; exit 1 on errors, 0 with a summary otherwise.
`;

/**
 * An error as every command words it (main.ts: `gatehouse X: CODE: message (at where). Fix: hint`),
 * the catalogue's hint when the error carries none; these two return their exit code instead of
 * throwing to main, and printed 'CODE at where: message' or no command and no fix.
 */
function sayError(io: CliIO, err: unknown): void {
  if (err instanceof GatehouseError) {
    const hint = err.hint ?? ERROR_CATALOGUE[err.code].hint;
    io.stderr.write(`gatehouse rules: ${err.code}: ${err.message}${err.where ? ` (at ${err.where})` : ''}${hint ? `. Fix: ${hint}` : ''}\n`);
  } else {
    io.stderr.write(`gatehouse rules: ${errorMessage(err)}\n`);
  }
}

/** A bad argument: the error line, then the usage (exit 2). */
function badArgs(io: CliIO, message: string, usage: string, sub: 'eval' | 'check'): number {
  sayError(io, new GatehouseError('GH_ARG_INVALID', message, { hint: `see the usage below (gatehouse rules ${sub} --help)` }));
  io.stderr.write(`\n${usage}`);
  return 2;
}

/** Compact one-line rendering of an output payload: JSON compacted (10.0 stays 10.0), other bytes as UTF-8. */
function renderOutput(out: Buffer, passthrough: boolean): string {
  const text = out.toString('utf8');
  return passthrough ? (compactJson(text) ?? text) : text;
}

export async function runRulesEval(argv: string[], io: CliIO): Promise<number> {
  let values: {
    sql?: string;
    topic?: string;
    payload?: string;
    'payload-file'?: string;
    clientid?: string;
    'sql-version'?: string;
    'proto-dir'?: string;
    tables?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        sql: { type: 'string' },
        topic: { type: 'string' },
        payload: { type: 'string' },
        'payload-file': { type: 'string' },
        clientid: { type: 'string' },
        'sql-version': { type: 'string' },
        'proto-dir': { type: 'string' },
        tables: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return badArgs(io, errorMessage(err), EVAL_USAGE, 'eval');
  }
  if (values.help) {
    io.stdout.write(EVAL_USAGE);
    return 0;
  }
  const missing: string[] = (['sql', 'topic'] as const).filter((k) => values[k] === undefined);
  if (values.payload === undefined && values['payload-file'] === undefined) missing.push('payload');
  if (missing.length) {
    return badArgs(io, `missing --${missing.join(', --')}`, EVAL_USAGE, 'eval');
  }
  if (values.payload !== undefined && values['payload-file'] !== undefined) {
    return badArgs(io, 'give --payload or --payload-file, not both', EVAL_USAGE, 'eval');
  }
  let payload: Buffer;
  try {
    payload = values.payload !== undefined ? Buffer.from(values.payload, 'utf8') : readFileSync(values['payload-file']!);
  } catch (err) {
    return badArgs(io, `cannot read --payload-file ${values['payload-file']}: ${errorMessage(err)}`, EVAL_USAGE, 'eval');
  }
  const payloadText = payload.toString('utf8');
  const version = values['sql-version'] ?? '2016-03-23';
  if (version !== '2016-03-23' && version !== '2015-10-08') {
    sayError(
      io,
      new GatehouseError('GH_ARG_INVALID', `--sql-version must be 2016-03-23 or 2015-10-08, got '${version}'`, {
        hint: 'give --sql-version 2016-03-23 (the default) or 2015-10-08',
      }),
    );
    return 2;
  }
  let query: CompiledQuery;
  try {
    const protoDescriptors = protoDescriptorFolder(resolve(values['proto-dir'] ?? DEFAULT_PROTO_DIR));
    const lookupTables = values.tables !== undefined ? await readTablesFile(values.tables) : undefined;
    query = compileSql(values.sql!, {
      sqlVersion: version as SqlVersion,
      functions: createFunctionRegistry({ protoDescriptors, shadows: NO_SHADOWS, lookupTables }),
    });
  } catch (err) {
    sayError(io, err);
    return 2;
  }
  const topic = values.topic!;
  // No output on stdout (a rule would emit nothing); stderr says why, so "no match" is not taken for a fault.
  const none = (why: string): number => {
    io.stderr.write(`no output: ${why}\n`);
    return 0;
  };
  // Basic Ingest ($aws/rules/<rule>/<topic>): the rule runs on <topic>, its FROM not consulted, as
  // in the engine; a rule without FROM runs only that way, on the topic after the prefix: any topic.
  const ingest = /^\$aws\/rules\/[^/]+\/(.+)$/s.exec(topic);
  if (ingest && (query.windowed || query.stateSites)) return none('Basic Ingest does not run a rule that keeps state (a window or a detector)');
  if (!ingest && query.topicFilter !== undefined && !topicMatches(query.topicFilter, topic))
    return none(`topic '${topic}' does not match the FROM filter '${query.topicFilter}'`);
  const msg: Message = {
    topic: ingest ? ingest[1]! : topic,
    payload,
    qos: 0,
    source: { kind: 'mqtt', id: values.clientid ?? 'gatehouse-cli', ip: '127.0.0.1' },
    receivedAt: Date.now(),
  };
  const c = new EvalContext(msg);
  if (query.where) {
    if (query.whereUsesPayload && c.isNonJson()) return none('the WHERE clause reads the payload, which is not JSON');
    if (!query.where(c)) return none('the WHERE clause is not true for this message');
  }
  if (query.windowed) return evalWindowed(query, query.windowed, c, io, none);
  // A JSON payload typed with a slip ('{"temp":1' without its brace) reads as no fields at all:
  // the output alone ({}) would not say why. (A payload not meant as JSON, read with encode(*), is left alone.)
  if (!query.passthrough && c.isNonJson() && /^\s*[[{]/.test(payloadText))
    io.stderr.write('note: the payload is not valid JSON, so every field it names is undefined (as in the gateway for a non-JSON payload): check --payload\n');
  let out: Buffer | undefined;
  try {
    out = serializeOutput(query.select(c), query.sqlVersion);
  } catch (err) {
    // A function's own failure (decode 'proto': GH_PROTO_DECODE): in a gateway, GH_RULE_EVAL and the error action.
    if (!(err instanceof GatehouseError)) throw err;
    sayError(io, err);
    return 1;
  }
  if (out === undefined) {
    // A VALUE array under 2015-10-08 is no output too (V1 cannot output a top-level array): say so.
    const v1Value = query.sqlVersion === '2015-10-08' && /^\s*(?:SET\b[\s\S]*?\b)?SELECT\s+VALUE\b/i.test(values.sql!);
    return none(
      v1Value
        ? 'the SELECT VALUE result is undefined, or an array, which SQL version 2015-10-08 does not output (use 2016-03-23, or SELECT it AS a field: docs/rules-sql.md)'
        : 'the SELECT result is undefined (no field of it had a value)',
    );
  }
  io.stdout.write(`${renderOutput(out, query.passthrough)}\n`);
  return 0;
}

/**
 * A windowed rule fed this one message, as the engine feeds it: the rows a window emits per event
 * (COUNTWINDOW, SLIDINGWINDOW) are printed, one line each. A window that emits on close (tumbling,
 * hopping, session, event time) has none yet: say so, rather than that the SELECT was undefined.
 */
function evalWindowed(query: CompiledQuery, w: WindowedQuery, c: EvalContext, io: CliIO, none: (why: string) => number): number {
  w.start({
    now: () => c.message.receivedAt,
    elapsed: () => c.message.receivedAt,
    skew: () => 0,
    setTimer: () => undefined, // one message: no window closes on a timer here
    clearTimer: () => undefined,
    emit: () => undefined,
    maxGroups: 10_000,
    maxGroupStates: 1_000_000,
    maxRowsPerWindow: 10_000,
  });
  let rows: ReturnType<WindowedQuery['add']>;
  try {
    rows = w.add(c);
  } finally {
    w.stop();
  }
  if (w.stats.invalidTimestamps > 0) {
    return none(
      'the TIMESTAMP BY value is not a time (an epoch ms number, a numeric string or an ISO 8601 date; one without a zone is UTC): the gateway drops such an event and counts it in gatehouse_window_invalid_timestamps_total (docs/windows.md, Event time)',
    );
  }
  let printed = 0;
  for (const row of rows ?? []) {
    const out = serializeOutput(row.value, query.sqlVersion);
    if (out === undefined) continue;
    io.stdout.write(`${renderOutput(out, false)}\n`);
    printed++;
  }
  if (printed > 0) return 0;
  if (rows?.length) return none('the window emitted a row whose SELECT result is undefined (no field of it had a value)');
  return none(
    'windowed rule: this message entered its window, which emits nothing yet (a tumbling, hopping or session window emits when it closes, a COUNTWINDOW once it has n events, an event-time window with LATENESS once a later event moves the watermark past this one, HAVING may be false); rules eval sees one message: run the rule in a gateway (docs/windows.md)',
  );
}

/**
 * `registry`: the action kinds to check against. The gateway passes its one registry builder's inert
 * mode (gateway/pipeline/actions), so `rules check` accepts exactly what `start` accepts.
 */
/**
 * A gateway configuration given where a rule set is expected (fleet.yaml for fleet-rules.yaml): one
 * error saying so, not 'unknown key dataDir' for each of its keys. (check-config says the reverse.)
 */
async function configGivenAsRuleSet(file: string): Promise<GatehouseError | undefined> {
  // Loaded only here: `rules eval` and a valid `rules check` do not pay for the config schema.
  const [{ readConfigFile }, { configBaseSchema }] = await Promise.all([import('../config/load.js'), import('../config/schema.js')]);
  const raw = await readConfigFile(file).catch(() => undefined);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || Array.isArray((raw as Record<string, unknown>).rules)) return undefined;
  const configKeys = new Set(Object.keys(configBaseSchema.shape));
  const found = Object.keys(raw).filter((k) => k !== 'rules' && configKeys.has(k));
  if (found.length === 0) return undefined;
  return rulesetError([{ rule: '', where: '', message: `it holds a gateway configuration (${found.join(', ')}), not a rule set (version, rules)` }], file, {
    where: file,
    hint: `check it with \`gatehouse check-config ${file}\` (it checks the rule set it names too); a rule set file holds version: and rules: (docs/examples/fleet-rules.yaml)`,
  });
}

export async function runRulesCheck(argv: string[], io: CliIO, registry: ActionRegistry): Promise<number> {
  let positionals: string[];
  let help = false;
  let protoDir = DEFAULT_PROTO_DIR;
  let tablesFile: string | undefined;
  try {
    const r = parseArgs({
      args: argv,
      options: { help: { type: 'boolean', short: 'h' }, 'proto-dir': { type: 'string' }, tables: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
    positionals = r.positionals;
    help = r.values.help === true;
    protoDir = r.values['proto-dir'] ?? DEFAULT_PROTO_DIR;
    tablesFile = r.values.tables;
  } catch (err) {
    return badArgs(io, errorMessage(err), CHECK_USAGE, 'check');
  }
  if (help) {
    io.stdout.write(CHECK_USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    return badArgs(io, 'expected exactly one FILE', CHECK_USAGE, 'check');
  }
  const file = positionals[0]!;
  try {
    const def = await loadRuleSetFile(file);
    const lookupTables = tablesFile !== undefined ? await readTablesFile(tablesFile) : undefined;
    const set = compileRuleSet(def, registry, { source: file, protoDescriptors: protoDescriptorFolder(resolve(protoDir)), shadows: NO_SHADOWS, lookupTables });
    const enabled = set.rules.filter((r) => r.enabled).length;
    io.stdout.write(`${file}: OK, rule set version ${set.version}, ${set.rules.length} rule${set.rules.length === 1 ? '' : 's'} (${enabled} enabled)\n`);
    // A rule without FROM matches no topic: say so, in case FROM was forgotten rather than meant.
    for (const r of set.rules.filter((x) => x.query.topicFilter === undefined)) {
      io.stdout.write(`  rule ${r.name} has no FROM: it runs only on Basic Ingest publishes to $aws/rules/${r.name}/<topic>\n`);
    }
    return 0;
  } catch (caught) {
    const err = caught instanceof GatehouseError && caught.code === 'GH_RULESET_INVALID' ? ((await configGivenAsRuleSet(file)) ?? caught) : caught;
    sayError(io, err);
    return 1;
  }
}
