// The two clocks of the runtime (see RuntimeDeps in deps.ts for the rule of which one to use).
// A Raspberry Pi has no RTC: its wall clock starts at what fake-hwclock saved (or 1970) and NTP
// steps it by hours, weeks or years, forwards or backwards. performance.now() is never stepped.

/** Milliseconds from some clock. */
export type Clock = () => number;

/**
 * Monotonic ms (performance.now(): ms since the process started, never stepped by NTP). A value
 * means nothing across a restart: a deadline that must survive one is kept in wall time.
 * (A function of its own: a detached performance.now throws, it needs its `this`.)
 */
export const monotonicNow: Clock = () => performance.now();

/** Both clocks, resolved from injectable deps (defaults: Date.now and performance.now()). */
export interface Clocks {
  /** Wall time, epoch ms: timestamps and things defined on the calendar. */
  now: Clock;
  /** Monotonic ms: durations, deadlines, rate limits, backoffs, bans, timeouts. */
  monotonic: Clock;
}

export function clocksOf(deps: { now?: Clock | undefined; monotonic?: Clock | undefined }): Clocks {
  return { now: deps.now ?? Date.now, monotonic: deps.monotonic ?? monotonicNow };
}

/** A deadline on the monotonic clock as wall time (epoch ms), to persist it. */
export function wallOf(monotonicAt: number, c: Clocks): number {
  return c.now() + (monotonicAt - c.monotonic());
}

/** A persisted wall-time deadline (epoch ms) as a deadline on the monotonic clock. */
export function monotonicOf(wallAt: number, c: Clocks): number {
  return c.monotonic() + (wallAt - c.now());
}
