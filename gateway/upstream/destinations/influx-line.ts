// A record as one line of InfluxDB line protocol (format: influx of the webhook destination):
//   measurement,tag=v,tag2=v2 field=1.5,on=true,state="ok" 1700000000000000000
// from a JSON object payload, per the options (webhook-options.ts). Escaping is the line protocol's
// (docs.influxdata.com, "Line protocol", special characters): a measurement escapes comma and
// space; tag keys, tag values and field keys comma, equals sign and space; a string field value
// double quote and backslash. A line break cannot be written anywhere but inside a string field,
// where it is written as the two characters \n (the protocol has no escape for it). A record that
// cannot become a line (not a JSON object, no field, a bad time) gets the reason instead: the
// destination dead-letters it alone.
import type { StoredRecord } from '../../store/types.js';
import type { InfluxOptions } from './webhook-options.js';

export type Unit = 's' | 'ms' | 'us' | 'ns';
const NS_PER: Record<Unit, bigint> = { s: 1_000_000_000n, ms: 1_000_000n, us: 1_000n, ns: 1n };

const escapeMeasurement = (s: string): string => s.replace(/[, ]/g, '\\$&');
const escapeKey = (s: string): string => s.replace(/[, =]/g, '\\$&');
const escapeString = (s: string): string => s.replace(/[\\"]/g, '\\$&').replace(/\r?\n|\r/g, '\\n');
const LINE_BREAK = /[\r\n]/;

export type InfluxLine = { line: string } | { error: string };

/** A number of `unit`s since the epoch, in ns (exact for integers; sub-unit fractions rounded). */
function toNs(value: number, unit: Unit): bigint {
  const whole = Math.trunc(value);
  const frac = value - whole;
  return BigInt(whole) * NS_PER[unit] + BigInt(Math.round(frac * Number(NS_PER[unit])));
}

/**
 * Where in its millisecond a record without a time key is put: by its place in its stream, in
 * the precision written. InfluxDB keeps one point per series and time (the last written wins), and
 * a burst puts many records of one series in one millisecond: at that millisecond alone, 2000
 * records sent at once were 246 points. Taken from the record, not the clock, so a record sent
 * again (at least once) is the same point again, not a second one. Unique for up to 1,000,000
 * (ns) or 1,000 (us) records of a stream in one millisecond; ms and s have no room (refused without
 * a time key: webhook-options.ts).
 */
function receiveOffset(seq: number, precision: Unit): bigint {
  const slots = NS_PER.ms / NS_PER[precision];
  return slots > 1n ? (BigInt(seq) % slots) * NS_PER[precision] : 0n;
}

/** The time a payload's `key` holds (a number in `unit`, or an ISO 8601 string), in ns, or why it holds none (also the prometheus destination's). */
export function keyTimeNs(obj: Record<string, unknown>, key: string, unit: Unit): bigint | string {
  const v = obj[key];
  if (typeof v === 'number' && Number.isFinite(v)) return toNs(v, unit);
  if (typeof v === 'string') {
    const ms = Date.parse(v);
    if (!Number.isNaN(ms)) return BigInt(ms) * NS_PER.ms;
    return `its time key '${key}' holds ${JSON.stringify(v.slice(0, 40))}, not an ISO 8601 time`;
  }
  return v === undefined ? `it has no time key '${key}'` : `its time key '${key}' holds ${typeof v}, not a number or an ISO 8601 string`;
}

/** The point's time in ns, or why it has none. */
function timeOf(rec: StoredRecord, obj: Record<string, unknown>, o: InfluxOptions): bigint | string {
  if (o.time === undefined) return BigInt(rec.receivedAt) * NS_PER.ms + receiveOffset(rec.seq, o.precision);
  return keyTimeNs(obj, o.time, o.timeUnit);
}

/** Level `level` (1 = the first, as the rules' topic(1)) of a topic; undefined when it has none or it is empty. */
export function topicLevel(topic: string, level: number): string | undefined {
  const v = topic.split('/')[level - 1];
  return v === undefined || v === '' ? undefined : v;
}

/** A record's payload as a JSON object, or why it is not one (`takes`: what the format takes, for the reason). */
export function payloadObject(rec: StoredRecord, takes: string): { obj: Record<string, unknown> } | { error: string } {
  let obj: unknown;
  try {
    obj = JSON.parse(rec.payload.toString('utf8'));
  } catch {
    return { error: `the payload is not JSON (${takes})` };
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    return { error: `the payload is a JSON ${Array.isArray(obj) ? 'array' : obj === null ? 'null' : typeof obj}, not an object of fields` };
  return { obj: obj as Record<string, unknown> };
}

function measurementOf(rec: StoredRecord, obj: Record<string, unknown>, o: InfluxOptions): string | { error: string } {
  if (o.measurement !== undefined) return o.measurement;
  if (o.measurementKey !== undefined) {
    const v = obj[o.measurementKey];
    if (typeof v === 'string' && v !== '') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    const what = v === undefined ? 'missing' : v === '' ? 'empty' : `${v === null ? 'null' : typeof v}, not a string, number or boolean`;
    return { error: `its measurementKey '${o.measurementKey}' is ${what}` };
  }
  if (o.measurementTopicLevel !== undefined) {
    const level = topicLevel(rec.topic, o.measurementTopicLevel);
    if (level === undefined) return { error: `its topic ${rec.topic} has no level ${o.measurementTopicLevel} (measurementTopicLevel)` };
    return level;
  }
  return rec.topic;
}

/** A JSON object (not an array, not null), or undefined. */
function asObject(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** A scalar as a field value, or undefined for what is not one (null, objects, arrays). */
function fieldValue(v: unknown): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return `"${escapeString(v)}"`;
  return undefined;
}

/** A scalar as a tag (label) value ('' and non-scalars: no tag). */
export function tagValue(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/**
 * A payload that is line protocol already (passLineProtocol: Telegraf's data_format = "influx"),
 * its lines as they are, blank ones and line ends dropped; undefined when it is JSON or no UTF-8
 * text (a JSON payload is made into a line as configured).
 */
function lineProtocol(payload: Buffer): InfluxLine | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    return { error: 'the payload is neither JSON nor UTF-8 text (passLineProtocol takes line protocol as text)' };
  }
  try {
    JSON.parse(text);
    return undefined;
  } catch {
    // not JSON: line protocol
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  return lines.length === 0 ? { error: 'the payload holds no line of line protocol' } : { line: lines.join('\n') };
}

/** The line of `rec` (no newline; several with passLineProtocol), or why it cannot be one. */
export function influxLine(rec: StoredRecord, o: InfluxOptions): InfluxLine {
  if (o.passLineProtocol) {
    const passed = lineProtocol(rec.payload);
    if (passed) return passed;
  }
  const parsed = payloadObject(rec, 'format influx takes a JSON object of fields; line protocol as it is with passLineProtocol: true');
  if ('error' in parsed) return parsed;
  const payload = parsed.obj;

  const measurement = measurementOf(rec, payload, o);
  if (typeof measurement !== 'string') return measurement;
  if (LINE_BREAK.test(measurement) || measurement.startsWith('#'))
    return { error: `its measurement ${JSON.stringify(measurement)} holds a line break or starts with # (a comment line)` };

  const tags = new Map<string, string>();
  for (const [name, level] of Object.entries(o.topicTags)) {
    const v = topicLevel(rec.topic, level);
    if (v) tags.set(name, v);
  }
  const tagsObject = o.tagsObject === undefined ? undefined : asObject(payload[o.tagsObject]);
  for (const [k, raw] of Object.entries(tagsObject ?? {})) {
    const v = tagValue(raw);
    if (v !== undefined && k !== 'time') tags.set(k, v);
  }
  for (const k of o.tags) {
    const v = tagValue(payload[k]);
    if (v !== undefined) tags.set(k, v);
  }
  // the fields' object: the payload, or its fieldsObject (Telegraf's `fields`)
  let source = payload;
  if (o.fieldsObject !== undefined) {
    const inner = asObject(payload[o.fieldsObject]);
    if (!inner) return { error: `its fieldsObject '${o.fieldsObject}' is ${payload[o.fieldsObject] === undefined ? 'missing' : 'not a JSON object'}` };
    source = inner;
  }
  const skip =
    o.fieldsObject !== undefined
      ? new Set<string>()
      : new Set<string>([...o.tags, ...(o.time === undefined ? [] : [o.time]), ...(o.measurementKey === undefined ? [] : [o.measurementKey])]);
  // InfluxDB refuses a field or tag named time (the point's own): left out of the default fields.
  const keys = o.fields ?? Object.keys(source).filter((k) => !skip.has(k) && k !== 'time');
  const fields: string[] = [];
  for (const k of keys) {
    const v = fieldValue(source[k]);
    if (v === undefined) continue;
    if (LINE_BREAK.test(k)) return { error: `its field key ${JSON.stringify(k)} holds a line break` };
    fields.push(`${escapeKey(k)}=${v}`);
  }
  if (fields.length === 0)
    return {
      error: o.fields
        ? `none of its fields ${o.fields.join(', ')} holds a number, boolean or string`
        : 'it has no number, boolean or string key to write as a field (a point needs one)',
    };

  const ns = timeOf(rec, payload, o);
  if (typeof ns === 'string') return { error: ns };

  let line = escapeMeasurement(measurement);
  for (const [k, v] of [...tags].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (LINE_BREAK.test(k) || LINE_BREAK.test(v)) return { error: `its tag ${JSON.stringify(k)} holds a line break` };
    line += `,${escapeKey(k)}=${escapeKey(v)}`;
  }
  return { line: `${line} ${fields.join(',')} ${ns / NS_PER[o.precision]}` };
}
