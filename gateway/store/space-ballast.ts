// A file of `ballastBytes` kept in the store's directory and deleted when the store cannot get out
// of a full disk by itself. The reserve (store.reserveBytes) only refuses data appends: LevelDB's
// own compactions still write, and one that outgrows the reserve fills the disk, fails, and leaves
// LevelDB refusing every write until the database is reopened. Reopening replays the write-ahead
// log into a new table, which needs room; the output files of the failed compaction, which hold
// the room, are deleted only by a successful reopen; and the exporters' deletes that would free
// the backlog cannot be written before it. With nothing else freeing space the store waited for
// good (a 160 MiB disk held 3.9 MiB free). Deleting the ballast gives the reopen its room; the
// ballast is written again once the disk has room for it above the reserve.
//
// Invariants:
//   - the ballast is written only while free space after it stays at or above resumeAt(reserve),
//     so it never makes the store refuse appends, and only once free space is under 1 GiB;
//   - it is written under a temporary name and renamed: a ballast file is whole or absent;
//   - its bytes are random (a compressing filesystem must really allocate them), written in one
//     reused 256 KiB buffer;
//   - LevelDB ignores a file whose name is not one of its own, so it is never deleted by LevelDB.
import { randomBytes } from 'node:crypto';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from '../../core/prom-client.js';
import { errorMessage } from '../../core/errors.js';

export const BALLAST_FILE = 'GATEHOUSE-SPACE-BALLAST';
/**
 * The ballast is written only once free space falls under this: a disk with more free is far from
 * needing it (the gateway cannot fill 1 GiB between two probes), and a gateway on a roomy disk, or
 * each of a test suite's hundreds of stores, does not write 16 MiB for nothing.
 */
export const BALLAST_WHEN_FREE_UNDER = 1024 * 1024 * 1024;
const CHUNK = 256 * 1024;

export interface SpaceBallastOptions {
  /** The store's directory (LevelDB's). */
  dir: string;
  /** Size of the ballast; 0 disables it (nothing is written, nothing released). */
  bytes: number;
  log: Logger;
  registry: Registry;
}

export class SpaceBallast {
  private held = 0;
  private writing: Promise<void> | undefined;
  private readonly file: string;
  private readonly gauge: Gauge;
  private readonly releases: Counter;

  constructor(private readonly o: SpaceBallastOptions) {
    this.file = join(o.dir, BALLAST_FILE);
    o.registry.removeSingleMetric('gatehouse_store_space_ballast_bytes');
    o.registry.removeSingleMetric('gatehouse_store_space_ballast_releases_total');
    this.gauge = new Gauge({
      name: 'gatehouse_store_space_ballast_bytes',
      help: 'Bytes of the space ballast held in the data directory (store.ballastBytes): 0 after it was released to reopen the store on a full disk, until there is room again',
      registers: [o.registry],
    });
    // A count, not only the gauge: with room after the reopen the ballast is written again within
    // one probe, and a scrape (or a test) between the two never sees the gauge at 0.
    this.releases = new Counter({
      name: 'gatehouse_store_space_ballast_releases_total',
      help: 'Times the space ballast was deleted to give the store room to open or reopen on a full disk',
      registers: [o.registry],
    });
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.held;
  }

  /** Read what a previous run left: a ballast of the configured size is held; any other is removed. */
  async load(): Promise<void> {
    const size = await stat(this.file).then(
      (s) => s.size,
      () => undefined,
    );
    if (size === undefined) return;
    if (size === this.o.bytes && size > 0) this.setHeld(size);
    else await unlink(this.file).catch(() => undefined);
  }

  /**
   * Write the ballast when it is not held and `free` leaves room for it above `keepFree`. At most
   * one write in flight; a failed write (the disk filled meanwhile) removes its partial file and is
   * tried again at a later call.
   */
  ensure(free: number, keepFree: number): void {
    if (this.o.bytes <= 0 || this.held > 0 || this.writing || free >= BALLAST_WHEN_FREE_UNDER || free - this.o.bytes < keepFree) return;
    this.writing = this.write().finally(() => {
      this.writing = undefined;
    });
  }

  /** Delete the ballast (the store needs its room now); resolves with the bytes freed (0 when none was held). */
  async release(): Promise<number> {
    await this.writing;
    const freed = this.held;
    if (freed === 0) return 0;
    try {
      await unlink(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.o.log.warn({ err: errorMessage(err), file: this.file }, 'could not delete the space ballast');
        return 0;
      }
    }
    this.setHeld(0);
    this.releases.inc();
    this.o.log.warn(
      { bytes: freed, file: this.file },
      'space ballast deleted to give the store room to reopen on a full disk; it is written again once there is room',
    );
    return freed;
  }

  /** Wait for a write in flight (close). */
  async settle(): Promise<void> {
    await this.writing;
  }

  private async write(): Promise<void> {
    const tmp = `${this.file}.tmp`;
    const chunk = randomBytes(CHUNK);
    let fh: Awaited<ReturnType<typeof open>> | undefined;
    try {
      fh = await open(tmp, 'w', 0o600);
      for (let done = 0; done < this.o.bytes; done += CHUNK) {
        await fh.write(chunk, 0, Math.min(CHUNK, this.o.bytes - done));
      }
      // Blocks allocated for real before it counts as held (ext4 allocates delayed writes late).
      await fh.sync();
      await fh.close();
      fh = undefined;
      await rename(tmp, this.file);
      this.setHeld(this.o.bytes);
      this.o.log.info({ bytes: this.o.bytes, file: this.file }, 'space ballast written');
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      this.o.log.debug({ err: errorMessage(err), file: tmp }, 'space ballast not written; tried again later');
    }
  }

  private setHeld(bytes: number): void {
    this.held = bytes;
    this.gauge.set(bytes);
  }
}
