// The heartbeat status report: what an office dashboard needs to see that a gateway is alive and
// healthy. Built from the metrics registry and the store (no per-message cost); rates are the
// counter deltas since the previous report.
import { statfs } from 'node:fs/promises';
import type { Registry } from 'prom-client';
import { monotonicNow } from '../../core/clock.js';
import type { LocalStreams } from '../store/types.js';

export interface HeartbeatSources {
  gatewayId: string;
  /** The installation id once known: gateways sharing a gatewayId (a cloned SD card) are told apart by it. */
  installationId?: () => string | undefined;
  /** Software version. */
  version: string;
  /** Wall time of the start (epoch ms). */
  startedAt: number;
  /** Monotonic ms of the start (uptime and rates are measured on the monotonic clock: NTP steps the wall clock). */
  startedMono?: number;
  /** Monotonic clock (default performance.now()). */
  monotonic?: () => number;
  dataDir: string;
  registry: Registry;
  streams: LocalStreams;
  activeRuleSetVersion(): number | null;
}

export interface HeartbeatReport {
  gatewayId: string;
  /** The gateway's installation id (16 hex digits, <dataDir>/installation-id), when known. */
  installationId?: string;
  version: string;
  at: string;
  uptimeSeconds: number;
  ruleSetVersion: number | null;
  /** Per second, since the previous heartbeat (or since start for the first). */
  rates: { mqttIn: number; serialIn: number; exported: number };
  totals: { mqttIn: number; serialIn: number; exported: number };
  streams: Array<{ name: string; records: number; bytes: number; maxBytes: number; oldestAgeSeconds: number; dropped: number; rejected: number }>;
  disk: { path: string; freeBytes: number; totalBytes: number } | { path: string; error: string };
  errors: Record<string, number>;
}

const RATE_COUNTERS = {
  mqttIn: 'gatehouse_mqtt_messages_in_total',
  serialIn: 'gatehouse_serial_frames_in_total',
  exported: 'gatehouse_export_records_total',
} as const;
/** Error counters summed into the report (all labels). */
const ERROR_COUNTERS = {
  rule: 'gatehouse_rule_errors_total',
  ruleAction: 'gatehouse_rule_action_failures_total',
  export: 'gatehouse_export_errors_total',
  deadLetters: 'gatehouse_export_dead_letters_total',
  streamRejected: 'gatehouse_stream_rejected_total',
  streamDropped: 'gatehouse_stream_dropped_total',
  serialFrame: 'gatehouse_serial_frame_errors_total',
  mqttProtocol: 'gatehouse_mqtt_protocol_errors_total',
  mqttAuth: 'gatehouse_mqtt_auth_failures_total',
  signature: 'gatehouse_control_signature_failures_total',
} as const;

async function counterSum(registry: Registry, name: string, label?: [string, string]): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) return 0;
  const data = await m.get();
  let sum = 0;
  for (const v of data.values) if (!label || String((v.labels as Record<string, unknown>)[label[0]]) === label[1]) sum += v.value;
  return sum;
}

export class HeartbeatCollector {
  /** t: monotonic ms of the previous report. */
  private last: { t: number; totals: HeartbeatReport['totals'] };
  private readonly mono: () => number;
  private readonly startedMono: number;

  constructor(private readonly src: HeartbeatSources) {
    this.mono = src.monotonic ?? monotonicNow;
    this.startedMono = src.startedMono ?? this.mono();
    this.last = { t: this.startedMono, totals: { mqttIn: 0, serialIn: 0, exported: 0 } };
  }

  async collect(): Promise<HeartbeatReport> {
    const { src } = this;
    // Wall time for what is shown (`at`, record ages); elapsed time on the monotonic clock.
    const now = Date.now();
    const mono = this.mono();
    const totals = { mqttIn: 0, serialIn: 0, exported: 0 };
    for (const k of Object.keys(RATE_COUNTERS) as Array<keyof typeof RATE_COUNTERS>) totals[k] = await counterSum(src.registry, RATE_COUNTERS[k]);
    const dt = Math.max(0.001, (mono - this.last.t) / 1000);
    const rate = (k: keyof typeof totals): number => Math.max(0, Math.round(((totals[k] - this.last.totals[k]) / dt) * 100) / 100);
    const rates = { mqttIn: rate('mqttIn'), serialIn: rate('serialIn'), exported: rate('exported') };
    this.last = { t: mono, totals };
    const errors: Record<string, number> = {};
    for (const [k, name] of Object.entries(ERROR_COUNTERS)) errors[k] = await counterSum(src.registry, name);
    errors.jobs = await counterSum(src.registry, 'gatehouse_job_runs_total', ['result', 'failed']);
    let disk: HeartbeatReport['disk'];
    try {
      const s = await statfs(src.dataDir);
      disk = { path: src.dataDir, freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
    } catch (err) {
      disk = { path: src.dataDir, error: (err as Error).message };
    }
    const streams = src.streams.streamNames().map((name) => {
      const i = src.streams.info(name);
      return {
        name,
        records: i.records,
        bytes: i.bytes,
        maxBytes: i.options.maxBytes,
        oldestAgeSeconds: i.oldestAt === undefined ? 0 : Math.max(0, Math.round((now - i.oldestAt) / 1000)),
        dropped: i.droppedRecords,
        rejected: i.rejectedAppends,
      };
    });
    const installationId = src.installationId?.();
    return {
      gatewayId: src.gatewayId,
      ...(installationId === undefined ? {} : { installationId }),
      version: src.version,
      at: new Date(now).toISOString(),
      uptimeSeconds: Math.round((mono - this.startedMono) / 1000),
      ruleSetVersion: src.activeRuleSetVersion(),
      rates,
      totals,
      streams,
      disk,
      errors,
    };
  }
}
