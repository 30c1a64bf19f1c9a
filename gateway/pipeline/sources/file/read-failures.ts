// A file source's failing reads (source.ts wires it to the trackers, the scan loop and the open
// budget): the tracker's last error and the readErrors counter at each failure, and the log. A
// line per failure was one per scan and per write event for each file (EIO on a failing card:
// every second for every file, for as long as the card lasts): the first failure of a file is
// logged at once, then one line a minute per file and error with the count, and one when a read
// works again, with how long and how often it failed. Nothing is retried here (the next scan does).
import type { Logger } from 'pino';
import { rateLimitedLog, type RateLog } from '../../../../core/rate-log.js';
import type { FileCounter } from './metrics.js';
import type { FileTracker } from './tracker.js';

/** A file's failing reads are logged at most this often (the first at once, the end at once). */
const READ_LOG_EVERY_MS = 60_000;

export interface ReadFailuresDeps {
  /** The source's name, for the log lines. */
  name: string;
  logger: Logger;
  /** Monotonic ms: how long a file's reads have failed, and the log's pace. */
  monotonic: () => number;
  count: (c: FileCounter) => void;
}

export class ReadFailures {
  /** Files whose reads fail, since when (monotonic) and how often. */
  private readonly failing = new WeakMap<FileTracker, { since: number; failures: number }>();
  private readonly failedLog: RateLog;
  private readonly worksLog: RateLog;

  constructor(private readonly d: ReadFailuresDeps) {
    this.failedLog = rateLimitedLog(d.logger, 'warn', READ_LOG_EVERY_MS, d.monotonic);
    this.worksLog = rateLimitedLog(d.logger, 'info', READ_LOG_EVERY_MS, d.monotonic);
  }

  /** A read of `t` failed with `err` (retried at the next scan). */
  failed(t: FileTracker, err: unknown): void {
    t.lastError = err instanceof Error ? err.message : String(err);
    this.d.count('readErrors');
    let f = this.failing.get(t);
    if (!f) this.failing.set(t, (f = { since: this.d.monotonic(), failures: 0 }));
    f.failures++;
    const errno = (err as NodeJS.ErrnoException | undefined)?.code ?? 'error';
    this.failedLog(
      `${t.path} ${errno}`,
      { file: t.path, code: 'GH_FILE_UNREADABLE', err, failures: f.failures, failingMs: Math.round(this.d.monotonic() - f.since) },
      `file source ${this.d.name}: read of ${t.path} failed (retried at the next scan)`,
    );
  }

  /** A look at a file read it without an error: the end of its failing reads, if they were. */
  works(t: FileTracker): void {
    const f = this.failing.get(t);
    if (!f) return;
    this.failing.delete(t);
    this.worksLog(
      t.path,
      { file: t.path, failures: f.failures, failingMs: Math.round(this.d.monotonic() - f.since) },
      `file source ${this.d.name}: reads of ${t.path} work again`,
    );
  }
}
