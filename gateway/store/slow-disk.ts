// Watching how long the disk takes to complete the group commits (a write and, with durability
// fsync, its fsync). On a Raspberry Pi the data dir is an SD card: a cheap one takes 2-20 ms a
// flush, stalls for seconds now and then (wear levelling, garbage collection), and a worn one gets
// slower for good. Acknowledgements wait for the flush, so a slow card is slow PUBACKs, and a
// stalled one is no PUBACK at all: what users must be able to SEE (docs/store.md, "A slow disk").
// The two thresholds are the store's options commitStallMs and slowCommitMeanMs (options.ts;
// defaults STALL_MS and SLOW_MEAN_MS here), each 0 to turn its watch off.
//   - a stall: a commit in flight for STALL_MS or more. Logged once when it passes STALL_MS (at most
//     one such warning a minute, with the count of others) and once when it completes, with how
//     long it took; /healthz answers 503 `degraded` while it lasts (acknowledgements have stopped).
//   - a slow disk: the commits of the last minute with commits took SLOW_MEAN_MS or more on average.
//     One warning per such minute (what to do: a better card, or the data dir on other storage);
//     /healthz stays 200 with a `warning` (acknowledgements still flow, only late).
// Nothing per append: two clock reads per commit, a timer armed at most once per STALL_MS (none
// with the stall watch off).
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from '../../core/prom-client.js';

/** A commit in flight this long is a stall (no flush completed: acknowledgements have stopped): store.commitStallMs's default. */
export const STALL_MS = 5_000;
/** A minute of commits that took this long on average is a slow disk: store.slowCommitMeanMs's default. */
export const SLOW_MEAN_MS = 100;
/** The window of the slow-disk figure, and the least time between two stall warnings. */
export const WINDOW_MS = 60_000;

const IN_FLIGHT_METRIC = 'gatehouse_store_commit_in_flight_seconds';
const STALLS_METRIC = 'gatehouse_store_commit_stalls_total';

export interface CommitWindow {
  commits: number;
  meanMs: number;
  maxMs: number;
}

/** How the store's commits are doing (healthz, status, the gauge of the commit in flight). */
export interface CommitHealth {
  /** How long the commit being written has been in flight (ms); undefined when none is. */
  inFlightMs: number | undefined;
  /** A commit has been in flight for the stall threshold (store.commitStallMs) or more; never with the watch off. */
  stalled: boolean;
  /** The last window (a minute or more) that held commits; undefined before the first is over. */
  lastMinute: CommitWindow | undefined;
  /** lastMinute's mean is the slow threshold (store.slowCommitMeanMs) or more; never with the warning off. */
  slow: boolean;
  /** What the operator can do about a slow or stalled disk (healthz fix, the warnings' hint). */
  hint: string;
}

export interface SlowDiskOptions {
  log: Logger;
  /** Monotonic ms. */
  monotonic: () => number;
  /** The store's directory (named in the warnings). */
  path: string;
  /** Where the gauge of the commit in flight goes (gatehouse_store_commit_in_flight_seconds). */
  registry?: Registry;
  /** store.commitStallMs: 0 = no stall watch (never stalled, no timer, nothing counted). */
  stallMs?: number;
  /** store.slowCommitMeanMs: 0 = no slow-disk warning (the last minute's figures are still kept). */
  slowMeanMs?: number;
  windowMs?: number;
}

export class SlowDiskWatch {
  private readonly stallMs: number;
  private readonly slowMeanMs: number;
  private readonly windowMs: number;
  private readonly hint: string;
  /** Monotonic start of the commit in flight. */
  private since: number | undefined;
  /** Writes started so far: tells the write a stall warning was about from a later one. */
  private writes = 0;
  /** The last write seen stalled. */
  private stalledWrite = 0;
  /** Commits seen in flight for stallMs or more (gatehouse_store_commit_stalls_total). */
  stalls = 0;
  private readonly stallCounter: Counter | undefined;
  /** The write whose stall was logged (its end is logged too). */
  private stallLogged = 0;
  private lastStallLog = -Infinity;
  private stallsUnlogged = 0;
  private timer: NodeJS.Timeout | undefined;
  private windowStart: number;
  private count = 0;
  private sumMs = 0;
  private maxMs = 0;
  private last: CommitWindow | undefined;

  constructor(private readonly o: SlowDiskOptions) {
    this.stallMs = o.stallMs ?? STALL_MS;
    this.slowMeanMs = o.slowMeanMs ?? SLOW_MEAN_MS;
    this.windowMs = o.windowMs ?? WINDOW_MS;
    this.windowStart = o.monotonic();
    this.hint =
      `the disk of ${o.path} is slow to complete writes (fsync): an SD card wearing out or busy with its own garbage collection; ` +
      'acknowledgements (PUBACK, serial ACK) wait for it, nothing is lost. Check the kernel log for I/O errors (dmesg), ' +
      'and put the data directory on a better card (A1/A2, industrial) or an SSD; on a medium known to be this slow (a USB stick), ' +
      'store.commitStallMs and store.slowCommitMeanMs move the thresholds';
    if (o.registry) {
      const self = this;
      o.registry.removeSingleMetric(IN_FLIGHT_METRIC);
      o.registry.removeSingleMetric(STALLS_METRIC);
      this.stallCounter = new Counter({
        name: STALLS_METRIC,
        help:
          this.stallMs > 0
            ? `Group commits that were in flight for ${this.stallMs / 1000} s or more (store.commitStallMs: the disk stalled, no acknowledgement meanwhile)`
            : 'Group commits that were in flight for store.commitStallMs or more: always 0, the stall watch is off (commitStallMs 0)',
        registers: [o.registry],
      });
      new Gauge({
        name: IN_FLIGHT_METRIC,
        help: 'How long the group commit being written has been in flight (0 when none is): seconds without a completed flush',
        registers: [o.registry],
        collect() {
          this.set(self.since === undefined ? 0 : (self.o.monotonic() - self.since) / 1000);
        },
      });
    }
  }

  /** A commit's write starts. */
  started(): void {
    this.since = this.o.monotonic();
    this.writes++;
    if (this.timer === undefined && this.stallMs > 0) this.arm(this.stallMs);
  }

  /** The write started last ended (written or failed). */
  ended(): void {
    const since = this.since;
    if (since === undefined) return;
    const now = this.o.monotonic();
    const ms = now - since;
    this.since = undefined;
    if (this.stallLogged === this.writes) {
      this.o.log.warn(
        { commitMs: Math.round(ms), path: this.o.path },
        `store commit completed after a stall of ${(ms / 1000).toFixed(1)} s: acknowledgements resume`,
      );
    }
    if (now - this.windowStart >= this.windowMs) this.closeWindow(now);
    this.count++;
    this.sumMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  state(): CommitHealth {
    const now = this.o.monotonic();
    if (now - this.windowStart >= this.windowMs && this.count > 0) this.closeWindow(now);
    const inFlightMs = this.since === undefined ? undefined : now - this.since;
    return {
      inFlightMs,
      stalled: this.stallMs > 0 && inFlightMs !== undefined && inFlightMs >= this.stallMs,
      lastMinute: this.last,
      slow: this.isSlow(this.last),
      hint: this.hint,
    };
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private closeWindow(now: number): void {
    if (this.count > 0) {
      this.last = { commits: this.count, meanMs: Math.round(this.sumMs / this.count), maxMs: Math.round(this.maxMs) };
      if (this.isSlow(this.last)) {
        this.o.log.warn(
          { commits: this.last.commits, meanMs: this.last.meanMs, maxMs: this.last.maxMs, path: this.o.path, hint: this.hint },
          `store commits are slow: ${this.last.meanMs} ms on average over the last minute (slowest ${this.last.maxMs} ms); acknowledgements wait for them`,
        );
      }
    }
    this.windowStart = now;
    this.count = 0;
    this.sumMs = 0;
    this.maxMs = 0;
  }

  private isSlow(w: CommitWindow | undefined): boolean {
    return this.slowMeanMs > 0 && w !== undefined && w.meanMs >= this.slowMeanMs;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.check(), ms);
    this.timer.unref();
  }

  /** The stall timer: a commit in flight for stallMs is logged once; re-armed for the write in flight, if any. */
  private check(): void {
    this.timer = undefined;
    if (this.since === undefined) return; // armed again by the next write
    const age = this.o.monotonic() - this.since;
    if (age < this.stallMs) {
      this.arm(this.stallMs - age);
      return;
    }
    if (this.stalledWrite === this.writes) return;
    this.stalledWrite = this.writes;
    this.stalls++;
    this.stallCounter?.inc();
    const now = this.o.monotonic();
    if (now - this.lastStallLog < this.windowMs) {
      this.stallsUnlogged++;
      return;
    }
    const suppressed = this.stallsUnlogged;
    this.lastStallLog = now;
    this.stallsUnlogged = 0;
    this.stallLogged = this.writes;
    this.o.log.warn(
      { inFlightMs: Math.round(age), path: this.o.path, hint: this.hint, ...(suppressed > 0 ? { suppressed } : {}) },
      `store commit stalled: in flight for ${(age / 1000).toFixed(1)} s, no acknowledgement is sent until the disk completes it`,
    );
  }
}
