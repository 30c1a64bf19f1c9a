// Reads: records with seq >= fromSeq, in order, from the segment holding fromSeq onwards.
import type { Level } from 'level';
import type { Logger } from 'pino';
import { GatehouseError } from '../errors.js';
import { decodeSegment, parseSegmentKey, seqKey, type DecodeLimits } from './codec.js';
import type { StoreMetrics } from './metrics.js';
import type { StreamState } from './state.js';
import type { ReadOptions, StoredRecord } from './types.js';

export async function readRecords(db: Level<Buffer, Buffer>, s: StreamState, fromSeq: number, options: ReadOptions, metrics: StoreMetrics, log: Logger): Promise<StoredRecord[]> {
  const stream = s.name;
  const out: StoredRecord[] = [];
  const from = Math.max(fromSeq, s.firstSeq);
  const to = s.lastSeq; // records of a batch still in flight are not visible yet
  if (from > to || s.records === 0) return out;
  const lim: DecodeLimits = { limit: options.limit ?? 500, maxBytes: options.maxBytes ?? Infinity, payloadBytes: 0 };
  if (lim.limit <= 0) return out;
  // The segment holding `from` is the last one whose key sorts before prefix + (from + 1).
  const [startKey] = await db.keys({ gte: seqKey(s.prefix, s.headSeq), lt: seqKey(s.prefix, from + 1), reverse: true, limit: 1 }).all();
  const it = db.iterator({ gte: startKey ?? seqKey(s.prefix, from), lt: s.end });
  let corruptKey: Buffer | undefined;
  try {
    for (;;) {
      const entries = await it.nextv(16);
      if (entries.length === 0) break;
      for (const [k, v] of entries) {
        const h = parseSegmentKey(k, s.prefix.length);
        if (!h) continue;
        if (h.firstSeq > to) return out;
        try {
          if (decodeSegment(v, stream, h.firstSeq, from, to, out, lim)) return out;
        } catch (err) {
          corruptKey = k;
          // Rule: a segment that does not decode is logged, counted and skipped; readers move
          // past it and reclaim deletes it like any other segment.
          metrics.corruptSegments.inc({ stream });
          log.error({ err, stream, key: k.toString('hex'), firstSeq: h.firstSeq, count: h.count }, 'GH_STORE_CORRUPT: skipping a segment that does not decode');
        }
      }
    }
  } finally {
    await it.close();
  }
  if (out.length === 0 && corruptKey) {
    throw new GatehouseError('GH_STORE_CORRUPT', `stream '${stream}': the segment at ${from} does not decode and no later record exists yet`, {
      where: `${stream} key ${corruptKey.toString('hex')}`,
      hint: 'the records of that segment are lost; move the checkpoint past them or restore the data directory from a backup',
    });
  }
  return out;
}
