// Round 23: downlink commands and ACK/NAK replies handed to a serial port that then closes. serialport's
// stream calls back only the write at the binding: the writes buffered behind it wait for an 'open'
// event that a closed port never emits. Their promises never settled, and each held its place
// against the writer's bounds for good: after a few port losses (a replug seen by the path watch,
// serialport's own close on a hang-up) during ACK bursts or commands, every reply or command was
// refused with GH_SERIAL_QUEUE_FULL until the gateway restarted. Real ports: socat pty pairs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SerialPort } from 'serialport';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { closeQuietly } from '../../firmware-bridge/port-keeper.js';
import { WriteQueue } from '../../firmware-bridge/writer.js';
import { hangUpAware } from '../../core/serial-binding.js';
import { isGatehouseError, type GatehouseError } from '../../core/errors.js';
import { testDeps, waitUntil, withTimeout } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

async function openPort(path: string): Promise<SerialPort> {
  const { SerialPort: Port } = await import('serialport');
  const port = new Port(hangUpAware({ path, baudRate: 115200, autoOpen: false }));
  port.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  return port;
}

/** What the device end of the pair receives. */
async function deviceEnd(t: import('node:test').TestContext, path: string): Promise<{ text: () => string }> {
  const dev = await openPort(path);
  t.after(() => closeQuietly(dev));
  let got = '';
  dev.on('data', (d: Buffer) => {
    got += d.toString();
  });
  return { text: () => got };
}

/** Every promise settles within timeoutMs; each one's outcome. */
function outcomes(ps: Promise<void>[], timeoutMs: number): Promise<string[]> {
  return withTimeout(
    Promise.allSettled(ps).then((r) => r.map((x) => (x.status === 'fulfilled' ? 'written' : ((x.reason as { code?: string }).code ?? 'error')))),
    timeoutMs,
    'every write handed to the closed port settled',
  );
}

test('serial writer: writes handed to a port lost as it closes settle, and free their places against the bounds', { skip: socatSkip }, async (t) => {
  const pair = await startSocat(t);
  const dev = await deviceEnd(t, pair.dev0);
  const queue = new WriteQueue(2, 'serial.w', () => undefined, 2);
  let port = await openPort(pair.dev1);
  t.after(() => closeQuietly(port));
  queue.attach(port);
  const first = [
    queue.write(Buffer.from('c1\n')),
    queue.write(Buffer.from('c2\n')),
    queue.writeReply(Buffer.from('r1\n')),
    queue.writeReply(Buffer.from('r2\n')),
  ];
  // Both bounds are reached until the port calls the writes back: a third of each is refused.
  await assert.rejects(queue.write(Buffer.from('c9\n')), (e: unknown) => isGatehouseError(e, 'GH_SERIAL_QUEUE_FULL') && e.message === '2 writes pending');
  await assert.rejects(
    queue.writeReply(Buffer.from('r9\n')),
    (e: unknown) => isGatehouseError(e, 'GH_SERIAL_QUEUE_FULL') && e.message === '2 ACK/NAK replies pending',
  );
  // What PortKeeper.lost() and the link's portLost hook do, in this order, when the path watch sees
  // the device path gone or naming another device: close the port, then detach the writer.
  void closeQuietly(port);
  queue.detach('lost its port');
  const settled = await outcomes(first, 5000);
  // The one at the binding may have gone out; the others were never written.
  assert.ok(settled.filter((s) => s === 'GH_SERIAL_NOT_OPEN').length >= 3, `writes lost with the port fail: ${settled}`);
  // The port reopens: two commands and two replies fit again (they did not before: 'writes pending').
  await waitUntil(() => !port.isOpen, 'the lost port closed');
  port = await openPort(pair.dev1);
  queue.attach(port);
  const again = [
    queue.write(Buffer.from('c3\n')),
    queue.write(Buffer.from('c4\n')),
    queue.writeReply(Buffer.from('r3\n')),
    queue.writeReply(Buffer.from('r4\n')),
  ];
  assert.deepEqual(await outcomes(again, 5000), ['written', 'written', 'written', 'written']);
  await waitUntil(() => ['c3', 'c4', 'r3', 'r4'].every((l) => dev.text().includes(`${l}\n`)), 'the device received the writes after the reopen');
});

test('serial link: commands waiting in the port when the link stops settle (GH_SERIAL_NOT_OPEN); after a restart commands are written', {
  skip: socatSkip,
}, async (t) => {
  const pair = await startSocat(t);
  const dev = await deviceEnd(t, pair.dev0);
  const link = createSerialLink(
    { name: 'w', path: pair.dev1, framing: { type: 'line' }, codec: { type: 'json' }, writeQueue: 2, reconnect: { watchMs: 50 } },
    { ...testDeps(), onMessage: () => undefined },
  );
  await link.start();
  t.after(() => link.stop());
  assert.equal(link.status().state, 'open');
  const pending = [link.writeCommand(Buffer.from('reboot')), link.writeCommand(Buffer.from('{"led":1}'))];
  const stopped = link.stop();
  const settled = await outcomes(pending, 5000);
  assert.ok(settled.includes('GH_SERIAL_NOT_OPEN'), `a command the closed port never wrote fails: ${settled}`);
  // In docs/errors.md's words ('serial link {state}'), the link named in where, and a fix that says
  // the gateway stopped it (not that it retries by itself).
  const refusals = (await Promise.allSettled(pending)).flatMap((r) => (r.status === 'rejected' ? [r.reason as GatehouseError] : []));
  assert.ok(
    refusals.some(
      (e) =>
        /^serial link stopped( before the write was confirmed \(it may have been sent\))?$/.test(e.message) &&
        e.where === 'serial.w' &&
        /^the gateway stopped the link/.test(e.hint ?? ''),
    ),
    refusals.map((e) => e.describe()).join('; '),
  );
  await stopped;
  await assert.rejects(link.writeCommand(Buffer.from('{"led":0}')), (e: unknown) => {
    assert.ok(isGatehouseError(e, 'GH_SERIAL_NOT_OPEN'));
    assert.equal(e.describe(), 'GH_SERIAL_NOT_OPEN: serial link is not open (at serial.w). Fix: the link retries by itself; check the cable or device path');
    return true;
  });
  await link.start();
  await waitUntil(() => link.status().state === 'open', 'link open again');
  await withTimeout(link.writeCommand(Buffer.from('{"led":2}')), 5000, 'the command after the restart is written');
  await waitUntil(() => dev.text().includes('{"led":2}\n'), 'the device received the command after the restart');
});
