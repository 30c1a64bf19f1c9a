// The dead-letter streams read through: a chunk at a time (bounded memory, whatever
// deadLetterMaxBytes holds), and summed up for GET /api/dead-letters and `gatehouse streams
// dead-letters`: what one holds, the streams its records came from, its errors grouped.
import type { LocalStreams, StoredRecord } from '../store/types.js';
import type { RunningOperation } from './stream-operations.js';

/** Records per chunk of a redrive or a scan, and the payload bytes one read aims at. */
const CHUNK_RECORDS = 500;
const CHUNK_BYTES = 1024 * 1024;
/** Error groups listed per dead-letter stream; the rest are counted in `otherErrors`. */
const MAX_ERROR_GROUPS = 20;
/** Longest error text a group keeps (a destination's answer may be long). */
const MAX_ERROR_CHARS = 500;

export interface ErrorGroup {
  error: string;
  count: number;
  /** The first dead letter with this error. */
  example: {
    seq: number;
    topic: string;
    receivedAt: string;
    sourceStream: string | null;
    sourceSeq: number | null;
    destination: string | null;
    attempts: number | null;
  };
}

export interface DeadLetterSummary {
  stream: string;
  /** The exporters whose dead letters go there; empty for one a retired exporter left. */
  exporters: string[];
  records: number;
  bytes: number;
  firstSeq: number;
  lastSeq: number;
  oldestAt: string | null;
  /** Dead letters its drop-oldest bound pushed out (deadLetterMaxBytes). */
  droppedRecords: number;
  /** Dead letters by the stream they came from. */
  sources: Record<string, number>;
  errors: ErrorGroup[];
  /** Dead letters whose error is not among `errors` (more than MAX_ERROR_GROUPS distinct errors). */
  otherErrors: number;
  /** The redrive, purge or drop of it running now (the admin API's list), null when none. */
  running?: RunningOperation | null;
}

function attrNumber(v: string | undefined): number | null {
  const n = v === undefined ? Number.NaN : Number(v);
  return Number.isSafeInteger(n) ? n : null;
}

/** Dead letters of `name` from its first through `end`, a chunk at a time (at most `max`). */
export async function* deadLetterChunks(
  streams: Pick<LocalStreams, 'info' | 'read'>,
  name: string,
  end: number,
  max = Number.POSITIVE_INFINITY,
): AsyncGenerator<StoredRecord[]> {
  let next = streams.info(name).firstSeq;
  let seen = 0;
  while (next <= end && seen < max) {
    const recs = (await streams.read(name, next, { limit: Math.min(CHUNK_RECORDS, max - seen), maxBytes: CHUNK_BYTES })).filter((r) => r.seq <= end);
    if (recs.length === 0) return;
    seen += recs.length;
    next = (recs[recs.length - 1] as StoredRecord).seq + 1;
    yield recs;
  }
}

/** What `name` holds, its sources and its errors grouped (read through once, a chunk at a time). */
export async function summarize(streams: Pick<LocalStreams, 'info' | 'read'>, name: string, exporters: string[]): Promise<DeadLetterSummary> {
  const info = streams.info(name);
  const sources: Record<string, number> = {};
  const groups = new Map<string, ErrorGroup>();
  let otherErrors = 0;
  for await (const recs of deadLetterChunks(streams, name, info.lastSeq)) {
    for (const r of recs) {
      const src = r.attrs?.sourceStream ?? '(unknown)';
      sources[src] = (sources[src] ?? 0) + 1;
      const error = (r.attrs?.error ?? '(no error attribute)').slice(0, MAX_ERROR_CHARS);
      const g = groups.get(error);
      if (g) g.count++;
      else if (groups.size >= MAX_ERROR_GROUPS) otherErrors++;
      else {
        groups.set(error, {
          error,
          count: 1,
          example: {
            seq: r.seq,
            topic: r.topic,
            receivedAt: new Date(r.receivedAt).toISOString(),
            sourceStream: r.attrs?.sourceStream ?? null,
            sourceSeq: attrNumber(r.attrs?.sourceSeq),
            destination: r.attrs?.destination ?? null,
            attempts: attrNumber(r.attrs?.attempts),
          },
        });
      }
    }
  }
  const now = streams.info(name);
  return {
    stream: name,
    exporters,
    records: now.records,
    bytes: now.bytes,
    firstSeq: now.firstSeq,
    lastSeq: now.lastSeq,
    oldestAt: now.oldestAt === undefined ? null : new Date(now.oldestAt).toISOString(),
    droppedRecords: now.droppedRecords,
    sources,
    errors: [...groups.values()].sort((a, b) => b.count - a.count),
    otherErrors,
  };
}
