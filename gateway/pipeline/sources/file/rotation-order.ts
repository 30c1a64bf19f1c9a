// The order of one path's lines across a rotation: the file at a path is not read before the files
// that held that path before it have been read to the end the source knows of. With rename and
// create (or a deletion and a new file), the old file is drained through its open handle while a
// new file is at the path; both were read at once, and their lines interleaved in the stream (the
// new file's first line was the 3,485th record of 20,200). Now the newer one waits (it is "held"),
// without waiting for rotateWaitMs of quiet: only until the older one was read to its size when the
// rotation was seen (or further). A writer still appending to the old file through its old handle
// after that may still interleave; nothing can tell those lines from newer ones.
//
// Which file is older (precedes): among the files whose lines were written at one path (a rotated
// file keeps that path as `from`, or its path when it was detached in place), a rotated one
// precedes the file at the path, and rotated ones go in their order stamps (`seq`): the order they
// were found in (oldest first, as rotated-away.ts queues them), stamped again oldest first where
// that order is the folder's listing (at a start: resume.ts, orderRotated; files a scan finds
// rotated away unseen: scanner.ts; by rotated-age.ts). Rotated: detached (renamed away or deleted, being
// drained), or found under another name that the globs match too (`app.log*` matching app.log.1:
// the scan finds it there, often before the look at its path; it is read on under that name, as a
// file of its own, but its lines were written at `from`). A tracker still at the path and not seen
// rotated yet precedes a newer tracker at the same path: the path holds another file, so it was
// rotated, and its next look (check) detaches and drains it.
//
// An open older file holds the newer one until drained (it reads on by itself: nothing it does
// waits for the newer one), unless its reads keep failing (EIO on a failing card): then at most
// rotateWaitMs from its first failure without progress, and the order is given up (warned once,
// naming both files). One not open (waiting for a slot, its open failed) holds it while there is a
// slot free for it (the next look opens it), at most rotateWaitMs (its open may keep failing); not
// when every slot is taken: the newer one may hold the slot it waits for. One closed at its end
// (idle-closed: read and committed, reopened when it grows) holds nothing. A held file is read
// again when an older one of its path ends a read (released), and at every look (check).
import type { FileTracker, ReadFailure } from './tracker.js';

/** The path a tracker's lines were written at (a rotated file read under another name: where it came from). */
export function writtenAt(t: { from: string | undefined; path: string }): string {
  return t.from ?? t.path;
}

/** What this module looks at of a tracker (FileTracker). */
export type OrderedFile = Pick<FileTracker, 'from' | 'path' | 'detached' | 'seq'>;

/** Whether a tracker's file no longer holds the path its lines were written at (detached, or found under another name). */
export function rotated(t: OrderedFile): boolean {
  return t.detached || t.path !== writtenAt(t);
}

/** Whether `u`'s lines (written at the same path) were written before `t`'s. */
export function precedes(u: OrderedFile, t: OrderedFile): boolean {
  if (u === t || writtenAt(u) !== writtenAt(t)) return false;
  if (rotated(u)) return !rotated(t) || u.seq < t.seq;
  return !rotated(t) && u.seq < t.seq;
}

export interface RotationOrderDeps {
  /** The trackers whose lines were written at a path (FileSet.writtenAt). */
  writtenAt(path: string): Iterable<FileTracker>;
  /** How long an older file not open may hold a newer one (rotateWaitMs). */
  holdNotOpenMs: number;
  /** Fewer files open than maxOpenFiles: a file waiting for a slot is opened at the next look. */
  roomToOpen(): boolean;
  monotonic(): number;
  /** Read a tracker that was held (its reads' errors are the source's). */
  read(t: FileTracker): void;
  /**
   * `newer` is read before `older` was read to its end: the reads of `older` have failed for
   * rotateWaitMs (holdNotOpenMs) without progress, the last with `code`. Once per pair and failure.
   */
  orderGivenUp(newer: FileTracker, older: FileTracker, code: string): void;
}

export class RotationOrder {
  /** Held trackers, and since when (monotonic ms). */
  private readonly held = new Map<FileTracker, number>();
  /** The newer files the order was given up for, per failure of an older file's reads (warned once each). */
  private readonly gaveUp = new WeakMap<ReadFailure, WeakSet<FileTracker>>();

  constructor(private readonly deps: RotationOrderDeps) {}

  /** Whether `t` must not read now (an older file of its path has lines to read first); it is read again once released. */
  heldBack(t: FileTracker): boolean {
    const now = this.deps.monotonic();
    const since = this.held.get(t) ?? now;
    if (this.olderUnread(t, now - since)) {
      this.held.set(t, since);
      return true;
    }
    this.held.delete(t);
    return false;
  }

  /** `u` ended a read (or went): read the files of its path it held, if nothing holds them now. */
  released(u: FileTracker): void {
    if (this.held.size === 0) return;
    const now = this.deps.monotonic();
    for (const [t, since] of this.held) {
      if (t === u || writtenAt(t) !== writtenAt(u) || this.olderUnread(t, now - since)) continue;
      this.held.delete(t);
      this.deps.read(t);
    }
  }

  /** Forget a tracker (retired or gone). */
  forget(t: FileTracker): void {
    this.held.delete(t);
  }

  private olderUnread(t: FileTracker, heldFor: number): boolean {
    for (const u of this.deps.writtenAt(writtenAt(t))) {
      if (!precedes(u, t)) continue;
      if (!u.fh) {
        // Closed at its end (its size looked at every scan: reopened, and waiting, once it grew).
        if (u.dormant && u.splitter.readOffset >= u.size) continue;
        if (heldFor < this.deps.holdNotOpenMs && this.deps.roomToOpen()) return true;
        continue;
      }
      // Not seen rotated yet (its look detaches it, then it is drained), or not read to its size:
      // the size when the rotation was seen, or what a read found past it (`size` grows before the
      // read's lines are pushed, so a read under way holds too). Not while it reads at its end: a
      // write event for the path reads both files, and the newer one would wait for that read.
      if (rotated(u) && u.splitter.readOffset >= u.size) continue;
      // Its reads fail (retried at every look): the live file is not held for ever behind it.
      if (this.failingTooLong(t, u)) continue;
      return true;
    }
    return false;
  }

  /** Whether `u`'s reads have failed without progress for holdNotOpenMs: the order is given up (warned once). */
  private failingTooLong(t: FileTracker, u: FileTracker): boolean {
    const f = u.readFailure;
    if (f === undefined || f.at !== u.splitter.readOffset || this.deps.monotonic() - f.since < this.deps.holdNotOpenMs) return false;
    let warned = this.gaveUp.get(f);
    if (!warned) this.gaveUp.set(f, (warned = new WeakSet()));
    if (!warned.has(t)) {
      warned.add(t);
      this.deps.orderGivenUp(t, u, f.code);
    }
    return true;
  }
}
