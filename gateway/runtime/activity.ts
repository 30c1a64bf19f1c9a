// Recent activity for the status page: per-second ingest rates over the last minutes (sampled
// from the metrics registry, no per-message cost) and a bounded ring of notable events (alerts,
// rule set updates, exporter errors).
import type { Registry } from 'prom-client';

export interface ActivityEvent {
  at: string;
  kind: 'alert' | 'rules' | 'exporter' | 'link' | 'info';
  message: string;
  topic?: string;
  payload?: string;
}

export interface RatePoint {
  t: number;
  /** Messages in per second (MQTT + serial). */
  in: number;
  /** Records exported per second (all exporters). */
  out: number;
}

const SAMPLE_MS = 1000;
const KEEP_POINTS = 600; // 10 minutes at 1 s
const KEEP_EVENTS = 200;
const EVENT_PAYLOAD_CHARS = 500;

async function sumCounter(registry: Registry, name: string): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) return 0;
  const data = await m.get();
  let sum = 0;
  for (const v of data.values) {
    // Histograms/summaries list buckets too: only plain samples count.
    if (!('metricName' in v) || v.metricName === undefined || v.metricName === name) sum += v.value;
  }
  return sum;
}

export class Activity {
  private readonly points: RatePoint[] = [];
  private readonly events: ActivityEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private last: { t: number; in: number; out: number } | undefined;

  constructor(private readonly registry: Registry) {}

  start(): void {
    this.timer = setInterval(() => void this.sample(), SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async sample(): Promise<void> {
    const now = Date.now();
    const msgIn = (await sumCounter(this.registry, 'gatehouse_mqtt_messages_in_total')) + (await sumCounter(this.registry, 'gatehouse_serial_frames_in_total'));
    const out = await sumCounter(this.registry, 'gatehouse_export_records_total');
    if (this.last) {
      const dt = (now - this.last.t) / 1000;
      if (dt > 0) {
        this.points.push({ t: now, in: Math.max(0, (msgIn - this.last.in) / dt), out: Math.max(0, (out - this.last.out) / dt) });
        if (this.points.length > KEEP_POINTS) this.points.shift();
      }
    }
    this.last = { t: now, in: msgIn, out };
  }

  record(e: Omit<ActivityEvent, 'at'>): void {
    const payload = e.payload && e.payload.length > EVENT_PAYLOAD_CHARS ? `${e.payload.slice(0, EVENT_PAYLOAD_CHARS)}…` : e.payload;
    this.events.push({ at: new Date().toISOString(), ...e, ...(payload !== undefined ? { payload } : {}) });
    if (this.events.length > KEEP_EVENTS) this.events.shift();
  }

  rates(): RatePoint[] {
    return this.points;
  }

  recent(): ActivityEvent[] {
    return [...this.events].reverse();
  }
}
