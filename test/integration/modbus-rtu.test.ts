// Modbus RTU source over a socat pty pair ("the cable"), with jsmodbus RTU slaves on the far end
// (a different library from the gateway's modbus-serial client): several unit ids on one bus
// polled in turn, a unit id nobody answers, garbage on the line, and the cable pulled and replugged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitUntil } from '../helpers/index.js';
import { modbusRtuBus, storeIntake } from '../helpers/industrial.js';
import { countOf, modbusDetails, readErrors, rtuOptions, startModbus, valuesOf } from '../helpers/modbus-source.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

test('several unit ids on one RTU bus polled in turn; a missing unit and garbage on the line never block the others', { skip: socatSkip }, async (t) => {
  const cable = await startSocat(t);
  const bus = await modbusRtuBus(t, cable.dev0, [1, 2]);
  bus.units.get(1)!.holding.writeUInt16BE(111, 0);
  bus.units.get(2)!.holding.writeFloatBE(2.5, 0);
  const intake = await storeIntake(t);
  const { source, deps } = await startModbus(
    t,
    rtuOptions('bus', cable.dev1, {
      timeoutMs: 200,
      retries: 0,
      backoff: { initialMs: 100, maxMs: 400 },
      devices: [
        { name: 'meter1', unitId: 1, groups: [{ intervalMs: 50, tags: [{ name: 'v', area: 'holding', address: 0 }] }] },
        { name: 'meter2', unitId: 2, groups: [{ intervalMs: 50, tags: [{ name: 'f', area: 'holding', address: 0, type: 'float32' }] }] },
        { name: 'ghost', unitId: 3, groups: [{ intervalMs: 50, tags: [{ name: 'x', area: 'holding', address: 0 }] }] },
      ],
    }),
    intake,
  );
  const count = (topic: string): Promise<number> => countOf(intake, topic);
  await waitUntil(async () => (await count('modbus/bus/meter1/v')) >= 5 && (await count('modbus/bus/meter2/f')) >= 5, 'both units read', 10_000);
  assert.equal((await valuesOf(intake, 'modbus/bus/meter2/f'))[0], 2.5);
  const devices = () => modbusDetails(source).devices;
  await waitUntil(() => devices()[2]!.readErrors.timeout! >= 1, 'the ghost unit times out');
  assert.equal(devices()[2]!.state, 'failing');
  assert.equal(devices()[0]!.state, 'ok');
  // Garbage before an answer: a CRC / framing error is counted, the next polls read fine.
  const before = await count('modbus/bus/meter1/v');
  // A truncated answer of unit 1 (no CRC) runs into the real one: the frame fails its CRC.
  bus.garbageBeforeNextAnswer(Buffer.from([0x01, 0x03, 0x02, 0xff]), 1);
  await waitUntil(async () => (await count('modbus/bus/meter1/v')) >= before + 5, 'reads continue after garbage', 10_000);
  const errs = devices()[0]!.readErrors.protocol! + devices()[0]!.readErrors.timeout!;
  assert.ok(errs >= 1, `the garbage was noticed and counted on meter1 (${JSON.stringify(devices()[0]!.readErrors)})`);
  assert.ok((await readErrors(deps, { device: 'ghost', error: 'timeout' })) >= 1);
});

test('RTU cable pulled and replugged: the port is reopened with backoff and polling resumes', { skip: socatSkip }, async (t) => {
  const cable = await startSocat(t);
  const bus = await modbusRtuBus(t, cable.dev0, [5]);
  const intake = await storeIntake(t);
  const { source } = await startModbus(
    t,
    rtuOptions('plug', cable.dev1, {
      timeoutMs: 200,
      retries: 0,
      backoff: { initialMs: 50, maxMs: 300 },
      devices: [{ name: 'd', unitId: 5, groups: [{ intervalMs: 30, tags: [{ name: 'v', area: 'holding', address: 0 }] }] }],
    }),
    intake,
  );
  await waitUntil(async () => (await intake.records()).length >= 3, 'polling', 10_000);
  await bus.close();
  await cable.stop();
  await waitUntil(() => source.status().state === 'retrying', 'the loss is noticed', 10_000);
  const n = (await intake.records()).length;
  await cable.restart();
  await bus.reopen();
  await waitUntil(async () => (await intake.records()).length >= n + 3, 'polling resumes', 15_000);
  assert.ok(modbusDetails(source).reconnects >= 1);
});
