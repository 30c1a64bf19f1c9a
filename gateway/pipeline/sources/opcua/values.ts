// OPC UA values -> JSON, and monitored items grouped by their monitoring parameters (one
// CreateMonitoredItems request per distinct sampling interval / queue size / deadband).
import type { OpcuaModule } from './connect.js';
import type { OpcuaItem, OpcuaOptions } from './options.js';

type MonitoringParameters = import('node-opcua-client').MonitoringParametersOptions;

/** A Variant's value as JSON: numbers, booleans, strings, ISO dates, arrays; 64-bit [hi,lo] pairs as numbers. */
export function toJson(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Date) return v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) {
    // node-opcua carries Int64/UInt64 as [high, low] 32-bit words.
    if (v.length === 2 && v.every((x) => typeof x === 'number' && Number.isInteger(x))) return v;
    return v.map(toJson);
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
