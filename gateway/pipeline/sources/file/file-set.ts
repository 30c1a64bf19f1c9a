// The files one file source knows: its trackers by identity (device:inode), and what it reports
// about the files it cannot read (entries that are not regular files or cannot be opened, files
// that disappeared with unread data). The parts of the source (resume, discovery, the open-file
// budget, status) share one FileSet; both report lists are bounded.
import type { Logger } from 'pino';
import type { Fingerprint } from './identity.js';
import { FileTracker } from './tracker.js';
import type { TrackerContext } from './tracker-context.js';
import type { ReadContent } from './rotated-away.js';
import type { FileCounter } from './metrics.js';
import { topicFor } from './records.js';
import { writtenAt } from './rotation-order.js';
import { permissionHint } from './permission-hint.js';

const MAX_VANISHED = 50;
const NONE: ReadonlySet<FileTracker> = new Set();
const MAX_UNREADABLE = 50;
/** Content read before (truncated away, or retired), kept to recognise its copies and renames. */
const MAX_READ_CONTENT = 100;
/** Paths whose last look before a rotation is kept (lookedBeforeRotation). */
const MAX_ROTATED_LOOKS = 1000;

export interface Vanished {
  path: string;
  unreadBytes: number | null;
  at: number;
}

export interface FileSetDeps {
  /** The source's name (logs, topics, metric label). */
  name: string;
  topic: string;
  logger: Logger;
  now(): number;
  count(c: FileCounter): void;
  /** Whether a file name is excluded (compressed rotated files...). */
  excluded(name: string): boolean;
}

export class FileSet {
  /** Every tracker by its identity key (dev:ino). Changed through add, remove and movePath only. */
  readonly trackers = new Map<string, FileTracker>();
  /** Trackers added so far: each one's `seq`, the order in which files were found. */
  private added = 0;
  /** Trackers by path (several: a rotated file's and its successor's), for write events. */
  private readonly byPath = new Map<string, Set<FileTracker>>();
  /** Trackers by the path their lines were written at (rotation-order.ts: a rotated file and its successor). */
  private readonly byWrittenAt = new Map<string, Set<FileTracker>>();
  readonly vanished: Vanished[] = [];
  /** Path -> why it cannot be read. */
  readonly unreadable = new Map<string, string>();
  /** Path pattern -> the most files it lists, while it matches more (the others are not tailed). */
  readonly globLimited = new Map<string, number>();
  /** Content no tracker holds any more, read up to an offset (oldest first, bounded). */
  readonly readContent: ReadContent[] = [];
  /**
   * Per path, the last look that found there the file that left it last (found under another name,
   * or detached there and then retired): a file at a rotated name of it modified since was at it
   * after that file (scanner.ts). Kept after that file's tracker is gone: read to its end and
   * retired before the scan found the files rotated after it, none said when the path was looked
   * at (the file between was tailed as a file of its own). Bounded, oldest dropped.
   */
  readonly lookedBeforeRotation = new Map<string, number>();

  constructor(
    private readonly deps: FileSetDeps,
    private readonly ctx: TrackerContext<FileTracker>,
  ) {}

  get name(): string {
    return this.deps.name;
  }

  get logger(): Logger {
    return this.deps.logger;
  }

  excluded(name: string): boolean {
    return this.deps.excluded(name);
  }

  /**
   * Start tracking a file (opened later, by the open-file budget). `topicPath`: the path its
   * records' topic is made from when it is not its own (rotated content: the path it was written at).
   */
  add(path: string, dev: string, ino: string, fp: Fingerprint, offset: number, headersLeft: number | undefined, topicPath = path): FileTracker {
    const t = new FileTracker(this.ctx, path, dev, ino, fp, offset, headersLeft);
    t.seq = ++this.added;
    t.topic = topicFor(this.deps.topic, this.deps.name, topicPath);
    if (topicPath !== path) t.from = topicPath;
    this.trackers.set(t.key, t);
    this.index(t);
    return t;
  }

  /** Forget a tracker (its file gone, or read to its end and retired). */
  remove(t: FileTracker): void {
    if (this.trackers.get(t.key) === t) this.trackers.delete(t.key);
    this.unindex(t);
    this.leftPath(t);
  }

  /** The tracker's file is now at `path` (renamed while closed, or found by the scan). */
  movePath(t: FileTracker, path: string): void {
    if (t.path === path) return;
    this.leftPath(t);
    this.unindex(t);
    t.path = path;
    this.index(t);
  }

  /**
   * A file found under a rotated name of `from` (a file created at `from` and rotated away before the
   * source looked: scanner.ts): its lines were written at `from` (its topic, and the order of that
   * path's files: rotation-order.ts).
   */
  rotatedFrom(t: FileTracker, from: string): void {
    this.unindex(t);
    t.from = from;
    t.topic = topicFor(this.deps.topic, this.deps.name, from);
    this.index(t);
  }

  /**
   * Give `ordered` (trackers in the order their lines were written) their own order stamps (`seq`)
   * in that order: the stamps they hold, sorted. Only while none of them is read (at start, or as
   * a scan adds them): the order decides which file a newer one waits for.
   */
  restamp(ordered: readonly FileTracker[]): void {
    const seqs = ordered.map((t) => t.seq).sort((a, b) => a - b);
    ordered.forEach((t, i) => {
      t.seq = seqs[i]!;
    });
  }

  /** `t` leaves the path its lines were written at (its last look there: lookedBeforeRotation). */
  private leftPath(t: FileTracker): void {
    if (t.path !== writtenAt(t)) return;
    const looks = this.lookedBeforeRotation;
    looks.delete(t.path);
    looks.set(t.path, t.pathSeenAt);
    if (looks.size > MAX_ROTATED_LOOKS) looks.delete(looks.keys().next().value!);
  }

  /**
   * The trackers whose path is `path`. A write event names one file: before, every tracker was
   * compared (2,000 files written once a second each: 4 million comparisons a second).
   */
  atPath(path: string): ReadonlySet<FileTracker> {
    return this.byPath.get(path) ?? NONE;
  }

  /** The trackers whose lines were written at `path` (rotation-order.ts). */
  writtenAt(path: string): ReadonlySet<FileTracker> {
    return this.byWrittenAt.get(path) ?? NONE;
  }

  // (`from` is set before a tracker is indexed, and only ever set later to the path it has then:
  // the path its lines were written at changes only with movePath, which indexes it again.)
  private index(t: FileTracker): void {
    add(this.byPath, t.path, t);
    add(this.byWrittenAt, writtenAt(t), t);
  }

  private unindex(t: FileTracker): void {
    remove(this.byPath, t.path, t);
    remove(this.byWrittenAt, writtenAt(t), t);
  }

  /**
   * Remember that content with this fingerprint was read up to offset (copies found later start
   * there). `head`: the fingerprinted bytes when the tracker kept them (at most MAX_HEAD_BYTES:
   * copies shorter than the fingerprint are recognised by them).
   */
  readUpTo(fp: Fingerprint, offset: number, key?: string, head?: Buffer): void {
    const entry: ReadContent = key === undefined ? { fp, offset } : { fp, offset, key };
    if (head !== undefined) entry.head = head;
    this.readContent.push(entry);
    if (this.readContent.length > MAX_READ_CONTENT) this.readContent.shift();
  }

  /** Every content known read up to an offset: the trackers' (live), then what was read before, newest first. */
  knownContent(): ReadContent[] {
    const live: ReadContent[] = [];
    for (const t of this.trackers.values()) {
      const c = t.liveContent();
      if (c) live.push(c);
    }
    return [...live, ...[...this.readContent].reverse()];
  }

  markUnreadable(path: string, why: string): void {
    if (!this.unreadable.has(path)) {
      this.deps.count('readErrors');
      // EACCES: who the gateway runs as and who may read the path (permission-hint.ts)
      const hint = why.includes('EACCES') ? permissionHint(path) : 'check its permissions and type: only regular files are tailed';
      this.deps.logger.warn({ file: path, code: 'GH_FILE_UNREADABLE', error: why }, `file source ${this.deps.name}: cannot read ${path}: ${why} (${hint})`);
      if (this.unreadable.size >= MAX_UNREADABLE) this.unreadable.delete(this.unreadable.keys().next().value!);
    }
    this.unreadable.set(path, why);
  }

  /**
   * A path pattern matched more files than a scan lists (MAX_GLOB_MATCHES): the others are not
   * tailed. Warned and counted once, until a scan finds it under the limit again (globWithinLimit).
   */
  markGlobLimited(pattern: string, limit: number): void {
    if (this.globLimited.has(pattern)) return;
    this.globLimited.set(pattern, limit);
    this.deps.count('globLimits');
    this.deps.logger.warn(
      { pattern, limit, code: 'GH_FILE_GLOB_LIMIT' },
      `file source ${this.deps.name}: ${pattern} matches more than ${limit} files; only the first ${limit} found are tailed (narrow the pattern, split it over several sources, or move old files out of its folders)`,
    );
  }

  globWithinLimit(pattern: string): void {
    if (this.globLimited.delete(pattern))
      this.deps.logger.info({ pattern }, `file source ${this.deps.name}: ${pattern} matches fewer files than the limit again`);
  }

  /**
   * Unread data is gone: a file disappeared (deleted while waiting for a slot, not found at
   * restart), or content was rotated away and its copy destroyed before it was read (`why` says
   * how). Listed in the status, counted, logged as a warning.
   */
  reportVanished(path: string, unreadBytes: number | null, why?: string): void {
    this.deps.count('vanished');
    this.vanished.push({ path, unreadBytes, at: this.deps.now() });
    if (this.vanished.length > MAX_VANISHED) this.vanished.shift();
    const bytes = unreadBytes ?? 'an unknown number of';
    this.deps.logger.warn(
      { file: path, code: 'GH_FILE_VANISHED', unreadBytes },
      why === undefined
        ? `file source ${this.deps.name}: ${path} disappeared with unread data (${bytes} bytes); rotate with delaycompress, or raise maxOpenFiles if it waited for a slot`
        : `file source ${this.deps.name}: ${path}: ${bytes} bytes lost before they reached the stream: ${why}`,
    );
  }
}

function add(index: Map<string, Set<FileTracker>>, key: string, t: FileTracker): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(t);
}

function remove(index: Map<string, Set<FileTracker>>, key: string, t: FileTracker): void {
  const set = index.get(key);
  if (!set?.delete(t)) return;
  if (set.size === 0) index.delete(key);
}
