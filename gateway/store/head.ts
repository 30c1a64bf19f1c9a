// Work on the oldest end of a stream (reclaim, drop-oldest, ttl), from segment keys alone: plan
// which head segments go, write their deletes (with the high-water mark) and apply the counters
// once the write is done. Callers hold the store's structural lock.
import type { Level } from 'level';
import type { Logger } from 'pino';
import { hwmKey, measureRecord, parseSegmentKey, prefixBytes, segmentKey, seqKey, u64, type RecordSize, type SegmentHead } from './codec.js';
import type { PendingBatch, StreamState } from './state.js';
import { tallyAfter } from './tally.js';
import type { AppendRecord } from './types.js';
import { monotonicNow } from '../../core/clock.js';

/** A full drop-oldest stream drops at every commit: its warning is written at most this often, with what was dropped since. */
const DROP_LOG_INTERVAL_MS = 60_000;

export type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface HeadPlan {
  /** Keys of the segments to delete, oldest first (includes malformed keys met on the way). */
  keys: Buffer[];
  /** Logical records/bytes removed (the head's already-skipped part excluded). */
  records: number;
  bytes: number;
  physRecords: number;
  physBytes: number;
  /** Whether the current head segment is among the deleted. */
  removedHead: boolean;
  /** The first segment that stays, if any. */
  next: SegmentHead | undefined;
  nextKey: Buffer | undefined;
}

export class HeadOps {
  private readonly size: RecordSize = { bytes: 0, encoded: 0 };
  /** Per stream: when its last 'dropped oldest' line was written, and the drops not logged since. */
  private readonly dropLog = new Map<string, { at: number; records: number; bytes: number; commits: number }>();

  constructor(
    private readonly db: () => Level<Buffer, Buffer>,
    private readonly log: Logger,
    private readonly mono: () => number = monotonicNow,
    /** Told of the record bytes of every delete written (compaction.ts gives their disk space back). */
    private readonly onDeleted: (s: StreamState, physBytes: number) => void = () => undefined,
  ) {}

  /** The first drop of a stream is logged at once, then one line a minute at most, carrying every record dropped since. */
  private logDropped(stream: string, records: number, bytes: number): void {
    const t = this.mono();
    const e = this.dropLog.get(stream);
    if (e && t - e.at < DROP_LOG_INTERVAL_MS) {
      e.records += records;
      e.bytes += bytes;
      e.commits++;
      return;
    }
    const since = e ? { records: e.records + records, bytes: e.bytes + bytes, commits: e.commits + 1 } : { records, bytes, commits: 1 };
    this.dropLog.set(stream, { at: t, records: 0, bytes: 0, commits: 0 });
    this.log.warn(
      { stream, ...since },
      'stream full: dropped oldest records (onFull: drop-oldest; the records dropped since the last such line, at most one a minute; every one counted in gatehouse_stream_dropped_total)',
    );
  }

  /** Walk segments from the head while `remove(segment, logicalRecords, logicalBytes)` says so. */
  async plan(s: StreamState, remove: (h: SegmentHead, records: number, bytes: number) => boolean): Promise<HeadPlan> {
    const plan: HeadPlan = { keys: [], records: 0, bytes: 0, physRecords: 0, physBytes: 0, removedHead: false, next: undefined, nextKey: undefined };
    if (s.headSeq === 0) return plan;
    // Start at the known head: the deleted keys before it are tombstones LevelDB would walk over.
    const it = this.db().keys({ gte: seqKey(s.prefix, s.headSeq), lt: s.end });
    try {
      for (;;) {
        const keys = await it.nextv(64);
        if (keys.length === 0) return plan;
        for (const k of keys) {
          const h = parseSegmentKey(k, s.prefix.length);
          if (!h) {
            this.log.warn({ stream: s.name, key: k.toString('hex') }, 'deleting a malformed segment key');
            plan.keys.push(k);
            continue;
          }
          const isHead = h.firstSeq === s.headSeq;
          const records = h.count - (isHead ? s.headSkipCount : 0);
          const bytes = h.bytes - (isHead ? s.headSkipBytes : 0);
          if (!remove(h, records, bytes)) {
            plan.next = h;
            plan.nextKey = k;
            return plan;
          }
          plan.keys.push(k);
          plan.records += records;
          plan.bytes += bytes;
          plan.physRecords += h.count;
          plan.physBytes += h.bytes;
          if (isHead) plan.removedHead = true;
        }
      }
    } finally {
      await it.close();
    }
  }

  /** Deletes of the plan plus the high-water mark, so sequences continue if the log empties. */
  pushDeletes(s: StreamState, plan: HeadPlan, ops: BatchOp[]): void {
    for (const key of plan.keys) ops.push({ type: 'del', key });
    ops.push({ type: 'put', key: hwmKey(s.name), value: u64(s.lastSeq) });
    ops.push(tallyAfter(s, plan, 0, 0, 0));
  }

  /** After the plan's deletes are written. */
  apply(s: StreamState, plan: HeadPlan): void {
    s.physRecords -= plan.physRecords;
    s.physBytes -= plan.physBytes;
    if (plan.removedHead) {
      s.headSkipCount = 0;
      s.headSkipBytes = 0;
    }
    if (plan.next) {
      s.headSeq = plan.next.firstSeq;
      s.oldestAt = plan.next.minAt;
      s.cache.dropBefore(s.headSeq);
    } else if (plan.keys.length > 0) {
      s.headSeq = 0;
      s.lastSegSeq = 0;
      s.oldestAt = undefined;
      s.cache.clear();
    }
    if (plan.keys.length > 0) {
      s.untalliedBytes = 0; // pushDeletes wrote its tally
      this.onDeleted(s, plan.physBytes);
    }
  }

  /**
   * Records of the first remaining segment at or below `min` (the minimum checkpoint) are counted
   * out at once; their bytes come from walking the segment's record headers (one get).
   */
  async partialSkip(s: StreamState, plan: HeadPlan, min: number): Promise<{ count: number; bytes: number } | undefined> {
    const h = plan.next;
    if (!h || !plan.nextKey || min < h.firstSeq) return plan.removedHead ? { count: 0, bytes: 0 } : undefined;
    const count = min - h.firstSeq + 1;
    if (!plan.removedHead && count === s.headSkipCount) return undefined;
    let bytes: number;
    try {
      // Usually the segment an exporter has just read: take it from the read cache.
      const value = s.cache.find(h.firstSeq)?.value ?? (await this.db().get(plan.nextKey));
      if (value === undefined) throw new Error('segment vanished');
      bytes = prefixBytes(value, count);
    } catch (err) {
      // Not fatal: estimate in proportion, the segment's exact bytes return when it is deleted.
      this.log.error(
        { code: 'GH_STORE_CORRUPT', err, stream: s.name, key: plan.nextKey.toString('hex') },
        'corrupt store data: cannot size a partly reclaimed segment; estimating',
      );
      bytes = Math.floor((h.bytes * count) / h.count);
    }
    return { count, bytes };
  }

  countDropped(s: StreamState, records: number, reason: 'full' | 'ttl'): void {
    if (records <= 0) return;
    // Held records are always beyond the minimum checkpoint (reclaim is eager), so every record
    // retention removes is one some consumer (or, without consumers, nobody) had delivered.
    s.droppedRecords += records;
    if (reason === 'full') s.counters?.droppedFull.inc(records);
    else s.counters?.droppedTtl.inc(records);
  }

  /**
   * drop-oldest: plan deletes of head segments until the batch fits; if the batch alone exceeds
   * maxBytes, its own oldest records are dropped too (`trim`: they get sequence numbers, are
   * acknowledged, and are counted as dropped, exactly as if written then dropped).
   */
  async planDropOldest(s: StreamState, b: PendingBatch, ops: BatchOp[]): Promise<{ plan: HeadPlan | undefined; trim: number }> {
    const max = s.options?.maxBytes ?? Infinity;
    let over = s.bytes + b.bytes - max;
    let plan: HeadPlan | undefined;
    if (over > 0 && s.records > 0) {
      plan = await this.plan(s, (_h, _records, bytes) => {
        if (over <= 0) return false;
        over -= bytes;
        return true;
      });
      if (plan.keys.length > 0) this.pushDeletes(s, plan, ops);
      if (plan.keys.length > 0) this.logDropped(s.name, plan.records, plan.bytes);
    }
    let trim = 0;
    while (over > 0 && trim < b.recs.length - 1) {
      measureRecord(b.recs[trim] as AppendRecord, this.size);
      over -= this.size.bytes;
      trim++;
    }
    return { plan, trim };
  }

  encodedFrom(b: PendingBatch, from: number): number {
    let n = 0;
    for (let i = from; i < b.recs.length; i++) {
      measureRecord(b.recs[i] as AppendRecord, this.size);
      n += this.size.encoded;
    }
    return n;
  }

  bytesBefore(b: PendingBatch, end: number): number {
    let n = 0;
    for (let i = 0; i < end; i++) {
      measureRecord(b.recs[i] as AppendRecord, this.size);
      n += this.size.bytes;
    }
    return n;
  }

  segmentKeyFor(s: StreamState, firstSeq: number, count: number, bytes: number, minAt: number, maxAt: number): Buffer {
    return segmentKey(s.prefix, { firstSeq, count, bytes, minAt, maxAt });
  }
}
