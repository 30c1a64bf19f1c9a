// A Modbus TCP device that answers every other request and lets the others time out (a flaky
// line, a PLC busy every few polls): each timeout after an answer starts a new run of failures.
// The log says so once a minute per device with the count, not a line per failure (found by
// fuzzing: fuzz-modbus.test.ts); the failures are all counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modbusKind, modbusOptionsSchema } from '../../gateway/pipeline/sources/modbus/index.js';
import { metricValue, waitUntil } from '../helpers/index.js';
import { capturedLogger, sourceDeps, storeIntake } from '../helpers/industrial.js';
import { rawTcpDevice } from '../helpers/modbus-raw.js';

test('a device that fails every other request is logged once a minute, each failure counted', async (t) => {
  let unit1 = 0;
  const dev = await rawTcpDevice(t, (req, _tid, right) => {
    // unit 2 always answers (the link works); unit 1 every other request
    if (req[0] === 1 && unit1++ % 2 === 1) return { chunks: [] };
    return { chunks: [{ bytes: right, delayMs: 0 }] };
  });
  const intake = await storeIntake(t);
  const { logger, lines } = capturedLogger();
  const deps = sourceDeps(t, { logger });
  const source = await modbusKind.create(
    modbusOptionsSchema.parse({
      type: 'modbus',
      name: 'flaky',
      tcp: { host: '127.0.0.1', port: dev.port },
      timeoutMs: 50,
      retries: 0,
      backoff: { initialMs: 10, maxMs: 10 },
      devices: [
        { name: 'plc', unitId: 1, groups: [{ intervalMs: 10, tags: [{ name: 'h0', area: 'holding', address: 0 }] }] },
        { name: 'meter', unitId: 2, groups: [{ intervalMs: 10, tags: [{ name: 'h0', area: 'holding', address: 0 }] }] },
      ],
    }),
    deps,
  );
  await source.start(intake);
  t.after(() => source.stop());
  await waitUntil(
    () => metricValue(deps.registry, 'gatehouse_industrial_read_errors_total', { device: 'plc', error: 'timeout' }).then((v) => v >= 10),
    '10 timeouts of unit 1, each after an answer',
    15_000,
  );
  const down = lines.filter((l) => l.msg === 'modbus device not answering, retrying with backoff');
  assert.equal(down.length, 1, `one line for ten runs of failures: ${JSON.stringify(down)}`);
});
