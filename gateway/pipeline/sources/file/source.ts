// The `file` source: discovers files by glob (fs.watch on the glob folders, plus a periodic rescan
// as a backstop), tails each through a FileTracker, and commits the offsets of its files (a meta key
// each, written when it changed: state.ts, state-writer.ts) with intake.commitMeta after the
// records read before them.
//
// This module wires the parts together and runs the loop; each part has its own module:
// file-set.ts (the trackers and the unreadable/vanished reports), resume.ts (matching the saved
// state with the files found at start), scanner.ts (new files while running, copies of read
// content), open-budget.ts (maxOpenFiles, idle-close, reopen), inflight.ts (maxInFlightBytes),
// records.ts (record -> message), status.ts (what /api/sources shows), tracker.ts (one file) and
// read-loop.ts (its reads), rotated-away.ts (content rotated away between two looks at a file),
// scan-loop.ts (when the source looks: watch events, the rescan interval, one look at a time),
// read-failures.ts (a file's failing reads: its error, counted, logged), csv-header.ts (the first
// CSV header read, saved in the state, and each file's header checked against it).
import { basename, dirname } from 'node:path';
import type { Intake, Source, SourceStatus } from '../../contract.js';
import type { SourceDeps } from '../kind.js';
import { clocksOf } from '../../../../core/clock.js';
import type { FileSourceOptions } from './options.js';
import { compileGlob, nameMatcher, type CompiledGlob } from './glob.js';
import { LineSplitter, type SplitRecord } from './splitter.js';
import type { FileTracker } from './tracker.js';
import type { RotatedCopy, SavedFile, TrackerContext } from './tracker-context.js';
import { fileMetrics, type FileCounter, type FileMetrics } from './metrics.js';
import { FileSet } from './file-set.js';
import { FileScanner } from './scanner.js';
import { ScanLoop } from './scan-loop.js';
import { Resume, savedLooks } from './resume.js';
import { OpenBudget } from './open-budget.js';
import { InFlight } from './inflight.js';
import { RecordEncoder } from './records.js';
import { fileSourceStatus } from './status.js';
import { STATE_KEY, type SavedState } from './state.js';
import { StateWriter } from './state-writer.js';
import { identityKey } from './identity.js';
import { findRotatedAway, LOOK_SLACK_MS } from './rotated-away.js';
import { DirListings } from './dir-listings.js';
import { RotationOrder } from './rotation-order.js';
import { checkTruncated } from './truncation.js';
import { multiLineStartRegExp } from './parsers/regex.js';
import { ReadFailures } from './read-failures.js';
import { CsvHeader } from './csv-header.js';

/** At most one commit a second for keys of retired files a failed commit left in the store (stateFailed). */
const STALE_COMMIT_MIN_MS = 1000;

export class FileSource implements Source {
  readonly kind = 'file';
  readonly name: string;
  private intake: Intake | undefined;
  private readonly globs: CompiledGlob[];
  private readonly metrics: FileMetrics;
  /** Wall time: receivedAt, the saved state, looks at paths (compared with modification times). */
  private readonly now: () => number;
  /** Monotonic time: idle, partial-line and rotation timeouts, lag. */
  private readonly mono: () => number;
  private readonly files: FileSet;
  private readonly scanner: FileScanner;
  private readonly budget: OpenBudget;
  private readonly inflight: InFlight;
  private readonly encoder: RecordEncoder;
  /** Which state keys a commit writes (the files changed since the last one). */
  private readonly writer: StateWriter;
  /** Folder listings shared by the sweeps for content rotated away (readRotatedAway). */
  private readonly listings = new DirListings();
  /** The last state commit submitted, until the store wrote (or refused) it: chunks read meanwhile wait for it (stateWritten). */
  private stateWriting: Promise<void> | undefined;
  /** CSVTOJSON with skipHeaderLines: the first header line read (saved in the state), each file's checked against it. */
  private readonly headers: CsvHeader;
  /** When the source looks at its files (watch events, the rescan interval, one look at a time). */
  private readonly loop: ScanLoop;
  /** A path's lines in the order written across a rotation: the file at a path read after the one rotated away. */
  private readonly order: RotationOrder;
  private stopped = false;
  /** Monotonic ms of the last commit made for stale keys found after a failed one (stateFailed). */
  private staleCommitAt = -Infinity;
  private started = false;
  private state = 'stopped';
  /** Files whose reads fail: their errors kept, counted and logged at most once a minute each (read-failures.ts). */
  private readonly reads: ReadFailures;

  constructor(
    private readonly options: FileSourceOptions,
    private readonly deps: SourceDeps,
  ) {
    this.name = options.name;
    ({ now: this.now, monotonic: this.mono } = clocksOf(deps));
    this.globs = options.paths.map((p) => compileGlob(p));
    this.metrics = fileMetrics(deps.registry);
    const count = (c: FileCounter, n?: number): void => this.count(c, n);
    this.reads = new ReadFailures({ name: this.name, logger: deps.logger, monotonic: this.mono, count });
    this.headers = new CsvHeader(options, { name: this.name, logger: deps.logger, count });
    const excluded = nameMatcher(options.exclude);
    this.encoder = new RecordEncoder(options, count);
    this.inflight = new InFlight(
      options.maxInFlightBytes,
      () => this.intake!.accepting(),
      () => this.stopped,
    );
    this.order = new RotationOrder({
      writtenAt: (path) => this.files.writtenAt(path),
      holdNotOpenMs: options.rotateWaitMs,
      roomToOpen: () => {
        let open = 0;
        for (const t of this.files.trackers.values()) if (t.fh) open++;
        return open < options.maxOpenFiles;
      },
      monotonic: () => this.mono(),
      read: (t) => void t.pump().catch((err: unknown) => this.reads.failed(t, err)),
      orderGivenUp: (newer, older, code) => {
        // (A file detached in place keeps the path it was renamed away from: named by its identity too.)
        const olderName = older.path === newer.path ? `the file rotated away from it (identity ${older.key})` : older.path;
        this.deps.logger.warn(
          { file: newer.path, older: older.path, olderIdentity: older.key, code: 'GH_FILE_UNREADABLE', error: code },
          `file source ${this.name}: ${newer.path} is read before ${olderName} was read to its end: the order of their lines across the rotation is given up, because its reads fail (${code}) for ${options.rotateWaitMs} ms (rotateWaitMs); it is still retried at every scan`,
        );
      },
    });
    const startRe = options.multiLineStartPattern === undefined ? undefined : multiLineStartRegExp(options.multiLineStartPattern);
    const ctx: TrackerContext<FileTracker> = {
      chunkBytes: options.readChunkBytes,
      fingerprintBytes: options.fingerprintBytes,
      partialLineTimeoutMs: options.partialLineTimeoutMs,
      rotateWaitMs: options.rotateWaitMs,
      exclude: excluded,
      now: () => this.now(),
      monotonic: () => this.mono(),
      stopping: () => this.stopped,
      waitForRoom: () => this.inflight.waitForRoom(),
      submit: (t, r) => this.submit(t, r),
      commitState: () => this.commitState(),
      stateWritten: () => this.stateWriting,
      track: (done, bytes, lines) => {
        this.inflight.track(done, bytes, lines);
        // Counted per chunk, not per line: a labelled prom-client inc costs about as much as a line.
        if (bytes > 0) this.count('bytes', bytes);
        if (lines > 0) this.count('lines', lines);
      },
      newSplitter: (offset, headersLeft) =>
        new LineSplitter(
          {
            maxLineBytes: options.maxLineBytes,
            skipHeaderLines: options.skipHeaderLines,
            ...(startRe ? { isRecordStart: (l: Buffer) => startRe.test(l.toString(options.encoding)) } : {}),
            ...(this.headers.checked ? { keepHeader: true } : {}),
          },
          offset,
          headersLeft,
        ),
      onEvent: (t, event, detail) => {
        if (event === 'renamed' || event === 'deleted') this.count('rotations');
        if (event === 'truncated' || event === 'copytruncate') this.count('truncations');
        if (event === 'rewind') this.count('rewinds');
        this.deps.logger.info({ file: t.path, event, ...detail }, `file source ${this.name}: ${t.path} ${event}`);
      },
      headerSeen: (t, line) => this.headers.seen(t, line),
      isTracked: (key) => this.files.trackers.has(key),
      readUpTo: (fp, offset, key, head) => this.files.readUpTo(fp, offset, key, head),
      rotatedAway: (t, since, except) => this.readRotatedAway(t, since, except),
      lost: (t, bytes, why) => this.files.reportVanished(t.path, bytes, why),
      heldBack: (t) => this.order.heldBack(t),
      readEnded: (t) => this.order.released(t),
      retire: (t) => {
        this.files.remove(t);
        this.order.forget(t);
        this.order.released(t);
        this.commitState().catch(() => undefined);
      },
      checkTruncated,
      // A file done with: its slot goes to a waiting file now, not at the next scan (no rescan).
      caughtUp: (t) => {
        if (this.budget.handOverNow(t)) void this.loop.tick(false);
      },
    };
    this.files = new FileSet({ name: this.name, topic: options.topic, logger: deps.logger, now: this.now, count, excluded }, ctx);
    this.scanner = new FileScanner(this.files, {
      globs: this.globs,
      fingerprintBytes: options.fingerprintBytes,
      initialPosition: options.initialPosition,
      monotonic: this.mono,
    });
    this.writer = new StateWriter({
      trackers: this.files.trackers,
      readContent: this.files.readContent,
      header: () => this.headers.first,
      now: () => this.now(),
    });
    this.budget = new OpenBudget(this.files, {
      maxOpenFiles: options.maxOpenFiles,
      closeIdleMs: options.closeIdleMs,
      now: this.now,
      stopping: () => this.stopped,
      readFailed: (t, err) => this.reads.failed(t, err),
      commitState: () => this.commitState(),
    });
    this.loop = new ScanLoop({
      name: this.name,
      logger: deps.logger,
      files: this.files,
      scanner: this.scanner,
      budget: this.budget,
      scanIntervalMs: options.scanIntervalMs,
      stopping: () => this.stopped,
      intakeHeld: () => this.intake?.accepting() === false,
      readFailed: (t, err) => this.reads.failed(t, err),
      readWorks: (t) => this.reads.works(t),
      monotonic: this.mono,
    });
  }

  /**
   * Content rotated away from a tracker's path between two looks (see rotated-away.ts): tracked
   * (detached: read to its end, then retired) with the topic of the path it was written at.
   */
  private async readRotatedAway(t: FileTracker, since: number, except: string[]): Promise<RotatedCopy[]> {
    let known = 0;
    const dir = dirname(t.path);
    const names = await this.listings.names(dir);
    if (names === undefined) return [];
    const found = await findRotatedAway({
      dir,
      names,
      base: basename(t.path),
      since: since - LOOK_SLACK_MS,
      exclude: (n) => this.files.excluded(n),
      skip: (p, key) => except.includes(p) || this.files.trackers.has(key) || this.globs.some((g) => g.full.test(p)),
      read: () => {
        const content = this.files.knownContent();
        known = content.length;
        return content;
      },
      fingerprintBytes: this.options.fingerprintBytes,
    });
    for (const f of found) {
      if (this.files.trackers.has(identityKey(f.dev, f.ino))) continue; // queued by another look meanwhile
      const rt = this.files.add(f.path, f.dev, f.ino, f.fp, f.offset, undefined, t.path);
      rt.detached = true;
      this.deps.logger.info(
        // size, mtime, the look's start and what was known: enough to tell from a log which file this was
        {
          file: f.path,
          from: t.path,
          offset: f.offset,
          size: f.size,
          mtimeMs: f.mtimeMs,
          since,
          known,
          trackerFpLen: t.fp.len,
        },
        `file source ${this.name}: ${f.path} holds content rotated away from ${t.path} before it was seen; reading it from ${f.offset}`,
      );
    }
    if (found.length > 0) this.loop.scheduleScan();
    return found.map((f) => ({ path: f.path, fp: f.fp, offset: f.offset }));
  }

  private count(c: FileCounter, n = 1): void {
    this.metrics[c].inc({ source: this.name }, n);
  }

  async start(intake: Intake): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.intake = intake;
    const { state, firstRun } = await this.loadState(intake);
    const saved: SavedFile[] = [];
    let savedAt: number | undefined;
    if (state) {
      saved.push(...state.files);
      savedAt = state.at;
      this.headers.first = state.header;
      for (const r of state.read ?? []) this.files.readUpTo(r.fp, r.offset, r.key);
    }
    const resume = new Resume(this.files, { globs: this.globs, fingerprintBytes: this.options.fingerprintBytes });
    const found = await this.scanner.scan();
    await resume.resume(saved, found);
    await this.scanner.discover(found, firstRun, savedLooks(saved, savedAt));
    if (savedAt !== undefined) await resume.sweepRotated(saved, savedAt);
    await resume.orderRotated();
    // A stop while loading and scanning wins: no watcher or scan timer starts after it (they did,
    // and the source said 'running', gatehouse_source_up 1, after its stop).
    if (this.stopped) return;
    // A v1 state (one value, written by earlier versions) is replaced now, before any record is read.
    if (this.writer.migrating) this.commitState().catch(() => undefined);
    this.loop.start(this.globs.map((g) => g.base));
    this.state = 'running';
    void this.loop.tick();
  }

  /** The committed state (StateWriter.load); an unreadable one is warned about and not resumed. */
  private async loadState(intake: Intake): Promise<{ state: SavedState | undefined; firstRun: boolean }> {
    const { state, firstRun } = await this.writer.load(intake);
    if (!(state instanceof Error)) return { state, firstRun };
    this.deps.logger.warn({ err: state }, `file source ${this.name}: saved offsets unreadable, starting over`);
    return { state: undefined, firstRun };
  }

  private submit(t: FileTracker, r: SplitRecord): Promise<void> | undefined {
    const message = this.encoder.message(t, r, this.now());
    if (message === undefined) return undefined;
    try {
      return this.intake!.submit(message);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * Commit the offsets of the files read since the last commit, after the records submitted so
   * far. Submitted in the same synchronous run as those records: the store cuts a batch in a
   * microtask once its previous write ends, so a state submitted in a later microtask (round 14,
   * briefly) could miss its records' batch, and a kill -9 between the two commits read those lines
   * again (256 duplicates). Which keys it writes is decided when the batch is cut (a MetaValue
   * function making several keys: StateWriter.entries), once per commit: the newest put of the key
   * replaces the queued one, and every change to the offsets is followed by a put (emit, retire,
   * close).
   */
  private commitState(): Promise<void> {
    let p: Promise<void>;
    try {
      p = this.intake!.commitMeta(STATE_KEY, this.writer.entries);
    } catch (err) {
      p = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const written = p.then(
      () => undefined,
      () => this.stateFailed(),
    );
    this.stateWriting = written;
    void written.then(() => {
      if (this.stateWriting === written) this.stateWriting = undefined;
    });
    return p;
  }

  /** A state commit failed: the next one writes every file again (StateWriter.commitFailed). */
  private stateFailed(): void {
    if (!this.intake) return;
    this.writer.commitFailed(
      this.intake,
      (id) => this.files.trackers.has(id),
      () => {
        // Keys of retired files left in the store: commit them away now, at most once a second
        // (a store that keeps failing would otherwise make this a loop of failed commits).
        const now = this.mono();
        if (this.stopped || now - this.staleCommitAt < STALE_COMMIT_MIN_MS) return;
        this.staleCommitAt = now;
        this.commitState().catch(() => undefined);
      },
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.state = 'stopped';
    await this.loop.stop();
    await Promise.all([...this.files.trackers.values()].map((t) => t.pump().catch(() => undefined)));
    await this.inflight.settle();
    await Promise.all([...this.files.trackers.values()].map((t) => t.close()));
  }

  status(): SourceStatus {
    return fileSourceStatus({
      kind: this.kind,
      name: this.name,
      state: this.state,
      files: this.files,
      openLimit: this.options.maxOpenFiles,
      inflightBytes: this.inflight.bytes,
      inflightRecords: this.inflight.records,
      lastError: this.loop.lastError,
      monotonicNow: this.mono(),
    });
  }
}
