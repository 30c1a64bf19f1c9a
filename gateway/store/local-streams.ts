// LocalStreams on LevelDB: the database handle, the streams' states and the store's state, and the
// entry points of appends, reads and meta. Opening (state rebuilt from segment keys), reopening
// after a failed write and closing live in lifecycle.ts; consumers, checkpoints, reclaim
// and the ttl sweep in retention.ts; the append path and the structural lock in committer.ts;
// work on the oldest segments in head.ts; the binary format in codec.ts; the database handle
// (open, format check, compaction) in database.ts; the disk guard, ballast, slow-disk watch,
// compactor and write check, built and tied to each other, in disk-watch.ts; reads and waiting
// for a sequence in reader.ts; the meta area in meta-area.ts; stream lookup, definition checks and
// info in stream-registry.ts; the errors of calls turned down before the database in refusals.ts.
import type { MetaValue } from '../../core/message.js';
import type { Logger } from 'pino';
import { rateLimitedLog, type RateLog } from '../../core/rate-log.js';
import type { GatehouseError } from '../../core/errors.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { clocksOf } from '../../core/clock.js';
import { measureRecord, type RecordSize } from './codec.js';
import { compactAll, newDb, type Db } from './database.js';
import { GroupCommitter } from './committer.js';
import { storeWriteError, type DiskState } from './disk-guard.js';
import type { CommitHealth } from './slow-disk.js';
import type { WaitForSpace } from './open-wait.js';
import { diskWatch, type DiskWatch } from './disk-watch.js';
import { firstHeldSeq, readRecords, waitForSeq } from './reader.js';
import { HeadOps, type BatchOp } from './head.js';
import { StoreLifecycle, type StoreState } from './lifecycle.js';
import { MetaArea } from './meta-area.js';
import { createStoreMetrics, type StoreMetrics } from './metrics.js';
import type { StoreOptions } from './options.js';
import { Retention } from './retention.js';
import type { StreamState } from './state.js';
import { checkStreamOptions, definedNames, definedStream, stateIn, streamInfo } from './stream-registry.js';
import { dropStreams, readDropFloor } from './drop.js';
import { readStoreIdentity } from './identity.js';
import { trimThrough, type Trimmed } from './trim.js';
import type { AppendRecord, DropOptions, LocalStreams, ReadOptions, StoreIdentity, StoreRepair, StoredRecord, StreamInfo, StreamOptions } from './types.js';
import type { LogDrop } from './repair.js';
import { DamageReports } from './damage-report.js';
import { overMaxBytes, refusedAtStop, storeClosed, storeNotOpen } from './refusals.js';

export class LevelLocalStreams implements LocalStreams {
  private db: Db;
  private readonly log: Logger;
  /** Damaged segments met by reads, bounded (reader.ts readRecords). */
  private readonly corruptLog: RateLog;
  private readonly now: () => number;
  private readonly mono: () => number;
  private readonly metrics: StoreMetrics;
  private readonly streams = new Map<string, StreamState>();
  private readonly head: HeadOps;
  private readonly sync: boolean;
  private state: StoreState = 'new';
  /** Open, reopen after a failed write, close (lifecycle.ts). */
  private readonly lifecycle: StoreLifecycle;

  private readonly commits: GroupCommitter;
  /** Consumers, checkpoints, reclaim and ttl: the deletes at the oldest end of each stream. */
  private readonly retention: Retention;
  /** Guard, ballast, slow-disk watch, compactor, write check (disk-watch.ts): data appends are refused while the guard says not writable. */
  private readonly disk: DiskWatch;
  /** Writes made through write() (the group commits count their own). */
  private writesMade = 0;
  /** The meta area (meta-area.ts). */
  private readonly meta: MetaArea;
  /** True while reopen() rebuilds state (its own writes are allowed). */
  private reopening = false;
  /** measureRecord output, reused: no allocation per append. */
  private readonly size: RecordSize = { bytes: 0, encoded: 0 };
  /** The highest lastSeq of a dropped stream (drop.ts): a stream defined afresh starts after it. */
  private dropFloor = 0;
  /** The store's id (identity.ts), read at open. */
  private storeIdentity: StoreIdentity | undefined;
  /** What was damaged at open and what was done (damage-report.ts). */
  private readonly damage: DamageReports;

  constructor(
    private readonly options: StoreOptions,
    deps: RuntimeDeps,
  ) {
    this.log = deps.logger.child({ component: 'store' });
    // ttl is by record age (receivedAt, wall time), so retention takes the wall clock; the open's
    // duration in the log is elapsed time.
    ({ now: this.now, monotonic: this.mono } = clocksOf(deps));
    this.corruptLog = rateLimitedLog(this.log, 'error', 60_000, this.mono);
    this.sync = options.durability === 'fsync';
    this.db = newDb(options.path);
    this.metrics = createStoreMetrics(deps.registry, () => this.streams.values());
    this.disk = diskWatch({
      options,
      log: this.log,
      registry: deps.registry,
      metrics: this.metrics,
      mono: this.mono,
      db: () => this.db,
      open: () => this.state === 'open' && !this.reopening,
      writes: () => this.writesMade + this.commits.commits,
      reopen: () => this.lifecycle.reopen(),
    });
    this.head = new HeadOps(
      () => this.db,
      this.log,
      this.mono,
      (s, bytes) => this.disk.compactor.deleted(s, bytes),
    );
    this.commits = new GroupCommitter(
      () => this.db,
      this.head,
      this.metrics,
      this.log,
      options,
      (err) => this.disk.guard.writeFailed(err),
      () => (this.disk.guard.failed ? this.disk.guard.failedError(this.options.path) : undefined),
      this.disk.slowDisk,
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
    this.damage = new DamageReports(options.path, this.log, this.metrics);
    this.lifecycle = new StoreLifecycle({
      options,
      log: this.log,
      now: this.now,
      mono: this.mono,
      streams: this.streams,
      ballast: this.disk.ballast,
      guard: this.disk.guard,
      retention: this.retention,
      compactor: this.disk.compactor,
      commits: this.commits,
      sync: this.sync,
      db: () => this.db,
      setDb: (db) => {
        this.db = db;
      },
      state: () => this.state,
      setState: (state) => {
        this.state = state;
      },
      setReopening: (on) => {
        this.reopening = on;
      },
      sweep: () => this.sweep(),
      afterScan: async () => {
        this.storeIdentity ??= await readStoreIdentity(this.db, (ops, sync) => this.write(ops, sync), this.log);
      },
      closedError: () => this.closedError(),
      repaired: (report) => this.damage.repaired(report, this.streams.values()),
      logDropped: (drop) => this.damage.logDropped(drop),
    });
  }

  repaired(): StoreRepair | undefined {
    return this.damage.repair;
  }

  logDropped(): (LogDrop & { at: number }) | undefined {
    return this.damage.dropped;
  }

  diskState(): DiskState {
    return this.disk.guard.state();
  }

  commitHealth(): CommitHealth {
    return this.disk.slowDisk.state();
  }

  /** Every write but the group commit goes through here, so the guard sees its I/O errors. */
  private async write(ops: BatchOp[], sync: boolean): Promise<void> {
    if (this.disk.guard.failed && !this.reopening) throw this.disk.guard.failedError(this.options.path);
    this.writesMade++;
    try {
      await this.db.batch(ops, { sync });
    } catch (err) {
      this.disk.guard.writeFailed(err);
      // Typed, with the LevelDB error as cause: before, a checkpoint written as a compaction hit
      // ENOSPC reached its caller as a bare LEVEL_IO_ERROR.
      throw storeWriteError(err, 'store write');
    }
  }

  private stateFor(name: string): StreamState {
    return stateIn(this.streams, name);
  }

  /** waitForSpace: a disk too full to open the database on is waited out (open-wait.ts). */
  async open(waitForSpace?: WaitForSpace): Promise<void> {
    await this.lifecycle.open(waitForSpace);
    this.dropFloor = await readDropFloor(this.db);
  }

  identity(): StoreIdentity {
    if (!this.storeIdentity) throw this.closedError();
    return this.storeIdentity;
  }

  close(): Promise<void> {
    // The close flushes what is pending first: no commit starts after it (the stall timer goes).
    return this.lifecycle.close().finally(() => this.disk.slowDisk.stop());
  }

  refuseWaitingForSpace(): number {
    // And the appends that would wait from now on: a closed client's QoS 0 publishes and will are
    // committed once its in-flight ones settle, i.e. right after the refusals below; into a full
    // stream they waited again, and the stop for shutdownTimeoutMs.
    this.commits.refuseSpaceWaits(refusedAtStop);
    return this.lifecycle.refuseHeld(refusedAtStop);
  }

  private closedError(): GatehouseError {
    return storeClosed(this.options.path);
  }

  private ensureOpen(): void {
    if (this.state !== 'open') {
      if (this.state === 'new') throw storeNotOpen();
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
    const fresh = !this.streams.has(options.name);
    const s = this.stateFor(options.name);
    // No key of it on disk: after a drop its sequences start past every dropped stream's (drop.ts).
    if (fresh) s.lastSeq = s.seqBase = this.dropFloor;
    s.options = { ...options };
    s.counters ??= this.metrics.countersFor(options.name);
    this.commits.wakeFull(s); // maxBytes may have grown
  }

  streamNames(): string[] {
    return definedNames(this.streams);
  }

  undefinedStreams(): StreamInfo[] {
    this.ensureOpen();
    const out: StreamInfo[] = [];
    for (const s of this.streams.values()) if (!s.options) out.push(streamInfo(s));
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async dropStreams(names: readonly string[], options: DropOptions = {}): Promise<string[]> {
    this.ensureOpen();
    return dropStreams(
      {
        db: () => this.db,
        streams: this.streams,
        commits: this.commits,
        write: (ops, sync) => this.write(ops, sync),
        sync: this.sync,
        metrics: this.metrics,
        deleted: (st, bytes) => this.disk.compactor.dropped(st, bytes),
        floor: () => this.dropFloor,
        setFloor: (floor) => {
          this.dropFloor = floor;
        },
      },
      names,
      options,
    );
  }

  async trimThrough(stream: string, through: number): Promise<Trimmed> {
    const s = this.stream(stream);
    return trimThrough(
      {
        db: () => this.db,
        head: this.head,
        commits: this.commits,
        write: (ops, sync) => this.write(ops, sync),
        sync: this.sync,
        reclaim: (st) => this.retention.reclaim(st, []),
        deleted: (st, bytes) => this.disk.compactor.deleted(st, bytes),
      },
      s,
      through,
    );
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
    if (!this.disk.guard.writable) return Promise.reject(this.disk.guard.refusal(stream));
    if (bytes > opts.maxBytes) return Promise.reject(overMaxBytes(stream, record.topic, bytes, opts.maxBytes));
    return this.commits.submit(s, record, bytes, encoded);
  }

  // ---- reads -------------------------------------------------------------------------------

  async read(stream: string, fromSeq: number, options: ReadOptions = {}): Promise<StoredRecord[]> {
    return readRecords(this.db, this.stream(stream), fromSeq, options, this.metrics, this.corruptLog);
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
    // LevelDB says nothing of a compaction that failed (a full disk): ask with a write, so the job fails and the store reopens.
    if (!(await this.disk.writeCheck.now())) throw this.disk.guard.failedError(this.options.path);
  }
}
