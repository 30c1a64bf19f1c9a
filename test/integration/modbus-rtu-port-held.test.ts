// A Modbus RTU bus whose port another reader holds: another program, or a serial link or Modbus
// source of the same gateway opening the same device under another path (/dev/ttyUSB0 and its
// /dev/serial/by-id/... link). Found in a plant trial: check-config passed two sources on one
// pty as /dev/pts/N and as a link to it, and the second retried "Cannot lock port" forever with
// the hint "check the device path, its permissions (the dialout group) and the adapter".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { tempDir, waitUntil } from '../helpers/index.js';
import { modbusRtuBus, storeIntake } from '../helpers/industrial.js';
import { modbusDetails, oneTagDevice, payloads, rtuOptions, startModbus } from '../helpers/modbus-source.js';
import { socatSkip, startSocat } from '../helpers/socat.js';
import { configIn } from '../helpers/check-config.js';

test('an RTU port another program holds: lastError names the cause (not the path or the dialout group); polling starts once it is released', {
  skip: socatSkip,
}, async (t) => {
  const cable = await startSocat(t);
  const bus = await modbusRtuBus(t, cable.dev0, [1]);
  bus.units.get(1)!.holding.writeUInt16BE(42, 0);
  const other = new SerialPort({ path: cable.dev1, baudRate: 38400, autoOpen: false });
  await new Promise<void>((resolve, reject) => other.open((err) => (err ? reject(err) : resolve())));
  t.after(() => (other.isOpen ? new Promise<void>((r) => other.close(() => r())) : undefined));
  const intake = await storeIntake(t);
  const { source } = await startModbus(
    t,
    rtuOptions('held', cable.dev1, { timeoutMs: 200, backoff: { initialMs: 50, maxMs: 100 }, devices: [oneTagDevice(50)] }),
    intake,
  );
  await waitUntil(() => /GH_SERIAL_OPEN/.test(modbusDetails(source).lastError ?? ''), 'the open fails', 5000);
  const lastError = modbusDetails(source).lastError ?? '';
  assert.match(lastError, /another process holds the port open .*under another path .*fuser -v .*the source retries by itself/, lastError);
  assert.doesNotMatch(lastError, /dialout/, lastError);
  await new Promise<void>((r) => other.close(() => r()));
  await waitUntil(async () => (await payloads(intake, 'modbus/held/d/n')).length > 0, 'read once the port is released', 10_000);
  assert.equal((await payloads(intake, 'modbus/held/d/n'))[0]?.value, 42);
});

test('check-config: a serial link and a Modbus RTU source on one device under two paths (the device and a link to it) are refused, naming both paths', async (t) => {
  const { dir, check } = await configIn(t);
  const dev = join(await tempDir(t), 'ttyUSB0');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(dev, '');
  const byId = join(dir, 'usb-FTDI_FT232R_A1-if00-port0');
  await symlink(dev, byId);
  const r = await check(
    [
      'serial:',
      `  - { name: board, path: ${byId} }`,
      'sources:',
      '  - type: modbus',
      '    name: meters',
      `    rtu: { path: ${dev} }`,
      '    devices: [ { name: m1, groups: [ { tags: [ { name: v, area: holding, address: 0 } ] } ] } ]',
      '',
    ].join('\n'),
  );
  assert.notEqual(r.code, 0, r.out);
  assert.ok(r.err.includes(`serial link 'board' and Modbus source 'meters' both open ${dev} (as ${byId} and ${dev})`), r.err);
});
