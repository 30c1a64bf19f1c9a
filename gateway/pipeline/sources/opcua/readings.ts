// What an OPC UA data change becomes: a message {value, sourceTimestamp, serverTimestamp,
// statusCode} submitted to the store, bounded by maxInFlight and maxValueBytes, counted by quality;
// and what the source shows per tag (its error: a monitored item refused, a Bad or Uncertain status,
// a value too large; when its last value was committed) and as a whole (lastGoodRead, values per
// second, values in flight). Apart from source.ts, which keeps the session (connect, subscriptions,
// the watchdog, gaps, teardown): this is the per-value path, called once per data change.
import type { Intake } from '../../contract.js';
import type { SourceDeps } from '../kind.js';
import { errorMessage } from '../../../../core/errors.js';
import { rateLimitedLog, type RateLog } from '../../../../core/rate-log.js';
import { RateMeter, type IndustrialMetrics } from '../industrial-metrics.js';
import type { OpcuaModule } from './connect.js';
import type { OpcuaItem, OpcuaOptions } from './options.js';
import { valueKindOf, qualityOf, toJson } from './values.js';
import { topicRenderer } from '../topic-template.js';

const KIND = 'opcua';
type DataValue = import('node-opcua-client').DataValue;
type StatusCode = import('node-opcua-client').StatusCode;

interface ItemState {
  item: OpcuaItem;
  subscription: string;
  error: string | undefined;
  lastValueAt: number | undefined;
}

/** The source's counters shown in its status (one object, shared with source.ts, which counts reconnects and gaps). */
export interface OpcuaCounts {
  values: number;
  reconnects: number;
  gaps: number;
  badStatus: number;
  uncertainStatus: number;
  commitErrors: number;
  dropped: number;
}

export class OpcuaReadings {
  /** Where values go (set by the source's start). */
  intake: Intake | null = null;
  private readonly items = new Map<string, ItemState>();
  private readonly rate: RateMeter;
  private readonly topic: (vars: Readonly<Record<string, string>>) => string;
  /** A refused commit or a value too large is logged at most once a minute, with the count (a full store refuses every value). */
  private readonly warnLog: RateLog;
  private lastGoodRead: number | undefined;
  private inFlight = 0;

  constructor(
    private readonly name: string,
    private readonly opts: OpcuaOptions,
    private readonly ua: OpcuaModule,
    private readonly deps: SourceDeps,
    private readonly metrics: IndustrialMetrics,
    private readonly counts: OpcuaCounts,
    /** Wall time: receivedAt, lastValueAt, lastGoodRead. */
    private readonly now: () => number,
    mono: () => number,
  ) {
    this.rate = new RateMeter(mono);
    this.warnLog = rateLimitedLog(deps.logger, 'warn', 60_000, mono);
    this.topic = topicRenderer(opts.topic);
    for (const s of opts.subscriptions)
      for (const item of s.items) this.items.set(item.name, { item, subscription: s.name, error: undefined, lastValueAt: undefined });
  }

  /** What the status shows of the values (in the order of the source's status details). */
  lastGoodReadIso(): string | null {
    return this.lastGoodRead === undefined ? null : new Date(this.lastGoodRead).toISOString();
  }

  valuesPerSecond(): number {
    return this.rate.perSecond();
  }

  inFlightCount(): number {
    return this.inFlight;
  }

  itemCount(): number {
    return this.items.size;
  }

  tagErrors(): Record<string, string> {
    const tagErrors: Record<string, string> = {};
    for (const [name, s] of this.items) if (s.error) tagErrors[name] = s.error;
    return tagErrors;
  }

  /** The server's answer for a monitored item: created clears the tag's error, refused sets it. */
  monitored(item: OpcuaItem, code: StatusCode | undefined): void {
    const st = this.items.get(item.name) as ItemState;
    st.error = undefined;
    if (code?.isNotGood()) this.refused(item, code.name, 'opcua monitored item refused by the server');
  }

  /** An item not monitored (the server refused it, or its node id is not one): a tag error, counted, logged. */
  refused(item: OpcuaItem, why: string, msg = 'opcua monitored item not created'): void {
    (this.items.get(item.name) as ItemState).error = `monitored item refused: ${why}`;
    this.counts.badStatus++;
    this.metrics.readErrors.inc({ kind: KIND, source: this.name, device: item.name, error: 'bad_status' });
    this.deps.logger.warn({ tag: item.name, nodeId: item.nodeId, status: why }, msg);
  }

  onValue(subscription: string, item: OpcuaItem, dv: DataValue): void {
    const now = this.now();
    const st = this.items.get(item.name) as ItemState;
    const status = dv.statusCode;
    // OPC UA's three qualities: Good; Uncertain (a value, but questionable: a sensor out of its
    // range, the last usable value of a failed device); Bad (no usable value). Uncertain is its
    // own count, so an alert on bad_status does not fire for a value the server still vouches for.
    const quality = qualityOf(status);
    if (quality === 'good') st.error = undefined;
    else {
      st.error = `${quality} status ${status.name}`;
      if (quality === 'bad') this.counts.badStatus++;
      else this.counts.uncertainStatus++;
      this.metrics.readErrors.inc({ kind: KIND, source: this.name, device: item.name, error: `${quality}_status` });
    }
    if (!this.intake?.accepting() || this.inFlight >= this.opts.maxInFlight) {
      this.counts.dropped++;
      this.metrics.dropped.inc({ kind: KIND, source: this.name, reason: this.inFlight >= this.opts.maxInFlight ? 'in_flight' : 'paused' });
      return;
    }
    const payload = {
      value: toJson(dv.value?.value, valueKindOf(this.ua, dv.value?.dataType)),
      sourceTimestamp: dv.sourceTimestamp ? dv.sourceTimestamp.toISOString() : null,
      serverTimestamp: dv.serverTimestamp ? dv.serverTimestamp.toISOString() : null,
      statusCode: status.name,
    };
    const body = Buffer.from(JSON.stringify(payload));
    if (body.length > this.opts.maxValueBytes) return this.tooLarge(st, item.nodeId, body.length);
    const topic = this.topic({ source: this.name, subscription, tag: item.name, nodeId: item.nodeId });
    let p: Promise<void> | undefined;
    try {
      p = this.intake.submit({
        topic,
        payload: body,
        qos: 1,
        source: { kind: 'opcua', id: `${this.name}/${item.name}` },
        receivedAt: now,
      });
    } catch (err) {
      p = Promise.reject(err);
    }
    const committed = (): void => {
      this.counts.values++;
      this.rate.add(1);
      st.lastValueAt = this.now();
      this.metrics.values.inc({ kind: KIND, source: this.name, device: item.name });
      // A Bad or Uncertain value (the server is up, the device behind it is not, or not quite) is
      // no good read: counted as such, it kept lastGoodRead fresh and a staleness alert on it
      // from ever firing (UncertainLastUsableValue repeats a failed device's last value).
      if (quality !== 'good') return;
      this.lastGoodRead = st.lastValueAt;
      this.metrics.lastGoodRead.set({ kind: KIND, source: this.name, device: '*' }, this.lastGoodRead / 1000);
    };
    if (!p) return committed();
    this.inFlight++;
    p.then(committed, (err: unknown) => {
      this.counts.commitErrors++;
      this.metrics.readErrors.inc({ kind: KIND, source: this.name, device: item.name, error: 'commit' });
      this.warnLog('commit', { tag: item.name, err: errorMessage(err) }, 'opcua value not committed');
    }).finally(() => this.inFlight--);
  }

  /** A value over maxValueBytes (an 8 MB string node went into the store, once a second). */
  private tooLarge(st: ItemState, nodeId: string, bytes: number): void {
    const max = this.opts.maxValueBytes;
    st.error = `value of ${bytes} bytes over maxValueBytes (${max}): dropped`;
    this.counts.dropped++;
    this.metrics.dropped.inc({ kind: KIND, source: this.name, reason: 'too_large' });
    this.warnLog(
      `too_large\0${st.item.name}`,
      { tag: st.item.name, nodeId, bytes, maxValueBytes: max },
      'opcua value too large, dropped; raise maxValueBytes or monitor a smaller node',
    );
  }
}
