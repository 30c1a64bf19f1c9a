// Whether LevelDB still takes writes, asked with a write. LevelDB's compactions run in its own
// thread, and one that fails (a full disk) leaves its error on the database: every later write fails
// with it, and no obsolete table is deleted any more, until the database is reopened. Nothing tells
// the store at that moment: classic-level's compactRange returns no status, and a compaction LevelDB
// starts by itself is not a call at all. So the store learned of it only from its next write.
// Measured before this check (test/integration/store-background-error.test.ts): the compaction of
// a delivered backlog failed on a full disk; the store said writable for as long as nothing was
// written, held the backlog's 12 MiB, and once the disk had 28 MiB free again the next append
// was refused with "No space left on device" (no PUBACK); an idle store never got its space back,
// nor its space ballast.
//
// The check is the smallest write there is: the delete of one key never written (a few bytes in
// LevelDB's log, not synced). It is made
//   - after the compactor ran a compaction or a flush (compaction.ts),
//   - before the disk guard says writable again after low space (disk-guard.ts),
// and a failure goes to the disk guard as any failed write does: the store is unwritable until it
// reopens, which it does once there is room. An idle store makes no check.
// Not at every sweep tick after writes (tried): on a disk the backlog had filled, those checks made
// a reopened store fail again with no room left to reopen (test/integration/store-disk-space.test.ts
// failed 6 runs in 8 with them, none in 8 without), and a LevelDB compaction that fails after the
// last write is met by the next of the checks above or by the next write.
import { FollowUpRun } from '../../core/follow-up-run.js';
import type { Db } from './database.js';
import { KEY_WRITE_CHECK } from './codec.js';

/** The key deleted by a check: in no stream's, checkpoint's or meta range, and never written. */
const CHECK_KEY = Buffer.from([KEY_WRITE_CHECK]);
/** The check's write as a batch op, for a synced write with nothing else to write (the store's close). */
export const CHECK_OP = { type: 'del', key: CHECK_KEY } as const;

export interface WriteCheckOptions {
  db: () => Db;
  /** False while the store is not open, is reopening, or already failed: no check then. */
  canRun: () => boolean;
  /** How many writes the store has made (any count that grows with each write). */
  writes: () => number;
  /** A check failed: the store's disk guard makes it unwritable until it reopens. */
  failed: (err: unknown) => void;
}

export class WriteCheck {
  /** writes() at the last check. */
  private checkedAt = -1;
  /** Whether the last check's write went through. */
  private ok = true;
  /**
   * One check at a time; a call during one gets the next: the one in flight may have been written
   * before the failure the caller asks about (a compaction that ended since).
   */
  private readonly checks = new FollowUpRun(() => this.run());

  constructor(private readonly o: WriteCheckOptions) {}

  /** Check if the store wrote since the last check. Resolves true unless the check failed. */
  ifWritten(): Promise<boolean> {
    if (this.o.writes() === this.checkedAt) return Promise.resolve(true);
    return this.now();
  }

  /** Check now. Resolves true unless the check's write failed. */
  async now(): Promise<boolean> {
    await this.checks.run();
    return this.ok;
  }

  private async run(): Promise<void> {
    this.ok = true;
    if (!this.o.canRun()) return;
    this.checkedAt = this.o.writes();
    try {
      await this.o.db().del(CHECK_KEY, { sync: false });
    } catch (err) {
      // A store closed, reopened or failed meanwhile: not this check's failure to report.
      if (!this.o.canRun()) return;
      this.ok = false;
      this.o.failed(err);
    }
  }
}
