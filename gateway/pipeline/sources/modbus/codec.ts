// Register codec: Modbus registers (16-bit words, big-endian on the wire) <-> typed values, with
// the byte/word order of the device. Orders name the four bytes of a 32-bit value as they appear
// on the wire for the value 0xAABBCCDD written as A B C D:
//   ABCD  big-endian (Modbus standard)      DCBA  little-endian
//   BADC  bytes swapped inside each word    CDAB  words swapped (common for floats)
// 64-bit values generalise the same rule (word order reversed / bytes in each word swapped);
// 16-bit values only see the byte swap (BADC, DCBA). Strings honour the byte swap only.
import { decimalScaler } from '../../../../core/scale.js';
import { float32Value } from '../../../../core/float32.js';
import { asBit, refuseWrite as refuse } from '../write-refusal.js';

export const DATA_TYPES = ['bool', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'float32', 'float64', 'string'] as const;
export type DataType = (typeof DATA_TYPES)[number];
export const BYTE_ORDERS = ['ABCD', 'DCBA', 'BADC', 'CDAB'] as const;
export type ByteOrder = (typeof BYTE_ORDERS)[number];

/** A decoded value as it goes into a JSON payload (int64 beyond 2^53 becomes a decimal string). */
export type TagValue = number | boolean | string;

export function registerCount(type: DataType, length?: number): number {
  switch (type) {
    case 'bool':
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'int64':
    case 'float64':
      return 4;
    case 'string':
      return length ?? 1;
  }
}

const swapsBytes = (order: ByteOrder): boolean => order === 'BADC' || order === 'DCBA';
const reversesWords = (order: ByteOrder): boolean => order === 'CDAB' || order === 'DCBA';

/** Reorder wire bytes into big-endian (ABCD) bytes; the transform is its own inverse. */
export function toBigEndian(wire: Buffer, order: ByteOrder, type: DataType): Buffer {
  const out = Buffer.from(wire);
  if (reversesWords(order) && type !== 'string') {
    const words = out.length / 2;
    for (let i = 0; i < words / 2; i++) {
      const a = i * 2;
      const b = (words - 1 - i) * 2;
      const a0 = out[a] as number;
      const a1 = out[a + 1] as number;
      out[a] = out[b] as number;
      out[a + 1] = out[b + 1] as number;
      out[b] = a0;
      out[b + 1] = a1;
    }
  }
  if (swapsBytes(order)) out.swap16();
  return out;
}

export interface ScaleOptions {
  scale: number;
  offset: number;
}

/** Each tag's raw -> value function (core/scale.ts: in decimal, 2040 with scale 0.01 is 20.4). */
const scalers = new WeakMap<ScaleOptions, { scale: number; offset: number; toValue: (raw: number) => number }>();

function scaled(raw: number, s: ScaleOptions): number {
  if (s.scale === 1 && s.offset === 0) return raw;
  let cached = scalers.get(s);
  // made once per tag (its options are one object for the source's life), again if they changed
  if (cached === undefined || cached.scale !== s.scale || cached.offset !== s.offset) {
    cached = { scale: s.scale, offset: s.offset, toValue: decimalScaler(s.scale, s.offset) };
    scalers.set(s, cached);
  }
  return cached.toValue(raw);
}

/** Decode the registers of one tag (wire bytes, 2 per register). */
export function decodeRegisters(wire: Buffer, type: DataType, order: ByteOrder, s: ScaleOptions): TagValue {
  const be = toBigEndian(wire, order, type);
  switch (type) {
    case 'bool':
      return be.readUInt16BE(0) !== 0;
    case 'int16':
      return scaled(be.readInt16BE(0), s);
    case 'uint16':
      return scaled(be.readUInt16BE(0), s);
    case 'int32':
      return scaled(be.readInt32BE(0), s);
    case 'uint32':
      return scaled(be.readUInt32BE(0), s);
    case 'float32':
      return scaled(float32Value(be.readFloatBE(0)), s); // 231.2, not 231.1999969482422 (core/float32.ts)
    case 'float64':
      return scaled(be.readDoubleBE(0), s);
    case 'int64': {
      const big = be.readBigInt64BE(0);
      if (s.scale === 1 && s.offset === 0) {
        return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big.toString();
      }
      return scaled(Number(big), s);
    }
    case 'string': {
      const end = be.indexOf(0);
      return be.subarray(0, end === -1 ? be.length : end).toString('latin1');
    }
  }
}

const INT_RANGES: Partial<Record<DataType, [number, number]>> = {
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};
const INT64_RANGE = [-(2n ** 63n), 2n ** 63n - 1n] as const;

/**
 * How far (value - offset) / scale may lie from a whole number and still be that number, relative
 * to the size of the operands in register units. The floating-point noise of that division is a
 * few units in the 16th digit (21.4 / 0.1 = 213.99999999999997); 1e-12 accepts it with a wide
 * margin yet refuses any real fraction for every 32-bit type (at |raw| = 2^32 it is under 0.005).
 */
export const WHOLE_TOLERANCE = 1e-12;

/** A number rid of the noise of its computation (21.400000000000002 -> 21.4), for messages. */
function tidy(n: number): number {
  return Number(n.toPrecision(12));
}

/** Encode a coil write: only true/false or 1/0 (a coil is one bit: 2 or 0.5 is a mistake, not 1). */
export function encodeCoil(value: unknown, point = 'a coil'): boolean {
  const bit = asBit(value);
  if (bit !== undefined) return bit;
  throw refuse(value, `${point} (coil)`, 'a coil takes only true/false or 1/0', 'send true, false, 1 or 0');
}

/** The whole register value of a scaled integer write, or the refusal naming the nearest ones. */
function wholeRaw(value: number, type: DataType, s: ScaleOptions, point: string): number {
  if (s.scale === 0) throw refuse(value, point, "the tag's scale is 0, so every register value reads as the offset", 'give the tag a non-zero scale');
  const raw = (value - s.offset) / s.scale;
  const int = Math.round(raw);
  const size = Math.max(1, Math.abs(value / s.scale), Math.abs(s.offset / s.scale));
  if (Math.abs(raw - int) <= WHOLE_TOLERANCE * size) return int;
  const [a, b] = [Math.floor(raw), Math.ceil(raw)].map((r) => tidy(r * s.scale + s.offset)).sort((x, y) => x - y);
  const scaledTag = s.scale !== 1 || s.offset !== 0;
  const shifted = s.offset === 0 ? `${value}` : s.offset > 0 ? `${value} - ${s.offset}` : `${value} + ${-s.offset}`;
  const divided = s.scale === 1 ? shifted : s.offset === 0 ? `${shifted} / ${s.scale}` : `(${shifted}) / ${s.scale}`;
  const formula = scaledTag ? `${divided} = ${tidy(raw)}` : String(value);
  throw refuse(
    value,
    point,
    `${formula} is not a whole register value, and ${type} holds whole numbers only (it would have to be rounded)`,
    `write a value the register holds exactly${scaledTag ? ' (a multiple of the scale plus the offset)' : ''}, e.g. ${a} or ${b}, or give the tag the type float32 or float64 if the device stores a float there`,
  );
}

/**
 * Encode a value for a write (inverse of decodeRegisters: raw = (value - offset) / scale). A value
 * the registers cannot hold exactly is refused with GH_WRITE_VALUE_INVALID naming `point`, never
 * rounded: out of range, the wrong kind, or for integer types not a whole raw value (within
 * WHOLE_TOLERANCE, so floating-point noise is not a refusal).
 */
export function encodeRegisters(value: unknown, type: DataType, order: ByteOrder, s: ScaleOptions, length?: number, point = 'the tag'): Buffer {
  const be = Buffer.alloc(registerCount(type, length) * 2);
  const where = `${point} (${[type, s.scale !== 1 ? `scale ${s.scale}` : '', s.offset !== 0 ? `offset ${s.offset}` : ''].filter(Boolean).join(', ')})`;
  if (type === 'string') {
    if (typeof value !== 'string') throw refuse(value, where, 'a string tag needs a string value', 'send a JSON string');
    if (Buffer.byteLength(value, 'latin1') > be.length)
      throw refuse(value, where, `'${value}' is longer than the tag's ${be.length} bytes`, `send at most ${be.length} characters, or raise the tag's length`);
    be.write(value, 'latin1');
    return toBigEndian(be, order, type);
  }
  if (type === 'bool') {
    if (value !== true && value !== false && value !== 0 && value !== 1)
      throw refuse(value, where, 'a bool tag takes only true/false or 1/0', 'send true, false, 1 or 0');
    be.writeUInt16BE(value === true || value === 1 ? 1 : 0, 0);
    return toBigEndian(be, order, type);
  }
  if (type === 'int64' && typeof value === 'string' && /^-?\d+$/.test(value) && s.scale === 1 && s.offset === 0) {
    const big = BigInt(value);
    if (big < INT64_RANGE[0] || big > INT64_RANGE[1]) throw refuse(value, where, `${value} is outside int64`, 'write a value within -2^63..2^63-1');
    be.writeBigInt64BE(big, 0);
    return toBigEndian(be, order, type);
  }
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw refuse(
      value,
      where,
      `a ${type} tag needs a finite number`,
      `send a JSON number${type === 'int64' ? ' (or, without scale/offset, a decimal string for exact 64-bit values)' : ''}`,
    );
  if (type === 'float32') be.writeFloatBE((value - s.offset) / s.scale, 0);
  else if (type === 'float64') be.writeDoubleBE((value - s.offset) / s.scale, 0);
  else if (type === 'int64') {
    const big = BigInt(wholeRaw(value, type, s, where));
    if (big < INT64_RANGE[0] || big > INT64_RANGE[1])
      throw refuse(value, where, `${value} is outside int64 after scale/offset`, "write a smaller value, or change the tag's scale");
    be.writeBigInt64BE(big, 0);
  } else {
    const int = wholeRaw(value, type, s, where);
    const [lo, hi] = INT_RANGES[type] as [number, number];
    if (int < lo || int > hi)
      throw refuse(
        value,
        where,
        `${value} is outside ${type} (${lo}..${hi}) after scale/offset`,
        "write a value within the range, or change the tag's type or scale",
      );
    if (type === 'int16') be.writeInt16BE(int, 0);
    else if (type === 'uint16') be.writeUInt16BE(int, 0);
    else if (type === 'int32') be.writeInt32BE(int, 0);
    else be.writeUInt32BE(int, 0);
  }
  return toBigEndian(be, order, type);
}

/** True when `next` differs from `prev` by more than the deadband (any change for non-numbers). */
export function changed(prev: TagValue | undefined, next: TagValue, deadband: number): boolean {
  if (prev === undefined) return true;
  if (typeof prev === 'number' && typeof next === 'number') {
    // A float register reading NaN (a sensor fault, unset at power-up) compares false with
    // everything: NaN then a number was never a change beyond a deadband (the tag stuck at NaN
    // for good), and NaN !== NaN reported it on every poll. NaN to or from a number is a change.
    if (Number.isNaN(prev) || Number.isNaN(next)) return Number.isNaN(prev) !== Number.isNaN(next);
    return deadband > 0 ? Math.abs(next - prev) >= deadband : next !== prev;
  }
  return prev !== next;
}
