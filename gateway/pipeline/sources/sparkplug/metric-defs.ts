// A birth's metric definitions (names, aliases, datatypes) and what a metric becomes in the JSON
// the rules get: its name (the birth's, for a metric sent by alias only), datatype and typed value.
// Apart from state.ts (the sessions: births, deaths, seq, rebirths), which holds one per node and
// device and calls these.
import type { RawMetric } from './schema.js';
import { datatypeName, metricValue, propertySetValue, uint64, type Json } from './values.js';

export interface MetricDef {
  name: string;
  datatype: number | undefined;
}

/** The definitions of one node's or device's birth. */
export interface Metrics {
  /** alias (decimal string) -> definition */
  aliases: Map<string, MetricDef>;
  /** name -> datatype */
  names: Map<string, number | undefined>;
  /** The birth had more metrics than the bound let in. */
  truncated: boolean;
}

export function emptyMetrics(): Metrics {
  return { aliases: new Map(), names: new Map(), truncated: false };
}

/**
 * Take a birth's metric definitions into `into`, at most `room` names new to it (the node's bound
 * less what it holds): how many were new, and whether the bound stopped it (`into.truncated` set).
 */
export function defineMetrics(into: Metrics, metrics: readonly RawMetric[], room: number): { added: number; full: boolean } {
  let added = 0;
  for (const m of metrics) {
    if (m.name === undefined) continue;
    if (added >= room) {
      into.truncated = true;
      return { added, full: true };
    }
    if (!into.names.has(m.name)) added++;
    into.names.set(m.name, m.datatype);
    if (m.alias !== undefined) into.aliases.set(m.alias, { name: m.name, datatype: m.datatype });
  }
  return { added, full: false };
}

/**
 * A metric as JSON: its name (the birth's, for an alias), datatype and typed value. One whose alias
 * no birth named keeps its alias and is flagged, on the metric and on the message (`out`).
 */
export function metricJson(m: RawMetric, defs: Metrics | undefined, out: { json: { [k: string]: Json }; unresolved: number }): Json {
  const j: { [k: string]: Json } = {};
  let name = m.name;
  let datatype = m.datatype;
  if (name !== undefined) {
    if (datatype === undefined) datatype = defs?.names.get(name);
  } else if (m.alias !== undefined) {
    const def = defs?.aliases.get(m.alias);
    if (def) {
      name = def.name;
      datatype ??= def.datatype;
    }
  }
  if (name !== undefined) j.name = name;
  if (m.alias !== undefined) j.alias = uint64(m.alias)!;
  if (m.timestamp !== undefined) j.timestamp = uint64(m.timestamp)!;
  const dt = datatypeName(datatype);
  if (dt !== undefined) j.datatype = dt;
  j.value = metricValue(m, datatype, (x) => metricJson(x, undefined, out));
  if (m.isHistorical) j.isHistorical = true;
  if (m.isTransient) j.isTransient = true;
  if (m.isNull) j.isNull = true;
  if (m.properties) j.properties = propertySetValue(m.properties);
  if (m.metadata) j.metadata = metadataJson(m.metadata);
  if (name === undefined && m.alias !== undefined) {
    j.unresolved = true;
    out.json.unresolved = true;
    out.unresolved++;
  }
  return j;
}

function metadataJson(m: Record<string, unknown>): Json {
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(m)) {
    if (k === 'size' || k === 'seq') out[k] = uint64(String(v))!;
    else if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') out[k] = v;
  }
  return out;
}
