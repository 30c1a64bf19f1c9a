// Cutting the oldest records of a stream off, whoever consumed them: the dead letters an operator
// sent again or purged (admin/dead-letters.ts). Reclaim frees only what every consumer passed and
// a dead-letter stream has no consumer, so without this its records stayed until drop-oldest
// pushed them out.
//
// One write under the structural lock: the segments wholly at or below `through` deleted; the
// segment holding `through` replaced by one of its records after it (the same bytes, a key that
// starts at through + 1), with the high-water mark and the stream's tally. A kill -9 leaves the
// write whole or absent: every record is in the old segment or the new one, never in neither
// (what a redrive appended elsewhere first is then there twice, never lost).
import type { Level } from 'level';
import { ERRORS } from '../../core/errors.js';
import { SEG_HEADER, hwmKey, segmentCount, segmentKey, skipRecord, u64 } from './codec.js';
import type { GroupCommitter } from './committer.js';
import type { BatchOp, HeadOps } from './head.js';
import type { StreamState } from './state.js';
import { tallyAfter } from './tally.js';

export interface TrimDeps {
  db(): Level<Buffer, Buffer>;
  head: HeadOps;
  /** Its acquire/release is the structural lock. */
  commits: Pick<GroupCommitter, 'acquire' | 'release' | 'wakeFull'>;
  write(ops: BatchOp[], sync: boolean): Promise<void>;
  sync: boolean;
  /** Under the lock: the head skip of a stream with consumers, computed again (retention.ts reclaim). */
  reclaim(s: StreamState): Promise<void>;
  /** Told of the record bytes deleted (compaction.ts gives their disk space back). */
  deleted(s: StreamState, bytes: number): void;
}

/** What a trim removed (records and bytes that were held). */
export interface Trimmed {
  records: number;
  bytes: number;
}

/** Remove every record of `s` with seq <= through (through past lastSeq: all held). */
export async function trimThrough(d: TrimDeps, s: StreamState, through: number): Promise<Trimmed> {
  await d.commits.acquire();
  try {
    const upTo = Math.min(through, s.lastSeq);
    if (s.physRecords === 0 || s.headSeq === 0 || upTo < s.headSeq) return { records: 0, bytes: 0 };
    const before = { records: s.records, bytes: s.bytes };
    const plan = await d.head.plan(s, (h) => h.firstSeq + h.count - 1 <= upTo);
    const h = plan.next;
    const ops: BatchOp[] = [];
    if (h === undefined || plan.nextKey === undefined || h.firstSeq > upTo) {
      // On a segment boundary: deletes only, as reclaim writes them.
      if (plan.keys.length === 0) return { records: 0, bytes: 0 };
      d.head.pushDeletes(s, plan, ops);
      await d.write(ops, d.sync);
      d.head.apply(s, plan);
    } else {
      const value = s.cache.find(h.firstSeq)?.value ?? (await d.db().get(plan.nextKey));
      if (value === undefined) throw ERRORS.GH_STORE_CORRUPT({ what: `a segment of stream '${s.name}'`, reason: 'it vanished while the stream was trimmed' });
      const cut = upTo - h.firstSeq + 1;
      const rest = segmentRest(value, cut);
      const cutBytes = h.bytes - rest.bytes;
      const first = upTo + 1;
      const last = h.firstSeq === s.lastSegSeq;
      for (const key of plan.keys) ops.push({ type: 'del', key });
      ops.push({ type: 'del', key: plan.nextKey });
      ops.push({
        type: 'put',
        key: segmentKey(s.prefix, { firstSeq: first, count: rest.count, bytes: rest.bytes, minAt: rest.minAt, maxAt: rest.maxAt }),
        value: rest.value,
      });
      ops.push({ type: 'put', key: hwmKey(s.name), value: u64(s.lastSeq) });
      // The tally after: the segment replaced is the newest one (so the new one is), or one before others.
      const removed = { keys: [...plan.keys, plan.nextKey], physRecords: plan.physRecords + cut, physBytes: plan.physBytes + cutBytes };
      ops.push(
        last
          ? tallyAfter(
              s,
              { ...removed, physRecords: removed.physRecords + rest.count, physBytes: removed.physBytes + rest.bytes, next: undefined },
              first,
              rest.count,
              rest.bytes,
            )
          : tallyAfter(s, { ...removed, next: { firstSeq: first, count: rest.count, bytes: rest.bytes, minAt: rest.minAt, maxAt: rest.maxAt } }, 0, 0, 0),
      );
      await d.write(ops, d.sync);
      d.head.apply(s, plan);
      s.physRecords -= cut;
      s.physBytes -= cutBytes;
      s.headSeq = first;
      if (last) s.lastSegSeq = first;
      s.oldestAt = Math.floor(rest.minAt);
      s.headSkipCount = 0;
      s.headSkipBytes = 0;
      s.untalliedBytes = 0;
      s.cache.dropBefore(first);
      d.deleted(s, cutBytes);
    }
    // A consumer's checkpoint may still lie inside the new head segment: its skip is counted again.
    if (s.consumers.size > 0) await d.reclaim(s);
    return { records: before.records - s.records, bytes: before.bytes - s.bytes };
  } finally {
    d.commits.release();
    d.commits.wakeFull(s);
  }
}

/** What stays of a segment once its first records are cut off. */
interface SegmentRest {
  /** A segment value holding the records after the first n, byte for byte as they were. */
  value: Buffer;
  count: number;
  /** Accounted bytes of the records kept, and of those cut off. */
  bytes: number;
  cutBytes: number;
  minAt: number;
  maxAt: number;
}

/** The segment without its first n records (0 < n < count): its header, then the bytes of the rest unchanged. */
function segmentRest(value: Buffer, n: number): SegmentRest {
  const count = segmentCount(value);
  const walk = { bytes: 0 };
  let off = SEG_HEADER;
  let from = SEG_HEADER;
  let bytes = 0;
  let cutBytes = 0;
  let minAt = Infinity;
  let maxAt = -Infinity;
  for (let i = 0; i < count; i++) {
    if (i === n) from = off;
    const start = off;
    off = skipRecord(value, off, walk, i);
    const at = value.readDoubleBE(start);
    if (i < n) cutBytes += walk.bytes;
    else {
      bytes += walk.bytes;
      if (at < minAt) minAt = at;
      if (at > maxAt) maxAt = at;
    }
  }
  if (off !== value.length) throw ERRORS.GH_STORE_CORRUPT({ what: 'a stream segment', reason: 'it does not decode: trailing bytes' });
  const out = Buffer.allocUnsafe(SEG_HEADER + value.length - from);
  value.copy(out, 0, 0, SEG_HEADER);
  out.writeUInt32BE(count - n, 2);
  value.copy(out, SEG_HEADER, from);
  return { value: out, count: count - n, bytes, cutBytes, minAt, maxAt };
}
