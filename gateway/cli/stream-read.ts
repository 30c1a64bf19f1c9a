// `gatehouse streams read NAME`: the records a local stream holds, from the running gateway (admin
// API: GET /api/streams/{name}/records, a page at a time), as `kinesis get-records` or `tail` would
// show them: is my rule capturing what I think, what exactly is waiting for upstream. --follow
// keeps reading what arrives, as `tail -f`.
import { closestName } from '../../core/closest-name.js';
import { drainedOrClosed } from '../../core/drained.js';
import { GatehouseError } from '../../core/errors.js';
import { ADMIN_COMMAND_OPTIONS, ADMIN_FLAGS_HELP, type AdminTarget, adminGet, resolveAdmin } from './admin-client.js';
import { parseCliArgs, writeLine, type CliIO } from './io.js';

export const READ_USAGE = 'gatehouse streams read NAME [--from SEQ | --last N] [--limit N] [--follow] [--admin URL | --config FILE] [--token T] [--json]';

const READ_HELP = `usage: ${READ_USAGE}
Prints the records a local stream holds, oldest first, one a line: its sequence number, when the
gateway received it (UTC), its topic and its payload (UTF-8 text as it is; a payload holding a line
break or another control character as a JSON string; binary as base64:...). Reading takes nothing
away: the records stay for their exporters.
  --from SEQ       start at this sequence number (default: the oldest record held)
  --last N         only the newest N records (as tail -n N)
  --limit N        print at most N records, then stop
  --follow, -f     after the last record, wait for new ones and print them as they arrive (every
                   second), until Ctrl-C
${ADMIN_FLAGS_HELP}
  --json           one JSON object per record and line (seq, topic, receivedAt, key, attrs, payload
                   or payloadBase64), as the admin API gives them: for jq`;

/** What this command reads of a stream in /api/streams (streams.ts has the whole row; not imported: streams.ts loads this module). */
interface StreamRow {
  name: string;
  firstSeq: number;
  lastSeq: number;
  records: number;
}

/** A record as GET /api/streams/{name}/records sends it. */
interface RecordRow {
  seq: number;
  topic: string;
  receivedAt: string;
  key?: string;
  attrs?: Record<string, string>;
  payload?: string;
  payloadBase64?: string;
}

interface RecordsPage {
  records: RecordRow[];
  next: number;
}

/** A page's size: the API's own maximum (1,000), under its 4 MiB byte cap. */
const PAGE = 1000;
/** How often --follow asks for what arrived. */
const FOLLOW_EVERY_MS = 1000;

function wholeNumber(v: string | undefined, flag: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) {
    throw new GatehouseError('GH_ARG_INVALID', `${flag} must be a whole number (${min} or more), got '${v}'`, { hint: `usage: ${READ_USAGE}` });
  }
  return n;
}

/**
 * A record in one line. A payload with a line break (pretty-printed JSON, a multi-line log entry)
 * would read as several records: quoted as JSON then, as is otherwise.
 */
export function recordLine(r: RecordRow): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  const payload = r.payload === undefined ? `base64:${r.payloadBase64 ?? ''}` : /[\u0000-\u001f\u007f]/.test(r.payload) ? JSON.stringify(r.payload) : r.payload;
  return `${r.seq} ${r.receivedAt} ${r.topic} ${payload}`;
}

/** Resolves once the stream takes writes again (a slow reader of a pipe), or at once. */
function written(stream: NodeJS.WritableStream, text: string): Promise<void> | undefined {
  return stream.write(text) ? undefined : drainedOrClosed(stream);
}

async function streamRow(target: AdminTarget, name: string): Promise<StreamRow> {
  const body = (await adminGet(target, '/api/streams', 'streams')) as unknown as { streams: StreamRow[] };
  const row = body.streams.find((s) => s.name === name);
  if (row) return row;
  const names = body.streams.map((s) => s.name);
  const guess = closestName(name, names);
  throw new GatehouseError('GH_ARG_INVALID', `the gateway has no local stream '${name}'${guess ? ` (did you mean ${guess}?)` : ''}`, {
    hint: `its streams: ${names.join(', ') || '(none)'} ('gatehouse streams' lists them)`,
  });
}

export async function runStreamRead(argv: string[], io: CliIO, stopSignal?: AbortSignal): Promise<number> {
  const { values, positionals } = parseCliArgs(
    argv,
    { ...ADMIN_COMMAND_OPTIONS, from: { type: 'string' }, last: { type: 'string' }, limit: { type: 'string' }, follow: { type: 'boolean', short: 'f' } },
    READ_USAGE,
    true,
  );
  const v = values as {
    help?: boolean;
    admin?: string;
    config?: string;
    token?: string;
    json?: boolean;
    from?: string;
    last?: string;
    limit?: string;
    follow?: boolean;
  };
  if (v.help) {
    writeLine(io.stdout, READ_HELP);
    return 0;
  }
  if (positionals.length !== 1)
    throw new GatehouseError('GH_ARG_INVALID', `expected one stream NAME, got ${positionals.length}`, { hint: `usage: ${READ_USAGE}` });
  if (v.from !== undefined && v.last !== undefined)
    throw new GatehouseError('GH_ARG_INVALID', '--from and --last both say where to start: give one', { hint: `usage: ${READ_USAGE}` });
  const name = positionals[0] as string;
  const stop = stopSignal ?? (v.follow ? abortOnSigint() : new AbortController().signal);
  const fromArg = wholeNumber(v.from, '--from', 0);
  const last = wholeNumber(v.last, '--last', 1);
  const limit = wholeNumber(v.limit, '--limit', 1) ?? Number.POSITIVE_INFINITY;
  const target = await resolveAdmin(v.admin, v.config, v.token);
  const row = await streamRow(target, name);
  // An empty stream's lastSeq is the last one it ever held: --last starts after it then.
  let next = fromArg ?? (last !== undefined ? Math.max(row.firstSeq, row.lastSeq - last + 1, 1) : row.firstSeq);
  if (row.records === 0 && fromArg === undefined) next = row.lastSeq + 1;
  let printed = 0;
  const path = (from: number): string => `/api/streams/${encodeURIComponent(name)}/records?from=${from}&limit=${Math.min(PAGE, limit - printed)}`;
  while (printed < limit && !stop.aborted) {
    const page = (await adminGet(target, path(next), 'records')) as unknown as RecordsPage;
    for (const r of page.records) {
      const wait = written(io.stdout, `${v.json ? JSON.stringify(r) : recordLine(r)}\n`);
      if (wait) await wait;
      printed++;
    }
    // `next` is where the page ended; a page past the oldest record held starts at it.
    if (page.records.length > 0) next = page.next;
    else if (!v.follow) break;
    else await pause(FOLLOW_EVERY_MS, stop);
  }
  // Said on stderr, so a script reading stdout gets nothing where there is nothing.
  if (!v.follow && printed === 0) {
    io.stderr.write(
      row.records === 0
        ? `stream '${name}' holds no records now (the last it held was seq ${row.lastSeq})\n`
        : `stream '${name}' holds no records from seq ${fromArg}: it holds ${row.firstSeq}..${row.lastSeq}\n`,
    );
  }
  return 0;
}

/** Ctrl-C ends --follow with exit 0, as tail -f's users expect of a reader. */
function abortOnSigint(): AbortSignal {
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  return ac.signal;
}

function pause(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      stop.removeEventListener('abort', done);
      resolve();
    }
    stop.addEventListener('abort', done, { once: true });
  });
}
