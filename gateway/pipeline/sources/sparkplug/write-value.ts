// A command's value checked against the metric's datatype (its birth's) and put in the field of
// the Sparkplug B Metric that datatype travels in. A value the datatype cannot hold exactly is
// refused (GH_WRITE_VALUE_INVALID, as for Modbus and OPC UA: what, which metric, why, how to fix),
// never sent changed: 1.5 to an Int16, 300 to a UInt8, 2^53 + 1 as a JSON number (already rounded
// by the time it is parsed: a 64-bit value beyond 2^53 comes as a decimal string), 1e39 to a Float.
// Float precision itself is the type's, not a refusal (0.1 is sent as the float32 nearest to it).
//
// Int8, Int16 and Int32 travel in int_value (uint32) as their 32-bit two's complement (-1 is
// 0xFFFFFFFF, what Java's and C's encoders send); Int64 in long_value (uint64) as its 64-bit one.
import { asBit, refuseWrite as refuse } from '../write-refusal.js';
import { DT, INTEGER_TYPES, datatypeName } from './values.js';

/** The value fields of a Metric (protobufjs' object form: 64-bit integers as decimal strings). */
export type MetricValueField =
  | { intValue: number }
  | { longValue: string }
  | { floatValue: number }
  | { doubleValue: number }
  | { booleanValue: boolean }
  | { stringValue: string };

const FLOAT_MAX = 3.4028234663852886e38;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** An ISO 8601 date and time, as Date.parse reads it (a bare date or a number is no DateTime here). */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const WRITABLE = 'Int8..Int64, UInt8..UInt64, Float, Double, Boolean, String, Text, UUID, DateTime';

/**
 * The Metric value field for `value` written to a metric of `datatype`, or a GH_WRITE_VALUE_INVALID
 * naming `point` (e.g. "metric 'Setpoint' of device 'press3' of edge node 'plant1/edge7'").
 */
export function commandValue(value: unknown, datatype: number, point: string): MetricValueField {
  const name = datatypeName(datatype) ?? 'Unknown';
  const where = `${point} (${name})`;
  const int = INTEGER_TYPES[datatype];
  if (int) {
    const [bits, signed] = int;
    const n = wholeNumber(value, where, name, bits === 64);
    const lo = signed ? -(1n << BigInt(bits - 1)) : 0n;
    const hi = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
    if (n < lo || n > hi) throw refuse(value, where, `${n} is outside ${name} (${lo}..${hi})`, 'write a value within the range');
    return bits === 64 ? { longValue: BigInt.asUintN(64, n).toString() } : { intValue: Number(BigInt.asUintN(32, n)) };
  }
  switch (datatype) {
    case DT.Float:
    case DT.Double: {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw refuse(value, where, `a ${name} metric needs a finite JSON number`, 'send a JSON number');
      if (datatype === DT.Float && Math.abs(value) > FLOAT_MAX)
        throw refuse(value, where, `${value} is beyond a Float's range (it would be sent as Infinity)`, 'write a value within +-3.4e38');
      return datatype === DT.Float ? { floatValue: value } : { doubleValue: value };
    }
    case DT.Boolean: {
      const bit = asBit(value);
      if (bit === undefined) throw refuse(value, where, 'a Boolean takes only true/false or 1/0', 'send true, false, 1 or 0');
      return { booleanValue: bit };
    }
    case DT.String:
    case DT.Text:
      if (typeof value !== 'string') throw refuse(value, where, `a ${name} metric needs a JSON string`, 'send a JSON string');
      return { stringValue: value };
    case DT.UUID:
      if (typeof value !== 'string' || !UUID.test(value))
        throw refuse(value, where, 'a UUID metric needs a UUID string', 'send e.g. "123e4567-e89b-12d3-a456-426614174000"');
      return { stringValue: value };
    case DT.DateTime:
      return { longValue: dateTime(value, where).toString() };
    default:
      throw refuse(value, where, `the gateway writes only the scalar datatypes (${WRITABLE})`, "write this metric with the edge node's own tools");
  }
}

/** A whole number, exact: a JSON number within +-(2^53 - 1), or (`wide`: 64-bit types) a decimal string. */
function wholeNumber(value: unknown, where: string, name: string, wide: boolean): bigint {
  if (wide && typeof value === 'string' && /^-?\d{1,20}$/.test(value)) return BigInt(value);
  const hint = wide ? 'send a JSON number, or a decimal string ("18446744073709551615") beyond 2^53' : 'send a JSON number';
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw refuse(value, where, `an ${name} metric needs a whole ${wide ? 'number (a JSON number or a decimal string)' : 'JSON number'}`, hint);
  if (!Number.isInteger(value))
    throw refuse(
      value,
      where,
      `${value} is not a whole number, and ${name} holds whole numbers only`,
      `write a whole number, e.g. ${Math.floor(value)} or ${Math.ceil(value)}`,
    );
  if (!Number.isSafeInteger(value))
    throw refuse(
      value,
      where,
      `${value} is beyond 2^53: a JSON number does not hold it exactly (it was rounded when the command was read)`,
      wide ? 'send the value as a decimal string, e.g. "9007199254740993"' : 'write a value within the range',
    );
  return BigInt(value);
}

/** A DateTime: milliseconds since 1970 (a whole number or decimal string, not negative), or an ISO 8601 date and time. */
function dateTime(value: unknown, where: string): bigint {
  if (typeof value === 'string' && ISO_DATE_TIME.test(value)) {
    const ms = Date.parse(value);
    if (Number.isFinite(ms) && ms >= 0) return BigInt(ms);
  }
  if (typeof value === 'string' && !/^-?\d+$/.test(value))
    throw refuse(value, where, 'a DateTime is milliseconds since 1970 or an ISO 8601 date and time', 'send e.g. 1700000000000 or "2023-11-14T22:13:20Z"');
  const n = wholeNumber(value, where, 'DateTime', true);
  if (n < 0n || n > (1n << 64n) - 1n) throw refuse(value, where, `${n} is outside DateTime (0..18446744073709551615 ms since 1970)`, 'write a time since 1970');
  return n;
}
