// float32 readings as the number the device meant (core/float32.ts): the shortest decimal that
// rounds back to the same float32, in each decoder that reads one (Modbus registers, a serial
// struct's f32, an OPC UA Float). Pure functions on bytes: no peer needed (the e2e meter test reads
// the same through a Modbus server and Kinesis).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { float32Value } from '../../core/float32.js';
import { decodeRegisters } from '../../gateway/pipeline/sources/modbus/codec.js';
import { createCodec } from '../../firmware-bridge/codecs/index.js';
import { toJson } from '../../gateway/pipeline/sources/opcua/values.js';
import { mulberry32 } from '../helpers/prng.js';

const S = { scale: 1, offset: 0 };

test('float32Value: the shortest decimal that rounds back to the same float32, for every kind of float32', () => {
  const cases: Array<[number, number]> = [
    [231.2, 231.2],
    [50.01, 50.01],
    [0.1, 0.1],
    [-21.7, -21.7],
    [1e-7, 1e-7],
    [3.4e38, 3.4e38],
    [1 / 3, 0.33333334],
    [16777217, 16777216], // beyond 2^24 a float32 holds even integers only
    [1.401298464324817e-45, 1e-45], // the smallest subnormal
    [0, 0],
    [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY],
  ];
  for (const [written, shown] of cases) assert.equal(float32Value(Math.fround(written)), shown, `float32 of ${written}`);
  assert.ok(Object.is(float32Value(-0), -0));
  assert.ok(Number.isNaN(float32Value(Number.NaN)));

  // Any bit pattern: rounds back, and no shorter decimal does.
  const rnd = mulberry32(15);
  const b = Buffer.alloc(4);
  for (let i = 0; i < 20_000; i++) {
    b.writeUInt32LE(Math.floor(rnd() * 2 ** 32));
    const f = b.readFloatLE(0);
    if (!Number.isFinite(f)) continue;
    const v = float32Value(f);
    assert.equal(Math.fround(v), f, `${f} -> ${v} rounds back`);
    // significant digits of v's shortest text (2.7720205e-2: 8)
    const digits = Math.abs(v).toExponential().split('e')[0]!.replace('.', '').length;
    if (digits > 1) assert.notEqual(Math.fround(Number(f.toPrecision(digits - 1))), f, `${f} -> ${v}: ${digits - 1} digits would do`);
  }
});

test('a Modbus float32 register pair reads as the meter shows it (231.2, not 231.1999969482422), scaled after', () => {
  const wire = Buffer.alloc(4);
  wire.writeFloatBE(231.2, 0);
  assert.equal(decodeRegisters(wire, 'float32', 'ABCD', S), 231.2);
  wire.writeFloatBE(50.01, 0);
  assert.equal(decodeRegisters(wire, 'float32', 'ABCD', S), 50.01);
  const swapped = Buffer.from([wire[2]!, wire[3]!, wire[0]!, wire[1]!]);
  assert.equal(decodeRegisters(swapped, 'float32', 'CDAB', S), 50.01);
  wire.writeFloatBE(2875, 0);
  assert.equal(decodeRegisters(wire, 'float32', 'ABCD', { scale: 0.001, offset: 0 }), 2.875);
  // float64 is left as read: a double is what the device meant.
  const d = Buffer.alloc(8);
  d.writeDoubleBE(0.1 + 0.2, 0);
  assert.equal(decodeRegisters(d, 'float64', 'ABCD', S), 0.1 + 0.2);
});

test("a serial struct's f32 field reads as the firmware wrote it (21.7, not 21.700000762939453), in both byte orders", () => {
  const c = createCodec({
    type: 'struct',
    allowTrailing: false,
    fields: [
      { name: 't', type: 'f32', endian: 'le' },
      { name: 'h', type: 'f32', endian: 'be' },
    ],
  });
  const buf = Buffer.alloc(8);
  buf.writeFloatLE(21.7, 0);
  buf.writeFloatBE(48.3, 4);
  const v = c.decode(buf);
  assert.deepEqual({ t: v.t, h: v.h }, { t: 21.7, h: 48.3 });
  assert.deepEqual(c.encode(v), buf, 'encodes back to the same bytes');
});

test('an OPC UA Float (scalar or array) is published as its shortest decimal; a Double is not changed', () => {
  assert.equal(toJson(Math.fround(231.2), 'Float'), 231.2);
  assert.deepEqual(toJson(new Float32Array([231.2, 0.1, -21.7])), [231.2, 0.1, -21.7]);
  assert.deepEqual(toJson([Math.fround(0.1), Math.fround(50.01)], 'Float'), [0.1, 50.01]);
  assert.equal(toJson(Math.fround(231.2)), Math.fround(231.2), 'without the Float kind a number is a Double, as is');
  assert.equal(toJson(0.1 + 0.2), 0.1 + 0.2);
});
