// prom-client's default process metrics (CPU, memory, heap spaces, file descriptors, event-loop
// lag, GC, handles, Node version), each required from its own lib/metrics file instead of through
// prom-client's collectDefaultMetrics. That entry also requires its processCpuTotal, which loads
// @opentelemetry/api (51 modules, ~0.5 MiB of heap) for trace exemplars the gateway never enables:
// the three CPU counters are kept here instead, same names and help (docs/benchmarks.md, round 20).
// Unlike prom-client's, they count from the process start (process.cpuUsage() is cumulative), as
// Prometheus' process_cpu_seconds_total is defined, not from the registry's creation.
import { createRequire } from 'node:module';
import { Counter, type Registry } from '../../core/prom-client.js';

const requireLib = createRequire(import.meta.url);

/** Options prom-client's metric files take (their `config` argument). */
interface DefaultMetricOptions {
  prefix: string;
  eventLoopMonitoringPrecision: number;
}
type DefaultMetric = (registry: Registry, options: DefaultMetricOptions) => void;

/** prom-client's default metrics but processCpuTotal, in its order (lib/defaultMetrics.js). */
const PROM_CLIENT_METRICS = [
  'processStartTime',
  'osMemoryHeap',
  'processOpenFileDescriptors',
  'processMaxFileDescriptors',
  'eventLoopLag',
  // prom-client registers it only where Node has process.getActiveResourcesInfo (Node >= 17)
  ...(typeof process.getActiveResourcesInfo === 'function' ? ['processResources'] : []),
  'processHandles',
  'processRequests',
  'heapSizeAndUsed',
  'heapSpacesSizeAndUsed',
  'version',
  'gc',
] as const;

/** How often the event-loop lag histogram (nodejs_eventloop_lag_*) samples. */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** Register the default process metrics, each name prefixed (`gatehouse_process_cpu_seconds_total`). */
export function registerDefaultMetrics(registry: Registry, prefix: string): void {
  registerProcessCpu(registry, prefix);
  // The event-loop lag histogram samples with a timer: prom-client's 10 ms woke an idle gateway
  // 100 times a second (~90% of its wake-ups, ~40% of its idle CPU: docs/benchmarks.md, round 20).
  // A lag is measured as exactly at 100 ms; a stall shorter than 100 ms may fall between samples.
  const options: DefaultMetricOptions = { prefix, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS };
  for (const name of PROM_CLIENT_METRICS) (requireLib(`prom-client/lib/metrics/${name}`) as DefaultMetric)(registry, options);
}

function registerProcessCpu(registry: Registry, prefix: string): void {
  let last = { user: 0, system: 0 };
  const user: Counter = new Counter({
    name: `${prefix}process_cpu_user_seconds_total`,
    help: 'Total user CPU time spent in seconds.',
    registers: [registry],
    // One metric's collect sets all three (as prom-client does), so a scrape reads one cpuUsage().
    collect() {
      const now = process.cpuUsage();
      const userUs = now.user - last.user;
      const systemUs = now.system - last.system;
      last = now;
      user.inc(userUs / 1e6);
      system.inc(systemUs / 1e6);
      total.inc((userUs + systemUs) / 1e6);
    },
  });
  const system = new Counter({
    name: `${prefix}process_cpu_system_seconds_total`,
    help: 'Total system CPU time spent in seconds.',
    registers: [registry],
  });
  const total = new Counter({
    name: `${prefix}process_cpu_seconds_total`,
    help: 'Total user and system CPU time spent in seconds.',
    registers: [registry],
  });
}
