// Bandwidth caps for metered uplinks: token buckets over payload bytes sent.
//
// - TokenBucket: one exporter's own cap (`bandwidthKbps`).
// - UplinkScheduler: one cap shared by several exporters (e.g. a cellular modem). Waiters are
//   served strictly by priority (higher first), FIFO within a priority: while a higher-priority
//   exporter has a batch waiting, lower ones wait. Without a shared scheduler, `priority` is moot.
//
// A batch larger than the bucket may go when the bucket is full; the bucket then runs into debt
// that later sends wait out, so the long-run rate holds without splitting batches.
import { monotonicNow } from '../../core/clock.js';
import { MAX_TIMER_MS } from '../../core/timer-delay.js';

export interface BandwidthLimiter {
  /** Resolves when `bytes` may be sent; rejects when signal aborts. */
  acquire(bytes: number, priority: number, signal?: AbortSignal): Promise<void>;
}

interface Waiter {
  bytes: number;
  priority: number;
  resolve: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class TokenBucket implements BandwidthLimiter {
  private readonly bytesPerMs: number;
  private readonly capacity: number;
  private tokens: number;
  private last: number;
  private readonly waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  /** kbps: kilobits per second (1 kbit = 1000 bits). burstMs: bucket size in ms of rate (default 1 s). */
  constructor(
    kbps: number,
    /** Monotonic ms (refill by elapsed time; a wall clock stepped back would stop it). */
    private readonly now: () => number = monotonicNow,
    burstMs = 1000,
  ) {
    if (!(kbps > 0)) throw new RangeError('TokenBucket needs kbps > 0');
    this.bytesPerMs = (kbps * 1000) / 8 / 1000;
    this.capacity = Math.max(1, this.bytesPerMs * burstMs);
    this.tokens = this.capacity;
    this.last = now();
  }

  acquire(bytes: number, priority = 0, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.refill();
    if (this.waiters.length === 0 && this.tokens > 0) {
      this.tokens -= bytes;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        bytes,
        priority,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal?.reason);
          this.schedule();
        },
      };
      // Insert after every waiter of >= priority: strict priority, FIFO within a priority.
      let i = this.waiters.length;
      while (i > 0 && this.waiters[i - 1]!.priority < priority) i--;
      this.waiters.splice(i, 0, w);
      signal?.addEventListener('abort', w.onAbort, { once: true });
      this.schedule();
    });
  }

  /** Waiting acquirers (for tests and status). */
  get waiting(): number {
    return this.waiters.length;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + (t - this.last) * this.bytesPerMs);
    this.last = t;
  }

  private schedule(): void {
    if (this.waiters.length === 0) {
      // The last waiter gave up (an exporter stopping): no timer left behind (it could be days).
      clearTimeout(this.timer);
      this.timer = undefined;
      return;
    }
    if (this.timer) return;
    this.drain();
  }

  private drain(): void {
    this.timer = undefined;
    this.refill();
    while (this.waiters.length > 0 && this.tokens > 0) {
      const w = this.waiters.shift()!;
      w.signal?.removeEventListener('abort', w.onAbort);
      this.tokens -= w.bytes;
      w.resolve();
    }
    if (this.waiters.length > 0) {
      // A debt of a large batch at a low cap can take longer than a timer holds (~24.8 days: past
      // it Node fires at once, and drain() would re-arm every millisecond): armed in steps.
      const waitMs = Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil((1 - this.tokens) / this.bytesPerMs)));
      this.timer = setTimeout(() => this.drain(), waitMs);
    }
  }
}

/** A bandwidth cap shared by exporters on one uplink; pass the same instance to each exporter. */
export class UplinkScheduler extends TokenBucket {}
