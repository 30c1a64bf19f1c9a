// Records as Prometheus samples (the prometheus destination, prometheus.ts): each number (and
// boolean, as 1/0) of a record's JSON object payload is one sample of the series named by its
// metric name and labels, at the record's time in ms. A metric per field (plant_temp, plant_rpm),
// not one metric with a field label: a metric name holds one unit (Prometheus's naming practice),
// so sum(), rate() and a dashboard's unit apply to the whole metric. Words shared with the webhook's
// influx format (influx-line.ts): the payload, the time key, topic levels, label (tag) values.
//
// A batch is one WriteRequest: samples of a series sorted by time and labels sorted by name
// (remote write 1.0 requires both). Prometheus (2.42, measured) silently keeps the first of two
// samples of a series at one time in a request and drops a sample older than one before it in the
// same request: so a record whose sample would meet another record's at the same millisecond with
// another value is set aside here with that reason (the first in the stream stays, as Prometheus
// keeps the first across requests), and an identical one (a record resent) is left out of the
// request, as Prometheus would take it.
import type { StoredRecord } from '../../store/types.js';
import { keyTimeNs, payloadObject, tagValue, topicLevel } from './influx-line.js';
import { labelOf, sanitiseName, type PrometheusOptions } from './prometheus-options.js';

export interface Label {
  name: string;
  value: string;
}

export interface Sample {
  value: number;
  /** ms since the epoch. */
  timestamp: number;
}

export interface Series {
  /** Sorted by name, __name__ among them. */
  labels: Label[];
  /** Sorted by timestamp. */
  samples: Sample[];
}

/** One sample a record makes, with its series' identity. */
interface RecordSample {
  key: string;
  labels: Label[];
  value: number;
  timestamp: number;
}

const NS_PER_MS = 1_000_000n;
const byName = (a: Label, b: Label): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** A payload value as a sample value, or undefined for what is not one (strings, null, objects, arrays). */
function sampleValue(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

/** The start of the metric names of a record ('' for none), or why it has none. */
function prefixOf(rec: StoredRecord, obj: Record<string, unknown>, o: PrometheusOptions): string | { error: string } {
  if (o.prefix !== undefined) return o.prefix;
  if (o.metricKey !== undefined) {
    const v = tagValue(obj[o.metricKey]);
    return v === undefined ? { error: `its metricKey '${o.metricKey}' is missing, empty or not a string, number or boolean` } : sanitiseName(v, true);
  }
  if (o.metricTopicLevel !== undefined) {
    const v = topicLevel(rec.topic, o.metricTopicLevel);
    return v === undefined ? { error: `its topic ${rec.topic} has no level ${o.metricTopicLevel} (metricTopicLevel)` } : sanitiseName(v, true);
  }
  return '';
}

/** The sample time of a record in ms, or why it has none. */
function timeOf(rec: StoredRecord, obj: Record<string, unknown>, o: PrometheusOptions): number | string {
  if (o.time === undefined) return rec.receivedAt;
  const ns = keyTimeNs(obj, o.time, o.timeUnit);
  if (typeof ns === 'string') return ns;
  // Floor, also before 1970 (bigint division truncates towards zero).
  const ms = ns / NS_PER_MS - (ns % NS_PER_MS < 0n ? 1n : 0n);
  return Number(ms);
}

/** Labels every series of a record carries (sorted later), or why the record has none. */
function recordLabels(rec: StoredRecord, obj: Record<string, unknown>, o: PrometheusOptions, gatewayId: string): Label[] {
  const labels = new Map<string, string>(Object.entries(o.externalLabels));
  if (o.gatewayLabel !== false) labels.set(o.gatewayLabel, gatewayId);
  if (o.topicLabel !== false && rec.topic !== '') labels.set(o.topicLabel, rec.topic);
  for (const [name, level] of Object.entries(o.topicLabels)) {
    const v = topicLevel(rec.topic, level);
    if (v !== undefined) labels.set(name, v);
  }
  for (const k of o.labels) {
    const v = tagValue(obj[k]);
    if (v !== undefined) labels.set(labelOf(k), v);
  }
  return [...labels].map(([name, value]) => ({ name, value }));
}

/** Why a record is refused whole: it makes no sample, or its time is too far ahead. */
type RecordRefusal = { error: string; code?: 'FUTURE' };

/** The samples of one record (`now`: the gateway's clock, ms), or why it makes none. */
export function recordSamples(rec: StoredRecord, o: PrometheusOptions, gatewayId: string, now = Date.now()): { samples: RecordSample[] } | RecordRefusal {
  const parsed = payloadObject(rec, 'the prometheus destination takes a JSON object of numbers');
  if ('error' in parsed) return parsed;
  const obj = parsed.obj;
  const prefix = prefixOf(rec, obj, o);
  if (typeof prefix !== 'string') return prefix;
  const timestamp = timeOf(rec, obj, o);
  if (typeof timestamp === 'string') return { error: timestamp };
  // Prometheus takes a sample from the future, and then refuses everything older than about an
  // hour behind it, of every series (measured on 2.42: a day ahead stopped every device for a day).
  if (o.time !== undefined && o.maxFutureMs > 0 && timestamp - now > o.maxFutureMs)
    return {
      code: 'FUTURE',
      error: `its time ${new Date(timestamp).toISOString()} (key '${o.time}') is ${((timestamp - now) / 3_600_000).toFixed(1)} h ahead of the gateway's clock ${new Date(now).toISOString()}: the device's clock (or timeUnit) is wrong; Prometheus would take the sample, then refuse every later sample of every series as out of bounds until the clock caught up (maxFutureMs ${o.maxFutureMs} ms; 0 turns this off)`,
    };
  const common = recordLabels(rec, obj, o, gatewayId);

  const skip = new Set<string>([...o.labels, ...(o.time === undefined ? [] : [o.time]), ...(o.metricKey === undefined ? [] : [o.metricKey])]);
  const keys = o.fields ?? Object.keys(obj).filter((k) => !skip.has(k) && k !== 'time');
  const names = new Map<string, string>();
  const samples: RecordSample[] = [];
  for (const k of keys) {
    const value = sampleValue(obj[k]);
    if (value === undefined) continue;
    // 温度 and 湿度 would both be the metric __ (each character outside [a-zA-Z0-9_:] becomes _):
    // one series holding temperatures and humidities. A key with nothing of its own left is refused.
    if (!/[a-zA-Z0-9]/.test(k))
      return {
        error: `its key '${k}' has no letter or digit Prometheus takes in a metric name (a-z, A-Z, 0-9): it would be the name ${sanitiseName(k, true)}, shared with every other such key; rename it in the rule's SELECT (SELECT \`${k}\` AS temp, ...) or leave it out with fields`,
      };
    const name = sanitiseName(prefix === '' ? k : `${prefix}_${k}`, true);
    const other = names.get(name);
    // temp-C and temp_C would be one series with two values at one time: Prometheus keeps one.
    if (other !== undefined) return { error: `its keys '${other}' and '${k}' both become the metric ${name}` };
    names.set(name, k);
    const labels = [{ name: '__name__', value: name }, ...common].sort(byName);
    samples.push({ key: seriesKey(labels), labels, value, timestamp });
  }
  if (samples.length === 0)
    return {
      error: o.fields
        ? `none of its fields ${o.fields.join(', ')} holds a number or a boolean (a sample needs one)`
        : 'it has no number or boolean key to write as a sample (strings, nested objects and arrays are left out; a string is a label when named in labels)',
    };
  return { samples };
}

/** A series' identity: its sorted labels, separated by bytes no UTF-8 text holds. */
function seriesKey(labels: readonly Label[]): string {
  let key = '';
  for (const l of labels) key += `${l.name}\u{ff}${l.value}\u{fe}`;
  return key;
}

/** A series with its labels in readable form, for a reason: temp{topic="fleet/truck7/engine"}. */
export function seriesText(labels: readonly Label[]): string {
  const name = labels.find((l) => l.name === '__name__')?.value ?? '';
  const rest = labels.filter((l) => l.name !== '__name__').map((l) => `${l.name}=${JSON.stringify(l.value)}`);
  return `${name}{${rest.join(',')}}`;
}

export interface WriteBatch {
  /** What the request carries (empty when no record made a sample). */
  series: Series[];
  /** Samples in the request. */
  samples: number;
  /** Index (in the batch) of each record left out, with why: it makes no sample, or one another record of the batch contradicts. */
  refused: Map<number, { code: 'NO_SAMPLE' | 'DUPLICATE' | 'FUTURE'; reason: string }>;
  /**
   * A series written by records of two topics (the first found): with topicLabel false and no other
   * label telling the senders apart, two devices' readings interleave in one series, silently.
   */
  merged?: { series: string; topics: [string, string] };
}

/** The WriteRequest of a batch of records, the records that cannot be in it set aside. */
export function writeBatch(records: readonly StoredRecord[], o: PrometheusOptions, gatewayId: string, now = Date.now()): WriteBatch {
  const refused: WriteBatch['refused'] = new Map();
  const bySeries = new Map<string, { labels: Label[]; topic: string; at: Map<number, { value: number; seq: number }> }>();
  let merged: WriteBatch['merged'];
  records.forEach((rec, i) => {
    const made = recordSamples(rec, o, gatewayId, now);
    if ('error' in made) {
      refused.set(i, { code: made.code ?? 'NO_SAMPLE', reason: made.error });
      return;
    }
    // All of a record or none of it: checked before any of its samples is added.
    const fresh: RecordSample[] = [];
    for (const s of made.samples) {
      const before = bySeries.get(s.key)?.at.get(s.timestamp);
      if (before === undefined) fresh.push(s);
      else if (before.value !== s.value) {
        refused.set(i, {
          code: 'DUPLICATE',
          reason: `duplicate sample for timestamp: record ${rec.stream}:${before.seq} gives ${seriesText(s.labels)} the value ${before.value} at the same millisecond (${s.timestamp}), this one ${s.value}: a series holds one value per time (labels that tell the senders apart, or a time key, make them two samples)`,
        });
        return;
      }
    }
    for (const s of fresh) {
      let series = bySeries.get(s.key);
      if (series === undefined) {
        series = { labels: s.labels, topic: rec.topic, at: new Map() };
        bySeries.set(s.key, series);
      } else if (merged === undefined && series.topic !== rec.topic) merged = { series: seriesText(s.labels), topics: [series.topic, rec.topic] };
      series.at.set(s.timestamp, { value: s.value, seq: rec.seq });
    }
  });
  const series: Series[] = [];
  let samples = 0;
  for (const { labels, at } of bySeries.values()) {
    const list = [...at].map(([timestamp, { value }]) => ({ value, timestamp }));
    list.sort((a, b) => a.timestamp - b.timestamp);
    samples += list.length;
    series.push({ labels, samples: list });
  }
  return { series, samples, refused, ...(merged ? { merged } : {}) };
}
