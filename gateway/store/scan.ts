// Opening (and reopening after a failed write) rebuilds every stream's in-memory state from the
// keys on disk: segment keys (counters, head, lastSeq), checkpoints and high-water marks.
import type { Level } from 'level';
import type { Logger } from 'pino';
import { KEY_CHECKPOINT, KEY_HWM, KEY_SEGMENT, parseSegmentKey, readU64 } from './codec.js';
import type { StreamState } from './state.js';

type Db = Level<Buffer, Buffer>;

/** Rebuild the state of every stream found on disk (streams are created through stateFor). */
export async function scanStreams(db: Db, stateFor: (name: string) => StreamState, log: Logger): Promise<void> {
  await scanSegments(db, stateFor, log);
  await scanCheckpoints(db, stateFor);
}

/** Rebuild per-stream counters from segment keys alone (values are not read). */
async function scanSegments(db: Db, stateFor: (name: string) => StreamState, log: Logger): Promise<void> {
  const it = db.keys({ gte: Buffer.from([KEY_SEGMENT]), lt: Buffer.from([KEY_SEGMENT + 1]) });
  let cur: StreamState | undefined;
  try {
    for (;;) {
      const keys = await it.nextv(1024);
      if (keys.length === 0) break;
      for (const k of keys) {
        if (!cur || k.length < cur.prefix.length || k.compare(cur.prefix, 0, cur.prefix.length, 0, cur.prefix.length) !== 0) {
          const z = k.indexOf(0, 1);
          if (z < 0) {
            log.warn({ key: k.toString('hex') }, 'ignoring a malformed key in the segment range');
            continue;
          }
          cur = stateFor(k.toString('utf8', 1, z));
        }
        const h = parseSegmentKey(k, cur.prefix.length);
        if (!h) {
          log.warn({ key: k.toString('hex'), stream: cur.name }, 'malformed segment key: it will be deleted by the next reclaim');
          continue;
        }
        if (cur.headSeq === 0) {
          cur.headSeq = h.firstSeq;
          cur.oldestAt = h.minAt;
        }
        cur.physRecords += h.count;
        cur.physBytes += h.bytes;
        const last = h.firstSeq + h.count - 1;
        if (last > cur.lastSeq) cur.lastSeq = last;
      }
    }
  } finally {
    await it.close();
  }
}

/** Consumers' checkpoints and the high-water marks (lastSeq survives reclaim of every segment). */
async function scanCheckpoints(db: Db, stateFor: (name: string) => StreamState): Promise<void> {
  for await (const [k, v] of db.iterator({ gte: Buffer.from([KEY_CHECKPOINT]), lt: Buffer.from([KEY_CHECKPOINT + 1]) })) {
    const z = k.indexOf(0, 1);
    if (z < 0 || v.length !== 8) continue;
    stateFor(k.toString('utf8', 1, z)).consumers.set(k.toString('utf8', z + 1), readU64(v, 0));
  }
  for await (const [k, v] of db.iterator({ gte: Buffer.from([KEY_HWM]), lt: Buffer.from([KEY_HWM + 1]) })) {
    if (v.length !== 8) continue;
    const s = stateFor(k.toString('utf8', 1));
    s.lastSeq = Math.max(s.lastSeq, readU64(v, 0));
  }
}
