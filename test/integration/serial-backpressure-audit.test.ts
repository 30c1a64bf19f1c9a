// Round-13 audit: backpressure. While the link pauses reading (maxInFlight frames not committed),
// the device's bytes wait in the port; the gap is the gateway's, not the device's, so a partial
// frame held meanwhile must not be dropped as 'truncated' by the idle-frame timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { metricValue, testDeps, waitUntil } from '../helpers/index.js';
import { socatSkip, startSocat, uncommittedLink } from '../helpers/socat.js';

test('serial backpressure: a frame split around a pause longer than frameTimeoutMs arrives whole, nothing counted as truncated', {
  skip: socatSkip,
}, async (t) => {
  const pair = await startSocat(t);
  const deps = testDeps();
  const got: string[] = [];
  const pending: Array<() => void> = [];
  const link = createSerialLink(
    { name: 'slow', path: pair.dev1, framing: { type: 'line' }, codec: { type: 'json' }, frameTimeoutMs: 50, maxInFlight: 1, reconnect: { watchMs: 50 } },
    {
      ...deps,
      // A store that does not commit until the test says so (a slow disk, a full rule input log).
      onMessage: (m) => {
        got.push(m.payload.toString());
        return new Promise<void>((resolve) => pending.push(resolve));
      },
    },
  );
  await link.start();
  t.after(() => link.stop());
  const dev = await open(pair.dev0, 'r+');
  t.after(() => dev.close());
  // One write: frame 1 (pauses reading: maxInFlight 1) and the first half of frame 2.
  await dev.write('{"n":1}\n{"n":');
  await waitUntil(() => got.length === 1 && link.status().inFlight === 1, 'frame 1 handed on, reading paused');
  // The device sends the rest of frame 2 while the gateway is not reading; the pause outlasts
  // frameTimeoutMs several times over. A timer, not a sync point: the gap itself is the condition.
  await dev.write('2}\n');
  await sleep(400);
  for (const r of pending.splice(0)) r();
  await waitUntil(() => got.length >= 2, 'frame 2 handed on after the pause', 5000);
  for (const r of pending.splice(0)) r();
  assert.deepEqual(got, ['{"n":1}', '{"n":2}']);
  assert.equal(await metricValue(deps.registry, 'gatehouse_serial_frame_errors_total', { link: 'slow', reason: 'truncated' }), 0);
  assert.equal(link.status().decodeErrors, 0);
});

test('serial backpressure shows: status paused with pausedAt and maxInFlight, gatehouse_serial_paused 1 and a pause counted, until half the frames are committed', {
  skip: socatSkip,
}, async (t) => {
  const { deps, pending, link, dev } = await uncommittedLink(t, 4);
  const before = link.status();
  assert.equal(before.paused, false);
  assert.equal(before.maxInFlight, 4);
  assert.equal(before.pausedAt, undefined);
  assert.equal(await metricValue(deps.registry, 'gatehouse_serial_paused', { link: 'slow' }), 0);

  // Four frames not committed: reading pauses.
  await dev.write('{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n');
  await waitUntil(() => link.status().inFlight === 4, 'four frames handed on, none committed');
  const paused = link.status();
  assert.equal(paused.paused, true, 'the status says reading is paused');
  assert.ok(typeof paused.pausedAt === 'number' && paused.pausedAt <= Date.now(), `pausedAt ${paused.pausedAt}`);
  assert.equal(await metricValue(deps.registry, 'gatehouse_serial_paused', { link: 'slow' }), 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_serial_pauses_total', { link: 'slow' }), 1);

  // Committing one leaves it paused (3 > 4 / 2); committing two more resumes it.
  pending.shift()?.();
  await waitUntil(() => link.status().inFlight === 3, 'one committed');
  assert.equal(link.status().paused, true);
  pending.shift()?.();
  pending.shift()?.();
  await waitUntil(() => link.status().paused === false, 'reading resumes at half');
  assert.equal(link.status().pausedAt, undefined);
  assert.equal(await metricValue(deps.registry, 'gatehouse_serial_paused', { link: 'slow' }), 0);
  for (const r of pending.splice(0)) r();
});
