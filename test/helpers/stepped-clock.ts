// A test clock for the windows: a wall clock NTP may step (`offset`) over timers that count elapsed
// time (`elapsed`), as Node's do: a Raspberry Pi has no RTC.
import { ManualTimers, type Timers } from '../../rules/windows/clock.js';

export class SteppedClock implements Timers {
  readonly elapsed = new ManualTimers(0);
  offset = 0;
  constructor(private readonly start: number) {}
  now(): number {
    return this.start + this.elapsed.now() + this.offset;
  }
  monotonic(): number {
    return this.elapsed.now();
  }
  setTimeout(fn: () => void, ms: number): unknown {
    return this.elapsed.setTimeout(fn, ms);
  }
  clearTimeout(h: unknown): void {
    this.elapsed.clearTimeout(h);
  }
}
