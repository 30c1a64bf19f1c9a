// A Modbus TCP device that answers every other request and lets the others time out (a flaky
// line, a PLC busy every few polls): each timeout after an answer starts a new run of failures.
// The log says so once a minute per device with the count, not a line per failure (found by
// fuzzing: fuzz-modbus.test.ts); the failures are all counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { storeIntake } from '../helpers/industrial.js';
import { oneTagDevice, startModbus, tcpOptions, untilReadErrors } from '../helpers/modbus-source.js';
import { rawTcpDevice } from '../helpers/modbus-raw.js';

test('a device that fails every other request is logged once a minute, each failure counted', async (t) => {
  let unit1 = 0;
  const dev = await rawTcpDevice(t, (req, _tid, right) => {
    // unit 2 always answers (the link works); unit 1 every other request
    if (req[0] === 1 && unit1++ % 2 === 1) return { chunks: [] };
    return { chunks: [{ bytes: right, delayMs: 0 }] };
  });
  const intake = await storeIntake(t);
  const { deps, logs } = await startModbus(
    t,
    tcpOptions('flaky', dev.port, {
      timeoutMs: 50,
      retries: 0,
      backoff: { initialMs: 10, maxMs: 10 },
      devices: [
        { ...oneTagDevice(10, 'plc', 'h0'), unitId: 1 },
        { ...oneTagDevice(10, 'meter', 'h0'), unitId: 2 },
      ],
    }),
    intake,
  );
  await untilReadErrors(deps, { device: 'plc', error: 'timeout' }, 10, '10 timeouts of unit 1, each after an answer', 15_000);
  const down = logs.filter((l) => l.msg === 'modbus device not answering, retrying with backoff');
  assert.equal(down.length, 1, `one line for ten runs of failures: ${JSON.stringify(down)}`);
});
