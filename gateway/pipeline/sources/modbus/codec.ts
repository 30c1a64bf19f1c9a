// Register codec: Modbus registers (16-bit words, big-endian on the wire) <-> typed values, with
// the byte/word order of the device. Orders name the four bytes of a 32-bit value as they appear
// on the wire for the value 0xAABBCCDD written as A B C D:
//   ABCD  big-endian (Modbus standard)      DCBA  little-endian
//   BADC  bytes swapped inside each word    CDAB  words swapped (common for floats)
// 64-bit values generalise the same rule (word order reversed / bytes in each word swapped);
// 16-bit values only see the byte swap (BADC, DCBA). Strings honour the byte swap only.

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

function scaled(raw: number, s: ScaleOptions): number {
  return s.scale === 1 && s.offset === 0 ? raw : raw * s.scale + s.offset;
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
      return scaled(be.readFloatBE(0), s);
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

/**
 * Encode a value for a write (inverse of decodeRegisters: raw = (value - offset) / scale, rounded
 * for integer types). Throws a RangeError naming the problem on a value the type cannot hold.
 */
export function encodeRegisters(value: unknown, type: DataType, order: ByteOrder, s: ScaleOptions, length?: number): Buffer {
  const be = Buffer.alloc(registerCount(type, length) * 2);
  if (type === 'string') {
    if (typeof value !== 'string') throw new RangeError('a string tag needs a string value');
    if (Buffer.byteLength(value, 'latin1') > be.length) throw new RangeError(`'${value}' is longer than the tag's ${be.length} bytes`);
    be.write(value, 'latin1');
    return toBigEndian(be, order, type);
  }
  if (type === 'bool') {
    if (typeof value !== 'boolean' && value !== 0 && value !== 1) throw new RangeError('a bool tag needs true/false (or 1/0)');
    be.writeUInt16BE(value === true || value === 1 ? 1 : 0, 0);
    return toBigEndian(be, order, type);
  }
  if (type === 'int64' && typeof value === 'string' && /^-?\d+$/.test(value) && s.scale === 1 && s.offset === 0) {
    be.writeBigInt64BE(BigInt(value), 0);
    return toBigEndian(be, order, type);
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new RangeError(`a ${type} tag needs a finite number`);
  const raw = (value - s.offset) / s.scale;
  if (type === 'float32') be.writeFloatBE(raw, 0);
  else if (type === 'float64') be.writeDoubleBE(raw, 0);
  else if (type === 'int64') be.writeBigInt64BE(BigInt(Math.round(raw)), 0);
  else {
    const int = Math.round(raw);
    const [lo, hi] = INT_RANGES[type] as [number, number];
    if (int < lo || int > hi) throw new RangeError(`${value} is outside ${type} (${lo}..${hi}) after scale/offset`);
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
  if (typeof prev === 'number' && typeof next === 'number') return deadband > 0 ? Math.abs(next - prev) >= deadband : next !== prev;
  return prev !== next;
}
