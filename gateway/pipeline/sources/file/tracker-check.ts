// The periodic check of one tailed file (FileTracker.check, one at a time per file): read what is
// there, look whether the path still holds this file (renamed away or deleted: detached, and
// drained now, as the file now at the path waits for it: rotation-order.ts), note since when it is
// behind, emit a partial last line once quiet for partialLineTimeoutMs (rotateWaitMs at the most
// for a detached file), and retire a detached file once it is read to its end, every record of it
// committed and quiet for rotateWaitMs. A file is never retired with records not committed: a
// refusal that comes later (a full `reject` stream refuses after a wait) rewinds the reader, which
// must still be there to read again.
import { stat, type FileHandle } from 'node:fs/promises';
import { identityKey, type Fingerprint } from './identity.js';
import type { LineSplitter, SplitRecord } from './splitter.js';
import type { TrackerContext } from './tracker-context.js';

/**
 * What the check reads and moves of a tailed file (FileTracker, tracker.ts, which calls it: named
 * here so the two modules do not import each other).
 */
export interface CheckedFile {
  readonly ctx: TrackerContext<CheckedFile>;
  readonly path: string;
  readonly key: string;
  readonly fh: FileHandle | undefined;
  readonly splitter: LineSplitter;
  readonly size: number;
  readonly committedOffset: number;
  readonly detached: boolean;
  readonly lastGrowthAt: number;
  pathSeenAt: number;
  behindSince: number | undefined;
  pump(): Promise<void>;
  detach(why: string): Promise<void>;
  emit(records: SplitRecord[], bytes: number): void;
  close(): Promise<void>;
  readContent(): { fp: Fingerprint; head?: Buffer };
}

/** One check of `t`: truncation (through pump's reads), rename/delete of the path, the partial-line timeout, retirement. */
export async function checkFile(t: CheckedFile): Promise<void> {
  if (!t.fh) return;
  await t.pump();
  // (A check the tick stopped waiting for may end after the source's stop.)
  if (!t.fh || t.ctx.stopping()) return;
  if (!t.detached) {
    const lookAt = t.ctx.now();
    const st = await stat(t.path, { bigint: true }).catch(() => undefined);
    if (st && identityKey(st.dev, st.ino) === t.key) t.pathSeenAt = lookAt;
    else {
      await t.detach(st ? 'renamed' : 'deleted');
      // Drained now, not at the next look: the file now at the path waits for it (rotation-order.ts).
      await t.pump();
      if (!t.fh || t.ctx.stopping()) return;
    }
  }
  const now = t.ctx.monotonic();
  if (t.behindSince === undefined && t.size > t.committedOffset) t.behindSince = now;
  const quietFor = now - t.lastGrowthAt;
  const atEnd = t.splitter.readOffset >= t.size;
  if (atEnd && t.splitter.heldBytes > 0) {
    const timeout = t.detached ? Math.min(t.ctx.rotateWaitMs, t.ctx.partialLineTimeoutMs || t.ctx.rotateWaitMs) : t.ctx.partialLineTimeoutMs;
    if (timeout > 0 && quietFor >= timeout) {
      t.emit(t.splitter.flush(), 0);
    }
  }
  // Retired only once every record read from it is committed (see the header).
  const committed = t.committedOffset >= t.splitter.readOffset;
  if (t.detached && atEnd && committed && quietFor >= t.ctx.rotateWaitMs && t.splitter.heldBytes === 0) {
    await t.close();
    // Its content stays known: a later rename or copy of it is not read again.
    const known = t.readContent();
    t.ctx.readUpTo(known.fp, t.splitter.readOffset, t.key, known.head);
    t.ctx.retire(t);
  }
}
