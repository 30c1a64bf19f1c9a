// Round-13 audit: ACKs of a group commit. The store commits many frames at once, so their ACKs are
// written in one burst; they shared the downlink command queue's bound (writeQueue, 64), and the
// rest of the burst was refused and counted as acks{kind=dropped} while the link was up: the device
// resent those frames and they were stored twice. Seen with `simulate serial --ack` at full speed:
// 1561 ACKs dropped, 1690 duplicates in 20000 readings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { createSimulatedDevice, simulatorLinkOptions } from '../../firmware-bridge/simulator.js';
import { metricValue, testDeps } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

test('serial ack: a group commit of many frames ACKs every one of them (none dropped while the link is up)', { skip: socatSkip }, async (t) => {
  const pair = await startSocat(t);
  const deps = testDeps();
  let waiting: Array<() => void> = [];
  // A group commit: everything handed on since the last one is committed together.
  const commit = setInterval(() => {
    const w = waiting;
    waiting = [];
    for (const r of w) r();
  }, 20);
  t.after(() => clearInterval(commit));
  const link = createSerialLink(simulatorLinkOptions('burst', pair.dev1, 'crc', 'struct', true), {
    ...deps,
    onMessage: () => new Promise<void>((resolve) => waiting.push(resolve)),
  });
  await link.start();
  t.after(() => link.stop());
  const N = 3000;
  const dev = createSimulatedDevice({
    path: pair.dev0,
    rate: 50_000,
    framing: 'crc',
    codec: 'struct',
    ack: true,
    count: N,
    ackTimeoutMs: 5000,
    bufferSize: 512,
  });
  await dev.start();
  t.after(() => dev.stop());
  await dev.done;
  assert.equal(await metricValue(deps.registry, 'gatehouse_serial_acks_total', { link: 'burst', kind: 'dropped' }), 0, 'no ACK dropped');
  assert.equal(dev.stats().resent, 0, 'nothing resent: every frame was ACKed within the timeout');
  assert.equal(link.status().framesIn, N, 'each reading handed on once');
});
