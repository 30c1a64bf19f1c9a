// Shared runtime dependencies passed to every component (no module-level singletons).
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export interface RuntimeDeps {
  logger: Logger;
  /** Prometheus registry; each component registers its own metrics on it. */
  registry: Registry;
  /** Clock (epoch ms), injectable for tests of time-driven code. */
  now?: () => number;
}
