// Round-13 audit: ack.dedupWindow in header mode. Header sequence numbers are 16-bit and wrap at
// 65536, so a window that large still holds a number when the device uses it again after the
// wrap: that new frame would be taken for a resent one, ACKed and dropped (lost). Refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialLinkOptionsSchema } from '../../firmware-bridge/options.js';
import { checkConfigText } from '../helpers/check-config.js';

test('options: a dedupWindow over half the 16-bit sequence space is refused in header mode (explicit or auto), allowed in field mode', () => {
  for (const ack of [
    { enabled: true, dedupWindow: 65536 },
    { enabled: true, mode: 'header', dedupWindow: 40000 },
  ] as const) {
    const r = SerialLinkOptionsSchema.safeParse({ name: 'u', path: '/x', framing: { type: 'crc' }, ack });
    assert.equal(r.success, false, JSON.stringify(ack));
    const issue = r.error?.issues[0];
    assert.equal(issue?.path.join('.'), 'ack.dedupWindow');
    assert.match(issue?.message ?? '', /16-bit.*32768/);
  }
  assert.equal(
    SerialLinkOptionsSchema.safeParse({ name: 'u', path: '/x', framing: { type: 'cobs' }, ack: { enabled: true, dedupWindow: 32768 } }).success,
    true,
  );
  // Field mode: the sequence number is the payload's own (up to 2^53-1), no 16-bit wrap.
  assert.equal(SerialLinkOptionsSchema.safeParse({ name: 'u', path: '/x', ack: { enabled: true, dedupWindow: 65536 } }).success, true);
  assert.equal(
    SerialLinkOptionsSchema.safeParse({ name: 'u', path: '/x', framing: { type: 'crc' }, ack: { enabled: true, mode: 'field', dedupWindow: 65536 } }).success,
    true,
  );
});

test('check-config names serial.0.ack.dedupWindow for a header-mode window that outlasts the sequence wrap', async (t) => {
  const r = await checkConfigText(
    t,
    'serial:\n  - name: u\n    path: /dev/ttyUSB0\n    framing: { type: crc }\n    ack: { enabled: true, dedupWindow: 65536 }\n',
  );
  assert.notEqual(r.code, 0);
  assert.match(r.err, /serial\.0\.ack\.dedupWindow/);
});
