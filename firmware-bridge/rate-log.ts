// Rate-limited warnings: at most `max` log lines per interval; the rest are counted and reported
// once when the next interval starts (the metrics still count every event).
import type { Logger } from 'pino';

export class RateLimitedLog {
  private windowStart = -Infinity;
  private count = 0;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly max: number,
    private readonly intervalMs: number,
    private readonly bindings: Record<string, unknown>,
    /** Monotonic ms (RuntimeDeps.monotonic): a wall clock stepped back would mute the warnings for the size of the step. */
    private readonly now: () => number,
  ) {}

  warn(obj: Record<string, unknown>, msg: string): void {
    const t = this.now();
    if (t - this.windowStart >= this.intervalMs) {
      if (this.suppressed > 0) this.logger.warn({ ...this.bindings, suppressed: this.suppressed }, 'serial warnings suppressed by rate limit');
      this.windowStart = t;
      this.count = 0;
      this.suppressed = 0;
    }
    if (this.count < this.max) {
      this.count++;
      this.logger.warn({ ...this.bindings, ...obj }, msg);
    } else this.suppressed++;
  }
}
