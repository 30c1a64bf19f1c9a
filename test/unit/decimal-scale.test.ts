// raw x scale + offset of the whole numbers devices send (serial struct fields, Modbus registers)
// is the decimal value people wrote the scale for: 2040 with scale 0.01 is 20.4, which a rule's
// `temperature = 20.4` matches, not 20.400000000000002 (the README's serial example printed that).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decimalScaler } from '../../core/scale.js';
import { createCodec } from '../../firmware-bridge/codecs/index.js';
import { decodeRegisters } from '../../gateway/pipeline/sources/modbus/codec.js';

test('decimalScaler: whole raw values scale in decimal; other inputs keep the plain formula', () => {
  const cases: Array<[number, number, number, number]> = [
    // scale, offset, raw, value
    [0.01, 0, 2040, 20.4],
    [0.01, 0, 2041, 20.41],
    [0.01, 0, -2040, -20.4],
    [0.1, -40, 277, -12.3],
    [0.1, 0, 3, 0.3],
    [0.001, 0.5, 1234, 1.734],
    [1e-7, 0, 12345, 0.0012345],
    [0.0625, 0, 3, 0.1875],
    [2.5, 0.5, 3, 8],
    [0.01, 0, 4294967295, 42949672.95],
  ];
  for (const [scale, offset, raw, value] of cases) {
    assert.equal(decimalScaler(scale, offset)(raw), value, `${raw} x ${scale} + ${offset}`);
  }
  assert.equal(decimalScaler(0.1, -40)(1.5), 1.5 * 0.1 - 40, 'a float raw value: the plain formula');
  assert.equal(decimalScaler(1 / 3, 0)(3), 3 * (1 / 3), 'a scale of 16 decimals: the plain formula');
  assert.equal(decimalScaler(0.01, 0)(2 ** 52), 2 ** 52 * 0.01, 'beyond safe integers: the plain formula');
});

test('a serial struct field with scale 0.01 decodes 2040 as 20.4, as the README example sends it', () => {
  const c = createCodec({
    type: 'struct',
    allowTrailing: false,
    fields: [
      { name: 'temperature', type: 'i16', endian: 'le', scale: 0.01 },
      { name: 'humidity', type: 'u16', endian: 'be', scale: 0.01 },
    ],
  });
  const frame = Buffer.alloc(4);
  frame.writeInt16LE(2040, 0);
  frame.writeUInt16BE(4080, 2);
  assert.deepEqual(c.decode(frame), { temperature: 20.4, humidity: 40.8 });
  assert.equal(c.toJson(frame, c.decode(frame)).toString(), '{"temperature":20.4,"humidity":40.8}');
});

test('a Modbus register with scale 0.1 and offset -40 decodes 277 as -12.3', () => {
  assert.equal(decodeRegisters(Buffer.from([0x01, 0x15]), 'int16', 'ABCD', { scale: 0.1, offset: -40 }), -12.3);
  assert.equal(decodeRegisters(Buffer.from([0x07, 0xf8]), 'uint16', 'ABCD', { scale: 0.01, offset: 0 }), 20.4);
});
