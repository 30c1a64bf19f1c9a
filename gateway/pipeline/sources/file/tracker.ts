// One tailed file: its open handle, identity, read position and the splitter of its bytes.
// Reading (the loop: read-loop.ts): read a chunk, split it into records, submit them, then commit
// the source's state (the offset of every file) with intake.commitMeta: the offset is durable in
// the same group commit as the records read before it. A rejected submit rewinds to the last committed offset (when the
// file was truncated in place meanwhile, its bytes gone, truncation.ts submits the records again).
//
// Rotation: a file renamed or deleted keeps being read through its open handle until it has been
// quiet for rotateWaitMs (the writer may still write to it until it reopens), then it is retired.
// A file whose size dropped below the read position, or whose first bytes changed, was truncated
// (copytruncate or in place): truncation.ts reads the rest of the old content from its rotated
// copy, hands the old content over, and restarts at 0.
//
// Two rotations between two looks (rotated-away.ts): content that lived at the path (or in the
// truncated file) after the last look, and was rotated away before this one, is in siblings
// modified since that look; the tracker asks the source to read them (ctx.rotatedAway) before the
// state that moves its own look forward is committed. Unread content whose copy is gone is
// reported (ctx.lost), never dropped silently.
import { open, type FileHandle } from 'node:fs/promises';
import type { LineSplitter, SplitRecord } from './splitter.js';
import type { SavedFile, TrackerContext } from './tracker-context.js';
import { fingerprintOf, identityKey, MAX_HEAD_BYTES, type Fingerprint } from './identity.js';
import { PROBE_BYTES, readAvailable } from './read-loop.js';
import { checkFile } from './tracker-check.js';
import type { ReadContent } from './rotated-away.js';

/** Reads of a file failing without progress: since when (monotonic ms), at which offset, the last error's code. */
export interface ReadFailure {
  since: number;
  at: number;
  code: string;
}

export class FileTracker {
  /**
   * The order in which files were found (FileSet.add stamps it; FileSet.restamp puts rotated files
   * found together oldest first): of two rotated files of one path, the one with the lower stamp
   * is read first (rotation-order.ts).
   */
  seq = 0;
  fh: FileHandle | undefined;
  splitter: LineSplitter;
  /** Offset whose records are submitted (what the next commitState writes). */
  submittedOffset: number;
  submittedHeadersLeft: number;
  /** Offset known committed (its commitMeta resolved). */
  committedOffset: number;
  committedHeadersLeft: number;
  /** Bytes read before a truncation in place, in memory only until committed (saved: a restart after a crash reports them). */
  inMemoryBytes: number | undefined;
  size = 0;
  epoch = 0;
  /** Renamed away or deleted: drained through the open handle, then retired. */
  detached = false;
  /** Closed to make room for waiting files (at its end, see canGiveUpSlot); reopened when it grows. */
  dormant = false;
  /** Times opened: once, plus once per reopen after it gave its slot up (shown in the status). */
  opens = 0;
  /** Written to since it was opened (a live file): it keeps its slot until quiet for closeIdleMs. */
  grewWhileOpen = false;
  /** Monotonic ms (ctx.monotonic), as lastGrowthAt and behindSince: a wall clock step must not keep a file open or close it early. */
  pausedUntil = 0;
  lastGrowthAt: number;
  behindSince: number | undefined;
  linesRead = 0;
  bytesRead = 0;
  parseErrors = 0;
  invalidUtf8 = 0;
  partialLines = 0;
  rotations = 0;
  truncations = 0;
  /** Its CSV header line differed from the source's (warned once: see ctx.headerSeen). */
  headerChanged = false;
  lastError: string | undefined;
  /**
   * Its reads fail (an I/O error; retried at every look), from one offset on: a newer file of its
   * path is held behind it at most rotateWaitMs from then (rotation-order.ts). A new one once a read
   * made progress and failed again.
   */
  readFailure: ReadFailure | undefined;
  topic = '';
  /** Rotated content read under another name: the path it was written at. */
  from: string | undefined;
  /** When a look (a stat of the path) last found this file at its path. */
  pathSeenAt: number;
  /** When a look (fstat and first bytes) last found the file not truncated. */
  contentSeenAt: number;
  /**
   * Handling a truncation, its old content recorded with readUpTo: not offered as live content
   * (liveContent), so the look for rotated content reads that content's copies itself. (Not
   * private: truncation.ts, which handles truncations, sets it, like `head` and `ctx`.)
   */
  handingOver = false;
  private pumping: Promise<void> | undefined;
  /** pump() was called while a read ran: read again after it. */
  private pumpAgain = false;
  /** The check running (check): one at a time. */
  private checking: Promise<void> | undefined;
  /** Emitted chunks not settled yet (committed, or refused and rewound): see allSettled. */
  private readonly unsettled = new Set<Promise<void>>();
  /**
   * Records of the chunks emitted in this epoch and not known committed, with the offset each
   * commits: truncated in place, their bytes are in no file any more, and truncation.ts submits
   * refused ones again from here. Dropped once committed or rewound; bounded like the bytes in flight.
   */
  private sent: Array<{ epoch: number; offset: number; records: SplitRecord[] }> = [];
  /**
   * Left by the last rewind until the next emit: the epoch, its records and the splitter it
   * replaced by `fresh` (at the committed offset `from`). A truncation in place seen before
   * anything was read again submits them again from memory too (truncation.ts).
   */
  rewound: { epoch: number; splitter: LineSplitter; chunks: SplitRecord[][]; fresh: LineSplitter; from: number } | undefined;
  /**
   * The bytes `fp` hashes (set with it by startsWith; up to MAX_HEAD_BYTES), when read in this run (not after a restart): a copy shorter
   * than the fingerprint (a small file copied by copytruncate before lines this tracker then read)
   * can only be recognised by them, its own first bytes being fewer than the hash covers.
   */
  head: Buffer | undefined;
  /** Chunks read since the last truncation check (read-loop.ts). */
  chunksSinceCheck = 0;
  /** Bytes of the next read past the known size (doubled while such reads fill up, up to chunkBytes): read-loop.ts. */
  probeBytes = PROBE_BYTES;

  constructor(
    readonly ctx: TrackerContext<FileTracker>,
    public path: string,
    public readonly dev: string,
    public readonly ino: string,
    public fp: Fingerprint,
    offset: number,
    headersLeft: number | undefined,
  ) {
    this.splitter = ctx.newSplitter(offset, headersLeft);
    this.submittedOffset = this.committedOffset = offset;
    this.submittedHeadersLeft = this.committedHeadersLeft = this.splitter.headersLeft;
    this.pathSeenAt = this.contentSeenAt = ctx.now();
    this.lastGrowthAt = ctx.monotonic();
  }

  get key(): string {
    return identityKey(this.dev, this.ino);
  }

  saved(): SavedFile {
    return {
      path: this.path,
      dev: this.dev,
      ino: this.ino,
      fp: this.fp,
      offset: this.submittedOffset,
      headersLeft: this.submittedHeadersLeft,
      seen: Math.min(this.pathSeenAt, this.contentSeenAt),
      ...(this.from === undefined ? {} : { from: this.from }),
      ...(this.inMemoryBytes === undefined ? {} : { inMemoryBytes: this.inMemoryBytes }),
      ...(this.detached ? { rotatedSize: this.size } : {}),
    };
  }

  async open(): Promise<void> {
    this.fh = await open(this.path, 'r');
    const st = await this.fh.stat({ bigint: true });
    if (identityKey(st.dev, st.ino) !== this.key) {
      await this.close();
      throw new Error(`${this.path} was replaced before it could be opened`);
    }
    this.size = Number(st.size);
    this.opens++;
    this.grewWhileOpen = false;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }

  /** Read everything available now (one reader per file at a time). */
  pump(): Promise<void> {
    if (this.pumping) {
      // A write seen while a read runs: that read may have looked at the size before it, so read
      // once more after it (else the lines wait for the next event or scan: scanIntervalMs).
      this.pumpAgain = true;
      return this.pumping;
    }
    this.pumping = this.readWhileAsked();
    return this.pumping;
  }

  private async readWhileAsked(): Promise<void> {
    try {
      do {
        this.pumpAgain = false;
        await readAvailable(this);
      } while (this.pumpAgain && this.fh && !this.ctx.stopping());
    } catch (err) {
      // Before the finally's readEnded: a file held behind this one looks at it there.
      this.readFailed(err);
      throw err;
    } finally {
      // In the same step as the loop's last look at pumpAgain: a pump() asked for after that look
      // starts a read of its own. (Cleared in a .finally() of this promise instead, it was cleared
      // a few microtasks later, and a pump() asked for in between got this read, already over.)
      this.pumping = undefined;
      this.settled();
      // A file of the same path held back for this one may be read now (rotation-order.ts).
      this.ctx.readEnded(this);
    }
  }

  private readFailed(err: unknown): void {
    const at = this.splitter.readOffset;
    const code = (err as NodeJS.ErrnoException | undefined)?.code ?? (err instanceof Error ? err.message : String(err));
    if (this.readFailure?.at === at) this.readFailure.code = code;
    else this.readFailure = { since: this.ctx.monotonic(), at, code };
  }

  /**
   * Whether this file can give its slot to a waiting file (open-budget.ts): open and not being read,
   * not draining a rotation, read to its end with nothing held (no partial last line) and every
   * record committed, so closing it loses nothing (reopened from its offset when it grows); and
   * either it did not grow while open (a rotated file, a backfill: done with, so at once) or it has
   * been quiet for closeIdleMs (a live file gone idle).
   */
  canGiveUpSlot(closeIdleMs: number): boolean {
    if (!this.fh || this.pumping || this.detached || !this.readAndCommitted()) return false;
    return !this.grewWhileOpen || this.ctx.monotonic() - this.lastGrowthAt >= closeIdleMs;
  }

  private readAndCommitted(): boolean {
    const s = this.splitter;
    return s.heldBytes === 0 && s.readOffset >= this.size && this.committedOffset >= s.readOffset;
  }

  /** Read to its end and committed: tell the source, which may hand the slot over now (ctx.caughtUp). */
  private settled(): void {
    if (this.fh && !this.pumping && !this.detached && this.readAndCommitted()) this.ctx.caughtUp(this);
  }

  /** The file's content starts with `head` (up to fingerprintBytes): its fingerprint, and the bytes when few enough to keep. */
  startsWith(head: Buffer): void {
    this.fp = fingerprintOf(head);
    this.head = head.length <= MAX_HEAD_BYTES ? head : undefined;
  }

  /**
   * The content this tracker reads, up to where records were made of it (FileSet.knownContent): its
   * copies are its own to read. None while it hands its old content over at a truncation.
   */
  liveContent(): ReadContent | undefined {
    if (this.handingOver) return undefined;
    return { ...this.readContent(), offset: this.splitter.safeOffset(), key: this.key, live: true };
  }

  /** What this tracker knows it read of its current content: to recognise copies of it (FileSet.knownContent). */
  readContent(): { fp: Fingerprint; head?: Buffer } {
    return this.head ? { fp: this.fp, head: this.head } : { fp: this.fp };
  }

  /** Submit the records, then commit the offset; count the bytes in flight until both settle. */
  emit(records: SplitRecord[], bytes: number): void {
    this.rewound = undefined;
    const header = this.splitter.header;
    if (header !== undefined) {
      this.splitter.header = undefined;
      this.ctx.headerSeen(this, header);
    }
    const promises: Array<Promise<void>> = [];
    for (const r of records) {
      const p = this.ctx.submit(this, r);
      if (p) promises.push(p);
    }
    this.linesRead += records.length;
    const offset = this.splitter.safeOffset();
    const headersLeft = this.splitter.headersLeft;
    if (offset === this.submittedOffset && headersLeft === this.submittedHeadersLeft && promises.length === 0) return;
    this.submittedOffset = offset;
    this.submittedHeadersLeft = headersLeft;
    if (this.behindSince === undefined) this.behindSince = this.ctx.monotonic();
    promises.push(this.ctx.commitState());
    const epoch = this.epoch;
    // (Chunks of an earlier epoch were read again or handed over with their content: see `sent`.)
    if (this.sent.length > 0 && this.sent[0]!.epoch !== epoch) this.sent = [];
    if (records.length > 0) this.sent.push({ epoch, offset, records });
    const done: Promise<void> = Promise.all(promises).then(
      () => {
        if (epoch !== this.epoch) return;
        if (offset >= this.committedOffset) {
          this.committedOffset = offset;
          this.committedHeadersLeft = headersLeft;
        }
        while (this.sent.length > 0 && this.sent[0]!.offset <= this.committedOffset) this.sent.shift();
        if (this.committedOffset >= this.size) {
          this.behindSince = undefined;
          this.settled();
        }
      },
      (err: unknown) => this.rewind(err, epoch),
    );
    this.unsettled.add(done);
    void done.finally(() => this.unsettled.delete(done));
    this.ctx.track(done, bytes, records.length);
  }

  /**
   * Resolves once every chunk emitted so far has settled: committed, or refused and rewound (the
   * epoch then moved on). A truncation reading the old content's copy waits for this before
   * handing that content over: a refusal after the handover would be ignored, and the lines lost.
   */
  async allSettled(): Promise<void> {
    while (this.unsettled.size > 0) await Promise.allSettled([...this.unsettled]);
  }

  /** The records emitted in this epoch and not known committed yet (refused ones included), by chunk: see `sent`. */
  unconfirmed(): SplitRecord[][] {
    return this.sent.filter((c) => c.epoch === this.epoch).map((c) => c.records);
  }

  /** A submit or commit failed: nothing after the last committed offset counts as read. */
  private rewind(err: unknown, epoch: number): void {
    if (epoch !== this.epoch) return;
    this.epoch++;
    this.lastError = err instanceof Error ? err.message : String(err);
    const fresh = this.ctx.newSplitter(this.committedOffset, this.committedHeadersLeft);
    this.rewound = { epoch, splitter: this.splitter, chunks: this.sent.map((c) => c.records), fresh, from: this.committedOffset };
    this.sent = [];
    this.splitter = fresh;
    this.submittedOffset = this.committedOffset;
    this.submittedHeadersLeft = this.committedHeadersLeft;
    this.pausedUntil = this.ctx.monotonic() + 1000;
    this.ctx.onEvent(this, 'rewind', { offset: this.committedOffset, error: this.lastError });
    // Overwrite any later offset a commit may already have written past the refused records.
    this.ctx.commitState().catch(() => undefined);
  }

  /**
   * Truncation check (copytruncate, truncated in place; truncation.ts, through the context):
   * returns true when it handled one.
   */
  checkTruncated(): Promise<boolean> {
    return this.ctx.checkTruncated(this);
  }

  /**
   * Periodic check: truncation, rename/delete of the path, the partial-line timeout, and
   * retirement of a detached file once it is drained and quiet (tracker-check.ts).
   */
  check(): Promise<void> {
    // One check at a time: a tick does not wait for a check whose read waits for a held intake
    // (scan-loop.ts), and the next ticks' checks of this file are that one, not more behind it.
    this.checking ??= checkFile(this).finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  /**
   * Found by a scan under another name that the globs match too (`app.log*`: app.log renamed to
   * app.log.1): rotated, read on under that name (the caller moves it there) as a file of its own,
   * never read again nor skipped. The path it was at stays where its lines were written (`from`):
   * the file now at that path is read once this one was read to `size` (its size now) or further
   * (rotation-order.ts), as when the rename is seen from the path (check, detach).
   */
  foundRenamed(to: string, size: number | undefined): void {
    this.from ??= this.path;
    this.rotations++;
    if (size !== undefined && size > this.size) this.size = size;
    this.ctx.onEvent(this, 'renamed', { to, ...(size === undefined ? {} : { size }) });
    void this.ctx.commitState().catch(() => undefined); // saved with `from` without waiting for a line
  }

  /**
   * Renamed away or deleted: read on through the handle; a file created at the path and rotated away
   * since the last look is read too. Its size now (or `size`, when it is not open: its size found
   * under its new name) is what it is read to before the file now at its path (rotation-order.ts).
   */
  async detach(why: string, size?: number): Promise<void> {
    this.detached = true;
    this.rotations++;
    const st = this.fh ? await this.fh.stat().catch(() => undefined) : undefined;
    const seen = st?.size ?? size;
    if (seen !== undefined && seen > this.size) this.size = seen;
    this.ctx.onEvent(this, why, seen === undefined ? {} : { size: seen });
    void this.ctx.commitState().catch(() => undefined); // saved as rotated (rotatedSize) without waiting for a line

    await this.ctx.rotatedAway(this, this.pathSeenAt, []);
  }
}
