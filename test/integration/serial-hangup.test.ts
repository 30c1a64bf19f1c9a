// serialport's own binding reads a hung-up tty forever (a read of 0 bytes is read again, with no
// error and no 'close'); core/serial-binding.ts makes such a read a disconnect. Real parts: a socat
// pty pair as the cable, killed under an open port (the cable pulled, as a USB adapter unplugged).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialPort } from 'serialport';
import { hangUpAware } from '../../core/serial-binding.js';
import { waitForEvent } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

test('a port whose device hangs up before it reads closes with a disconnect error instead of reading end of file forever', { skip: socatSkip }, async (t) => {
  const cable = await startSocat(t);
  const port = new SerialPort(hangUpAware({ path: cable.dev1, baudRate: 115200, autoOpen: false }));
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  t.after(() => (port.isOpen ? new Promise<void>((r) => port.close(() => r())) : undefined));
  // Data still flows through it (the binding only changes what end of file means); the port under
  // test only writes, so no read of it is waiting when the device goes.
  const peer = new SerialPort(hangUpAware({ path: cable.dev0, baudRate: 115200, autoOpen: false }));
  await new Promise<void>((resolve, reject) => peer.open((err) => (err ? reject(err) : resolve())));
  peer.on('error', () => undefined);
  const got = waitForEvent<[Buffer]>(peer, 'data', 5000);
  port.write(Buffer.from('hello'));
  assert.equal((await got)[0].toString(), 'hello');
  await new Promise<void>((r) => peer.close(() => r()));

  await cable.stop();
  // (A read waiting when the device goes is woken by the poller's hang-up; a read made after it
  // gets end of file at once: the case serialport reads again forever.)
  const closed = waitForEvent<[Error | null]>(port, 'close', 5000);
  port.on('data', () => undefined);
  const [err] = await closed;
  assert.ok(err, 'closed with an error');
  assert.equal((err as Error & { disconnected?: boolean }).disconnected, true, `a disconnect (${String(err)})`);
  assert.equal(port.isOpen, false);
});
