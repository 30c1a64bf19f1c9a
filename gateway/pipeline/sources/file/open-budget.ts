// The open-file budget of a file source: at most maxOpenFiles files open at once. Files beyond it
// wait (status `waiting`; rotated files first); to make room, files read to their end with every
// record committed are closed (`idle-closed`) and reopened only once they grew, shrank or their
// path holds another file: at once for a file that did not grow while open (a backfill of rotated
// files would otherwise go through the slots one closeIdleMs at a time), after closeIdleMs without
// growth for a live one. A file reaching its end asks for the hand-over at once (handOverNow), not
// at the next scan. A waiting file is looked up by identity before it is opened: it may have been
// renamed meanwhile, or have disappeared (reported as vanished when unread data remained).
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { identityKey } from './identity.js';
import { findByIdentity } from './discovery.js';
import type { FileSet } from './file-set.js';
import type { FileTracker } from './tracker.js';
import { rotated } from './rotation-order.js';

export interface OpenBudgetOptions {
  maxOpenFiles: number;
  closeIdleMs: number;
  /** Wall time of a look at a path (pathSeenAt, compared with modification times); the idle time is the trackers' (monotonic). */
  now(): number;
  stopping(): boolean;
  /** A file could not be opened (logged and counted; retried at the next scan). */
  readFailed(t: FileTracker, err: unknown): void;
  /** Commit the state (after a tracker was dropped). */
  commitState(): Promise<void>;
}

export class OpenBudget {
  constructor(
    private readonly files: FileSet,
    private readonly options: OpenBudgetOptions,
  ) {}

  /** Open waiting files within the budget, closing idle ones to make room. */
  async admit(): Promise<void> {
    const { options } = this;
    const all = [...this.files.trackers.values()];
    let open = all.filter((t) => t.fh).length;
    // Never-opened files first; files closed while idle only once they grew or moved.
    const waiting = all.filter((t) => !t.fh && !t.dormant);
    for (const t of all) if (!t.fh && t.dormant && (await this.wantsReopen(t))) waiting.push(t);
    // Rotated files first, in the order found (oldest first): their lines were written before
    // those of the file now at their path, which is read after them (rotation-order.ts). (Queued
    // behind it, a rotated file waited for the live file to be idle for closeIdleMs, a minute.)
    waiting.sort((a, b) => Number(rotated(b)) - Number(rotated(a)) || (rotated(a) ? a.seq - b.seq : 0));
    if (waiting.length > 0 && open >= options.maxOpenFiles) {
      // Make room: close files read to their end (see FileTracker.canGiveUpSlot).
      let need = waiting.length;
      for (const t of all) {
        if (need === 0) break;
        if (t.canGiveUpSlot(options.closeIdleMs)) {
          await t.close();
          t.dormant = true;
          open--;
          need--;
        }
      }
    }
    for (const t of waiting) {
      if (options.stopping() || open >= options.maxOpenFiles) break;
      if (await this.reopen(t)) {
        t.dormant = false;
        open++;
      }
    }
  }

  /**
   * A file read to its end and committed: whether admit() should run now to give its slot to a
   * file that waits for one (never opened yet). Only when the budget is full (with room, the scan
   * opens waiting files), so a waiting file that cannot be opened does not make a loop of it.
   */
  handOverNow(t: FileTracker): boolean {
    if (this.options.stopping() || !t.canGiveUpSlot(this.options.closeIdleMs)) return false;
    let open = 0;
    let waiting = false;
    for (const x of this.files.trackers.values()) {
      if (x.fh) open++;
      else if (!x.dormant) waiting = true;
    }
    return waiting && open >= this.options.maxOpenFiles;
  }

  /** An idle-closed file needs reading again: it grew, shrank or its path holds another file now. */
  private async wantsReopen(t: FileTracker): Promise<boolean> {
    const lookAt = this.options.now();
    const st = await stat(t.path, { bigint: true }).catch(() => undefined);
    if (!st || identityKey(st.dev, st.ino) !== t.key) return true;
    t.pathSeenAt = lookAt;
    if (Number(st.size) !== t.size) {
      t.size = Number(st.size);
      return true;
    }
    return false;
  }

  /** Open a waiting (or idle-closed) tracker, checking its path still holds the same file. */
  private async reopen(t: FileTracker): Promise<boolean> {
    const { files } = this;
    const st = await stat(t.path, { bigint: true }).catch(() => undefined);
    if (!st || identityKey(st.dev, st.ino) !== t.key) {
      const moved = await findByIdentity(dirname(t.path), basename(t.path), t.dev, t.ino, t.fp, (n) => files.excluded(n));
      // Rotated while closed: a file created at its path and rotated away since is read too. (Its
      // size under the new name: what it is read to before the file now at the path.)
      const size =
        moved === undefined
          ? undefined
          : await stat(moved).then(
              (s) => s.size,
              () => undefined,
            );
      if (!t.detached) await t.detach(moved ? 'renamed' : 'deleted', size);
      if (!moved) {
        // Its content stays known, as at a retirement: gone from every name searched, it may still
        // be renamed on (a search racing logrotate), and the scan that finds it under its new name
        // starts it where it was committed (copiedFrom), not at 0 (the whole file read twice).
        const known = t.readContent();
        files.readUpTo(known.fp, t.committedOffset, t.key, known.head);
        files.remove(t);
        const unread = t.size > t.submittedOffset ? t.size - t.submittedOffset : 0;
        if (unread > 0) files.reportVanished(t.path, unread);
        void this.options.commitState().catch(() => undefined);
        return false;
      }
      // (Its records keep the topic of the path they were written at, also after a restart.)
      t.from ??= t.path;
      files.movePath(t, moved);
    }
    try {
      await t.open();
      return true;
    } catch (err) {
      this.options.readFailed(t, err);
      return false;
    }
  }
}
