// The files one file source knows: its trackers by identity (device:inode), and what it reports
// about the files it cannot read (entries that are not regular files or cannot be opened, files
// that disappeared with unread data). The parts of the source (resume, discovery, the open-file
// budget, status) share one FileSet; both report lists are bounded.
import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { identityKey, type Fingerprint } from './identity.js';
import { FileTracker, type TrackerContext } from './tracker.js';
import type { FileCounter } from './metrics.js';
import { topicFor } from './records.js';

const MAX_VANISHED = 50;
const MAX_UNREADABLE = 50;

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
  readonly trackers = new Map<string, FileTracker>();
  readonly vanished: Vanished[] = [];
  /** Path -> why it cannot be read. */
  readonly unreadable = new Map<string, string>();

  constructor(
    private readonly deps: FileSetDeps,
    private readonly ctx: TrackerContext,
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

  /** Start tracking a file (opened later, by the open-file budget). */
  add(path: string, dev: string, ino: string, fp: Fingerprint, offset: number, headersLeft: number | undefined): FileTracker {
    const t = new FileTracker(this.ctx, path, dev, ino, fp, offset, headersLeft);
    t.topic = topicFor(this.deps.topic, this.deps.name, path);
    this.trackers.set(t.key, t);
    return t;
  }

  /** Whether the file at a path (now) is one this source tracks. */
  async isTracked(path: string): Promise<boolean> {
    const st = await stat(path, { bigint: true }).catch(() => undefined);
    return st !== undefined && this.trackers.has(identityKey(st.dev, st.ino));
  }

  markUnreadable(path: string, why: string): void {
    if (!this.unreadable.has(path)) {
      this.deps.count('readErrors');
      this.deps.logger.warn(
        { source: this.deps.name, file: path, code: 'GH_FILE_UNREADABLE', error: why },
        `file source ${this.deps.name}: cannot read ${path}: ${why} (check its permissions and type: only regular files are tailed)`,
      );
      if (this.unreadable.size >= MAX_UNREADABLE) this.unreadable.delete(this.unreadable.keys().next().value!);
    }
    this.unreadable.set(path, why);
  }

  reportVanished(path: string, unreadBytes: number | null): void {
    this.deps.count('vanished');
    this.vanished.push({ path, unreadBytes, at: this.deps.now() });
    if (this.vanished.length > MAX_VANISHED) this.vanished.shift();
    this.deps.logger.warn(
      { source: this.deps.name, file: path, code: 'GH_FILE_VANISHED', unreadBytes },
      `file source ${this.deps.name}: ${path} disappeared with unread data (${unreadBytes ?? 'an unknown number of'} bytes); rotate with delaycompress, or raise maxOpenFiles if it waited for a slot`,
    );
  }
}
