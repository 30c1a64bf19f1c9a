// What a tracked file (tracker.ts) needs from the file source that owns it, and the state it
// saves: the contract between one tailed file and its source (source.ts implements it; the unit
// tests double it).
import type { LineSplitter, SplitRecord } from './splitter.js';
import type { Fingerprint } from './identity.js';

/** `T`: the tracker class (tracker.ts), a parameter so that this contract does not import it. */
export interface TrackerContext<T> {
  readonly chunkBytes: number;
  readonly fingerprintBytes: number;
  readonly partialLineTimeoutMs: number;
  readonly rotateWaitMs: number;
  readonly exclude: (name: string) => boolean;
  /**
   * Wall time (epoch ms): only for the looks at the file (pathSeenAt, contentSeenAt), compared with
   * file modification times and saved in the state.
   */
  now(): number;
  /** Monotonic ms (RuntimeDeps.monotonic): idle and partial-line timeouts, pauses, lag. */
  monotonic(): number;
  stopping(): boolean;
  /** Wait until the source may read more (in-flight bound, intake accepting); true when it had to wait. */
  waitForRoom(): Promise<boolean>;
  /** Turn a record into a message and submit it; undefined when nothing durable derived. */
  submit(tracker: T, record: SplitRecord): Promise<void> | undefined;
  /** Commit every file's offset (after the submits already made). */
  commitState(): Promise<void>;
  /**
   * The state commit submitted last, while the store has not written it yet (else undefined): a
   * chunk read meanwhile waits for it before it is emitted, so that the chunks of every file read
   * during one store commit share the next state (one per commit, not one per chunk: the state
   * holds every tracked file).
   */
  stateWritten(): Promise<void> | undefined;
  /** Count bytes in flight until `done` settles (and the chunk's bytes and records in the metrics). */
  track(done: Promise<unknown>, bytes: number, lines: number): void;
  newSplitter(offset: number, headersLeft?: number): LineSplitter;
  onEvent(tracker: T, event: string, detail?: Record<string, unknown>): void;
  /** The file's header line, skipped (skipHeaderLines, with CSVTOJSON): the source compares it with the first one it read. */
  headerSeen(tracker: T, line: Buffer): void;
  retire(tracker: T): void;
  /** Whether a file (device:inode) is one the source tails itself (then it reads it, not this tracker). */
  isTracked(key: string): boolean;
  /** Remember that content with this fingerprint was read up to offset (copies found later start there). */
  readUpTo(fp: Fingerprint, offset: number, key?: string, head?: Buffer): void;
  /**
   * Read the siblings of the tracker's path modified after `since` that hold content never read
   * (rotated away between two looks), except `except` (paths handled already). Resolves with those
   * found (queued by this look or, meanwhile, by another), once they are tracked (so the next
   * committed state includes them).
   */
  rotatedAway(tracker: T, since: number, except: string[]): Promise<RotatedCopy[]>;
  /** Unread content is gone (its rotated copy was not found): report it. */
  lost(tracker: T, bytes: number | null, why: string): void;
  /**
   * Whether the tracker must not read now: a file of its path before it (renamed away or deleted)
   * still has lines to read (rotation-order.ts). It is read again once that one was read.
   */
  heldBack(tracker: T): boolean;
  /** The tracker ended a read: files of its path held back for it may read now. */
  readEnded(tracker: T): void;
  /**
   * The tracker read its file to the end and every record of it is committed: its slot may go to
   * a waiting file now rather than at the next scan (open-budget.ts).
   */
  caughtUp(tracker: T): void;
  /**
   * Truncation check (copytruncate, truncated in place): returns true when it handled one. It is
   * truncation.ts's, passed in here so that module and tracker.ts do not import each other.
   */
  checkTruncated(tracker: T): Promise<boolean>;
}

/** A sibling queued by the look for content rotated away: the content it starts with, read from `offset`. */
export interface RotatedCopy {
  path: string;
  fp: Fingerprint;
  offset: number;
}

export interface SavedFile {
  path: string;
  dev: string;
  ino: string;
  fp: Fingerprint;
  offset: number;
  headersLeft: number;
  /** The last look that found the file at its path, not truncated (epoch ms): content rotated away after it was not seen. */
  seen?: number;
  /** Rotated content: the path it was written at (its records' topic is that path's). */
  from?: string;
  /** Bytes read before a truncation in place, held in memory until the store takes them (lost if the gateway dies meanwhile). */
  inMemoryBytes?: number;
  /** Renamed or deleted, being drained: its size at the last look (read to it, nothing is known lost if it is gone at a restart). */
  rotatedSize?: number;
}
