import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRegisters, encodeRegisters, encodeCoil, changed, BYTE_ORDERS, type DataType } from '../../gateway/pipeline/sources/modbus/codec.js';
import { isGatehouseError } from '../../core/errors.js';
import { writeValue } from '../../gateway/pipeline/sources/opcua/write-value.js';
import { planReads, splitRequest, MAX_REGISTERS, MAX_BITS } from '../../gateway/pipeline/sources/modbus/planner.js';
import { modbusOptionsSchema } from '../../gateway/pipeline/sources/modbus/options.js';
import { opcuaOptionsSchema } from '../../gateway/pipeline/sources/opcua/options.js';
import { validateConfig } from '../../core/validation.js';

const S = { scale: 1, offset: 0 };

test('32-bit orders: the same value 0x11223344 as it appears on the wire in ABCD, DCBA, BADC, CDAB', () => {
  const wire = { ABCD: '11223344', DCBA: '44332211', BADC: '22114433', CDAB: '33441122' } as const;
  for (const order of BYTE_ORDERS) {
    assert.equal(decodeRegisters(Buffer.from(wire[order], 'hex'), 'uint32', order, S), 0x11223344, order);
    assert.equal(encodeRegisters(0x11223344, 'uint32', order, S).toString('hex'), wire[order], `encode ${order}`);
  }
});

test('64-bit orders generalise: word order reversed (CDAB), bytes swapped (BADC), both (DCBA)', () => {
  const be = Buffer.from('0102030405060708', 'hex');
  const value = be.readBigInt64BE(0).toString(); // beyond 2^53: exact decimal string
  assert.equal(decodeRegisters(be, 'int64', 'ABCD', S), value);
  assert.equal(decodeRegisters(Buffer.from('0708050603040102', 'hex'), 'int64', 'CDAB', S), value);
  assert.equal(decodeRegisters(Buffer.from('0201040306050807', 'hex'), 'int64', 'BADC', S), value);
  assert.equal(decodeRegisters(Buffer.from('0807060504030201', 'hex'), 'int64', 'DCBA', S), value);
  // Beyond 2^53 the value is kept exact as a decimal string.
  assert.equal(decodeRegisters(Buffer.from('7fffffffffffffff', 'hex'), 'int64', 'ABCD', S), '9223372036854775807');
});

test('every type round-trips through encode/decode in every order, with scale and offset', () => {
  const cases: [DataType, unknown][] = [
    ['int16', -1234],
    ['uint16', 65535],
    ['int32', -7654321],
    ['uint32', 4000000000],
    ['int64', -9007199254740991],
    ['float32', 1.5],
    ['float64', Math.PI],
    ['bool', true],
  ];
  for (const order of BYTE_ORDERS) {
    for (const [type, v] of cases) assert.equal(decodeRegisters(encodeRegisters(v, type, order, S), type, order, S), v, `${type} ${order}`);
    assert.equal(decodeRegisters(encodeRegisters('PUMP-7', 'string', order, S, 4), 'string', order, S), 'PUMP-7');
  }
  const scaled = { scale: 0.1, offset: -40 };
  assert.equal(encodeRegisters(-12.3, 'int16', 'ABCD', scaled).readInt16BE(0), 277);
  assert.ok(Math.abs((decodeRegisters(Buffer.from([0x01, 0x15]), 'int16', 'ABCD', scaled) as number) - -12.3) < 1e-9);
  assert.throws(() => encodeRegisters(70000, 'uint16', 'ABCD', S), /outside uint16/);
  assert.throws(() => encodeRegisters('x', 'float32', 'ABCD', S), /finite number/);
  assert.throws(() => encodeRegisters('too long', 'string', 'ABCD', S, 2), /longer/);
});

/** Assert that fn refuses its write with GH_WRITE_VALUE_INVALID and a description matching re. */
function refused(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isGatehouseError(err, 'GH_WRITE_VALUE_INVALID'), `a GH_WRITE_VALUE_INVALID, got ${String(err)}`);
    assert.match(err.describe(), re);
    return true;
  });
}

test('a write an integer register cannot hold exactly is refused with the fix, never rounded', () => {
  const tenth = { scale: 0.1, offset: 0 };
  refused(
    () => encodeRegisters(1.5, 'int16', 'ABCD', S, undefined, "device 'plc' tag 'speed'"),
    /cannot write 1\.5 to device 'plc' tag 'speed' \(int16\): 1\.5 is not a whole register value.*Fix: .*e\.g\. 1 or 2, or give the tag the type float32 or float64/,
  );
  refused(
    () => encodeRegisters(21.37, 'int16', 'ABCD', tenth),
    /\(int16, scale 0\.1\): 21\.37 \/ 0\.1 = 213\.7 is not a whole register value.*multiple of the scale.*e\.g\. 21\.3 or 21\.4/,
  );
  refused(
    () => encodeRegisters(-40.05, 'int16', 'ABCD', { scale: 0.1, offset: -40 }),
    /offset -40\): \(-40\.05 \+ 40\) \/ 0\.1 = -0\.5 is not a whole.*e\.g\. -40\.1 or -40,/,
  );
  for (const type of ['uint16', 'int32', 'uint32', 'int64'] as const) refused(() => encodeRegisters(2.5, type, 'ABCD', S), /2\.5 is not a whole/);
  // A real fraction is refused even at the top of uint32, where the tolerance is largest.
  refused(() => encodeRegisters(4294967294.5, 'uint32', 'ABCD', S), /not a whole/);
  // Floating-point noise is not a fraction: 21.4 / 0.1 = 213.99999999999997 is 214 (21.3 / 0.1 is 213 exactly).
  assert.notEqual(21.4 / 0.1, 214, 'the example does carry noise');
  assert.equal(encodeRegisters(21.4, 'int16', 'ABCD', tenth).readInt16BE(0), 214);
  assert.equal(encodeRegisters(0.3, 'uint16', 'ABCD', tenth).readUInt16BE(0), 3);
  assert.equal(encodeRegisters(-12.3, 'int32', 'ABCD', tenth).readInt32BE(0), -123);
  assert.equal(encodeRegisters(429496729.5, 'uint32', 'ABCD', tenth).readUInt32BE(0), 4294967295);
  assert.equal(encodeRegisters(-1.1, 'int64', 'ABCD', { scale: 0.01, offset: 0 }).readBigInt64BE(0), -110n);
  // The noise is relative to the operands, not to the result: 1000000.1 - 1000000 = 0.09999999997671694.
  assert.equal(encodeRegisters(1000000.1, 'uint16', 'ABCD', { scale: 0.1, offset: 1000000 }).readUInt16BE(0), 1);
  // Floats take any value; ranges and kinds are refused with the same code.
  assert.equal(encodeRegisters(21.37, 'float32', 'ABCD', tenth).readFloatBE(0), Math.fround(213.7));
  refused(() => encodeRegisters(70000, 'uint16', 'ABCD', S), /70000 is outside uint16 \(0\.\.65535\)/);
  refused(() => encodeRegisters('7', 'int16', 'ABCD', S), /cannot write "7" .*needs a finite number/);
  refused(() => encodeRegisters(1, 'int16', 'ABCD', { scale: 0, offset: 0 }), /scale is 0/);
});

test('bools and coils take only true/false or 1/0', () => {
  for (const v of [true, 1]) assert.equal(encodeRegisters(v, 'bool', 'ABCD', S).readUInt16BE(0), 1);
  for (const v of [false, 0]) assert.equal(encodeRegisters(v, 'bool', 'ABCD', S).readUInt16BE(0), 0);
  assert.deepEqual(
    [true, 1, false, 0].map((v) => encodeCoil(v, "device 'plc' tag 'run'")),
    [true, true, false, false],
  );
  for (const v of [2, -1, 0.5, '1', 'true', null]) {
    refused(() => encodeRegisters(v, 'bool', 'ABCD', S), /only true\/false or 1\/0/);
    refused(() => encodeCoil(v, "device 'plc' tag 'run'"), /to device 'plc' tag 'run' \(coil\): .*only true\/false or 1\/0/);
  }
});

test('deadband: a change smaller than the deadband is not a change', () => {
  assert.equal(changed(undefined, 1, 5), true);
  assert.equal(changed(10, 14, 5), false);
  assert.equal(changed(10, 15, 5), true);
  assert.equal(changed(10, 10, 0), false);
  assert.equal(changed('a', 'b', 5), true);
});

test('planner merges adjacent tags within 125 registers / 2000 bits, and splits a refused request per tag', () => {
  const reg = (address: number, size = 1) => ({ area: 'holding' as const, address, size });
  assert.equal(planReads([reg(0, 2), reg(2), reg(3, 4), reg(10)]).length, 2);
  assert.equal(planReads([reg(0, 2), reg(2), reg(3, 4), reg(10)], 3).length, 1, 'mergeGap bridges a hole');
  const many = Array.from({ length: 300 }, (_, i) => reg(i));
  const plan = planReads(many);
  assert.deepEqual(
    plan.map((r) => r.count),
    [MAX_REGISTERS, MAX_REGISTERS, 50],
  );
  const coils = Array.from({ length: 4500 }, (_, i) => ({ area: 'coil' as const, address: i, size: 1 }));
  assert.deepEqual(
    planReads(coils).map((r) => r.count),
    [MAX_BITS, MAX_BITS, 500],
  );
  const mixed = planReads([reg(0), { area: 'input', address: 1, size: 1 }, reg(1)]);
  assert.equal(mixed.length, 2, 'tables are never mixed');
  assert.deepEqual(
    splitRequest(plan[2]!).map((r) => r.count),
    new Array(50).fill(1),
  );
});

const base = { type: 'modbus', name: 'm', tcp: { host: 'plc' } };

test('config refuses overlapping and out-of-range registers, naming the device and the tag', () => {
  assert.throws(
    () =>
      validateConfig(
        modbusOptionsSchema,
        {
          ...base,
          devices: [
            {
              name: 'meter-7',
              groups: [
                {
                  tags: [
                    { name: 'power', area: 'holding', address: 10, type: 'float32' },
                    { name: 'energy', area: 'holding', address: 11, type: 'uint32' },
                  ],
                },
              ],
            },
          ],
        },
        'sources.0',
      ),
    /device 'meter-7' tag 'energy': holding 11..12 overlaps tag 'power' \(10..11\)/,
  );
  assert.throws(
    () =>
      validateConfig(
        modbusOptionsSchema,
        { ...base, devices: [{ name: 'meter-7', groups: [{ tags: [{ name: 'total', area: 'input', address: 65534, type: 'float64' }] }] }] },
        'sources.0',
      ),
    /device 'meter-7' tag 'total': input 65534..65537 runs past the last address 65535/,
  );
  assert.throws(
    () =>
      validateConfig(
        modbusOptionsSchema,
        { ...base, devices: [{ name: 'd', groups: [{ tags: [{ name: 'c', area: 'coil', address: 0, type: 'float32' }] }] }] },
        's',
      ),
    /coils are single bits/,
  );
  assert.throws(
    () =>
      validateConfig(
        modbusOptionsSchema,
        { ...base, devices: [{ name: 'd', groups: [{ tags: [{ name: 's', area: 'holding', address: 0, type: 'string' }] }] }] },
        's',
      ),
    /needs length/,
  );
  assert.throws(
    () =>
      validateConfig(
        modbusOptionsSchema,
        { ...base, rtu: { path: '/dev/x' }, devices: [{ name: 'd', groups: [{ tags: [{ name: 'a', area: 'holding', address: 0 }] }] }] },
        's',
      ),
    /exactly one of tcp/,
  );
  assert.throws(
    () =>
      validateConfig(
        modbusOptionsSchema,
        { ...base, topic: 'x/${dev}', devices: [{ name: 'd', groups: [{ tags: [{ name: 'a', area: 'holding', address: 0 }] }] }] },
        's',
      ),
    /unknown placeholder \$\{dev\}/,
  );
  assert.throws(
    () =>
      validateConfig(
        modbusOptionsSchema,
        { ...base, topic: 'x/{device}', devices: [{ name: 'd', groups: [{ tags: [{ name: 'a', area: 'holding', address: 0 }] }] }] },
        's',
      ),
    /deprecated template syntax; write 'x\/\$\{device\}'/,
  );
  assert.throws(
    () =>
      validateConfig(
        modbusOptionsSchema,
        { ...base, devices: [{ name: 'd', groups: [{ tags: [{ name: 'a', area: 'input', address: 0, writable: true }] }] }] },
        's',
      ),
    /read-only/,
  );
  // Same address in different tables is fine.
  validateConfig(
    modbusOptionsSchema,
    {
      ...base,
      devices: [
        {
          name: 'd',
          groups: [
            {
              tags: [
                { name: 'a', area: 'holding', address: 0 },
                { name: 'b', area: 'input', address: 0 },
              ],
            },
          ],
        },
      ],
    },
    's',
  );
});

test('opcua config: security mode and policy must agree, tag names are unique', () => {
  const ok = { type: 'opcua', name: 'ua', endpoint: 'opc.tcp://plc:4840', subscriptions: [{ items: [{ nodeId: 'ns=2;s=A', name: 'a' }] }] };
  validateConfig(opcuaOptionsSchema, ok, 's');
  assert.throws(() => validateConfig(opcuaOptionsSchema, { ...ok, securityMode: 'Sign' }, 's'), /Basic256Sha256/);
  assert.throws(
    () =>
      validateConfig(
        opcuaOptionsSchema,
        {
          ...ok,
          subscriptions: [
            {
              items: [
                { nodeId: 'ns=2;s=A', name: 'a' },
                { nodeId: 'ns=2;s=B', name: 'a' },
              ],
            },
          ],
        },
        's',
      ),
    /used twice/,
  );
  assert.throws(() => validateConfig(opcuaOptionsSchema, { ...ok, endpoint: 'http://x' }, 's'), /opc\.tcp/);
});

test('opcua writes: a value the node type cannot hold exactly is refused, never truncated or made Infinity', () => {
  const point = "tag 'mode' (node ns=1;s=Mode";
  refused(() => writeValue(1.5, 4, point), /cannot write 1\.5 to tag 'mode' \(node ns=1;s=Mode, Int16\): .*truncated to 1.*e\.g\. 1 or 2/);
  refused(() => writeValue(2.5, 8, point), /Int64\): 2\.5 is not a whole number/);
  refused(() => writeValue(70000, 4, point), /70000 is outside Int16/);
  refused(() => writeValue(-1, 3, point), /outside Byte \(0\.\.255\)/);
  refused(() => writeValue(1e39, 10, point), /Float\): .*Infinity/);
  refused(() => writeValue('7', 6, point), /needs a whole JSON number/);
  refused(() => writeValue(2, 1, point), /Boolean\): a Boolean takes only true\/false or 1\/0/);
  assert.deepEqual([writeValue(1, 1, point), writeValue(0, 1, point), writeValue(true, 1, point)], [true, false, true]);
  assert.equal(writeValue(-32768, 4, point), -32768);
  assert.equal(writeValue(0.1, 10, point), 0.1, "Float precision is the type's, not a refusal");
  assert.equal(writeValue(1e300, 11, point), 1e300);
});
