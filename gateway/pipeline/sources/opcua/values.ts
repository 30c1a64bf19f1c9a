// OPC UA values -> JSON, and monitored items grouped by their monitoring parameters (one
// CreateMonitoredItems request per distinct sampling interval / queue size / deadband).
import { float32Value } from '../../../../core/float32.js';
import type { OpcuaModule } from './connect.js';
import type { OpcuaItem, OpcuaOptions } from './options.js';

type MonitoringParameters = import('node-opcua-client').MonitoringParametersOptions;

/** The 64-bit integer types, whose values node-opcua carries as [high, low] unsigned 32-bit words. */
export type Int64Kind = 'Int64' | 'UInt64';
/** The Variant data types whose JSON is not the plain JS value node-opcua gives. */
export type ValueKind = Int64Kind | 'Float';

/** ValueKind of a Variant's data type (undefined for every other type). */
export function valueKindOf(ua: OpcuaModule, dataType: number | undefined): ValueKind | undefined {
  if (dataType === ua.DataType.Int64) return 'Int64';
  if (dataType === ua.DataType.UInt64) return 'UInt64';
  return dataType === ua.DataType.Float ? 'Float' : undefined;
}

/**
 * A [high, low] pair as a JSON number, or as an exact decimal string beyond 2^53 (a JSON number
 * would round it), as a Modbus int64 is published. Published raw, -5 read as [4294967295, 4294967291].
 */
function int64Json(words: readonly [number, number], kind: Int64Kind): number | string {
  const raw = (BigInt(words[0] >>> 0) << 32n) | BigInt(words[1] >>> 0);
  const big = kind === 'Int64' ? BigInt.asIntN(64, raw) : raw;
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big.toString();
}

const isWordPair = (v: unknown[]): v is [number, number] => v.length === 2 && v.every((x) => typeof x === 'number' && Number.isInteger(x));

/**
 * A Variant's value as JSON: numbers, booleans, strings, ISO dates, arrays. `kind` names the
 * Variant's data type where its JSON differs from the JS value: a 64-bit integer's [high, low] words
 * (scalar, or each element of an array) become numbers (without it no array is taken for such a
 * pair); a Float is the shortest decimal of its float32 (core/float32.ts: 231.2, not 231.1999969482422).
 */
export function toJson(v: unknown, kind?: ValueKind): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return kind === 'Float' ? float32Value(v) : v;
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Date) return v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (v instanceof Float32Array) return Array.from(v, float32Value);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) {
    if ((kind === 'Int64' || kind === 'UInt64') && isWordPair(v)) return int64Json(v, kind);
    return v.map((x: unknown) => toJson(x, kind));
  }
  if (typeof (v as { toString?: unknown }).toString === 'function') {
    const s = String(v);
    if (s !== '[object Object]') return s;
  }
  try {
    return JSON.parse(JSON.stringify(v)) as unknown;
  } catch {
    return String(v);
  }
}

export function itemsByParameters(ua: OpcuaModule, sub: OpcuaOptions['subscriptions'][number]): { params: MonitoringParameters; items: OpcuaItem[] }[] {
  const groups = new Map<string, { params: MonitoringParameters; items: OpcuaItem[] }>();
  for (const item of sub.items) {
    const sampling = item.samplingIntervalMs ?? sub.publishingIntervalMs;
    const key = `${sampling}|${item.queueSize}|${item.deadband?.type ?? ''}|${item.deadband?.value ?? ''}`;
    let g = groups.get(key);
    if (!g) {
      const params: MonitoringParameters = { samplingInterval: sampling, queueSize: item.queueSize, discardOldest: true };
      if (item.deadband) {
        params.filter = new ua.DataChangeFilter({
          trigger: ua.DataChangeTrigger.StatusValue,
          deadbandType: item.deadband.type === 'absolute' ? ua.DeadbandType.Absolute : ua.DeadbandType.Percent,
          deadbandValue: item.deadband.value,
        });
      }
      g = { params, items: [] };
      groups.set(key, g);
    }
    g.items.push(item);
  }
  return [...groups.values()];
}

/** A status code's quality, from its severity bits (0x00 Good, 0x40 Uncertain, 0x80 and 0xC0 Bad). */
export function qualityOf(status: { value: number }): 'good' | 'uncertain' | 'bad' {
  const severity = (status.value >>> 30) & 0b11;
  return severity === 0 ? 'good' : severity === 1 ? 'uncertain' : 'bad';
}

/**
 * The items whose node id node-opcua can resolve; `invalid` is called for each other one. One bad
 * id made the whole CreateMonitoredItems call throw: every session of the source failed, no item
 * was read (a name the schema lets through as a standard node's may still be unknown).
 */
export function resolvableItems(ua: OpcuaModule, items: readonly OpcuaItem[], invalid: (item: OpcuaItem, why: string) => void): OpcuaItem[] {
  return items.filter((item) => {
    try {
      ua.resolveNodeId(item.nodeId);
      return true;
    } catch (err) {
      invalid(item, (err as Error).message);
      return false;
    }
  });
}
