// The store's watch on its disk, made once per store (LevelLocalStreams): the space ballast, the
// disk guard (free space and write health), the slow-disk watch (how long commits take), the
// compactor and the write check (whether LevelDB still takes writes after work in its own thread).
// This module only builds them and ties them to each other and to the store; what each does is in
// its own module. The ties it keeps:
//   - the compactor and the write check run only while the store is open, not reopening and not
//     failed (a failed store takes no write until the guard's recovery has reopened it);
//   - a compaction is followed by a write check (LevelDB says nothing of a compaction that failed);
//   - the guard's recovery is the store's reopen, and it counts what a reopen needs (the logs
//     replayed into tables and a margin) and what it frees (the tables a failed compaction left);
//   - a failed write check is a failed write for the guard.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Compactor } from './compaction.js';
import type { Db } from './database.js';
import { DiskGuard } from './disk-guard.js';
import type { StoreMetrics } from './metrics.js';
import { logBytesOf } from './open-wait.js';
import type { StoreOptions } from './options.js';
import { findOrphanTables } from './orphan-tables.js';
import { SlowDiskWatch } from './slow-disk.js';
import { SpaceBallast } from './space-ballast.js';
import { WriteCheck } from './write-check.js';

export interface DiskWatch {
  /** Room given up to reopen on a full disk (space-ballast.ts). */
  ballast: SpaceBallast;
  /** Free space and write health: data appends are refused while it says not writable. */
  guard: DiskGuard;
  /** How long the disk takes to complete commits: a stall or a slow disk is said (slow-disk.ts). */
  slowDisk: SlowDiskWatch;
  /** Gives back the disk space of deleted records (compaction.ts). */
  compactor: Compactor;
  /** Whether LevelDB still takes writes after work in its own thread (write-check.ts). */
  writeCheck: WriteCheck;
}

/** What the watch reads of the store it watches (each read when used, not when built). */
export interface DiskWatchDeps {
  options: StoreOptions;
  log: Logger;
  registry: Registry;
  metrics: StoreMetrics;
  mono(): number;
  /** The current database handle. */
  db(): Db;
  /** The store is open and not reopening (it may still be failed: the guard says). */
  open(): boolean;
  /** Writes made so far, every path (the write check asks only after one). */
  writes(): number;
  /** The guard's recovery: reopen the database (lifecycle.ts). */
  reopen(): Promise<void>;
}

export function diskWatch(d: DiskWatchDeps): DiskWatch {
  const { options, log, registry } = d;
  const canWrite = (): boolean => d.open() && !guard.failed;
  const writeCheck = new WriteCheck({
    db: () => d.db(),
    canRun: canWrite,
    writes: () => d.writes(),
    failed: (err) => guard.writeFailed(err),
  });
  const compactor = new Compactor(
    () => d.db(),
    log,
    canWrite,
    d.metrics,
    () => void writeCheck.now(),
  );
  const ballast = new SpaceBallast({ dir: options.path, bytes: options.ballastBytes, log, registry });
  const guard = new DiskGuard({
    path: options.path,
    reserveBytes: options.reserveBytes,
    probeMs: options.diskProbeMs,
    log,
    registry,
    recover: () => d.reopen(),
    ballast,
    // The logs replayed into tables, and a margin for the manifest and table overhead.
    reopenNeeds: async () => (await logBytesOf(options.path)) + 1024 * 1024,
    orphanBytes: async () => (await findOrphanTables(options.path)).reduce((n, o) => n + o.bytes, 0),
    checkWrites: () => writeCheck.ifWritten(),
  });
  const slowDisk = new SlowDiskWatch({
    log,
    monotonic: d.mono,
    path: options.path,
    registry,
    stallMs: options.commitStallMs,
    slowMeanMs: options.slowCommitMeanMs,
  });
  return { ballast, guard, slowDisk, compactor, writeCheck };
}
