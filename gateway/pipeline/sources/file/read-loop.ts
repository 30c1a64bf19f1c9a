// The read loop of one tailed file (FileTracker.pump): read a chunk at the offset, check what the
// chunk says about the file (truncated and written again between the look and the read, content
// copied away while the file looked empty), grow the fingerprint, then emit the chunk's records.
// Chunks are sized to what the file is known to hold (readSize), and wait for the source's state
// commit in flight (ctx.stateWritten) so that the chunks of every file share the next one.
import { grownHead, startsAsFingerprinted, startsWithBytes } from './identity.js';
import { trackedCopyStartsWith } from './discovery.js';
import type { FileHandle } from 'node:fs/promises';
import type { Fingerprint } from './identity.js';
import { RECORDS_PER_EMIT } from './inflight.js';
import type { LineSplitter, SplitRecord } from './splitter.js';
import type { TrackerContext } from './tracker-context.js';

/**
 * What the loop reads and moves of a tailed file (FileTracker, tracker.ts, which calls the loop:
 * named here so the two modules do not import each other).
 */
export interface ReadLoopFile {
  readonly ctx: TrackerContext<ReadLoopFile>;
  readonly path: string;
  fh: FileHandle | undefined;
  splitter: LineSplitter;
  fp: Fingerprint;
  size: number;
  probeBytes: number;
  contentSeenAt: number;
  chunksSinceCheck: number;
  pausedUntil: number;
  lastGrowthAt: number;
  grewWhileOpen: boolean;
  detached: boolean;
  bytesRead: number;
  checkTruncated(): Promise<boolean>;
  startsWith(head: Buffer): void;
  emit(records: SplitRecord[], bytes: number): void;
}

/** Bytes read past a file's known size (a live file grown since the last look): small, doubled while they fill up. */
export const PROBE_BYTES = 16 * 1024;

/** Where the first `n` lines of `buf` end (all of it when it holds fewer). */
function afterLines(buf: Buffer, n: number): number {
  if (buf.length <= n) return buf.length; // at most n newlines
  let at = -1;
  for (let i = 0; i < n; i++) {
    at = buf.indexOf(0x0a, at + 1);
    if (at < 0) return buf.length;
  }
  return at + 1;
}

/** Read everything available now (one reader per file at a time: FileTracker.pump). */
export async function readAvailable(t: ReadLoopFile): Promise<void> {
  // Look for a truncation first; after one was handled, look again before reading the new
  // content from 0: reading the old content's copy takes a while, and the file may have been
  // truncated again meanwhile (its first bytes, taken when the first was seen, tell).
  let look = true;
  for (;;) {
    // A file at the path before this one (renamed away or deleted) is read to its end first: the
    // path's lines in the order written (rotation-order.ts). Read again once it is.
    if (t.ctx.heldBack(t)) return;
    if (look && (await t.checkTruncated())) continue;
    look = false;
    const fh = t.fh;
    if (!fh || t.ctx.stopping() || t.ctx.monotonic() < t.pausedUntil) return;
    const waited = await t.ctx.waitForRoom();
    if (t.ctx.stopping() || t.fh !== fh) return;
    // After a wait (a full or slow store) the file may have been rotated meanwhile: look before
    // reading on at the old position, which may now be in the middle of new content.
    if (waited || ++t.chunksSinceCheck >= 16) {
      t.chunksSinceCheck = 0;
      if (await t.checkTruncated()) {
        look = true;
        continue;
      }
    }
    const splitter = t.splitter;
    // Not from Node's buffer pool: the records are slices of this buffer and keep it alive until
    // committed, and a pooled one is a slab shared with whatever else (64 KiB on Node 24, 8 KiB
    // before), so a small read's records held 64 KiB each there. Its own buffer is its size.
    const buf = Buffer.allocUnsafeSlow(readSize(t, splitter.readOffset));
    const readAt = t.ctx.now();
    const { bytesRead } = await fh.read(buf, 0, buf.length, splitter.readOffset);
    if (bytesRead === 0 || splitter !== t.splitter) return;
    // Every chunk is checked against the fingerprinted start (read again after it: one pread of
    // fingerprintBytes, 1 KiB by default), except one past a fingerprint still growing, which
    // grownHead below checks. The truncation check runs only every 16 chunks or after a wait.
    const fpChecked = splitter.readOffset < t.fp.len || (t.fp.len > 0 && t.fp.len >= t.ctx.fingerprintBytes);
    if (fpChecked && !(await startsAsFingerprinted(fh, t.fp, buf.subarray(0, bytesRead), splitter.readOffset))) {
      // The file no longer starts so: truncated (and written again) between the look and this
      // read. Taken as the old content, the chunk would be read again as the new one, and the old
      // content's copy read only from past it (its lines there lost): a copytruncate while the
      // reader was between two chunks and a faster writer refilled the file past its position,
      // or copytruncate twice in a row while the previous truncation's copy was read (a chunk of
      // the start). The truncation check reads the copy from here, then the new content (not
      // this chunk).
      if (splitter !== t.splitter) return;
      if (!(await t.checkTruncated())) return;
      look = true;
      continue;
    }
    if (splitter.readOffset === 0 && t.fp.len === 0 && !t.detached) {
      // Empty at the last look, content now: that look may have come before writes that a
      // copytruncate then copied away, all while this read was on its way (checkTruncated saw
      // the file still empty). Look for such a copy before taking the chunk.
      const found = (await t.ctx.rotatedAway(t, t.contentSeenAt, [])).length;
      if (splitter !== t.splitter) return;
      // The chunk itself may be what was copied away: read before the truncation, so the copy
      // just found (read from its start by its own tracker) holds it too. If the file no longer
      // starts with it and a tracked copy does, it is the copy's to read: drop it and read the
      // new content from 0 after a look. (Truncated in place, no copy: the chunk is taken.)
      if (found > 0) {
        const chunk = buf.subarray(0, bytesRead);
        const fpBytes = t.ctx.fingerprintBytes;
        const leftToCopy =
          !(await startsWithBytes(fh, chunk, fpBytes)) && (await trackedCopyStartsWith(t.path, chunk, fpBytes, t.ctx.exclude, (key) => t.ctx.isTracked(key)));
        if (splitter !== t.splitter) return;
        if (leftToCopy) {
          look = true;
          continue;
        }
      }
      t.contentSeenAt = readAt;
    }
    t.lastGrowthAt = t.ctx.monotonic();
    t.bytesRead += bytesRead;
    const end = splitter.readOffset + bytesRead;
    if (end > t.size) {
      t.size = end;
      t.grewWhileOpen = true;
    }
    // The fingerprint grows with the file up to fingerprintBytes, and before the emit: the state
    // it commits must never pair an offset with a fingerprint shorter than what it read (after a
    // kill, a copy of an empty-fingerprint file cannot be found, so its copy was re-read whole).
    if (t.fp.len < t.ctx.fingerprintBytes && end > t.fp.len) {
      const len = Math.min(t.ctx.fingerprintBytes, end);
      const head = splitter.readOffset === 0 ? Buffer.from(buf.subarray(0, len)) : await grownHead(fh, t.fp, len);
      if (splitter !== t.splitter) return;
      if (head === undefined) {
        // Truncated since the last look: the chunk may be old content or new; the truncation
        // check reads the old content's rest from its copy (this chunk not taken), then the new.
        if (!(await t.checkTruncated())) return;
        look = true;
        continue;
      }
      t.startsWith(head);
    }
    const writing = t.ctx.stateWritten();
    if (writing) {
      await writing;
      if (splitter !== t.splitter || t.fh !== fh) return;
    }
    // RECORDS_PER_EMIT lines at a time, the rest once there is room: a chunk of short lines (256 KiB
    // of 20-byte CSV rows: 13,000 records) per open file made the records in flight unbounded.
    let rest = buf.subarray(0, bytesRead);
    for (;;) {
      const cut = afterLines(rest, RECORDS_PER_EMIT);
      t.emit(splitter.push(rest.subarray(0, cut)), cut);
      rest = rest.subarray(cut);
      if (rest.length === 0) break;
      await t.ctx.waitForRoom();
      // (Not pushed: read again from the splitter's offset.)
      if (t.ctx.stopping() || splitter !== t.splitter || t.fh !== fh) return;
    }
    t.probeBytes = bytesRead < buf.length ? PROBE_BYTES : Math.min(t.ctx.chunkBytes, buf.length * 2);
    if (bytesRead < buf.length) return;
  }
}

/**
 * Bytes to read at `offset`: what the file is known to hold past it, else a probe, at most
 * chunkBytes. The records of a chunk are slices of its buffer and keep all of it until they are
 * committed: a 256 KiB buffer for each 24 KB file of a backfill held ten times the bytes in
 * flight (maxInFlightBytes counts those read), as did one for each line appended to a live file.
 */
function readSize(t: ReadLoopFile, offset: number): number {
  const known = t.size - offset;
  return Math.min(t.ctx.chunkBytes, known > 0 ? known : t.probeBytes);
}
