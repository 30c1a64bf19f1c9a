// Group commit: appends of every stream join one pending batch; one committer writes it with ONE
// db.batch (one fsync with durability fsync), then resolves every append in it. While a write is
// in flight new appends accumulate for the next one (natural batching, paced by pacing.ts). The
// pending queue is bounded (maxPendingBytes); a full 'reject' stream holds appends back until
// space is freed or appendTimeoutMs passes. The same lock serialises every structural write of
// the store (reclaim, retention, ttl), so the in-memory counters always match the keys on disk.
// Meta puts (commitMeta) join the same batches in FIFO order with appends: a meta put waits while
// an append submitted before it is still held back (by the queue bound or a full 'reject' stream).
// A put may write several keys, or delete some, in its batch (MetaEntries, core/message.ts).
// Pacing (when to write: commitDelayMs) is pacing.ts; what a written commit does to the streams'
// state is commit-apply.ts; the meta puts' queue, barriers and keys are meta-puts.ts; this file is
// how a commit is written.
import type { MetaValue } from '../../core/message.js';
import type { Level } from 'level';
import type { Logger } from 'pino';
import { ERRORS } from '../../core/errors.js';
import { encodeSegment } from './codec.js';
import { applyCommit } from './commit-apply.js';
import { commitTally } from './tally.js';
import { pushMetaOps, queueMeta, readyCount, rejectMeta, resolveMeta, type PendingMeta } from './meta-puts.js';
import { CommitPacer, DEFAULT_COMMIT_DELAY_MS, PACE_MAX_BYTES } from './pacing.js';
import { isDiskFullError, isStorageWriteError, storeWriteError } from './disk-guard.js';
import type { BatchOp, HeadOps, HeadPlan } from './head.js';
import type { StoreMetrics } from './metrics.js';
import type { StoreOptions } from './options.js';
import type { SlowDiskWatch } from './slow-disk.js';
import { newBatch, type PendingBatch, type Reject, type Resolve, type StreamState, type WaitingAppend } from './state.js';
import type { AppendRecord, StreamOptions } from './types.js';

export class GroupCommitter {
  private pendingList: StreamState[] = [];
  private pendingBytes = 0;
  private readonly memWaiters: WaitingAppend[] = [];
  private flushing = false;
  private readonly idleWaiters: Array<() => void> = [];
  /** Background readers waiting for the next cut (afterCut). */
  private cutWaiters: Array<() => void> = [];
  private readonly flushBound = (): void => void this.flushLoop();
  private readonly sync: boolean;
  /** When to write (commitDelayMs: 7 ms by default with fsync, where fsyncs wear flash; 0 with 'os'). */
  private readonly pacer: CommitPacer;
  /** Commits written (appends and/or meta puts). */
  commits = 0;

  /** Appends submitted so far (the ticket of the latest one). */
  private tickets = 0;
  /** Appends held back (memWaiters, fullWaiters): a meta put with a later barrier waits for them. */
  private readonly held = new Set<WaitingAppend>();
  /** Meta puts not yet written, in submission order (barriers non-decreasing). */
  private readonly metas: PendingMeta[] = [];

  /** Set when the gateway stops (refuseSpaceWaits): an append that would wait for space is refused at once. */
  private spaceWaitRefusal: ((s: StreamState) => Error) | undefined;

  // The structural lock (handoff: release passes ownership to the next waiter).
  private locked = false;
  private readonly lockQueue: Array<() => void> = [];

  // Promise executor reused for every append instead of a closure per append.
  private capRes: Resolve | undefined;
  private capRej: Reject | undefined;
  private readonly capture = (res: Resolve, rej: Reject): void => {
    this.capRes = res;
    this.capRej = rej;
  };

  constructor(
    private readonly db: () => Level<Buffer, Buffer>,
    private readonly head: HeadOps,
    private readonly metrics: StoreMetrics,
    private readonly log: Logger,
    private readonly options: StoreOptions,
    /** Told of every failed commit (the disk guard counts it; an I/O error stops data appends). */
    private readonly onWriteError: (err: unknown) => void = () => undefined,
    /** Set after a failed write until the store is reopened: batches admitted before it fail too. */
    private readonly refuseWrites: () => Error | undefined = () => undefined,
    /** Told when each commit's write starts and ends: a stalled or slow disk is seen and said (slow-disk.ts). */
    private readonly watch?: Pick<SlowDiskWatch, 'started' | 'ended'>,
  ) {
    this.sync = options.durability === 'fsync';
    this.pacer = new CommitPacer(options.commitDelayMs ?? (this.sync ? DEFAULT_COMMIT_DELAY_MS : 0));
  }

  /** Admit a measured, validated record; resolves with its sequence once committed. */
  submit(s: StreamState, record: AppendRecord, bytes: number, encoded: number): Promise<number> {
    const p = new Promise<number>(this.capture);
    const resolve = this.capRes as Resolve;
    const reject = this.capRej as Reject;
    const ticket = ++this.tickets;
    if ((s.options as StreamOptions).onFull === 'reject' && (s.fullWaiters.length > 0 || !s.fits(bytes))) {
      if (this.spaceWaitRefusal) reject(this.spaceWaitRefusal(s));
      else this.waitForSpace(s, record, bytes, encoded, resolve, reject, ticket);
      return p;
    }
    s.reserved += bytes;
    if (this.memWaiters.length > 0 || (this.pendingBytes > 0 && this.pendingBytes + encoded > this.options.maxPendingBytes)) {
      const w: WaitingAppend = { stream: s, rec: record, bytes, encoded, resolve, reject, timer: undefined, ticket };
      this.memWaiters.push(w);
      this.held.add(w);
      this.pacer.endWait();
    } else {
      this.enqueue(s, record, bytes, encoded, resolve, reject);
    }
    return p;
  }

  /** Write key/value in the group commit after every append submitted before it (see types.ts commitMeta). */
  submitMeta(key: Buffer, value: MetaValue): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // A queued put of the same key is superseded (meta-puts.ts).
      queueMeta(this.metas, key, value, this.tickets, resolve, reject);
      this.kick();
    });
  }

  /**
   * From now on an append that would wait for space in a full 'reject' stream is refused at once
   * (the gateway stops: its clients are gone, such an append could no longer be acknowledged).
   */
  refuseSpaceWaits(error: (s: StreamState) => Error): void {
    this.spaceWaitRefusal = error;
  }

  /** Start the flush loop when a meta put became writable and nothing else will start it. */
  private kick(): void {
    if (this.flushing || !this.metaReady()) return;
    this.flushing = true;
    setImmediate(this.flushBound);
  }

  /** How many queued meta puts may join the batch being formed now (no append before them is held back). */
  private readyMetas(): number {
    return readyCount(this.metas, this.held);
  }

  private metaReady(): boolean {
    return this.readyMetas() > 0;
  }

  /** An append held back was refused from outside (the store closes): meta puts behind it may go. */
  forgetHeld(w: WaitingAppend): void {
    if (this.held.delete(w)) this.kick();
  }

  /** Close: meta puts still queued (none once idle, unless held back forever) are refused. */
  rejectMetas(err: unknown): void {
    for (const m of this.metas.splice(0)) rejectMeta(m, err);
  }

  /**
   * Undefined while no append is pending (no commit window is open); else resolves just after the
   * pending batch is cut for its write. Appends that arrive from then on wait for the next commit
   * anyway, so CPU work done at that moment (an exporter's batch) delays no acknowledgement; done
   * in the middle of a window, it delays the reads of publishes that would have made this commit.
   */
  afterCut(): Promise<void> | undefined {
    if (this.pendingList.length === 0 && this.memWaiters.length === 0) return undefined;
    return new Promise<void>((r) => this.cutWaiters.push(r));
  }

  private releaseCutWaiters(): void {
    if (this.cutWaiters.length === 0) return;
    const waiters = this.cutWaiters;
    this.cutWaiters = [];
    for (const r of waiters) r();
  }

  /** Resolves when nothing is pending or being written (close flushes through this). */
  idle(): Promise<void> {
    if (!this.flushing) return Promise.resolve();
    return new Promise<void>((r) => this.idleWaiters.push(r));
  }

  private enqueue(s: StreamState, rec: AppendRecord, bytes: number, encoded: number, resolve: Resolve, reject: Reject): void {
    // (An empty pending list means no stream has a pending batch: this append opens the window.)
    this.pacer.enqueued(this.pendingList.length === 0);
    let b = s.pend;
    if (b === undefined) {
      b = s.pend = newBatch();
      this.pendingList.push(s);
    }
    b.recs.push(rec);
    b.resolves.push(resolve);
    b.rejects.push(reject);
    b.encoded += encoded;
    b.bytes += bytes;
    if (rec.receivedAt < b.minAt) b.minAt = rec.receivedAt;
    if (rec.receivedAt > b.maxAt) b.maxAt = rec.receivedAt;
    this.pendingBytes += encoded;
    if (this.pendingBytes >= PACE_MAX_BYTES) this.pacer.endWait();
    if (!this.flushing) {
      this.flushing = true;
      // setImmediate (then flushLoop's pacing wait, if any): appends made during this turn of
      // the event loop (e.g. one socket read of many publishes) join the first batch; later ones
      // batch behind the write in flight.
      setImmediate(this.flushBound);
    }
  }

  private waitForSpace(s: StreamState, rec: AppendRecord, bytes: number, encoded: number, resolve: Resolve, reject: Reject, ticket: number): void {
    const w: WaitingAppend = { stream: s, rec, bytes, encoded, resolve, reject, timer: undefined, ticket };
    this.held.add(w);
    w.timer = setTimeout(() => {
      const i = s.fullWaiters.indexOf(w);
      if (i < 0) return;
      s.fullWaiters.splice(i, 1);
      this.held.delete(w);
      s.rejectedAppends++;
      s.counters?.rejected.inc();
      const max = (s.options as StreamOptions).maxBytes;
      reject(
        ERRORS.GH_STREAM_FULL(
          { stream: s.name, held: s.bytes, maxBytes: max, pending: s.reserved, reason: `no space within ${this.options.appendTimeoutMs} ms (appendTimeoutMs)` },
          {
            where: s.name,
            hint:
              s.consumers.size === 0
                ? `no exporter drains it: add an exporter with stream: ${s.name}, raise streams.${s.name}.maxBytes, or set onFull: drop-oldest`
                : `its exporters are behind or down: fix the destination, raise streams.${s.name}.maxBytes, or set onFull: drop-oldest`,
          },
        ),
      );
      this.wakeFull(s);
      this.kick(); // a meta put behind the refused append may go now
    }, this.options.appendTimeoutMs);
    s.fullWaiters.push(w);
  }

  /** Admit appends waiting for space in a 'reject' stream, in order, while they fit. */
  wakeFull(s: StreamState): void {
    const q = s.fullWaiters;
    while (q.length > 0) {
      const w = q[0] as WaitingAppend;
      if (s.options?.onFull === 'reject' && !s.fits(w.bytes)) break;
      q.shift();
      clearTimeout(w.timer);
      s.reserved += w.bytes;
      if (this.memWaiters.length > 0 || (this.pendingBytes > 0 && this.pendingBytes + w.encoded > this.options.maxPendingBytes)) {
        this.memWaiters.push(w);
        this.pacer.endWait();
      } else {
        this.held.delete(w);
        this.enqueue(s, w.rec, w.bytes, w.encoded, w.resolve, w.reject);
      }
    }
  }

  private admitMemWaiters(): void {
    const q = this.memWaiters;
    while (q.length > 0) {
      const w = q[0] as WaitingAppend;
      if (this.pendingBytes > 0 && this.pendingBytes + w.encoded > this.options.maxPendingBytes) break;
      q.shift();
      this.held.delete(w);
      this.enqueue(w.stream, w.rec, w.bytes, w.encoded, w.resolve, w.reject);
    }
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pendingList.length > 0 || this.metaReady()) {
        const wait = this.pacer.wait(this.pendingBytes, this.memWaiters.length > 0);
        if (wait) await wait;
        await this.acquire();
        try {
          await this.commitOnce();
        } finally {
          this.release();
        }
      }
    } finally {
      this.flushing = false;
      this.releaseCutWaiters();
      for (const r of this.idleWaiters.splice(0)) r();
    }
  }

  /** Commits that waited for the pacing window (tests, docs/store.md). */
  get pacedCommits(): number {
    return this.pacer.pacedCommits;
  }

  /** Stop pacing for good (close: the pending appends are written at once). */
  hurry(): void {
    this.pacer.hurry();
  }

  /** Write every pending batch (all streams) with one db.batch, then resolve their appends. */
  private async commitOnce(): Promise<void> {
    const streams = this.pendingList;
    this.pendingList = [];
    this.pendingBytes = 0;
    const batches: PendingBatch[] = [];
    for (const s of streams) {
      batches.push(s.pend as PendingBatch);
      s.pend = undefined;
    }
    // Meta puts whose earlier appends are all in this batch or already written (decided before
    // held-back appends are admitted to the next batch).
    const metas = this.metas.splice(0, this.readyMetas());
    this.admitMemWaiters(); // they form the next batch while this one is written
    this.releaseCutWaiters();
    const ops: BatchOp[] = [];
    const plans: Array<HeadPlan | undefined> = [];
    const trims: number[] = [];
    /** Each stream's new segment value (undefined when the batch was trimmed away). */
    const values: Array<Buffer | undefined> = [];
    /** Whether each stream's tally is in this write (tally.ts). */
    const tallied: boolean[] = [];
    let total = 0;
    try {
      for (let i = 0; i < streams.length; i++) {
        const s = streams[i] as StreamState;
        const b = batches[i] as PendingBatch;
        const firstSeq = s.lastSeq + 1;
        let plan: HeadPlan | undefined;
        let trim = 0;
        if (s.options?.onFull === 'drop-oldest' && s.bytes + b.bytes > s.options.maxBytes) {
          const r = await this.head.planDropOldest(s, b, ops);
          plan = r.plan;
          trim = r.trim;
        }
        plans.push(plan);
        trims.push(trim);
        const n = b.recs.length - trim;
        const bytes = n === 0 ? 0 : trim === 0 ? b.bytes : b.bytes - this.head.bytesBefore(b, trim);
        if (n > 0) {
          const encoded = trim === 0 ? b.encoded : this.head.encodedFrom(b, trim);
          const value = encodeSegment(b.recs, trim, encoded);
          ops.push({ type: 'put', key: this.head.segmentKeyFor(s, firstSeq + trim, n, bytes, b.minAt, b.maxAt), value });
          values.push(value);
        } else values.push(undefined);
        const tally = commitTally(s, plan, firstSeq + trim, n, bytes, this.options.tallyEveryBytes);
        if (tally) ops.push(tally);
        tallied.push(tally !== undefined);
        total += b.recs.length;
      }
      pushMetaOps(metas, ops); // a put whose value cannot be made fails alone, not the batch
      const refused = this.refuseWrites();
      if (refused) throw refused;
      const t0 = performance.now();
      this.pacer.writeStarts(total);
      this.watch?.started();
      let t1: number;
      try {
        await this.db().batch(ops, { sync: this.sync });
      } finally {
        t1 = this.pacer.writeEnded();
        this.watch?.ended();
        this.commits++;
      }
      this.metrics.commitSeconds.observe((t1 - t0) / 1e3);
      if (total > 0) this.metrics.batchRecords.observe(total);
    } catch (err) {
      if (!isDiskFullError(err)) this.onWriteError(err);
      const e = storeWriteError(err, 'store commit');
      // An I/O error (disk full) is logged once by the disk guard's state change, not per commit.
      if (isStorageWriteError(err)) this.log.debug({ err, records: total }, 'group commit failed; its appends are rejected');
      else this.log.error({ err, records: total }, 'group commit failed; its appends are rejected');
      for (let i = 0; i < streams.length; i++) {
        const s = streams[i] as StreamState;
        const b = batches[i] as PendingBatch;
        s.reserved -= b.bytes;
        for (const rj of b.rejects) rj(e);
        this.wakeFull(s);
      }
      for (const m of metas) rejectMeta(m, e);
      return;
    }
    applyCommit(this.head, streams, batches, plans, trims, values, tallied);
    for (const m of metas) resolveMeta(m);
  }

  acquire(): Promise<void> | void {
    if (!this.locked) {
      this.locked = true;
      return;
    }
    return new Promise<void>((r) => this.lockQueue.push(r));
  }

  release(): void {
    const next = this.lockQueue.shift();
    if (next) next();
    else this.locked = false;
  }
}
