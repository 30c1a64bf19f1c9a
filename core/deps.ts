// Shared runtime dependencies passed to every component (no module-level singletons).
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export interface RuntimeDeps {
  logger: Logger;
  /** Prometheus registry; each component registers its own metrics on it. */
  registry: Registry;
  /**
   * Wall clock (epoch ms; default Date.now), injectable for tests of time-driven code. It is
   * stepped (no RTC on a Raspberry Pi: NTP moves it by hours or years, a bad server backwards).
   * Use it ONLY for timestamps a human or an upstream reads (receivedAt, exported times, status
   * `at` fields, file names) and for things defined on the calendar (cron, ttl by record age,
   * export file partitions, time windows aligned to the epoch, event-time windows), and for a
   * deadline that must survive a restart (persisted: monotonic values mean nothing in the next
   * process; say so where it is done, see core/clock.ts wallOf/monotonicOf).
   */
  now?: () => number;
  /**
   * Monotonic clock (ms, arbitrary origin; default performance.now()), never stepped. Use it for
   * every duration, deadline, rate limit, backoff, ban, timeout, schedule and "how long ago" kept
   * in memory. Injectable apart from `now` so tests can step one without the other.
   */
  monotonic?: () => number;
}

/** The gateway id when the config names none (gatewayId): the host name, made a valid id. */
export function hostGatewayId(): string {
  return (
    hostname()
      .replace(/[^A-Za-z0-9_-]/g, '-')
      .slice(0, 64) || 'gateway'
  );
}
