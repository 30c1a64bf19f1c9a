// Whether the store may take data appends: free space on the data directory's filesystem and the
// outcome of the last writes. Two ways to become unwritable:
//   - low space: free space fell under `reserveBytes` (probed with statfs every `diskProbeMs`).
//     Data appends (and export files, see destinations/file.ts) are refused; checkpoints, consumer
//     and control state still go to disk, out of the reserve.
//   - write error: a LevelDB write failed with an I/O error (ENOSPC, EIO). LevelDB then refuses
//     every later write until it is reopened, so recovery reopens the database (`recover`).
// Recovery is automatic: the probe sees free space back above the resume threshold (reserve plus
// an eighth, so a disk hovering at the line does not flap) and, after a write error, reopens.
// One log line per state change, a gauge and counters; nothing per append but a field read.
import { statfs } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from '../../core/prom-client.js';
import { ERRORS, GatehouseError, errorMessage } from '../../core/errors.js';
import { FollowUpRun } from '../../core/follow-up-run.js';

export type DiskCondition = 'ok' | 'low-space' | 'write-error';

export interface DiskState {
  writable: boolean;
  condition: DiskCondition;
  /** Human reason when not writable (healthz, status). */
  reason: string | undefined;
  /** What to do while not writable (what to free, where, how much): the error line's and the refusals' fix, for healthz and status. */
  fix: string | undefined;
  /** Free bytes (for unprivileged users) at the last probe; undefined before the first. */
  freeBytes: number | undefined;
  reserveBytes: number;
  /** Epoch ms (wall time, shown, never subtracted from) of the last state change. */
  since: number;
}

export interface DiskGuardOptions {
  path: string;
  reserveBytes: number;
  probeMs: number;
  log: Logger;
  registry: Registry;
  /** Room kept for a reopen on a full disk (space-ballast.ts); none in unit tests that do not give one. */
  ballast?: { ensure(free: number, keepFree: number): void; release(): Promise<number> };
  /** Bytes of the table files a failed compaction left, which a reopen deletes first (orphan-tables.ts). */
  orphanBytes?: () => Promise<number>;
  /** Free bytes a reopen needs (its log replay); REOPEN_MIN_FREE when not given. */
  reopenNeeds?: () => Promise<number>;
  /**
   * Before saying writable again after low space: whether LevelDB still takes writes (a compaction
   * that failed in its thread meanwhile leaves it refusing them). False when it does not: the check
   * has reported its failure (writeFailed), and the store reopens instead.
   */
  checkWrites?: () => Promise<boolean>;
  /** Reopen the database after a write error; throws when it cannot yet. */
  recover: () => Promise<void>;
  /** Free bytes of the filesystem holding path (injectable for tests). */
  freeBytes?: (path: string) => Promise<number>;
  now?: () => number;
}

/** Whether an error from LevelDB or fs is the disk refusing writes (not a logic error). */
export function isStorageWriteError(err: unknown): boolean {
  if (isDiskFullError(err)) return true;
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code === 'LEVEL_IO_ERROR' || code === 'ENOSPC' || code === 'EIO' || code === 'EDQUOT' || code === 'EROFS') return true;
  const msg = typeof e?.message === 'string' ? e.message : '';
  return /No space left|ENOSPC|Input\/output error|EIO|Disk quota|Read-only file system/i.test(msg);
}

/**
 * What a caller of a failed store write gets: a GatehouseError with a code (the raw LevelDB error as
 * its cause). An I/O error is GH_STORE_DISK_FULL, as an append refused for space is: the store
 * recovers by itself and the caller retries (an exporter's checkpoint, the retention's deletes).
 */
export function storeWriteError(err: unknown, what: string): GatehouseError {
  if (err instanceof GatehouseError) return err;
  const options = {
    cause: err,
    hint: 'check disk space and permissions of the data directory (after an I/O error the store reopens by itself once space returns)',
  };
  if (isStorageWriteError(err)) return ERRORS.GH_STORE_DISK_FULL({ what: `complete a write (${what})`, reason: errorMessage(err) }, options);
  return new GatehouseError('GH_INTERNAL', `${what} failed: ${errorMessage(err)}`, options);
}

/** The error data appends get while the disk is full (MQTT 5 maps it to 0x97, quota exceeded). */
export function isDiskFullError(err: unknown): boolean {
  return err instanceof GatehouseError && err.code === 'GH_STORE_DISK_FULL';
}

export async function freeBytesOf(path: string): Promise<number> {
  const s = await statfs(path);
  return Number(s.bavail) * Number(s.bsize);
}

const METRICS = ['gatehouse_store_writable', 'gatehouse_store_free_bytes', 'gatehouse_store_failed_commits_total', 'gatehouse_store_refused_appends_total'];

export class DiskGuard {
  private condition: DiskCondition = 'ok';
  private reason: string | undefined;
  private free: number | undefined;
  private since: number;
  private timer: NodeJS.Timeout | undefined;
  /** The probes: one at a time, one queued behind it at most (probe()). */
  private readonly probes = new FollowUpRun(() => this.doProbe());
  private readonly now: () => number;
  private readonly freeOf: (path: string) => Promise<number>;
  private readonly writableGauge: Gauge;
  private readonly failedCommits: Counter<'reason'>;
  private readonly refused: Counter;

  constructor(private readonly o: DiskGuardOptions) {
    this.now = o.now ?? Date.now;
    this.freeOf = o.freeBytes ?? freeBytesOf;
    this.since = this.now();
    for (const n of METRICS) o.registry.removeSingleMetric(n);
    const registers = [o.registry];
    this.writableGauge = new Gauge({
      name: 'gatehouse_store_writable',
      help: '1 while the store takes data appends, 0 while the disk is full or failing (see /healthz for the reason)',
      registers,
    });
    this.writableGauge.set(1);
    const self = this;
    new Gauge({
      name: 'gatehouse_store_free_bytes',
      help: 'Free bytes on the filesystem of the data directory at the last probe',
      registers,
      collect() {
        if (self.free !== undefined) this.set(self.free);
      },
    });
    this.failedCommits = new Counter({
      name: 'gatehouse_store_failed_commits_total',
      help: 'Store writes (group commits, checkpoints, meta) that failed with an I/O error, by reason',
      labelNames: ['reason'] as const,
      registers,
    });
    this.refused = new Counter({
      name: 'gatehouse_store_refused_appends_total',
      help: 'Data appends refused because the disk is full (free space under store.reserveBytes or a failed write)',
      registers,
    });
  }

  /** First probe (awaited: a disk already full at start refuses appends from the first one). */
  async start(): Promise<void> {
    await this.probe();
    this.timer = setInterval(() => void this.probe(), this.o.probeMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A wait to open the database on a full disk (open-wait.ts), shown: writable 0 and the free bytes meanwhile. */
  openWaiting(w: { freeBytes: number | undefined } | undefined): void {
    this.writableGauge.set(w ? 0 : 1);
    if (w?.freeBytes !== undefined) this.free = w.freeBytes;
  }

  /** Read on every append: a field, no syscall. */
  get writable(): boolean {
    return this.condition === 'ok';
  }

  /**
   * After a failed write nothing more may be written until the database is reopened: a later
   * write landing behind a partial log record would be dropped with it when the log is replayed.
   */
  get failed(): boolean {
    return this.condition === 'write-error';
  }

  /** The error of a write attempted while failed. */
  failedError(where: string): GatehouseError {
    return ERRORS.GH_STORE_DISK_FULL(
      { what: 'take writes until it is reopened', reason: this.reason ?? 'a write failed' },
      {
        where,
        hint: this.fixFor('write-error'),
      },
    );
  }

  state(): DiskState {
    return {
      writable: this.writable,
      condition: this.condition,
      reason: this.reason,
      fix: this.condition === 'ok' ? undefined : this.fixFor(this.condition),
      freeBytes: this.free,
      reserveBytes: this.o.reserveBytes,
      since: this.since,
    };
  }

  /** The rejection of a data append while not writable (counted). */
  refusal(where: string): GatehouseError {
    this.refused.inc();
    return ERRORS.GH_STORE_DISK_FULL(
      { what: 'take data appends', reason: this.reason ?? 'disk full' },
      {
        where,
        hint: this.fixFor('low-space'),
      },
    );
  }

  /** What to do about a condition: one wording for the error line, the refusals, healthz and status. */
  private fixFor(condition: Exclude<DiskCondition, 'ok'>): string {
    return condition === 'low-space'
      ? `free space on the filesystem of ${this.o.path} (the gateway resumes by itself once at least ${resumeAt(this.o.reserveBytes)} bytes are free), or lower store.reserveBytes`
      : `free space on the filesystem of ${this.o.path}: the store reopens by itself`;
  }

  /** A store write failed: count it; an I/O error makes the store unwritable until recovered. */
  writeFailed(err: unknown): void {
    const io = isStorageWriteError(err);
    this.failedCommits.inc({ reason: io ? (/ENOSPC|No space|quota/i.test(errorMessage(err)) ? 'no-space' : 'io-error') : 'other' });
    if (!io || this.condition === 'write-error') return;
    this.change('write-error', `a store write failed: ${errorMessage(err).split('\n', 1)[0]}`);
    // Probe soon: space may be there already (a burst filled the disk, export freed it).
    void this.probe();
  }

  /**
   * statfs, then state changes; at most one in flight. A probe asked for while one is in flight
   * gets one that starts after it (at most one queued): the one in flight read the free space
   * before the event that asked (a write failed, space was freed), so its answer may be stale.
   */
  probe(): Promise<void> {
    return this.probes.run();
  }

  private async doProbe(): Promise<void> {
    let free: number;
    try {
      free = await this.freeOf(this.o.path);
    } catch (err) {
      // statfs failing says nothing about space: keep the state, say it once at debug level.
      this.o.log.debug({ err: errorMessage(err), path: this.o.path }, 'statfs of the data directory failed');
      return;
    }
    this.free = free;
    const reserve = this.o.reserveBytes;
    if (this.condition === 'ok') {
      if (free < reserve) this.change('low-space', `free space ${free} bytes is under the reserve of ${reserve} bytes (store.reserveBytes)`);
      else this.o.ballast?.ensure(free, resumeAt(reserve));
      return;
    }
    // Between the reserve and the level appends resume at (hysteresis), say that level: "under the
    // reserve" of a figure above the reserve reads as a wrong figure.
    const lowReason =
      free < reserve
        ? `free space ${free} bytes is under the reserve of ${reserve} bytes (store.reserveBytes)`
        : `free space ${free} bytes is above the reserve of ${reserve} bytes (store.reserveBytes) but under the ${resumeAt(reserve)} bytes appends resume at`;
    if (this.condition === 'write-error') {
      // Reopening replays LevelDB's logs into new tables (up to two 4 MiB memtables): wait for
      // that much room only, not for the reserve. A disk filled by the gateway's own backlog (a LevelDB
      // compaction outgrew the reserve) gets space back only through the store: reopened, it
      // takes the exporters' checkpoints and deletes again while data appends wait (low space).
      // Before, it waited for the reserve that only those deletes could free, for good.
      // When even that room is missing (the failed compaction's output files hold it until a
      // reopen deletes them), the space ballast is given up for it. With the ballast already
      // given up (a second failure), the reopen deletes those files before its log replay
      // (orphan-tables.ts): it goes ahead when their bytes make the room.
      const needs = this.o.reopenNeeds ? await this.o.reopenNeeds() : REOPEN_MIN_FREE;
      if (free < needs) {
        const freed = (await this.o.ballast?.release()) ?? 0;
        if (freed === 0 && free + ((await this.o.orphanBytes?.()) ?? 0) < needs) return;
        free += freed;
        this.free = free;
      }
      try {
        await this.o.recover();
      } catch (err) {
        const cause = (err as { cause?: unknown }).cause;
        this.reason = `a store write failed and reopening the store failed: ${errorMessage(cause ?? err).split('\n', 1)[0]}`;
        this.o.log.debug({ reason: this.reason, freeBytes: free }, 'store reopen failed; retrying at the next probe');
        return;
      }
      if (free < resumeAt(reserve)) {
        this.change('low-space', lowReason);
        return;
      }
    } else if (free < resumeAt(reserve)) {
      this.reason = lowReason;
      return;
    } else if (this.o.checkWrites) {
      const writes = await this.o.checkWrites();
      // The check failed (the store is now unwritable until reopened), or another write did meanwhile.
      if (!writes || this.condition !== 'low-space') return;
    }
    this.change('ok', undefined);
  }

  private change(to: DiskCondition, reason: string | undefined): void {
    const from = this.condition;
    this.condition = to;
    this.reason = reason;
    this.since = this.now();
    this.writableGauge.set(to === 'ok' ? 1 : 0);
    if (to === 'ok') this.o.log.info({ from, freeBytes: this.free, path: this.o.path }, 'store writable again: data appends resume');
    else
      this.o.log.error(
        // The journal's first word of a full disk: what to do, as the refused appends' error says it.
        {
          condition: to,
          reason,
          freeBytes: this.free,
          reserveBytes: this.o.reserveBytes,
          path: this.o.path,
          fix: this.fixFor(to),
        },
        'store not writable: data appends are refused (no PUBACK, no serial ACK) until space returns',
      );
  }
}

/** Free bytes needed before reopening the database after a failed write. */
export const REOPEN_MIN_FREE = 8 * 1024 * 1024;

/** Free bytes needed to resume: the reserve plus an eighth (hysteresis), at least 1 byte more. */
export function resumeAt(reserve: number): number {
  return reserve + Math.max(1, Math.floor(reserve / 8));
}
