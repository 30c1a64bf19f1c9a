// Reads: records with seq >= fromSeq, in order, from the segment holding fromSeq onwards; and
// waiting until a stream holds a sequence (a tailing reader, woken by the group commit).
//
// Sequential readers (exporters) ask for the records right after the ones they got last, usually
// inside the segment they read last: those come from the stream's SegmentCache, resuming at the
// cached cursor, without touching the database. Segments not cached are fetched a few at a time,
// sized by what the limit still needs (a fixed nextv(16) used to copy up to 16 whole segments,
// i.e. up to 16 MiB of 1 MiB segments, out of LevelDB to return 500 records).
import type { Level } from 'level';
import { ERRORS } from '../../core/errors.js';
import { decodeSegment, parseSegmentKey, seqKey, type DecodeLimits } from './codec.js';
import type { StoreMetrics } from './metrics.js';
import type { StreamState } from './state.js';
import type { ReadOptions, StoredRecord } from './types.js';
import type { RateLog } from '../../core/rate-log.js';

/** Most segments per fetch, and the value bytes one fetch aims at (at least one segment). */
const MAX_FETCH_SEGMENTS = 64;
const FETCH_BYTES = 2 * 1024 * 1024;

export async function readRecords(
  db: Level<Buffer, Buffer>,
  s: StreamState,
  fromSeq: number,
  options: ReadOptions,
  metrics: StoreMetrics,
  /**
   * Damaged segments: logged at the first read that meets each, then at most once a minute per
   * segment with the count (`suppressed`); gatehouse_store_corrupt_segments_total counts every read.
   * A segment is met again at each read of its range until reclaim deletes it: an exporter held at
   * a damaged last segment (no later record yet) retried it at every backoff, and each admin read of
   * the range (GET /api/streams/S/records) made an error line. The store's (LocalStreams.corruptLog).
   */
  corruptLog: RateLog,
): Promise<StoredRecord[]> {
  const stream = s.name;
  const out: StoredRecord[] = [];
  const from = Math.max(fromSeq, s.firstSeq);
  const to = s.lastSeq; // records of a batch still in flight are not visible yet
  if (from > to || s.records === 0) return out;
  const lim: DecodeLimits = { limit: options.limit ?? 500, maxBytes: options.maxBytes ?? Infinity, payloadBytes: 0 };
  if (lim.limit <= 0) return out;

  // 1. Cached segments, as long as they continue the read.
  const cache = s.cache;
  let seq = from;
  for (let e = cache.find(seq); e !== undefined; e = cache.find(seq)) {
    if (decodeSegment(e.value, stream, e.firstSeq, seq, to, out, lim, e.cur)) return out;
    seq = e.firstSeq + e.count;
    if (seq > to) return out;
  }

  // 2. The database. After a cached segment, seq is the first sequence of the next segment (or in
  // a gap before it), so a plain seek finds it; otherwise look for the segment holding seq: the
  // last one whose key sorts before prefix + (seq + 1).
  const startKey = seq === from ? await segmentAtOrBefore(db, s.prefix, seqKey(s.prefix, s.headSeq), seq) : undefined;
  const it = db.iterator({ gte: startKey ?? seqKey(s.prefix, seq), lt: s.end });
  let corruptKey: Buffer | undefined;
  let want = 1;
  let segs = 0;
  let segRecords = 0;
  let segBytes = 0;
  try {
    fetch: for (;;) {
      const entries = await it.nextv(want);
      if (entries.length === 0) break;
      for (const [k, v] of entries) {
        const h = parseSegmentKey(k, s.prefix.length);
        if (!h) {
          // A key of the wrong shape: its records cannot be located, so they are skipped like a
          // segment that does not decode, counted and logged, never silently.
          corruptKey = k;
          metrics.corruptSegments.inc({ stream });
          corruptLog(
            `${stream} ${k.toString('hex')}`,
            { code: 'GH_STORE_CORRUPT', stream, key: k.toString('hex') },
            'corrupt store data: skipping a malformed segment key (its records cannot be located)',
          );
          continue;
        }
        if (h.firstSeq > to) break fetch;
        const e = cache.add(h.firstSeq, h.count, v);
        segs++;
        segRecords += h.count;
        segBytes += v.length;
        try {
          if (decodeSegment(v, stream, h.firstSeq, seq, to, out, lim, e.cur)) return out;
        } catch (err) {
          cache.remove(h.firstSeq);
          corruptKey = k;
          // Rule: a segment that does not decode is logged, counted and skipped; readers move
          // past it and reclaim deletes it like any other segment.
          metrics.corruptSegments.inc({ stream });
          corruptLog(
            `${stream} ${k.toString('hex')}`,
            { code: 'GH_STORE_CORRUPT', err, stream, key: k.toString('hex'), firstSeq: h.firstSeq, count: h.count },
            'corrupt store data: skipping a segment that does not decode',
          );
        }
        seq = h.firstSeq + h.count;
        if (seq > to) break fetch;
      }
      // Size the next fetch by the segments seen so far: enough for the rest of the limit.
      const need = lim.limit - out.length;
      const bySize = Math.max(1, Math.floor(FETCH_BYTES / Math.max(1, segBytes / segs)));
      want = Math.max(1, Math.min(MAX_FETCH_SEGMENTS, bySize, Math.ceil(need / Math.max(1, segRecords / segs))));
    }
  } finally {
    await it.close();
  }
  if (out.length === 0 && corruptKey) {
    throw ERRORS.GH_STORE_CORRUPT(
      { what: `stream '${stream}'`, reason: `the segment at ${from} does not decode (or its key is malformed), no later record yet` },
      {
        where: `${stream} key ${corruptKey.toString('hex')}`,
        hint: 'the records of that segment are lost: readers pass it once a newer record is appended; or restore the data directory from a backup',
      },
    );
  }
  return out;
}

/**
 * The key of the segment that may hold seq: the last well-formed segment key in [lo, prefix +
 * (seq + 1)), or undefined. A malformed key sorting there is passed over (it would otherwise hide
 * the segment before it from the read).
 */
async function segmentAtOrBefore(db: Level<Buffer, Buffer>, prefix: Buffer, lo: Buffer, seq: number): Promise<Buffer | undefined> {
  const range = { gte: lo, lt: seqKey(prefix, seq + 1), reverse: true };
  const [k] = await db.keys({ ...range, limit: 1 }).all();
  if (k === undefined || parseSegmentKey(k, prefix.length)) return k;
  for await (const key of db.keys(range)) if (parseSegmentKey(key, prefix.length)) return key;
  return undefined;
}

/**
 * The first sequence >= fromSeq held in the database, found from the segment keys on disk, not
 * from the in-memory counters; undefined when no well-formed segment key holds one. Exporters ask
 * it before they skip records as dropped by retention: a claim of the counters is checked against
 * the data (LocalStreams.firstHeld).
 */
export async function firstHeldSeq(db: Level<Buffer, Buffer>, s: StreamState, fromSeq: number): Promise<number | undefined> {
  const at = await segmentAtOrBefore(db, s.prefix, s.prefix, fromSeq);
  const h = at === undefined ? undefined : parseSegmentKey(at, s.prefix.length);
  if (h && h.firstSeq + h.count - 1 >= fromSeq) return fromSeq;
  for await (const k of db.keys({ gte: seqKey(s.prefix, fromSeq + 1), lt: s.end })) {
    const next = parseSegmentKey(k, s.prefix.length);
    if (next) return next.firstSeq;
  }
  return undefined;
}

/** Resolves once s holds seq (the group commit wakes it: StreamState.wakeSeq); rejects with an AbortError on abort. */
export function waitForSeq(s: StreamState, seq: number, signal?: AbortSignal): Promise<void> {
  if (s.lastSeq >= seq) return Promise.resolve();
  if (signal?.aborted) return Promise.reject(abortError());
  return new Promise<void>((resolve, reject) => {
    const w = { seq, resolve, reject, signal, onAbort: undefined as (() => void) | undefined };
    if (signal) {
      w.onAbort = (): void => {
        const i = s.seqWaiters.indexOf(w);
        if (i >= 0) s.seqWaiters.splice(i, 1);
        reject(abortError());
      };
      signal.addEventListener('abort', w.onAbort, { once: true });
    }
    s.seqWaiters.push(w);
  });
}

function abortError(): Error {
  return new DOMException('waitFor was aborted', 'AbortError');
}
