// Recent activity for the status page: per-second ingest rates over the last minutes (sampled
// from the metrics registry, no per-message cost) and a bounded ring of notable events (alerts,
// rule set updates, exporter errors).
import type { Registry } from 'prom-client';
import { clocksOf, type Clock } from '../../core/clock.js';

export interface ActivityEvent {
  at: string;
  kind: 'alert' | 'rules' | 'exporter' | 'link' | 'job' | 'info';
  message: string;
  topic?: string;
  payload?: string;
}

export interface RatePoint {
  /** Wall time (epoch ms) of the sample, for the page's time axis. */
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
/** While an exporter keeps failing, a changed error message is logged at most this often. */
const EXPORTER_REPEAT_MS = 60_000;
/** A serial link pausing again within this long after a pause event is counted, not told. */
const PAUSE_REPEAT_MS = 60_000;

/** The part of an exporter's status the event watch reads (see upstream/status.ts). */
export interface WatchedExporter {
  name: string;
  lastExportAt: number | undefined;
  /** `at` in ISO 8601; current: no send has gone through since. */
  lastError: { message: string; at: string; current: boolean } | undefined;
}

/** The part of a serial link's status the event watch reads (see firmware-bridge/link-types.ts). */
export interface WatchedLink {
  name: string;
  state: string;
  lastError?: string | undefined;
  /** Reading paused by backpressure (maxInFlight frames not committed). */
  paused?: boolean;
  /** Pauses since the link started: one that began and ended between two checks shows here. */
  pauses?: number;
  maxInFlight?: number;
}

interface PauseWatchState {
  /** `pauses` at the last check. */
  pauses: number;
  /** A pause event was recorded and its resume not yet. */
  open: boolean;
  /** Monotonic ms of the last pause event (rate limited), and the pauses not told since. */
  eventAt: number;
  untold: number;
}

interface ExporterWatchState {
  failing: boolean;
  message: string;
  /** Monotonic ms of the last event (its repeat is rate limited). */
  eventAt: number;
}

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
  /** The previous sample; `t` monotonic ms (the rate's time step). */
  private last: { t: number; in: number; out: number } | undefined;
  private exporterSource: (() => WatchedExporter[]) | undefined;
  private readonly exporterSeen = new Map<string, ExporterWatchState>();
  private linkSource: (() => WatchedLink[]) | undefined;
  private readonly linkSeen = new Map<string, string>();
  private readonly pauseSeen = new Map<string, PauseWatchState>();
  /** Jobs whose last run failed, with the error of the event said. */
  private readonly jobsFailing = new Map<string, string>();

  private readonly now: Clock;
  private readonly mono: Clock;

  constructor(
    private readonly registry: Registry,
    clocks: { now?: Clock; monotonic?: Clock } = {},
  ) {
    ({ now: this.now, monotonic: this.mono } = clocksOf(clocks));
  }

  start(): void {
    this.timer = setInterval(() => void this.sample(), SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Turn exporter failures into events, checked once a second: one event when an exporter starts
   * failing (not one per retry, which would flush alerts out of the ring), one when it recovers,
   * and a changed error while still failing at most once a minute.
   */
  watchExporters(source: () => WatchedExporter[]): void {
    this.exporterSource = source;
  }

  /**
   * Turn serial link state changes (open / retrying / closed) into events, and backpressure pauses:
   * one event when reading pauses and one when it resumes, at most one pause a minute per link (a
   * link pausing and resuming all the time under a steady overload would flush alerts out of the
   * ring); the next one says how many pauses were not told.
   */
  watchLinks(source: () => WatchedLink[]): void {
    this.linkSource = source;
  }

  /**
   * A scheduled job's run (JobScheduler 'run' events): one event when a job starts failing, one
   * when it runs ok again, and one when its error changes; a job failing the same way at every
   * run (every minute, say) says it once, not once per run, so it cannot flush alerts out.
   */
  jobRun(job: string, result: 'ok' | 'failed' | 'skipped', error?: string): void {
    const was = this.jobsFailing.get(job);
    if (result === 'failed') {
      const message = error ?? 'failed';
      if (was === message) return;
      this.jobsFailing.set(job, message);
      this.record({ kind: 'job', message: `job ${job} ${was === undefined ? 'failing' : 'still failing'}: ${message}` });
    } else if (result === 'ok' && was !== undefined) {
      this.jobsFailing.delete(job);
      this.record({ kind: 'job', message: `job ${job} recovered: ran ok` });
    }
  }

  private checkExporters(now: number): void {
    if (!this.exporterSource) return;
    for (const e of this.exporterSource()) {
      const err = e.lastError;
      const seen = this.exporterSeen.get(e.name);
      if (!err?.current) {
        if (seen?.failing) {
          seen.failing = false;
          this.record({ kind: 'exporter', message: `exporter ${e.name} recovered: exporting again` });
        }
        continue;
      }
      if (!seen?.failing) {
        this.exporterSeen.set(e.name, { failing: true, message: err.message, eventAt: now });
        this.record({ kind: 'exporter', message: `exporter ${e.name} failing: ${err.message}` });
      } else if (seen.message !== err.message && now - seen.eventAt >= EXPORTER_REPEAT_MS) {
        seen.message = err.message;
        seen.eventAt = now;
        this.record({ kind: 'exporter', message: `exporter ${e.name} still failing: ${err.message}` });
      }
    }
  }

  private checkLinks(): void {
    if (!this.linkSource) return;
    for (const l of this.linkSource()) {
      this.checkPauses(l, this.mono());
      const before = this.linkSeen.get(l.name);
      if (before === l.state) continue;
      this.linkSeen.set(l.name, l.state);
      // The first sight of a link that is open is its normal start, not news.
      if (before === undefined && l.state === 'open') continue;
      this.record({
        kind: 'link',
        message: `serial link ${l.name} ${before ? `${before} → ` : ''}${l.state}${l.state !== 'open' && l.lastError ? `: ${l.lastError}` : ''}`,
      });
    }
  }

  private checkPauses(l: WatchedLink, now: number): void {
    if (l.pauses === undefined) return;
    let seen = this.pauseSeen.get(l.name);
    if (seen === undefined) {
      // First sight: a pause running now is news; earlier ones are not.
      seen = { pauses: l.pauses - (l.paused ? 1 : 0), open: false, eventAt: Number.NEGATIVE_INFINITY, untold: 0 };
      this.pauseSeen.set(l.name, seen);
    }
    const began = l.pauses - seen.pauses;
    seen.pauses = l.pauses;
    seen.untold += Math.max(0, began);
    // A pause that began since the last check (even if already over), or one held back by the
    // rate limit and still running.
    if (seen.untold > 0 && !seen.open && (began > 0 || l.paused) && now - seen.eventAt >= PAUSE_REPEAT_MS) {
      const more = seen.untold - 1;
      seen.untold = 0;
      seen.eventAt = now;
      seen.open = true;
      this.record({
        kind: 'link',
        message: `serial link ${l.name} paused reading: backpressure, ${l.maxInFlight ?? '?'} frames (maxInFlight) handed on and not committed yet; the device's bytes wait in the port${more > 0 ? ` (${more} more pauses since the last such event: at most one a minute per link)` : ''}`,
      });
    }
    if (seen.open && !l.paused) {
      seen.open = false;
      this.record({ kind: 'link', message: `serial link ${l.name} resumed reading: the frames in flight were committed` });
    }
  }

  private async sample(): Promise<void> {
    const now = this.mono();
    try {
      this.checkExporters(now);
      this.checkLinks();
    } catch {
      // A status read failing must not stop the rate sampling; the page shows status directly too.
    }
    const msgIn = (await sumCounter(this.registry, 'gatehouse_mqtt_messages_in_total')) + (await sumCounter(this.registry, 'gatehouse_serial_frames_in_total'));
    const out = await sumCounter(this.registry, 'gatehouse_export_records_total');
    if (this.last) {
      const dt = (now - this.last.t) / 1000;
      if (dt > 0) {
        this.points.push({ t: this.now(), in: Math.max(0, (msgIn - this.last.in) / dt), out: Math.max(0, (out - this.last.out) / dt) });
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
