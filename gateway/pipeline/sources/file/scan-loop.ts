// When a file source looks at its files, one look at a time: a look (a tick) rescans the globs'
// folders, opens waiting files (OpenBudget.admit) and checks every open one. Ticks run on
// scanIntervalMs, soon after a watch event for a file appearing, moving or going (a burst of events
// makes one), and without a rescan when a slot is handed over (OpenBudget.handOverNow); a watch event
// for a file written to reads that file. Apart from source.ts, which wires the parts and holds what
// goes to the store (records, offsets): this module is when the source looks, not what it keeps.
import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { rateLimitedLog, type RateLog } from '../../../../core/rate-log.js';
import type { FileSet } from './file-set.js';
import type { FileScanner } from './scanner.js';
import type { OpenBudget } from './open-budget.js';
import type { FileTracker } from './tracker.js';

export interface ScanLoopDeps {
  name: string;
  logger: Logger;
  files: FileSet;
  scanner: FileScanner;
  budget: OpenBudget;
  scanIntervalMs: number;
  stopping(): boolean;
  /** The intake does not accept writes (a full store, which may last hours): reads wait for it. */
  intakeHeld(): boolean;
  /** A read failed (logged and counted; retried at the next scan). */
  readFailed(t: FileTracker, err: unknown): void;
  /** A look at an open file read it without an error (the end of its failing reads, if they were). */
  readWorks(t: FileTracker): void;
  monotonic(): number;
}

/** A failing look is logged at most this often per error (the first at once, the end at once). */
const SCAN_LOG_EVERY_MS = 60_000;

export class ScanLoop {
  /** The last look that failed (what /api/sources shows). */
  lastError: string | undefined;
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private scanSoon: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  /** A tick was asked for while one ran: run one more after it (with a rescan if one was asked). */
  private tickAgain = false;
  private scanAgain = false;
  /** Checks of open files a tick stopped waiting for (the intake held): stop() waits for them. */
  private readonly checksLeft = new Set<Promise<unknown>>();
  /**
   * Looks failing since (monotonic), and how many: the first is logged at once, then one line a
   * minute per error with the count, and one when a look works again. A line per look was one a
   * scanIntervalMs (every second by default) and per watch event for as long as it lasted (a new
   * file whose first bytes read EIO on a failing card fails every look).
   */
  private failing: { since: number; failures: number } | undefined;
  private readonly scanLog: RateLog;
  private readonly scanWorksLog: RateLog;

  constructor(private readonly deps: ScanLoopDeps) {
    this.scanLog = rateLimitedLog(deps.logger, 'error', SCAN_LOG_EVERY_MS, deps.monotonic);
    this.scanWorksLog = rateLimitedLog(deps.logger, 'info', SCAN_LOG_EVERY_MS, deps.monotonic);
  }

  /** Watch the globs' folders and look at scanIntervalMs (the first tick is the caller's). */
  start(folders: string[]): void {
    for (const dir of folders) this.watchFolder(dir);
    this.timer = setInterval(() => void this.tick(), this.deps.scanIntervalMs);
    this.timer.unref();
  }

  private watchFolder(dir: string): void {
    try {
      const w = watch(dir, { persistent: false }, (event, name) => {
        if (event === 'rename') return this.scheduleScan();
        // A file written to: read that file. (Every open file was read at each event: 2,000 files
        // written to once a second each made 4 million reads a second queue up until the heap
        // ran out.) Without a name (not given on some platforms), every open file.
        const path = name ? join(dir, name) : undefined;
        for (const t of path === undefined ? this.deps.files.trackers.values() : this.deps.files.atPath(path)) {
          if (t.fh) void t.pump().catch((err: unknown) => this.deps.readFailed(t, err));
        }
      });
      w.on('error', () => undefined);
      this.watchers.push(w);
    } catch {
      // The folder does not exist yet: the periodic rescan finds files once it does.
    }
  }

  /** A file appeared, moved or went in a watched folder: rescan soon (events come in bursts). */
  scheduleScan(): void {
    if (this.scanSoon || this.deps.stopping()) return;
    this.scanSoon = setTimeout(() => {
      this.scanSoon = undefined;
      void this.tick();
    }, 20);
  }

  /**
   * Periodic work: rescan, open waiting files, check every open one. One at a time. Without `scan`
   * (a slot handed over, see OpenBudget.handOverNow) the folders are not listed again.
   */
  tick(scan = true): Promise<void> {
    if (this.ticking) {
      // A scan asked for while one runs (a watch event for a file created meanwhile) must not be
      // folded into it: that scan may have listed the folder before the file existed.
      this.tickAgain = true;
      this.scanAgain ||= scan;
      return this.ticking;
    }
    this.ticking = this.doTick(scan)
      .then(
        () => this.scanWorked(),
        (err: unknown) => {
          this.lastError = err instanceof Error ? err.message : String(err);
          const mono = this.deps.monotonic;
          this.failing ??= { since: mono(), failures: 0 };
          this.failing.failures++;
          const { since, failures } = this.failing;
          // Keyed by the error's code (EIO), else its message: another fault shows at once.
          this.scanLog(
            (err as NodeJS.ErrnoException | undefined)?.code ?? this.lastError,
            { err, failures, failingMs: Math.round(mono() - since) },
            `file source ${this.deps.name}: scan failed`,
          );
        },
      )
      .finally(() => {
        this.ticking = undefined;
        if (this.tickAgain && !this.deps.stopping()) {
          const again = this.scanAgain;
          this.tickAgain = this.scanAgain = false;
          void this.tick(again);
        }
      });
    return this.ticking;
  }

  /** A look went through: the end of the failing ones, if they were. */
  private scanWorked(): void {
    const f = this.failing;
    if (!f) return;
    this.failing = undefined;
    const failingMs = Math.round(this.deps.monotonic() - f.since);
    this.scanWorksLog('works', { failures: f.failures, failingMs }, `file source ${this.deps.name}: scans work again`);
  }

  private async doTick(scan: boolean): Promise<void> {
    if (this.deps.stopping()) return;
    const { files, scanner, budget } = this.deps;
    if (scan) await scanner.discover(await scanner.scan(), false);
    await budget.admit();
    const open = [...files.trackers.values()].filter((t) => t.fh);
    const checks = Promise.all(
      open.map((t) =>
        t.check().then(
          () => this.deps.readWorks(t),
          (err: unknown) => this.deps.readFailed(t, err),
        ),
      ),
    );
    // While the intake does not accept writes, a check waits in its read for as long as that lasts
    // (a full disk: hours). The tick does not wait with it: the next look must still find renames,
    // deletions and new files (a tick held there held every later look of the source, the scan a
    // rotation's watch events asked for included). The check goes on (one per file at a time:
    // FileTracker.check) and stop() waits for it.
    if (!(await settledOrHeld(checks, () => this.deps.intakeHeld()))) {
      this.checksLeft.add(checks);
      void checks.finally(() => this.checksLeft.delete(checks));
    }
  }

  /** No more looks (the caller marked the source stopping first); resolves when the running one ended. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.scanSoon) clearTimeout(this.scanSoon);
    for (const w of this.watchers) w.close();
    this.watchers = [];
    await this.ticking;
    await Promise.all(this.checksLeft);
  }
}

/** True once `work` settled; false as soon as `held()` is (looked at every 200 ms while it runs). */
async function settledOrHeld(work: Promise<unknown>, held: () => boolean): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const heldNow = new Promise<false>((resolve) => {
    timer = setInterval(() => {
      if (held()) resolve(false);
    }, 200);
  });
  try {
    return await Promise.race([work.then(() => true), heldNow]);
  } finally {
    clearInterval(timer);
  }
}
