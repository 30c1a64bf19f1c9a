// A downlink write's value checked against the node's built-in data type before it is sent.
// node-opcua encodes what it is given: 1.5 into an Int16 is written as 1, 2.5 into an Int64 as 2,
// 1e39 into a Float as Infinity, and it refuses 1 for a Boolean with "Invalid variant". A value the
// type cannot hold exactly is refused here (GH_WRITE_VALUE_INVALID, as for Modbus: what, which tag,
// how to fix), never written changed. Float precision itself is the type's, not a refusal.
import { asBit, refuseWrite as refuse } from '../write-refusal.js';

// OPC UA built-in type ids (Part 6, 5.1.2): only those with a rule here.
const BOOLEAN = 1;
const INT64 = 8;
const UINT64 = 9;
const FLOAT = 10;
const DOUBLE = 11;
const STRING = 12;
const INT_RANGES: Readonly<Record<number, readonly [number, number, string]>> = {
  2: [-128, 127, 'SByte'],
  3: [0, 255, 'Byte'],
  4: [-32768, 32767, 'Int16'],
  5: [0, 65535, 'UInt16'],
  6: [-2147483648, 2147483647, 'Int32'],
  7: [0, 4294967295, 'UInt32'],
  [INT64]: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'Int64'],
  [UINT64]: [0, Number.MAX_SAFE_INTEGER, 'UInt64'],
};
const FLOAT_MAX = 3.4028234663852886e38;

/**
 * The value to write to a node of built-in type `dataType` (1/0 become true/false for a Boolean),
 * or a GH_WRITE_VALUE_INVALID naming `point` when the type cannot hold it exactly.
 */
export function writeValue(value: unknown, dataType: number, point: string): unknown {
  if (dataType === BOOLEAN) {
    const bit = asBit(value);
    if (bit !== undefined) return bit;
    throw refuse(value, `${point}, Boolean)`, 'a Boolean takes only true/false or 1/0', 'send true, false, 1 or 0');
  }
  const int = INT_RANGES[dataType];
  if (int) {
    const [lo, hi, name] = int;
    const where = `${point}, ${name})`;
    if (typeof value !== 'number' || !Number.isFinite(value)) throw refuse(value, where, `an ${name} node needs a whole JSON number`, 'send a JSON number');
    if (!Number.isInteger(value))
      throw refuse(
        value,
        where,
        `${value} is not a whole number, and ${name} holds whole numbers only (it would have been truncated to ${Math.trunc(value)})`,
        `write a whole number, e.g. ${Math.floor(value)} or ${Math.ceil(value)}`,
      );
    if (value < lo || value > hi) throw refuse(value, where, `${value} is outside ${name} (${lo}..${hi})`, 'write a value within the range');
    // node-opcua turns a 64-bit number into [high, low] words itself, and asserts (an empty error,
    // the write failed) on a number below -2^32; a decimal string goes through BigInt, exact.
    return dataType === INT64 || dataType === UINT64 ? String(value) : value;
  }
  if (dataType === FLOAT || dataType === DOUBLE) {
    const name = dataType === FLOAT ? 'Float' : 'Double';
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw refuse(value, `${point}, ${name})`, `a ${name} node needs a finite JSON number`, 'send a JSON number');
    if (dataType === FLOAT && Math.abs(value) > FLOAT_MAX)
      throw refuse(value, `${point}, Float)`, `${value} is beyond a Float's range (it would have been written as Infinity)`, 'write a value within +-3.4e38');
    return value;
  }
  if (dataType === STRING && typeof value !== 'string') throw refuse(value, `${point}, String)`, 'a String node needs a JSON string', 'send a JSON string');
  return value;
}
