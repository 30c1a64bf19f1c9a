// LocalStreams on LevelDB: opening (state rebuilt from segment keys), reopening after a failed
// write, closing, and the entry points of appends, reads and meta. Consumers, checkpoints, reclaim
// and the ttl sweep live in retention.ts; the append path and the structural lock in committer.ts;
// work on the oldest segments in head.ts; the binary format in codec.ts; the database handle
// (open, format check, compaction) in database.ts; reads and waiting for a sequence in reader.ts;
// the meta area in meta-area.ts; stream lookup, definition checks and info in stream-registry.ts.
import type { MetaValue } from '../../core/message.js';
import type { Logger } from 'pino';
import { GatehouseError } from '../../core/errors.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { clocksOf } from '../../core/clock.js';
import { measureRecord, type RecordSize } from './codec.js';
import { compactAll, newDb, openMakingRoom, type Db } from './database.js';
import { Compactor } from './compaction.js';
import { GroupCommitter } from './committer.js';
import { DiskGuard, type DiskState, storeWriteError } from './disk-guard.js';
import { SpaceBallast } from './space-ballast.js';
import { logBytesOf, openWhenSpace, type WaitForSpace } from './open-wait.js';
import { firstHeldSeq, readRecords, waitForSeq } from './reader.js';
import { scanStreams } from './scan.js';
import { closingTallies } from './tally.js';
import { HeadOps, type BatchOp } from './head.js';
import { MetaArea } from './meta-area.js';
import { createStoreMetrics, type StoreMetrics } from './metrics.js';
import type { StoreOptions } from './options.js';
import { Retention } from './retention.js';
import type { StreamState } from './state.js';
import { checkStreamOptions, definedNames, definedStream, stateIn, streamInfo } from './stream-registry.js';
import type { AppendRecord, LocalStreams, ReadOptions, StoredRecord, StreamInfo, StreamOptions } from './types.js';

export class LevelLocalStreams implements LocalStreams {
  private db: Db;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly mono: () => number;
  private readonly metrics: StoreMetrics;
  private readonly streams = new Map<string, StreamState>();
  private readonly head: HeadOps;
  private readonly sync: boolean;
  private state: 'new' | 'open' | 'closing' | 'closed' = 'new';
  private openPromise: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  private readonly commits: GroupCommitter;
  /** Consumers, checkpoints, reclaim and ttl: the deletes at the oldest end of each stream. */
  private readonly retention: Retention;
  /** Free space and write health: data appends are refused while it says not writable. */
  private readonly guard: DiskGuard;
  /** Room given up to reopen on a full disk (space-ballast.ts). */
  private readonly ballast: SpaceBallast;
  /** Gives back the disk space of deleted records (compaction.ts). */
  private readonly compactor: Compactor;
  /** The meta area (meta-area.ts). */
  private readonly meta: MetaArea;
  /** True while reopen() rebuilds state (its own writes are allowed). */
  private reopening = false;
  /** measureRecord output, reused: no allocation per append. */
  private readonly size: RecordSize = { bytes: 0, encoded: 0 };

  constructor(
    private readonly options: StoreOptions,
    deps: RuntimeDeps,
  ) {
    this.log = deps.logger.child({ component: 'store' });
    // ttl is by record age (receivedAt, wall time), so retention takes the wall clock; the open's
    // duration in the log is elapsed time.
    ({ now: this.now, monotonic: this.mono } = clocksOf(deps));
    this.sync = options.durability === 'fsync';
    this.db = newDb(options.path);
    this.metrics = createStoreMetrics(deps.registry, () => this.streams.values());
    this.compactor = new Compactor(
      () => this.db,
      this.log,
      () => this.state === 'open' && !this.guard.failed && !this.reopening,
      this.metrics,
    );
    this.head = new HeadOps(
      () => this.db,
      this.log,
      this.mono,
      (s, bytes) => this.compactor.deleted(s, bytes),
    );
    this.ballast = new SpaceBallast({ dir: options.path, bytes: options.ballastBytes, log: this.log, registry: deps.registry });
    this.guard = new DiskGuard({
      path: options.path,
      reserveBytes: options.reserveBytes,
      probeMs: options.diskProbeMs,
      log: this.log,
      registry: deps.registry,
      recover: () => this.reopen(),
      ballast: this.ballast,
      // The logs replayed into tables, and a margin for the manifest and table overhead.
      reopenNeeds: async () => (await logBytesOf(options.path)) + 1024 * 1024,
    });
    this.commits = new GroupCommitter(
      () => this.db,
      this.head,
      this.metrics,
      this.log,
      options,
      (err) => this.guard.writeFailed(err),
      () => (this.guard.failed ? this.guard.failedError(this.options.path) : undefined),
    );
    this.retention = new Retention(
      this.head,
      this.commits,
      (ops, sync) => this.write(ops, sync),
      () => this.state === 'open',
      this.log,
      this.now,
      this.sync,
    );
    this.meta = new MetaArea({ db: () => this.db, write: (ops, sync) => this.write(ops, sync), commits: this.commits, ensureOpen: () => this.ensureOpen() });
  }

  diskState(): DiskState {
    return this.guard.state();
  }

  /** Every write but the group commit goes through here, so the guard sees its I/O errors. */
  private async write(ops: BatchOp[], sync: boolean): Promise<void> {
    if (this.guard.failed && !this.reopening) throw this.guard.failedError(this.options.path);
    try {
      await this.db.batch(ops, { sync });
    } catch (err) {
      this.guard.writeFailed(err);
      // Typed, with the LevelDB error as cause: before, a checkpoint written as a compaction hit
      // ENOSPC reached its caller as a bare LEVEL_IO_ERROR.
      throw storeWriteError(err, 'store write');
    }
  }

  /**
   * After a failed write LevelDB refuses every later write until it is reopened. Reopen under the
   * structural lock and rebuild every stream's counters from disk: the failed batch may or may not
   * have reached the log, and sequence numbers must follow what is really there. Reads in flight
   * on the old handle fail (their callers retry); appends are refused meanwhile by the guard.
   * Reads are not under the lock: the rescan fills fresh states, adopted in one synchronous step.
   * (Rebuilt in place, a stream read as empty with its old lastSeq for the whole scan, and an
   * exporter takes that as records dropped by retention: it skipped acknowledged records.)
   */
  private async reopen(): Promise<void> {
    await this.commits.acquire();
    try {
      if (this.state !== 'open') return;
      this.reopening = true;
      if (this.db.status === 'open') await this.db.close().catch(() => undefined);
      const db = newDb(this.options.path);
      await db.open();
      this.db = db;
      const scanned = new Map<string, StreamState>();
      await scanStreams(this.db, (name) => stateIn(scanned, name), this.log);
      for (const s of this.streams.values()) s.adoptScan(scanned.get(s.name));
      for (const [name, s] of scanned) if (!this.streams.has(name)) this.streams.set(name, s);
      for (const s of this.streams.values()) {
        if (s.consumers.size > 0) await this.retention.reclaim(s, []);
        if (s.seqWaiters.length > 0) s.wakeSeq();
      }
      this.log.info({ path: this.options.path }, 'store reopened after a failed write');
    } finally {
      this.reopening = false;
      this.commits.release();
    }
    if (this.state === 'open') this.compactor.tick(this.streams.values(), true);
  }

  /** waitForSpace: a disk too full to open the database on is waited out (open-wait.ts). */
  open(waitForSpace?: WaitForSpace): Promise<void> {
    this.openPromise ??= this.doOpen(waitForSpace);
    return this.openPromise;
  }

  private async doOpen(waitForSpace: WaitForSpace | undefined): Promise<void> {
    let attempt = 0;
    await this.ballast.load();
    const openDb = async (): Promise<void> => {
      // A fresh handle for each retry: the failed one is not reused.
      this.db = await openMakingRoom(attempt++ > 0 ? newDb(this.options.path) : this.db, this.options.path, () => this.ballast.release());
    };
    const { path, reserveBytes } = this.options;
    const wait: WaitForSpace | undefined = waitForSpace && {
      ...waitForSpace,
      onWait: async (w) => {
        this.guard.openWaiting(w);
        await waitForSpace.onWait?.(w);
      },
    };
    await openWhenSpace(openDb, { path, reserveBytes, log: this.log, now: this.now, mono: this.mono }, wait);
    const t0 = this.mono();
    const found = await scanStreams(this.db, (name) => this.stateFor(name), this.log);
    for (const s of this.streams.values()) {
      // Finish a reclaim the last run could not (e.g. a consumer removed while stopped) and set the
      // partial-head accounting, which is not persisted.
      if (s.consumers.size > 0) await this.retention.reclaim(s, []);
    }
    this.state = 'open';
    await this.guard.start();
    this.sweepTimer = setInterval(() => {
      this.sweep()
        .catch((err: unknown) => this.log.error({ err }, 'ttl sweep failed'))
        .finally(() => {
          if (this.state === 'open') this.compactor.tick(this.streams.values());
        });
    }, this.options.sweepIntervalMs);
    this.sweepTimer.unref();
    // Deleted records a previous run left on disk (killed before its compaction, or an older version).
    this.compactor.tick(this.streams.values(), true);
    // tallied/walked: streams whose counters came from their tally, or from a walk of their keys (tally.ts)
    this.log.info({ path: this.options.path, streams: this.streams.size, ...found, ms: Math.round(this.mono() - t0) }, 'store opened');
  }

  private stateFor(name: string): StreamState {
    return stateIn(this.streams, name);
  }

  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  refuseWaitingForSpace(): number {
    return this.refuseHeld(
      () =>
        new GatehouseError('GH_STREAM_FULL', 'the gateway is stopping: an append still waiting for space in a full stream is refused', {
          hint: 'the device resends it after the restart (it was not acknowledged)',
        }),
    );
  }

  /**
   * Reject every append waiting for space in a full 'reject' stream. They hold no space yet
   * (`reserved` counts an append from its admission: committer.ts wakeFull), so none is given back.
   */
  private refuseHeld(error: () => GatehouseError): number {
    let n = 0;
    for (const s of this.streams.values()) {
      for (const w of s.fullWaiters.splice(0)) {
        clearTimeout(w.timer);
        this.commits.forgetHeld(w);
        w.reject(error());
        n++;
      }
    }
    return n;
  }

  private async doClose(): Promise<void> {
    if (this.openPromise) await this.openPromise.catch(() => undefined);
    this.state = 'closing';
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.guard.stop();
    await this.ballast.settle();
    const compacting = this.compactor.stop();
    const closed = (): GatehouseError => this.closedError();
    this.refuseHeld(closed);
    for (const s of this.streams.values()) {
      for (const w of s.seqWaiters.splice(0)) {
        w.signal?.removeEventListener('abort', w.onAbort as () => void);
        w.reject(closed());
      }
    }
    // Pending commits (and appends waiting for queue space) are flushed, not dropped.
    this.commits.hurry();
    await this.commits.idle();
    this.commits.rejectMetas(closed());
    await compacting;
    await this.commits.acquire();
    try {
      // The next start then reads each stream's counters whole from its tally (tally.ts).
      const tallies = this.db.status === 'open' && !this.guard.failed ? closingTallies(this.streams.values()) : [];
      if (tallies.length > 0)
        await this.db.batch(tallies, { sync: this.sync }).catch((err: unknown) => this.log.debug({ err }, 'tallies not written at close'));
      if (this.db.status === 'open') await this.db.close();
    } finally {
      this.state = 'closed';
      this.commits.release();
    }
  }

  private closedError(): GatehouseError {
    return new GatehouseError('GH_STORE_CLOSED', 'the local stream store is closed', {
      where: this.options.path,
      hint: 'the gateway is shutting down; retry after restart',
    });
  }

  private ensureOpen(): void {
    if (this.state !== 'open') {
      if (this.state === 'new') throw new GatehouseError('GH_STORE_CLOSED', 'the local stream store is not open yet', { hint: 'await open() first' });
      throw this.closedError();
    }
  }

  /** A defined stream (GH_STREAM_UNKNOWN otherwise) of the open store. */
  private stream(name: string): StreamState {
    this.ensureOpen();
    return definedStream(this.streams, name);
  }

  async defineStream(options: StreamOptions): Promise<void> {
    this.ensureOpen();
    checkStreamOptions(options);
    const s = this.stateFor(options.name);
    s.options = { ...options };
    s.counters ??= this.metrics.countersFor(options.name);
    this.commits.wakeFull(s); // maxBytes may have grown
  }

  streamNames(): string[] {
    return definedNames(this.streams);
  }

  hasStream(name: string): boolean {
    return this.streams.get(name)?.options !== undefined;
  }

  // ---- append path -------------------------------------------------------------------------

  append(stream: string, record: AppendRecord): Promise<number> {
    let s: StreamState;
    const size = this.size;
    try {
      s = this.stream(stream);
      measureRecord(record, size);
    } catch (err) {
      return Promise.reject(err);
    }
    const opts = s.options as StreamOptions;
    const bytes = size.bytes;
    const encoded = size.encoded;
    if (!this.guard.writable) return Promise.reject(this.guard.refusal(stream));
    if (bytes > opts.maxBytes) {
      return Promise.reject(
        new GatehouseError('GH_RECORD_TOO_LARGE', `record of ${bytes} bytes is larger than stream '${stream}' can hold (maxBytes ${opts.maxBytes})`, {
          where: `${stream} ${record.topic}`,
          hint: `raise streams.${stream}.maxBytes or limit the payload size`,
        }),
      );
    }
    return this.commits.submit(s, record, bytes, encoded);
  }

  // ---- reads -------------------------------------------------------------------------------

  async read(stream: string, fromSeq: number, options: ReadOptions = {}): Promise<StoredRecord[]> {
    return readRecords(this.db, this.stream(stream), fromSeq, options, this.metrics, this.log);
  }

  async firstHeld(stream: string, fromSeq: number): Promise<number | undefined> {
    return firstHeldSeq(this.db, this.stream(stream), fromSeq);
  }

  waitFor(stream: string, seq: number, signal?: AbortSignal): Promise<void> {
    let s: StreamState;
    try {
      s = this.stream(stream);
    } catch (err) {
      return Promise.reject(err);
    }
    return waitForSeq(s, seq, signal);
  }

  // ---- consumers, reclaim, retention (retention.ts) ------------------------------------------

  async addConsumer(stream: string, consumer: string): Promise<void> {
    await this.retention.addConsumer(this.stream(stream), consumer);
  }

  async removeConsumer(stream: string, consumer: string): Promise<void> {
    await this.retention.removeConsumer(this.stream(stream), consumer);
  }

  async getCheckpoint(stream: string, consumer: string): Promise<number> {
    return this.stream(stream).consumers.get(consumer) ?? 0;
  }

  async setCheckpoint(stream: string, consumer: string, seq: number): Promise<void> {
    await this.retention.setCheckpoint(this.stream(stream), consumer, seq);
  }

  async sweep(): Promise<void> {
    this.ensureOpen();
    await this.retention.sweep(this.streams.values());
  }

  info(stream: string): StreamInfo {
    return streamInfo(this.stream(stream));
  }

  // ---- meta (meta-area.ts), maintenance ----------------------------------------------------------

  async getMeta(key: string): Promise<Buffer | undefined> {
    return this.meta.get(key);
  }

  async putMeta(key: string, value: Buffer): Promise<void> {
    await this.putMetas([[key, value]]);
  }

  async putMetas(entries: ReadonlyArray<readonly [key: string, value: Buffer]>): Promise<void> {
    await this.meta.putMany(entries);
  }

  async metaKeys(prefix: string): Promise<string[]> {
    return this.meta.keys(prefix);
  }

  async deleteMetas(keys: readonly string[]): Promise<void> {
    await this.meta.delete(keys);
  }

  afterCut(): Promise<void> | undefined {
    return this.commits.afterCut();
  }

  commitMeta(key: string, value: MetaValue): Promise<void> {
    return this.meta.commit(key, value);
  }

  async compact(): Promise<void> {
    this.ensureOpen();
    await compactAll(this.db);
  }
}
