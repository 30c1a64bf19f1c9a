// Serial link options that cannot work together are refused by the options schema, so config
// validation (check-config) names them with their key path, not only `start`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialLinkOptionsSchema, type CodecOptions } from '../../firmware-bridge/options.js';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { isGatehouseError } from '../../core/errors.js';
import { testDeps } from '../helpers/index.js';
import { checkConfigText } from '../helpers/check-config.js';

const STRUCT: CodecOptions = { type: 'struct', fields: [{ name: 'seq', type: 'u32', endian: 'le' }], allowTrailing: false };

test('options: the struct codec with line framing is refused at the key path framing', () => {
  const r = SerialLinkOptionsSchema.safeParse({ name: 'u', path: '/x', framing: { type: 'line' }, codec: STRUCT });
  assert.equal(r.success, false);
  assert.deepEqual(
    r.error?.issues.map((i) => [i.path.join('.'), i.message]),
    [['framing', 'the struct codec needs a binary-safe framing: use framing type cobs, slip or crc (a struct byte 0x0A would end a line)']],
  );
  // The default framing is line too.
  assert.equal(SerialLinkOptionsSchema.safeParse({ name: 'u', path: '/x', codec: STRUCT }).success, false);
  for (const type of ['cobs', 'slip', 'crc'] as const) {
    assert.equal(SerialLinkOptionsSchema.safeParse({ name: 'u', path: '/x', framing: { type }, codec: STRUCT }).success, true, type);
  }
});

test("options: ack mode 'header' with line framing is refused at ack.mode (only when ack is enabled)", () => {
  const r = SerialLinkOptionsSchema.safeParse({ name: 'u', path: '/x', ack: { enabled: true, mode: 'header' } });
  assert.deepEqual(
    r.error?.issues.map((i) => i.path.join('.')),
    ['ack.mode'],
  );
  assert.equal(SerialLinkOptionsSchema.safeParse({ name: 'u', path: '/x', ack: { enabled: false, mode: 'header' } }).success, true);
  assert.equal(SerialLinkOptionsSchema.safeParse({ name: 'u', path: '/x', framing: { type: 'crc' }, ack: { enabled: true, mode: 'header' } }).success, true);
});

test('check-config refuses struct over line framing with the key path serial.0.framing', async (t) => {
  const r = await checkConfigText(
    t,
    'serial:\n  - name: u\n    path: /dev/ttyUSB0\n    framing: { type: line }\n    codec: { type: struct, fields: [ { name: seq, type: u32 } ] }\n',
  );
  assert.equal(r.code, 1, r.out);
  assert.match(r.err, /GH_CONFIG_INVALID/);
  assert.match(r.err, /serial\.0\.framing: the struct codec needs a binary-safe framing/);
});

test('createSerialLink refuses the same pair with the same message and key path', () => {
  assert.throws(
    () => createSerialLink({ name: 'u', path: '/x', framing: { type: 'line' }, codec: STRUCT }, { ...testDeps(), onMessage: () => undefined }),
    (err: unknown) => isGatehouseError(err, 'GH_CONFIG_INVALID') && /serial\.u\.framing: the struct codec needs a binary-safe framing/.test(err.message),
  );
});
