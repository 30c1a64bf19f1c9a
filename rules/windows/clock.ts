// Time source for windows and checkpoints: the real clock and timers in production, a manual one
// in tests (advance 15 minutes in a microsecond, deterministically).
import { monotonicNow } from '../../core/clock.js';
import { MAX_TIMER_MS } from '../../core/timer-delay.js';

export interface Timers {
  /** The wall clock (epoch ms). */
  now(): number;
  /** Elapsed time, what timers count (never stepped); without it, the wall clock. */
  monotonic?(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Node's longest timer (2^31 - 1 ms, ~24.8 days): a longer delay is taken as 1 ms, with a warning,
 * so a 30-day window would fire, find nothing due and re-arm at once, for good.
 */
export { MAX_TIMER_MS };

/**
 * Real timers (unref'd: a pending window close never keeps the process alive). `now` is the wall
 * clock on purpose: processing-time windows are aligned to the epoch, checkpointed and replayed
 * after a restart; the timers themselves count elapsed time (runtime.ts closes a window whose timer
 * fired even when the wall clock was stepped back meanwhile, by elapsed time). A delay beyond
 * MAX_TIMER_MS fires at MAX_TIMER_MS: the caller finds nothing due yet and re-arms for the rest.
 */
export function realTimers(now: () => number = Date.now): Timers {
  return {
    now,
    monotonic: monotonicNow,
    setTimeout(fn, ms) {
      const t = setTimeout(fn, Math.min(MAX_TIMER_MS, Math.max(0, ms)));
      t.unref();
      return t;
    },
    clearTimeout(h) {
      clearTimeout(h as NodeJS.Timeout);
    },
  };
}

interface Pending {
  id: number;
  at: number;
  fn: () => void;
}

/** A manual clock: timers fire only inside advance()/advanceTo(), in due-time order. */
export class ManualTimers implements Timers {
  private t: number;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  monotonic(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const p = { id: ++this.seq, at: this.t + Math.max(0, ms), fn };
    this.pending.push(p);
    return p.id;
  }

  clearTimeout(handle: unknown): void {
    this.pending = this.pending.filter((p) => p.id !== handle);
  }

  /** Number of scheduled timers (tests check nothing leaks). */
  get size(): number {
    return this.pending.length;
  }

  advance(ms: number): void {
    this.advanceTo(this.t + ms);
  }

  advanceTo(target: number): void {
    for (;;) {
      let next: Pending | undefined;
      for (const p of this.pending) if (p.at <= target && (!next || p.at < next.at || (p.at === next.at && p.id < next.id))) next = p;
      if (!next) break;
      this.pending = this.pending.filter((p) => p !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = Math.max(this.t, target);
  }
}
