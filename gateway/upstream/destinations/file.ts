// File destination: NDJSON files under time-partitioned folders (UTC write time)
//   <dir>/YYYY/MM/DD/HH/<stream>-<firstSeq, 12 digits (more past 10^12)>-<epochMs>.ndjson[.gz]
// rotated by size (maxFileBytes) and age (maxFileAgeMs) and whenever the hour folder changes.
//
// One line per record, built into one Buffer per batch by ndjson.ts (the format is stated there).
//
// A batch is written with awaited writes (backpressure: the loop waits for the disk) and
// fsynced (durability 'fsync') before send() returns ok, so the checkpoint never passes
// unwritten data. A short write, ENOSPC or EIO (write or fsync) fails the send and the file is
// truncated back to its last complete batch, so no partial line is left for a reader to count.
// While free space on the export folder's filesystem is under the store's reserve
// (store.reserveBytes) nothing is written: the send fails retryably (disk full). With gzip each
// batch is its own gzip member: a file is always decodable (gunzip reads concatenated members)
// up to its last complete batch, even after a crash.
import { mkdir, open, statfs, truncate, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { clocksOf } from '../../../core/clock.js';
import type { RuntimeDeps } from '../../../core/deps.js';
import { ERRORS, type GatehouseError } from '../../../core/errors.js';
import type { StoredRecord } from '../../store/types.js';
import type { Destination, DestinationLimits, RecordResult } from '../types.js';
import type { FileDestinationOptions } from '../options.js';
import { destinationMetrics, type DestinationMetrics } from './common.js';
import { NdjsonWriter } from './ndjson.js';
import { enforceRetention } from './file-retention.js';
import { counter } from '../../../core/metrics.js';
import type { Counter } from 'prom-client';

export { ndjsonLine } from './ndjson.js';

const gzipAsync = promisify(gzip);
/** A free-space measure is reused this long... */
const FREE_REUSE_MS = 1000;
/** ...while it is this far above the reserve (other writers, e.g. the store, write meanwhile). */
const FREE_REUSE_MARGIN = 64 * 1024 * 1024;

interface OpenFile {
  handle: FileHandle;
  path: string;
  partition: string;
  /** Monotonic ms (file.ts mono()). */
  openedAt: number;
  bytes: number;
}

/** "YYYY/MM/DD/HH" of an epoch ms, UTC. */
export function partitionOf(ms: number): string {
  const d = new Date(ms);
  const p2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
  return `${d.getUTCFullYear()}/${p2(d.getUTCMonth() + 1)}/${p2(d.getUTCDate())}/${p2(d.getUTCHours())}`;
}

/** Free bytes on the filesystem holding dir (what an unprivileged writer may use). */
async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

function diskFull(where: string, message: string, cause?: unknown): GatehouseError {
  return ERRORS.GH_EXPORT_RETRYABLE(
    { reason: message },
    {
      where,
      ...(cause === undefined ? {} : { cause }),
      hint: "free disk space on the export folder's filesystem (export resumes by itself), or export to another disk",
    },
  );
}

const FOLDER_HINT =
  "check that the export folder (the destination's dir) exists or can be created and is writable by the gateway's user (a disk or share not mounted yet? under the systemd unit, a folder outside /var/lib/gatehouse needs ReadWritePaths= in a drop-in); records wait in the local stream and go out once it is";

/** The export folder cannot be created: retryable (thrown: an outage, nothing counted). */
function folderError(folder: string, err: unknown): GatehouseError {
  return ERRORS.GH_EXPORT_RETRYABLE(
    { reason: `cannot create export folder ${folder}: ${err instanceof Error ? err.message : String(err)}` },
    { where: folder, cause: err, hint: FOLDER_HINT },
  );
}

export class FileDestination implements Destination {
  readonly kind = 'file';
  readonly target: string;
  readonly limits: DestinationLimits;
  private current: OpenFile | undefined;
  private ageTimer: NodeJS.Timeout | undefined;
  private busy: Promise<void> = Promise.resolve();
  /** A file whose failed write could not be cut back yet: [path, good length]. Retried first. */
  private pendingTruncate: [string, number] | undefined;
  private readonly reserveBytes: number;
  /** Files closed since start (for tests and status). */
  filesWritten = 0;
  /** The metrics every destination reports (common.ts). */
  private readonly metrics: DestinationMetrics;
  private readonly lines = new NdjsonWriter();
  /** The last statfs of the export folder, less what was written since (freeBytesNow). */
  private lastFree: { at: number; free: number } | undefined;
  /** maxTotalBytes: files and bytes deleted (file-retention.ts). */
  private readonly retention: { files: Counter<'target'>; bytes: Counter<'target'> };

  constructor(
    private readonly options: FileDestinationOptions & { dir: string },
    private readonly deps: RuntimeDeps & { reserveBytes?: number },
  ) {
    this.target = options.dir;
    this.reserveBytes = deps.reserveBytes ?? 0;
    this.metrics = destinationMetrics(deps.registry);
    this.limits = { maxRecords: options.maxRecords, maxRecordBytes: options.maxRecordBytes, maxBatchBytes: options.maxBatchBytes };
    this.retention = {
      files: counter(deps.registry, 'gatehouse_export_files_deleted_total', 'Export files the file destination deleted to keep its folder to maxTotalBytes', [
        'target',
      ]),
      bytes: counter(deps.registry, 'gatehouse_export_deleted_bytes_total', 'Bytes of the export files deleted to keep the folder to maxTotalBytes', [
        'target',
      ]),
    };
  }

  /** Wall time: partitions and file names. */
  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Monotonic ms: a file's age (maxFileAgeMs) and the free-space measure's age, immune to NTP steps. */
  private mono(): number {
    return clocksOf(this.deps).monotonic();
  }

  async start(): Promise<void> {
    // A folder that cannot be made yet (a disk or share not mounted, a permission) must not keep
    // the gateway from starting: the records wait in the local stream, each send retries it
    // (openFile) and says why, and export resumes once it can be made.
    await mkdir(this.options.dir, { recursive: true }).catch((err: unknown) => {
      this.deps.logger.warn({ err: folderError(this.options.dir, err).describe() }, 'export folder not available yet; records wait in the local stream');
    });
    // Close files that reached their age while no data came (so they are final for readers).
    const every = Math.max(1000, Math.min(60_000, Math.floor(this.options.maxFileAgeMs / 4)));
    this.ageTimer = setInterval(() => {
      this.busy = this.busy
        .then(() => this.closeIfAged())
        .catch((err: unknown) => {
          this.deps.logger.warn({ err, dir: this.target }, 'closing an aged export file failed');
        });
    }, every);
    this.ageTimer.unref();
    // What an earlier run (or a larger maxTotalBytes) left is trimmed at once, not at the first close.
    this.busy = this.busy.then(() => this.retain());
  }

  async stop(): Promise<void> {
    clearInterval(this.ageTimer);
    await this.busy.catch(() => undefined);
    await this.closeCurrent();
  }

  async send(records: readonly StoredRecord[], _signal: AbortSignal): Promise<RecordResult[]> {
    // Serialise with the age timer's close so a write never races a close.
    const run = this.busy.then(() => this.write(records));
    this.busy = run.catch(() => undefined);
    try {
      await run;
    } catch (err) {
      this.metrics.calls.inc({ kind: 'file', target: this.target, outcome: 'retryable', reason: 'io' });
      throw err;
    }
    this.metrics.calls.inc({ kind: 'file', target: this.target, outcome: 'ok' });
    const out: RecordResult[] = new Array(records.length);
    out.fill({ ok: true });
    return out;
  }

  private async write(records: readonly StoredRecord[]): Promise<void> {
    let data = this.lines.batch(records);
    if (this.options.gzip) data = await gzipAsync(data, { level: this.options.gzipLevel });

    if (this.pendingTruncate) {
      const [path, len] = this.pendingTruncate;
      await truncate(path, len).catch((err: unknown) => {
        throw diskFull(path, `cannot cut ${path} back to its last complete batch (${len} bytes): ${err instanceof Error ? err.message : String(err)}`, err);
      });
      this.pendingTruncate = undefined;
    }
    if (this.reserveBytes > 0) {
      // Export files must not eat the reserve the store keeps for checkpoints, or a full disk
      // could not even record what was exported. statfs (through the thread pool: ~0.2 ms) once
      // per batch was ~1% of the CPU at full speed; a measure far above the reserve is reused for
      // up to a second, less what this destination wrote since. A folder removed under us cannot
      // be measured: skip the check, openFile recreates it.
      const free = await this.freeBytesNow(data.length);
      if (free !== undefined && free - data.length < this.reserveBytes) {
        throw diskFull(
          this.options.dir,
          `export folder ${this.options.dir} is full: ${free} bytes free, ${data.length} to write, ${this.reserveBytes} reserved (store.reserveBytes)`,
        );
      }
    }
    const now = this.now();
    const partition = partitionOf(now);
    const cur = this.current;
    if (cur && (cur.partition !== partition || cur.bytes >= this.options.maxFileBytes || this.mono() - cur.openedAt >= this.options.maxFileAgeMs)) {
      await this.closeCurrent();
    }
    const file = this.current ?? (await this.openFile(partition, records[0]!, now));
    try {
      // Awaited writes: the loop waits for the disk (backpressure). write(2) may write less than
      // asked (a filling disk does exactly that before ENOSPC): loop on the rest, and a write of 0
      // bytes is a failure, never a success.
      let off = 0;
      while (off < data.length) {
        const { bytesWritten } = await file.handle.write(data, off, data.length - off, null);
        if (bytesWritten <= 0) throw Object.assign(new Error(`short write: ${off} of ${data.length} bytes written`), { code: 'ENOSPC' });
        off += bytesWritten;
      }
      if (this.options.durability === 'fsync') await file.handle.sync();
    } catch (err) {
      // Cut the file back to its last complete batch (no partial line for readers), close it; the
      // batch is retried into a new file. Truncating never needs space; if it still fails it is
      // retried before the next write.
      const good = file.bytes;
      await file.handle.truncate(good).catch(() => {
        this.pendingTruncate = [file.path, good];
      });
      await this.closeCurrent().catch(() => undefined);
      throw diskFull(file.path, `writing ${file.path} failed: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    file.bytes += data.length;
    if (this.lastFree) this.lastFree.free -= data.length;
  }

  /** Free bytes of the export folder's filesystem: measured, or the last measure if it is fresh and far from the reserve. */
  private async freeBytesNow(toWrite: number): Promise<number | undefined> {
    const now = this.mono();
    const last = this.lastFree;
    if (last && now - last.at < FREE_REUSE_MS && last.free - toWrite - this.reserveBytes > FREE_REUSE_MARGIN) return last.free;
    const free = await freeBytes(this.options.dir).catch(() => undefined);
    this.lastFree = free === undefined ? undefined : { at: now, free };
    return free;
  }

  private async openFile(partition: string, first: StoredRecord, now: number): Promise<OpenFile> {
    const folder = join(this.options.dir, partition);
    try {
      await mkdir(folder, { recursive: true });
    } catch (err) {
      throw folderError(folder, err);
    }
    // Zero-padded first sequence: names sort in stream order; the time keeps a resend after a
    // crash (same first sequence) in its own file.
    const name = `${first.stream}-${String(first.seq).padStart(12, '0')}-${now}.ndjson${this.options.gzip ? '.gz' : ''}`;
    const path = join(folder, name);
    let handle: FileHandle;
    try {
      handle = await open(path, 'a');
    } catch (err) {
      throw ERRORS.GH_EXPORT_RETRYABLE(
        { reason: `cannot create export file ${path}: ${err instanceof Error ? err.message : String(err)}` },
        {
          where: path,
          cause: err,
          hint: FOLDER_HINT,
        },
      );
    }
    this.current = { handle, path, partition, openedAt: this.mono(), bytes: 0 };
    return this.current;
  }

  private async closeIfAged(): Promise<void> {
    const cur = this.current;
    if (cur && this.mono() - cur.openedAt >= this.options.maxFileAgeMs) await this.closeCurrent();
  }

  private async closeCurrent(): Promise<void> {
    const cur = this.current;
    if (!cur) return;
    this.current = undefined;
    await cur.handle.close();
    this.filesWritten++;
    await this.retain();
  }

  /** Keep the export files to maxTotalBytes (file-retention.ts); a failure is logged, never an export's failure. */
  private async retain(): Promise<void> {
    const max = this.options.maxTotalBytes;
    if (max === undefined) return;
    const r = await enforceRetention(this.options.dir, max, this.current?.path).catch((err: unknown) => ({
      deleted: 0,
      deletedBytes: 0,
      keptBytes: Number.NaN,
      error: err instanceof Error ? err.message : String(err),
    }));
    if (r.deleted > 0) {
      this.retention.files.inc({ target: this.target }, r.deleted);
      this.retention.bytes.inc({ target: this.target }, r.deletedBytes);
      this.deps.logger.info(
        { dir: this.target, files: r.deleted, bytes: r.deletedBytes, keptBytes: r.keptBytes, maxTotalBytes: max },
        'export folder over maxTotalBytes: the oldest export files were deleted',
      );
    }
    if (r.error !== undefined) {
      this.deps.logger.warn(
        {
          dir: this.target,
          err: r.error,
          maxTotalBytes: max,
          hint: "let the gateway's user delete files in the export folder (or lower what other writers put there)",
        },
        'export folder over maxTotalBytes: an old export file could not be deleted; tried again at the next file close',
      );
    }
  }
}

/** Options arrive validated (registry.ts); `dir` defaults to <dataDir>/export, and a relative one is the data dir's (as loadConfig resolves it). */
export function createFileDestination(options: FileDestinationOptions, deps: RuntimeDeps & { dataDir?: string; reserveBytes?: number }): FileDestination {
  const dataDir = deps.dataDir ?? './gatehouse-data';
  const dir = options.dir === undefined ? join(dataDir, 'export') : resolve(dataDir, options.dir);
  return new FileDestination({ ...options, dir }, deps);
}
