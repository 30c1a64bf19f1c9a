// A group that cannot keep its interval (more tags than the device answers in time, a slow
// device, a slow commit) skips the polls it had no time for, counted as overruns. They were in the
// status' JSON only (devices[].groups[].overruns): no metric to alert on, nothing in `gatehouse
// sources` (found in a plant trial: 400 tags at 10 ms, 373 overruns in 12 s, all of it invisible).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue, waitUntil } from '../helpers/index.js';
import { modbusTcpPeer, storeIntake } from '../helpers/industrial.js';
import { modbusDetails, startModbus, tcpOptions } from '../helpers/modbus-source.js';

test('polls a group had no time for are counted in gatehouse_industrial_overruns_total{group}, as in the status', async (t) => {
  const peer = await modbusTcpPeer(t);
  // A slow device: each answer takes 3 ms to come (the peer runs in this process, so the wait is
  // a blocking one, in the answer's path), eight of them a poll: 24 ms for a 10 ms interval.
  const pause = new Int32Array(new SharedArrayBuffer(4));
  peer.tamper = (answer) => {
    Atomics.wait(pause, 0, 0, 3);
    return answer;
  };
  const intake = await storeIntake(t);
  const tags = Array.from({ length: 8 }, (_, i) => ({ name: `h${i}`, area: 'holding', address: i * 20 }));
  const { source, deps } = await startModbus(
    t,
    // Eight requests a poll (tags 20 registers apart, mergeGap 0: not merged).
    tcpOptions('slow', peer.port, { mergeGap: 0, devices: [{ name: 'd', unitId: 1, groups: [{ name: 'fast', intervalMs: 10, tags }] }] }),
    intake,
  );
  const overruns = () => metricValue(deps.registry, 'gatehouse_industrial_overruns_total', { kind: 'modbus', source: 'slow', group: 'd/fast' });
  await waitUntil(async () => (await overruns()) >= 20, 'overruns counted in the metric', 10_000);
  await source.stop();
  const status = modbusDetails(source).devices[0]?.groups[0]?.overruns;
  assert.equal(await overruns(), status, 'the metric and the status agree');
});
