// Modbus RTU over a socat pty pair with jsmodbus RTU slaves: an answer that comes after the
// master gave up on its request (a slow device). RTU frames carry no transaction id, so a late
// answer of the same unit, function and length is indistinguishable from the answer to the next
// request: it must never be taken for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitUntil } from '../helpers/index.js';
import { modbusRtuBus, storeIntake } from '../helpers/industrial.js';
import { rtuOptions, startModbus, untilReadErrors, valuesOf } from '../helpers/modbus-source.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

test('a late RTU answer is never taken for the answer to the next request', { skip: socatSkip }, async (t) => {
  const cable = await startSocat(t);
  const bus = await modbusRtuBus(t, cable.dev0, [1]);
  bus.units.get(1)!.holding.writeUInt16BE(111, 0);
  bus.units.get(1)!.holding.writeUInt16BE(222, 20); // register 10
  const intake = await storeIntake(t);
  const { deps } = await startModbus(
    t,
    rtuOptions('bus', cable.dev1, {
      timeoutMs: 100,
      retries: 0,
      backoff: { initialMs: 10, maxMs: 10 },
      devices: [
        {
          name: 'd',
          groups: [
            { name: 'a', intervalMs: 30, tags: [{ name: 'a', area: 'holding', address: 0 }] },
            { name: 'b', intervalMs: 30, tags: [{ name: 'b', area: 'holding', address: 10 }] },
          ],
        },
      ],
    }),
    intake,
  );
  const values = (tag: string): Promise<unknown[]> => valuesOf(intake, `modbus/bus/d/${tag}`);
  await waitUntil(async () => (await values('a')).length >= 3 && (await values('b')).length >= 3, 'both groups read', 10_000);
  // The next answer comes 150 ms late: after the 100 ms timeout, while the next request (whose
  // own answer takes 80 ms) waits.
  bus.delayAnswers(1, [150, 80]);
  await untilReadErrors(deps, { error: 'timeout' }, 1, 'the slow answer timed out');
  const [na, nb] = [(await values('a')).length, (await values('b')).length];
  await waitUntil(async () => (await values('a')).length >= na + 20 && (await values('b')).length >= nb + 20, '20 more polls of each', 15_000);
  assert.deepEqual([...new Set(await values('a'))], [111], 'tag a only ever reads register 0');
  assert.deepEqual([...new Set(await values('b'))], [222], 'tag b only ever reads register 10');
});
