// A Sparkplug B metric's value as JSON, typed by its datatype (the birth's, when a data message
// leaves it out, as the specification allows): signed integers sign-extended from the unsigned
// field they travel in, 64-bit integers and DateTime as numbers up to 2^53 and as exact decimal
// strings beyond (as the other sources do), Float rounded to what the float32 held, bytes as
// base64, the array types unpacked from their little-endian bytes, DataSet, Template and
// PropertySet as plain JSON, NaN and the infinities as strings (JSON has no number for them).
import { float32Value } from '../../../../core/float32.js';
import type { RawDataSet, RawMetric, RawPropertySet, RawPropertyValue, RawScalars, RawTemplate } from './schema.js';

/** The specification's DataType numbers, by name (index = number). */
export const DATATYPES = [
  'Unknown',
  'Int8',
  'Int16',
  'Int32',
  'Int64',
  'UInt8',
  'UInt16',
  'UInt32',
  'UInt64',
  'Float',
  'Double',
  'Boolean',
  'String',
  'DateTime',
  'Text',
  'UUID',
  'DataSet',
  'Bytes',
  'File',
  'Template',
  'PropertySet',
  'PropertySetList',
  'Int8Array',
  'Int16Array',
  'Int32Array',
  'Int64Array',
  'UInt8Array',
  'UInt16Array',
  'UInt32Array',
  'UInt64Array',
  'FloatArray',
  'DoubleArray',
  'BooleanArray',
  'StringArray',
  'DateTimeArray',
] as const;

export const DT = Object.fromEntries(DATATYPES.map((n, i) => [n, i])) as Record<(typeof DATATYPES)[number], number>;

/** The name of a datatype number ('DataType 99' for one the specification does not have). */
export function datatypeName(n: number | undefined): string | undefined {
  if (n === undefined) return undefined;
  return DATATYPES[n] ?? `DataType ${n}`;
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** An integer as a JSON number when exact, else its decimal string. */
export function exactInteger(big: bigint): number | string {
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big.toString();
}

/** A decimal string of a uint64 field as a JSON number when exact (aliases, seq, timestamps). */
export function uint64(s: string | undefined): number | string | undefined {
  return s === undefined ? undefined : exactInteger(BigInt(s));
}

const finite = (x: number): number | string => (Number.isFinite(x) ? x : String(x));

/** The integer datatypes, their width and sign (decoded here, checked for writes in write-value.ts). */
export const INTEGER_TYPES: Readonly<Record<number, readonly [bits: number, signed: boolean]>> = {
  [DT.Int8]: [8, true],
  [DT.Int16]: [16, true],
  [DT.Int32]: [32, true],
  [DT.Int64]: [64, true],
  [DT.UInt8]: [8, false],
  [DT.UInt16]: [16, false],
  [DT.UInt32]: [32, false],
  [DT.UInt64]: [64, false],
};

/** What carries an integer on the wire: the integer types, and DateTime (ms, a uint64). */
const INT_BITS: Readonly<Record<number, readonly [bits: number, signed: boolean]>> = { ...INTEGER_TYPES, [DT.DateTime]: [64, false] };

/** The integer a scalar holds (int_value or long_value), whichever field carries it. */
function rawInteger(v: RawScalars): bigint | undefined {
  if (v.longValue !== undefined) return BigInt(v.longValue);
  if (v.intValue !== undefined) return BigInt(v.intValue);
  return undefined;
}

/** The value of a scalar (a metric's, a dataset cell's, a parameter's, a property's) for `datatype`. */
export function scalarValue(v: RawScalars, datatype: number | undefined): Json {
  const int = INT_BITS[datatype ?? -1];
  if (int) {
    const raw = rawInteger(v);
    if (raw !== undefined) return exactInteger(int[1] ? BigInt.asIntN(int[0], raw) : BigInt.asUintN(int[0], raw));
  }
  if (v.floatValue !== undefined) return finite(float32Value(v.floatValue));
  if (v.doubleValue !== undefined) return finite(v.doubleValue);
  if (v.booleanValue !== undefined) return v.booleanValue;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.longValue !== undefined) return exactInteger(BigInt(v.longValue));
  if (v.intValue !== undefined) return v.intValue;
  return null;
}

/** The array datatypes: element size in bytes and the reader of one element (little-endian). */
const ARRAYS: Record<number, [size: number, read: (b: Buffer, at: number) => Json]> = {
  [DT.Int8Array]: [1, (b, at) => b.readInt8(at)],
  [DT.Int16Array]: [2, (b, at) => b.readInt16LE(at)],
  [DT.Int32Array]: [4, (b, at) => b.readInt32LE(at)],
  [DT.Int64Array]: [8, (b, at) => exactInteger(b.readBigInt64LE(at))],
  [DT.UInt8Array]: [1, (b, at) => b.readUInt8(at)],
  [DT.UInt16Array]: [2, (b, at) => b.readUInt16LE(at)],
  [DT.UInt32Array]: [4, (b, at) => b.readUInt32LE(at)],
  [DT.UInt64Array]: [8, (b, at) => exactInteger(b.readBigUInt64LE(at))],
  [DT.FloatArray]: [4, (b, at) => finite(float32Value(b.readFloatLE(at)))],
  [DT.DoubleArray]: [8, (b, at) => finite(b.readDoubleLE(at))],
  [DT.DateTimeArray]: [8, (b, at) => exactInteger(b.readBigInt64LE(at))],
};

/** A bytes_value of an array datatype; undefined when its length does not fit the type (kept as base64 then). */
function arrayValue(b: Buffer, datatype: number): Json[] | undefined {
  if (datatype === DT.StringArray) {
    // UTF-8 strings, each ended by a NUL.
    if (b.length > 0 && b[b.length - 1] !== 0) return undefined;
    return b.length === 0
      ? []
      : b
          .subarray(0, b.length - 1)
          .toString('utf8')
          .split('\u0000');
  }
  if (datatype === DT.BooleanArray) {
    // A 4-byte little-endian count, then the bits, most significant first.
    if (b.length < 4) return undefined;
    const n = b.readUInt32LE(0);
    if (Math.ceil(n / 8) !== b.length - 4) return undefined;
    const out: boolean[] = [];
    for (let i = 0; i < n; i++) out.push((b[4 + (i >> 3)]! & (0x80 >> (i & 7))) !== 0);
    return out;
  }
  const spec = ARRAYS[datatype];
  if (!spec || b.length % spec[0] !== 0) return undefined;
  const out: Json[] = [];
  for (let at = 0; at < b.length; at += spec[0]) out.push(spec[1](b, at));
  return out;
}

/** A DataSet as { columns, types, rows }: each row an array of values typed by its column. */
function dataSetValue(d: RawDataSet): Json {
  const types = d.types ?? [];
  return {
    columns: d.columns ?? [],
    types: types.map((t) => datatypeName(t) ?? null),
    rows: (d.rows ?? []).map((r) => (r.elements ?? []).map((e, i) => scalarValue(e, types[i]))),
  };
}

/** A PropertySet as an object of its keys; a property set list as an array of them. */
export function propertySetValue(p: RawPropertySet): { [k: string]: Json } {
  const out: { [k: string]: Json } = {};
  const values = p.values ?? [];
  (p.keys ?? []).forEach((k, i) => {
    const v = values[i];
    out[k] = v === undefined ? null : propertyValue(v);
  });
  return out;
}

function propertyValue(v: RawPropertyValue): Json {
  if (v.isNull) return null;
  if (v.propertysetValue) return propertySetValue(v.propertysetValue);
  if (v.propertysetsValue) return (v.propertysetsValue.propertyset ?? []).map(propertySetValue);
  return scalarValue(v, v.type);
}

/** A Template as plain JSON; its metrics converted as any (they carry names, not aliases). */
function templateValue(t: RawTemplate, metric: (m: RawMetric) => Json): Json {
  const out: { [k: string]: Json } = {};
  if (t.version !== undefined) out.version = t.version;
  if (t.templateRef !== undefined) out.templateRef = t.templateRef;
  if (t.isDefinition !== undefined) out.isDefinition = t.isDefinition;
  out.metrics = (t.metrics ?? []).map(metric);
  out.parameters = (t.parameters ?? []).map((p) => ({ name: p.name ?? null, type: datatypeName(p.type) ?? null, value: scalarValue(p, p.type) }));
  return out;
}

/** A metric's value, for its datatype (its own, or the birth's). */
export function metricValue(m: RawMetric, datatype: number | undefined, metric: (m: RawMetric) => Json): Json {
  if (m.isNull) return null;
  if (m.datasetValue) return dataSetValue(m.datasetValue);
  if (m.templateValue) return templateValue(m.templateValue, metric);
  if (m.bytesValue !== undefined) {
    const b = Buffer.from(m.bytesValue);
    return (datatype !== undefined ? arrayValue(b, datatype) : undefined) ?? b.toString('base64');
  }
  return scalarValue(m, datatype);
}
