// Packed binary structs declared in config: fields in wire order, no padding.
// Decoded value = raw * scale + offset (scale/offset applied only when given, so integers stay exact;
// computed in decimal for whole raw values: 2040 with scale 0.01 is 20.4, core/scale.ts).
import { ERRORS } from '../../core/errors.js';
import { decimalScaler } from '../../core/scale.js';
import { float32Value } from '../../core/float32.js';
import type { StructField } from '../options.js';
import type { Codec, Decoded } from './types.js';

export interface StructCodecOptions {
  fields: StructField[];
  allowTrailing: boolean;
}

const SIZES = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, f64: 8 } as const;
const RANGES: Record<string, [number, number]> = {
  u8: [0, 0xff],
  i8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
};

interface Compiled {
  name: string;
  type: StructField['type'];
  le: boolean;
  at: number;
  scale: number;
  offset: number;
  scaled: boolean;
  /** raw -> raw * scale + offset, in decimal for whole raw values. */
  toValue: (raw: number) => number;
}

function read(buf: Buffer, f: Compiled): number {
  const at = f.at;
  switch (f.type) {
    case 'u8':
      return buf.readUInt8(at);
    case 'i8':
      return buf.readInt8(at);
    case 'u16':
      return f.le ? buf.readUInt16LE(at) : buf.readUInt16BE(at);
    case 'i16':
      return f.le ? buf.readInt16LE(at) : buf.readInt16BE(at);
    case 'u32':
      return f.le ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
    case 'i32':
      return f.le ? buf.readInt32LE(at) : buf.readInt32BE(at);
    case 'f32':
      return float32Value(f.le ? buf.readFloatLE(at) : buf.readFloatBE(at)); // 21.7, not 21.700000762939453 (core/float32.ts)
    case 'f64':
      return f.le ? buf.readDoubleLE(at) : buf.readDoubleBE(at);
  }
}

function write(buf: Buffer, f: Compiled, v: number): void {
  const at = f.at;
  switch (f.type) {
    case 'u8':
      buf.writeUInt8(v, at);
      return;
    case 'i8':
      buf.writeInt8(v, at);
      return;
    case 'u16':
      if (f.le) buf.writeUInt16LE(v, at);
      else buf.writeUInt16BE(v, at);
      return;
    case 'i16':
      if (f.le) buf.writeInt16LE(v, at);
      else buf.writeInt16BE(v, at);
      return;
    case 'u32':
      if (f.le) buf.writeUInt32LE(v, at);
      else buf.writeUInt32BE(v, at);
      return;
    case 'i32':
      if (f.le) buf.writeInt32LE(v, at);
      else buf.writeInt32BE(v, at);
      return;
    case 'f32':
      if (f.le) buf.writeFloatLE(v, at);
      else buf.writeFloatBE(v, at);
      return;
    case 'f64':
      if (f.le) buf.writeDoubleLE(v, at);
      else buf.writeDoubleBE(v, at);
      return;
  }
}

export function structSize(fields: StructField[]): number {
  let n = 0;
  for (const f of fields) n += SIZES[f.type];
  return n;
}

export function structCodec(o: StructCodecOptions): Codec {
  const compiled: Compiled[] = [];
  let at = 0;
  for (const f of o.fields) {
    compiled.push({
      name: f.name,
      type: f.type,
      le: (f.endian ?? 'le') === 'le',
      at,
      scale: f.scale ?? 1,
      offset: f.offset ?? 0,
      scaled: f.scale !== undefined || f.offset !== undefined,
      toValue: decimalScaler(f.scale ?? 1, f.offset ?? 0),
    });
    at += SIZES[f.type];
  }
  const size = at;
  return {
    type: 'struct',
    decode(payload: Buffer): Decoded {
      if (payload.length < size || (!o.allowTrailing && payload.length !== size)) {
        throw ERRORS.GH_CODEC_INVALID(
          { codec: 'struct', reason: `frame has ${payload.length} bytes, expected ${size}` },
          {
            hint: 'match codec.fields to the firmware struct (packed, no padding) or set allowTrailing',
          },
        );
      }
      const out: Decoded = {};
      for (const f of compiled) {
        const raw = read(payload, f);
        out[f.name] = f.scaled ? f.toValue(raw) : raw;
      }
      return out;
    },
    toJson: (_payload, decoded) => Buffer.from(JSON.stringify(decoded), 'utf8'),
    encode(value: Decoded): Buffer {
      const buf = Buffer.alloc(size);
      for (const f of compiled) {
        const v = value[f.name];
        if (typeof v !== 'number' || Number.isNaN(v)) {
          throw ERRORS.GH_CODEC_INVALID(
            { codec: 'struct', reason: `field '${f.name}' needs a number, got ${JSON.stringify(v)}` },
            {
              hint: `send an object with numeric fields ${compiled.map((c) => c.name).join(', ')}`,
            },
          );
        }
        let raw = f.scaled ? (v - f.offset) / f.scale : v;
        const range = RANGES[f.type];
        if (range) {
          raw = Math.round(raw);
          if (raw < range[0] || raw > range[1]) {
            throw ERRORS.GH_CODEC_INVALID(
              { codec: 'struct', reason: `field '${f.name}' value ${v} is out of range for ${f.type}` },
              { hint: `send a value that ${f.type} holds (after scale and offset)` },
            );
          }
        }
        write(buf, f, raw);
      }
      return buf;
    },
  };
}
