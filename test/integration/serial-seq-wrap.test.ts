// Months of uptime on a serial link: the acknowledged protocol's header SEQ is 16-bit (protocol.ts)
// and wraps at 65536 (13 s at 5,000 frames/s). Over a real pty pair (socat), the simulated device
// (firmware-bridge/simulator.ts, the bridge's real crc framing and struct codec, the full reading
// number as a u32 in the body) sends 70,000 readings, its SEQ wrapping once, with 2% of the ACKs
// lost (resent after its ACK timeout), to a link with ack.dedupWindow at its largest (32768, half
// the sequence space: options.ts). Every reading is committed exactly once: the resends are
// dropped by the window, and no new frame after the wrap is taken for an old one (a window of
// 65536 dropped them: the first frames after the wrap, lost).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { createSimulatedDevice, simulatorLinkOptions } from '../../firmware-bridge/simulator.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { metricValue, testDeps, withTimeout } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

const N = 70_000;

test('serial ack, header mode: the 16-bit SEQ wraps with the largest dedup window; every reading committed once', { skip: socatSkip }, async (t) => {
  const pair = await startSocat(t);
  const registry = createMetricsRegistry('test', 'serial-wrap');
  const times = new Uint8Array(N);
  let committed = 0;
  const base = simulatorLinkOptions('wrap', pair.dev1, 'crc', 'struct', true);
  const link = createSerialLink(
    { ...base, ack: { enabled: true, mode: 'header', field: 'seq', dedupWindow: 32768 } },
    {
      ...testDeps(),
      registry,
      // A commit that completes asynchronously, like a store batch write.
      onMessage: (m) =>
        new Promise<void>((resolve) =>
          setImmediate(() => {
            const seq = (JSON.parse(m.payload.toString()) as { seq: number }).seq;
            times[seq] = times[seq]! + 1;
            committed++;
            resolve();
          }),
        ),
    },
  );
  await link.start();
  t.after(() => link.stop());
  const dev = createSimulatedDevice({
    path: pair.dev0,
    rate: 20_000,
    framing: 'crc',
    codec: 'struct',
    ack: true,
    count: N,
    ackTimeoutMs: 500,
    bufferSize: 1024,
    dropAcks: 0.02,
    seed: 7,
  });
  await dev.start();
  t.after(() => dev.stop());
  await withTimeout(dev.done, 240_000, 'every reading acknowledged');

  const missing: number[] = [];
  const twice: number[] = [];
  for (let i = 0; i < N; i++) {
    if (times[i] === 0) missing.push(i);
    else if (times[i]! > 1) twice.push(i);
  }
  assert.deepEqual(missing.slice(0, 20), [], `${missing.length} readings never committed`);
  assert.deepEqual(twice.slice(0, 20), [], `${twice.length} readings committed more than once`);
  assert.equal(committed, N);
  const s = dev.stats();
  assert.ok(s.resent > 0, 'ACKs were lost and frames resent');
  assert.ok((await metricValue(registry, 'gatehouse_serial_duplicates_total', { link: 'wrap' })) > 0, 'resends dropped by the window');
});
