// Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff and Jitter"):
// wait = random(0, min(maxMs, initialMs * 2^attempt)). Full jitter spreads retries of many
// gateways after a shared outage instead of synchronising them.
import type { BackoffOptions } from './options.js';

/** Wait before retry number `attempt` (0 = first retry). `random` is injectable for tests. */
export function fullJitterDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCap(attempt, initialMs, maxMs));
}

/** The cap of the jitter window for a given attempt. */
export function backoffCap(attempt: number, initialMs: number, maxMs: number): number {
  // 2^31 overflows nothing here because the exponent is clamped first.
  const exp = Math.min(Math.max(attempt, 0), 30);
  return Math.min(maxMs, initialMs * 2 ** exp);
}

/**
 * The exporter loop's wait after a failed send, from two streaks of consecutive failures.
 * Record-level failures back off up to maxMs. An outage (the whole send failed: destination
 * unreachable) backs off to a low cap, outageMaxMs: the point is noticing the destination's return
 * within seconds, not waiting out a 30 s window that grew while it was down (full jitter still
 * spreads a fleet).
 */
export class RetryBackoff {
  private failStreak = 0;
  /** Consecutive outage backoffs, apart from failStreak: a long outage must not leave the first
   * record-level failure after it with a window of maxMs. */
  private outageStreak = 0;

  constructor(
    private readonly options: BackoffOptions,
    private readonly random: () => number,
  ) {}

  /** The wait before the next send; `outage`: the failed send was an outage. */
  next(outage: boolean): number {
    const { initialMs, maxMs, outageMaxMs } = this.options;
    if (outage) return fullJitterDelay(this.outageStreak++, initialMs, Math.min(maxMs, outageMaxMs), this.random);
    // The destination answers again: what the outage counted says nothing about these failures.
    this.outageStreak = 0;
    return fullJitterDelay(this.failStreak++, initialMs, maxMs, this.random);
  }

  /** A send went through: the next failure starts both streaks over. */
  reset(): void {
    this.failStreak = 0;
    this.outageStreak = 0;
  }
}

/**
 * Additive-increase / multiplicative-decrease pacing for throttling signals (code 'THROTTLED'):
 * each throttled send doubles the pause between sends (from initialMs up to maxMs); each clean
 * send halves it, dropping to 0 below initialMs.
 */
export class ThrottlePacer {
  private pauseMs = 0;
  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {}
  throttled(): void {
    this.pauseMs = this.pauseMs === 0 ? this.initialMs : Math.min(this.maxMs, this.pauseMs * 2);
  }
  clean(): void {
    this.pauseMs = this.pauseMs / 2 < this.initialMs ? 0 : this.pauseMs / 2;
  }
  get delayMs(): number {
    return this.pauseMs;
  }
}

/** Sleep that rejects with the signal's reason when aborted (no dangling timer). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 && !signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason ?? new Error('aborted'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
