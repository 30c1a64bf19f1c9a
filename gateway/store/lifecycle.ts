// How the store opens, reopens after a failed write, and closes. Opening: a database handle on a
// disk that may be full (the ballast given up, room made, the free space waited for: open-wait.ts),
// every stream's state rebuilt from its keys (scan.ts), unfinished reclaims finished, then the disk
// guard, the ttl sweep and the compactor started. Reopening (the disk guard's recovery): a fresh
// handle under the structural lock, the streams' counters rebuilt from what is on disk. Closing:
// appends waiting for space and readers waiting for a sequence refused, pending commits flushed
// (not dropped), the tallies written, the handle closed under the lock. Apart from local-streams.ts,
// which holds the handle, the streams' states and the store's state, and is the entry point of
// appends, reads and meta: this module is when the store starts and stops, and runs at neither
// append nor read (LevelLocalStreams.ensureOpen reads the state it sets).
import type { Logger } from 'pino';
import type { GatehouseError } from '../../core/errors.js';
import type { GroupCommitter } from './committer.js';
import type { Compactor } from './compaction.js';
import { newDb, openMakingRoom, type Db } from './database.js';
import type { DiskGuard } from './disk-guard.js';
import type { BatchOp } from './head.js';
import { openWhenSpace, type WaitForSpace } from './open-wait.js';
import type { StoreOptions } from './options.js';
import type { Retention } from './retention.js';
import { afterDamageOps, logDroppedAtOpen, type LogDrop, type RepairReport } from './repair.js';
import { scanStreams } from './scan.js';
import type { SpaceBallast } from './space-ballast.js';
import type { StreamState } from './state.js';
import { stateIn } from './stream-registry.js';
import { closingTallies } from './tally.js';
import { deleteOrphanTables } from './orphan-tables.js';
import { CHECK_OP } from './write-check.js';

export type StoreState = 'new' | 'open' | 'closing' | 'closed';

/** What opening, reopening and closing touch of the store (LevelLocalStreams, given once). */
export interface LifecycleDeps {
  options: StoreOptions;
  log: Logger;
  now(): number;
  mono(): number;
  streams: Map<string, StreamState>;
  ballast: SpaceBallast;
  guard: DiskGuard;
  retention: Retention;
  compactor: Compactor;
  commits: GroupCommitter;
  sync: boolean;
  /** The current database handle, and replacing it (a retry of the open, a reopen). */
  db(): Db;
  setDb(db: Db): void;
  state(): StoreState;
  setState(state: StoreState): void;
  /** True while reopen() rebuilds state (its own writes are allowed). */
  setReopening(on: boolean): void;
  /** The ttl sweep (LevelLocalStreams.sweep). */
  sweep(): Promise<void>;
  /** Reads what the store keeps of itself (its id: identity.ts), once its streams are scanned; a close waits for it. */
  afterScan(): Promise<void>;
  /** GH_STORE_CLOSED, naming the store's path. */
  closedError(): GatehouseError;
  /** The database was damaged and repaired at this open (repair.ts): told once its streams are scanned. */
  repaired(report: RepairReport): void;
  /** LevelDB dropped bytes of a damaged write-ahead log at this open (repair.ts): told once its streams are scanned. */
  logDropped(drop: LogDrop): void;
}

/**
 * Delete the table files a failed LevelDB compaction left (the database is closed): what LevelDB's
 * open would delete after its log replay, which needs their room (orphan-tables.ts).
 */
async function deleteOrphans(d: LifecycleDeps): Promise<number> {
  const freed = await deleteOrphanTables(d.options.path).catch(() => 0);
  if (freed > 0)
    d.log.warn({ bytes: freed, path: d.options.path }, 'deleted the table files a failed LevelDB compaction left, for the room to reopen the store');
  return freed;
}

export class StoreLifecycle {
  private openPromise: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(private readonly d: LifecycleDeps) {}

  /**
   * After a failed write LevelDB refuses every later write until it is reopened. Reopen under the
   * structural lock and rebuild every stream's counters from disk: the failed batch may or may not
   * have reached the log, and sequence numbers must follow what is really there. Reads in flight
   * on the old handle fail (their callers retry); appends are refused meanwhile by the guard.
   * Reads are not under the lock: the rescan fills fresh states, adopted in one synchronous step.
   * (Rebuilt in place, a stream read as empty with its old lastSeq for the whole scan, and an
   * exporter takes that as records dropped by retention: it skipped acknowledged records.)
   */
  async reopen(): Promise<void> {
    const d = this.d;
    await d.commits.acquire();
    try {
      if (d.state() !== 'open') return;
      d.setReopening(true);
      const old = d.db();
      if (old.status === 'open') await old.close().catch(() => undefined);
      await deleteOrphans(d);
      const db = newDb(d.options.path);
      await db.open();
      d.setDb(db);
      const scanned = new Map<string, StreamState>();
      await scanStreams(db, (name) => stateIn(scanned, name), d.log);
      for (const s of d.streams.values()) s.adoptScan(scanned.get(s.name));
      for (const [name, s] of scanned) if (!d.streams.has(name)) d.streams.set(name, s);
      for (const s of d.streams.values()) {
        if (s.consumers.size > 0) await d.retention.reclaim(s, []);
        if (s.seqWaiters.length > 0) s.wakeSeq();
      }
      d.log.info({ path: d.options.path }, 'store reopened after a failed write');
    } finally {
      d.setReopening(false);
      d.commits.release();
    }
    if (d.state() === 'open') d.compactor.tick(d.streams.values(), true);
  }

  /** waitForSpace: a disk too full to open the database on is waited out (open-wait.ts). */
  open(waitForSpace?: WaitForSpace): Promise<void> {
    this.openPromise ??= this.doOpen(waitForSpace);
    return this.openPromise;
  }

  private async doOpen(waitForSpace: WaitForSpace | undefined): Promise<void> {
    const d = this.d;
    let attempt = 0;
    let repair: RepairReport | undefined;
    await d.ballast.load();
    const openDb = async (): Promise<void> => {
      // A fresh handle for each retry: the failed one is not reused.
      // Room for the log replay: the ballast first, else the tables a failed compaction left.
      const makeRoom = async (): Promise<number> => (await d.ballast.release()) || (await deleteOrphans(d));
      d.setDb(
        await openMakingRoom(attempt++ > 0 ? newDb(d.options.path) : d.db(), d.options.path, makeRoom, {
          mono: d.mono,
          repaired: (r) => {
            repair = r;
          },
          afterRepairFailed: (err) =>
            d.log.warn(
              { err: (err as Error).message, path: d.options.path },
              'the writes after the repair (the tallies deleted, a new store id) failed: the open goes on',
            ),
        }),
      );
    };
    const { path, reserveBytes } = d.options;
    const wait: WaitForSpace | undefined = waitForSpace && {
      ...waitForSpace,
      onWait: async (w) => {
        d.guard.openWaiting(w);
        await waitForSpace.onWait?.(w);
      },
    };
    await openWhenSpace(openDb, { path, reserveBytes, log: d.log, now: d.now, mono: d.mono }, wait);
    const dropped = await logDroppedAtOpen(path, repair !== undefined);
    // Not after a repair: its own open did these writes already.
    if (dropped && !repair) {
      const db = d.db();
      await db
        .batch(await afterDamageOps(db), { sync: true })
        .catch((err: unknown) =>
          d.log.warn({ err: (err as Error).message, path }, 'the writes after a damaged log (the tallies deleted, a new store id) failed: the open goes on'),
        );
    }
    const t0 = d.mono();
    const found = await scanStreams(d.db(), (name) => stateIn(d.streams, name), d.log);
    for (const s of d.streams.values()) {
      // Finish a reclaim the last run could not (e.g. a consumer removed while stopped) and set the
      // partial-head accounting, which is not persisted.
      if (s.consumers.size > 0) await d.retention.reclaim(s, []);
    }
    await d.afterScan();
    // After the scan: the report says what each stream holds after the repair.
    if (repair) d.repaired(repair);
    if (dropped) d.logDropped(dropped);
    d.setState('open');
    await d.guard.start();
    this.sweepTimer = setInterval(() => {
      d.sweep()
        .catch((err: unknown) => d.log.error({ err }, 'ttl sweep failed'))
        .finally(() => {
          if (d.state() === 'open') d.compactor.tick(d.streams.values());
        });
    }, d.options.sweepIntervalMs);
    this.sweepTimer.unref();
    // Deleted records a previous run left on disk (killed before its compaction, or an older version).
    d.compactor.tick(d.streams.values(), true);
    // tallied/walked: streams whose counters came from their tally, or from a walk of their keys (tally.ts)
    d.log.info({ path: d.options.path, streams: d.streams.size, ...found, ms: Math.round(d.mono() - t0) }, 'store opened');
  }

  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  /**
   * Reject every append waiting for space in a full 'reject' stream. They hold no space yet
   * (`reserved` counts an append from its admission: committer.ts wakeFull), so none is given back.
   */
  refuseHeld(error: (s: StreamState) => GatehouseError): number {
    let n = 0;
    for (const s of this.d.streams.values()) {
      for (const w of s.fullWaiters.splice(0)) {
        clearTimeout(w.timer);
        this.d.commits.forgetHeld(w);
        w.reject(error(s));
        n++;
      }
    }
    return n;
  }

  private async doClose(): Promise<void> {
    const d = this.d;
    if (this.openPromise) await this.openPromise.catch(() => undefined);
    d.setState('closing');
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    d.guard.stop();
    await d.ballast.settle();
    const compacting = d.compactor.stop();
    const closed = (): GatehouseError => d.closedError();
    this.refuseHeld(closed);
    for (const s of d.streams.values()) {
      for (const w of s.seqWaiters.splice(0)) {
        w.signal?.removeEventListener('abort', w.onAbort as () => void);
        w.reject(closed());
      }
    }
    // Pending commits (and appends waiting for queue space) are flushed, not dropped.
    d.commits.hurry();
    await d.commits.idle();
    d.commits.rejectMetas(closed());
    await compacting;
    await d.commits.acquire();
    try {
      const db = d.db(); // under the lock: no reopen replaces it now
      // The next start then reads each stream's counters whole from its tally (tally.ts).
      const writable = db.status === 'open' && !d.guard.failed;
      const last: BatchOp[] = writable ? closingTallies(d.streams.values()) : [];
      // With durability fsync the close ends with a synced write, a tally or else the write
      // check's: checkpoints and reclaims are written unsynced (retention.ts) and LevelDB's close
      // does not sync its log, so a stop followed by a power cut before the kernel wrote them back
      // lost them, and the exporters sent again what they had delivered (test/e2e/power-cut.test.ts).
      if (writable && d.sync && last.length === 0) last.push(CHECK_OP);
      if (last.length > 0) await db.batch(last, { sync: d.sync }).catch((err: unknown) => d.log.debug({ err }, 'tallies not written at close'));
      if (db.status === 'open') await db.close();
    } finally {
      d.setState('closed');
      d.commits.release();
    }
  }
}
