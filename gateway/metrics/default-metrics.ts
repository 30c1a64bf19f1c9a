// prom-client's default process metrics (CPU, memory, heap spaces, file descriptors, event-loop
// lag, GC, handles, Node version), each required from its own lib/metrics file instead of through
// prom-client's collectDefaultMetrics. That entry also requires its processCpuTotal, which loads
// @opentelemetry/api (51 modules, ~0.5 MiB of heap) for trace exemplars the gateway never enables:
// the three CPU counters are kept here instead, same names and help (docs/benchmarks.md, round 20).
// Unlike prom-client's, they count from the process start (process.cpuUsage() is cumulative), as
// Prometheus' process_cpu_seconds_total is defined, not from the registry's creation.
import { readFileSync } from 'node:fs';
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
  registerProcessDiskIo(registry);
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

/** `/proc/self/io` read_bytes and write_bytes; undefined where there is none (not Linux) or it cannot be read. */
export function readProcessIo(file = '/proc/self/io'): { readBytes: number; writeBytes: number } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const read = /^read_bytes:\s*(\d+)/m.exec(text);
  const write = /^write_bytes:\s*(\d+)/m.exec(text);
  if (!read || !write) return undefined;
  return { readBytes: Number(read[1]), writeBytes: Number(write[1]) };
}

// What the process made the kernel write to (and read from) storage, from /proc/self/io: on a
// Raspberry Pi the SD card's wear is these bytes (and the commits, gatehouse_store_commit_seconds_count),
// so an operator can watch `rate(gatehouse_process_disk_written_bytes_total[1d])` instead of
// guessing (issue 15; docs/store.md "Metrics"). Counted from the process start, like the CPU
// counters. Not registered where the file does not exist (not Linux).
// The gateway's own metrics (not in prom-client's set), so named as such whatever the prefix.
function registerProcessDiskIo(registry: Registry): void {
  if (readProcessIo() === undefined) return;
  let last = { readBytes: 0, writeBytes: 0 };
  const written: Counter = new Counter({
    name: 'gatehouse_process_disk_written_bytes_total',
    help: 'Bytes this process caused to be written to storage (/proc/self/io write_bytes): what wears an SD card.',
    registers: [registry],
    collect() {
      const now = readProcessIo();
      if (!now) return;
      // The kernel's counters only grow; a smaller value would be another process's file (never here).
      if (now.writeBytes > last.writeBytes) written.inc(now.writeBytes - last.writeBytes);
      if (now.readBytes > last.readBytes) read.inc(now.readBytes - last.readBytes);
      last = now;
    },
  });
  const read = new Counter({
    name: 'gatehouse_process_disk_read_bytes_total',
    help: 'Bytes this process caused to be read from storage (/proc/self/io read_bytes; page-cache hits not counted).',
    registers: [registry],
  });
}
