// Consumers, checkpoints and what frees the oldest end of a stream: a checkpoint write and the
// deletes of the segments behind every consumer's checkpoint go in one batch (reclaim), and the
// ttl sweep deletes the segments older than a stream's ttl. Both run under the structural lock
// (committer.ts), plan their deletes with head.ts and write through the store's guarded write.
// Apart from local-streams.ts so that the store's lifecycle (open, close, reopen) and its reads
// stay apart from the code that deletes data; the store hands it the state it works on.
import type { Logger } from 'pino';
import { GatehouseError } from '../../core/errors.js';
import { checkpointKey, prefixBytes, u64 } from './codec.js';
import type { GroupCommitter } from './committer.js';
import type { BatchOp, HeadOps, HeadPlan } from './head.js';
import type { StreamState } from './state.js';

export class Retention {
  constructor(
    private readonly head: HeadOps,
    /** Its acquire/release is the structural lock; wakeFull after space was freed. */
    private readonly commits: GroupCommitter,
    /** The store's write (local-streams.ts): refused after a failed write, its I/O errors reach the disk guard. */
    private readonly write: (ops: BatchOp[], sync: boolean) => Promise<void>,
    /** Whether the store is open (a sweep stops when it closes meanwhile). */
    private readonly isOpen: () => boolean,
    private readonly log: Logger,
    /**
     * Wall time, on purpose: ttl is by record age (receivedAt is wall time). After NTP steps the clock
     * forward, records stamped before the step may be older than ttl at once and are dropped (counted
     * as ttl drops); stepped back, they are kept longer.
     */
    private readonly now: () => number,
    /** durability 'fsync': consumer registrations and ttl deletes are synced. */
    private readonly sync: boolean,
  ) {}

  async addConsumer(s: StreamState, consumer: string): Promise<void> {
    if (s.consumers.has(consumer)) return;
    // At the stream's base: a stream defined again after a drop starts past the drop floor, and
    // its first consumer must not take the sequences below as records retention dropped.
    await this.write([{ type: 'put', key: checkpointKey(s.name, consumer), value: u64(s.seqBase) }], this.sync);
    s.consumers.set(consumer, s.seqBase);
  }

  async removeConsumer(s: StreamState, consumer: string): Promise<void> {
    if (!s.consumers.has(consumer)) return;
    await this.commits.acquire();
    try {
      s.consumers.delete(consumer);
      const ops: BatchOp[] = [{ type: 'del', key: checkpointKey(s.name, consumer) }];
      await this.reclaim(s, ops);
    } finally {
      this.commits.release();
    }
    this.commits.wakeFull(s);
  }

  async setCheckpoint(s: StreamState, consumer: string, seq: number): Promise<void> {
    const stream = s.name;
    if (!Number.isSafeInteger(seq) || seq < 0) {
      throw new GatehouseError('GH_INTERNAL', `checkpoint ${seq} of '${consumer}' on '${stream}' is not a sequence number`, { where: stream });
    }
    if (seq > s.lastSeq) {
      this.log.warn({ stream, consumer, seq, lastSeq: s.lastSeq }, 'checkpoint beyond the last sequence; clamped');
      seq = s.lastSeq;
    }
    await this.commits.acquire();
    const prev = s.consumers.get(consumer);
    try {
      s.consumers.set(consumer, seq); // registers it if it was not (setCheckpoint implies a consumer)
      await this.reclaim(s, [{ type: 'put', key: checkpointKey(stream, consumer), value: u64(seq) }]);
    } catch (err) {
      if (prev === undefined) s.consumers.delete(consumer);
      else s.consumers.set(consumer, prev);
      throw err;
    } finally {
      this.commits.release();
    }
    this.commits.wakeFull(s);
  }

  /** Under the lock: write ops plus the deletes of segments behind every checkpoint, atomically. */
  async reclaim(s: StreamState, ops: BatchOp[]): Promise<void> {
    const min = s.minCheckpoint();
    let plan: HeadPlan | undefined;
    let skip: { count: number; bytes: number } | undefined;
    const head = min !== undefined && s.records > 0 && min >= s.firstSeq ? s.cache.find(s.headSeq) : undefined;
    if (min !== undefined && head !== undefined && head.firstSeq === s.headSeq && min < head.firstSeq + head.count - 1) {
      // Fast path (an exporter checkpointing inside the head segment it has just read): nothing
      // to delete, and the skipped part is sized from the cached value, without a key scan.
      const count = min - head.firstSeq + 1;
      if (count !== s.headSkipCount) skip = { count, bytes: prefixBytes(head.value, count) };
    } else if (min !== undefined && s.records > 0 && min >= s.firstSeq) {
      plan = await this.head.plan(s, (h) => h.firstSeq + h.count - 1 <= min);
      if (plan.keys.length > 0) this.head.pushDeletes(s, plan, ops);
      skip = await this.head.partialSkip(s, plan, min);
    }
    // Not fsynced even under durability 'fsync': LevelDB replays its log in order, so a power loss
    // can only lose this write together with everything after it (never the segments it deletes
    // without their checkpoint), and the next group commit's fsync makes it durable anyway. A lost
    // checkpoint advance means resends, which at-least-once delivery allows. An fsync here, under
    // the structural lock, per exporter batch, stalled the group commit (see docs/benchmarks.md).
    if (ops.length > 0) await this.write(ops, false);
    if (plan) this.head.apply(s, plan);
    if (skip) {
      s.headSkipCount = skip.count;
      s.headSkipBytes = skip.bytes;
    }
  }

  /** Drop the segments older than their stream's ttl (the store checked that it is open). */
  async sweep(streams: Iterable<StreamState>): Promise<void> {
    const now = this.now();
    for (const s of streams) {
      const ttl = s.options?.ttlMs;
      if (ttl === undefined || s.records === 0) continue;
      const cutoff = now - ttl;
      if (s.oldestAt !== undefined && s.oldestAt >= cutoff) continue;
      await this.commits.acquire();
      try {
        if (!this.isOpen()) return;
        const plan = await this.head.plan(s, (h) => h.maxAt < cutoff);
        if (plan.keys.length === 0) continue;
        const ops: BatchOp[] = [];
        this.head.pushDeletes(s, plan, ops);
        await this.write(ops, this.sync);
        this.head.apply(s, plan);
        this.head.countDropped(s, plan.records, 'ttl');
        this.log.info({ stream: s.name, records: plan.records, bytes: plan.bytes }, 'ttl dropped records');
      } finally {
        this.commits.release();
      }
      this.commits.wakeFull(s);
    }
  }
}
