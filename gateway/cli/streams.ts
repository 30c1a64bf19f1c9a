// `gatehouse streams`: local streams and their exporters, from the running gateway.
import type { ExporterStatus } from '../upstream/status.js';
import { counted, parseCliArgs, writeLine, type CliIO } from './io.js';
import { ADMIN_COMMAND_OPTIONS, ADMIN_FLAGS_HELP, JSON_FLAG_HELP, adminGet, resolveAdmin } from './admin-client.js';

const USAGE = 'gatehouse streams [--admin URL | --config FILE] [--token T] [--json]';

/** The exporter status as sent by /api/streams (fields newer than the gateway may be missing). */
type ExporterRow = Omit<ExporterStatus, 'skipped' | 'readStall' | 'lastError' | 'setupFault' | 'held' | 'heldBack'> &
  Partial<Pick<ExporterStatus, 'skipped' | 'readStall' | 'setupFault' | 'held' | 'heldBack'>> & {
    // `since`: optional, a gateway older than this CLI does not send it.
    lastError: (Omit<NonNullable<ExporterStatus['lastError']>, 'since'> & { since?: string }) | undefined;
  };

/** A stream as sent by /api/streams (fields newer than the gateway may be missing). */
export interface StreamRow {
  name: string;
  firstSeq: number;
  lastSeq: number;
  records: number;
  bytes: number;
  droppedRecords?: number;
  rejectedAppends?: number;
  maxBytes?: number;
  onFull?: string;
  /** ISO time of the oldest record held, null when empty. */
  oldestAt?: string | null;
  exporters: ExporterRow[];
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

const DEAD_LETTER_COMMANDS = new Set(['dead-letters', 'redrive', 'purge']);

export async function runStreams(argv: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== undefined && DEAD_LETTER_COMMANDS.has(sub)) {
    return (await import('./dead-letters.js')).runDeadLettersCommand(sub as 'dead-letters' | 'redrive' | 'purge', rest, io);
  }
  if (sub === 'drop') return (await import('./stream-drop.js')).runStreamDrop(rest, io);
  if (sub === 'read') return (await import('./stream-read.js')).runStreamRead(rest, io);
  const { values } = parseCliArgs(argv, ADMIN_COMMAND_OPTIONS, USAGE);
  if (values.help) {
    writeLine(
      io.stdout,
      `usage: ${USAGE}\n       gatehouse streams read|dead-letters|redrive|purge|drop ... (--help on each)\nShows each local stream (sequence range, records, bytes) and each exporter's checkpoint, backlog and last error.\nWhat a stream holds: 'read NAME' prints its records ('--last 10', '--follow').\nDead letters: 'dead-letters [STREAM]' lists them with their errors grouped, 'redrive DLQ' sends them again, 'purge DLQ --through SEQ' clears them.\nA stream nothing uses any more: 'drop NAME --records N' drops it with the N records it holds (never sent).\n${ADMIN_FLAGS_HELP}\n${JSON_FLAG_HELP}`,
    );
    return 0;
  }
  const target = await resolveAdmin(values.admin, values.config, values.token);
  const body = (await adminGet(target, '/api/streams', 'streams')) as unknown as { streams: StreamRow[] };
  if (values.json) {
    writeLine(io.stdout, JSON.stringify(body, null, 2));
    return 0;
  }
  const now = Date.now();
  for (const s of body.streams) {
    writeLine(io.stdout, describeStream(s, now));
    for (const e of s.exporters) writeLine(io.stdout, describeExporter(e));
  }
  return 0;
}

/**
 * One stream's line: what it holds, how full it is (of maxBytes, and its onFull), how old its
 * oldest record is, what retention dropped and what appends it refused (a full 'reject' stream:
 * devices got no PUBACK, or MQTT 5 0x97). Before, a full stream refusing every publish read like
 * any other.
 */
export function describeStream(s: StreamRow, now: number): string {
  // An exported record is reclaimed: say so, so an empty stream does not look like a lost record;
  // and records retention dropped before export are said, never hidden behind "all exported".
  const dropped = s.droppedRecords ?? 0;
  const droppedText = dropped > 0 ? `, ${dropped} dropped by retention (onFull/ttl) before export` : '';
  const refused = s.rejectedAppends ?? 0;
  const refusedText = refused > 0 ? `, ${counted(refused, 'append')} refused (the stream was full for store.appendTimeoutMs)` : '';
  const exportedAll = s.exporters.length > 0 && s.exporters.every((e) => e.lastExportedSeq >= s.lastSeq);
  if (s.records === 0) {
    return `${s.name}: empty: ${s.lastSeq} appended${droppedText}${refusedText}${s.lastSeq > 0 && exportedAll && dropped === 0 ? ', all exported and reclaimed' : ''}`;
  }
  // Optional: a gateway older than this CLI does not send them.
  const of = s.maxBytes ? ` of ${fmtBytes(s.maxBytes)} (${Math.floor((100 * s.bytes) / s.maxBytes)}%${s.onFull ? `, onFull ${s.onFull}` : ''})` : '';
  const oldest = s.oldestAt ? `, oldest ${Math.max(0, Math.round((now - Date.parse(s.oldestAt)) / 1000))} s old` : '';
  return `${s.name}: seq ${s.firstSeq}..${s.lastSeq}, ${counted(s.records, 'record')} held (${s.lastSeq} appended)${droppedText}, ${fmtBytes(s.bytes)}${of}${oldest}${refusedText}`;
}

/**
 * An exporter's destination as shown: its target alone when that already names the kind
 * (`nats:nats://hub:4222/GH`, `mqtt:mqtts://... (site1)`, `s3://bucket/`), else kind and target
 * (`file /var/lib/gatehouse/export`). The target itself (a metric label) is unchanged.
 */
export function destinationText(d: { kind: string; target: string }): string {
  return d.target.startsWith(`${d.kind}:`) ? d.target : `${d.kind} ${d.target}`;
}

/** One exporter's line: state, checkpoint, backlog, dead letters, records held alone or held (throttled), last error. */
export function describeExporter(e: ExporterRow): string {
  // An error followed by a successful export is history: said as such, not as the state. (A
  // gateway before round 11 has no `current`: compare the times then.)
  const recovered =
    e.lastError && (e.lastError.current !== undefined ? !e.lastError.current : e.lastExportAt !== undefined && e.lastExportAt >= Date.parse(e.lastError.at));
  // Still failing: since when (the first error after the last send that went through), then the latest.
  const since = !recovered && e.lastError?.since && e.lastError.since !== e.lastError.at ? `failing since ${e.lastError.since}, ` : '';
  const err = e.lastError ? `; ${since}${recovered ? 'recovered from' : 'last error'} (${e.lastError.at}): ${e.lastError.message}` : '';
  const at = e.lastExportAt ? ` at ${new Date(e.lastExportAt).toISOString()}` : '';
  // A removed or changed upstream rule action's exporter: goes once its backlog is exported (docs/upstream.md).
  const retiring = e.retiring ? ' RETIRING (no rule appends to its stream any more: it stops once the backlog is exported)' : '';
  return `  -> ${e.name} (${destinationText(e.destination)}) ${e.state}${retiring}: exported through seq ${e.lastExportedSeq}${at}, ${counted(e.exportedRecords, 'record')}, backlog ${e.backlog.records} (${e.backlog.ageSeconds}s), dead letters ${e.deadLetters}${parkedText(e)}${heldText(e)}${gapText(e)}${err}`;
}

/**
 * Records held (throttled at a destination that rebatches: one failing Kinesis shard; docs/upstream.md,
 * "One failing shard"): they join later batches while the others' records go, until the window
 * reaches its bound; from then on only they go and the whole stream waits (said in capitals, as a
 * held position is: the backlog grows until the destination takes them).
 */
function heldText(e: ExporterRow): string {
  // Optional: a gateway older than this CLI does not send them.
  const held = e.held ?? 0;
  if (held <= 0) return '';
  const what = `${held} held (throttled by the destination, e.g. one failing Kinesis shard: nothing counted against them`;
  if (e.heldBack) return `, ${what}), HELD BACK: the window is full of them, nothing more is read until the destination takes them (the backlog grows)`;
  return `, ${what}; they join later batches while the other records go)`;
}

/** Records passed without sending, and a position held because the store counts records it does not return (docs/upstream.md, "Gaps in a stream"). */
function gapText(e: ExporterRow): string {
  // Optional: a gateway older than this CLI does not send them.
  const { retention = 0, unreadable = 0 } = e.skipped ?? {};
  let s = retention > 0 ? `, ${retention} skipped (dropped by retention before export)` : '';
  if (unreadable > 0) s += `, ${unreadable} skipped (the store could not return them: GH_STORE_CORRUPT in its log)`;
  const h = e.readStall;
  if (h) {
    s += `, HOLDING at seq ${h.seq} since ${h.since}: reads there disagree with the store's counters (firstSeq ${h.firstSeq}, lastSeq ${h.lastSeq}; ${h.reads} reads, retried with backoff, nothing skipped)`;
  }
  return s;
}

/**
 * Records held alone (docs/upstream.md, item 7). While sends fail with nothing accepted (`outage`:
 * the destination down, a 500 storm, or a failing record with nothing accepted since its last try)
 * nothing is counted against them; once others go through and they still fail alone, they are
 * suspected and each such failure counts. Refused for the setup (`setupFault`: an ACL or a
 * permission refusing every record tried) nothing is counted either, and the loop waits up to
 * backoff.maxMs between tries.
 */
function parkedText(e: ExporterRow): string {
  if (e.parked <= 0) return '';
  if (e.outage || e.setupFault) {
    const since = e.lastExportAt ? `no send accepted since ${new Date(e.lastExportAt).toISOString()}` : 'no send accepted yet';
    const what = e.setupFault
      ? "refused by the destination for the gateway's setup (an ACL or permission, see the last error): retried at the normal pace (backoff.maxMs) until it is fixed"
      : 'an outage or a storm if it lasts';
    return `, ${e.parked} held alone (${since}: nothing counted against them until the destination accepts other records; ${what})`;
  }
  return `, ${e.parked} held alone (suspected of failing sends: each failure after an accepted send counts against maxAttempts)`;
}
