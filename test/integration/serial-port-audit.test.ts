// Round-13 audit of opening serial ports: two links on one port, and the hint of a port that is
// held by another program. Real ptys (socat), real serialport.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialPort } from 'serialport';
import { createSerialBridge } from '../../firmware-bridge/bridge.js';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { simulatorLinkOptions } from '../../firmware-bridge/simulator.js';
import { GatehouseError } from '../../core/errors.js';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

test('serial: two links on one port path are refused with GH_CONFIG_INVALID naming both, instead of one retrying "Cannot lock port" forever', {
  skip: socatSkip,
}, async (t) => {
  const pair = await startSocat(t);
  const deps = { ...testDeps(), onMessage: () => undefined };
  assert.throws(
    () => createSerialBridge([simulatorLinkOptions('a', pair.dev1, 'line', 'json'), simulatorLinkOptions('b', pair.dev1, 'line', 'kv')], deps),
    (err: unknown) => {
      assert.ok(err instanceof GatehouseError);
      assert.equal(err.code, 'GH_CONFIG_INVALID');
      assert.match(err.message, /'a'/);
      assert.match(err.message, /'b'/);
      assert.ok(err.message.includes(pair.dev1), err.message);
      return true;
    },
  );
});

test('serial: a port another program holds open says so in lastError (not "plugged in / dialout group") and opens once it is released', {
  skip: socatSkip,
}, async (t) => {
  const pair = await startSocat(t);
  const other = new SerialPort({ path: pair.dev1, baudRate: 115200, autoOpen: false });
  await new Promise<void>((resolve, reject) => other.open((err) => (err ? reject(err) : resolve())));
  t.after(() => (other.isOpen ? new Promise<void>((r) => other.close(() => r())) : undefined));
  const link = createSerialLink(
    { ...simulatorLinkOptions('held', pair.dev1, 'line', 'json'), reconnect: { initialMs: 50, maxMs: 100, watchMs: 1000 } },
    { ...testDeps(), onMessage: () => undefined },
  );
  await link.start();
  t.after(() => link.stop());
  const s = link.status();
  assert.equal(s.state, 'retrying');
  assert.match(s.lastError ?? '', /GH_SERIAL_OPEN/);
  assert.match(s.lastError ?? '', /another (process|program)/, `hint names the cause: ${s.lastError}`);
  assert.doesNotMatch(s.lastError ?? '', /dialout/, `no unrelated hint: ${s.lastError}`);
  await new Promise<void>((r) => other.close(() => r()));
  await waitUntil(() => link.status().state === 'open', 'link opens once the other program let go', 5000);
});

test('serial: a link stopped while its port opens closes that port: the next link on the path opens it (no "Cannot lock port" from a leaked fd)', {
  skip: socatSkip,
}, async (t) => {
  const pair = await startSocat(t);
  const options = { ...simulatorLinkOptions('first', pair.dev1, 'line', 'json'), reconnect: { initialMs: 50, maxMs: 100, watchMs: 1000 } };
  const first = createSerialLink(options, { ...testDeps(), onMessage: () => undefined });
  // The stop comes while the port's open() is on its way (ordered: from inside the first open call).
  const open = SerialPort.prototype.open;
  let stopped: Promise<void> | undefined;
  SerialPort.prototype.open = function (this: SerialPort, cb?: (err: Error | null) => void) {
    SerialPort.prototype.open = open;
    stopped = first.stop();
    return open.call(this, cb);
  };
  t.after(() => {
    SerialPort.prototype.open = open;
  });
  await first.start();
  assert.ok(stopped, 'stopped while the port opened');
  await stopped;
  assert.equal(first.status().state, 'closed');
  // Before, the port opened after the stop and stayed open: its fd held the port's lock for good.
  const second = createSerialLink({ ...options, name: 'second' }, { ...testDeps(), onMessage: () => undefined });
  await second.start();
  t.after(() => second.stop());
  assert.equal(second.status().state, 'open', `the next link opens the port at once: ${second.status().lastError}`);
});

test('serial: a missing device path says the device is not there, not a permission problem', { skip: socatSkip }, async (t) => {
  const link = createSerialLink(
    { ...simulatorLinkOptions('ghost', '/nonexistent/gatehouse-audit-tty', 'line', 'json'), reconnect: { initialMs: 50, maxMs: 100, watchMs: 1000 } },
    { ...testDeps(), onMessage: () => undefined },
  );
  await link.start();
  t.after(() => link.stop());
  const e = link.status().lastError ?? '';
  assert.match(e, /GH_SERIAL_OPEN/);
  assert.match(e, /plugged in|by-id/, e);
  assert.doesNotMatch(e, /dialout/, e);
});

test('serial: a path that is no serial device (a regular file, a directory) says so', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'not-a-tty');
  await writeFile(file, '');
  for (const path of [file, dir]) {
    const link = createSerialLink(
      { ...simulatorLinkOptions('notty', path, 'line', 'json'), reconnect: { initialMs: 5000, maxMs: 5000, watchMs: 1000 } },
      { ...testDeps(), onMessage: () => undefined },
    );
    await link.start();
    const e = link.status().lastError ?? '';
    await link.stop();
    assert.match(e, /GH_SERIAL_OPEN/, path);
    assert.match(e, /not a serial device/, `${path}: ${e}`);
  }
});
