// Round-13 audit: the port vanishing mid-frame and coming back. The half frame is lost with the
// cable; it must be counted (as truncated), and the frames after the replug arrive whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { metricValue, testDeps, waitUntil } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

test('serial: a frame cut by the cable being pulled is counted as truncated; frames after the replug arrive', { skip: socatSkip }, async (t) => {
  const pair = await startSocat(t);
  const deps = testDeps();
  const got: string[] = [];
  const link = createSerialLink(
    {
      name: 'cut',
      path: pair.dev1,
      framing: { type: 'line' },
      codec: { type: 'json' },
      // Long idle timeout: only the port loss can end the half frame here.
      frameTimeoutMs: 60_000,
      reconnect: { initialMs: 20, maxMs: 100, watchMs: 50 },
    },
    {
      ...deps,
      onMessage: (m) => {
        got.push(m.payload.toString());
        return undefined;
      },
    },
  );
  await link.start();
  t.after(() => link.stop());
  let dev = await open(pair.dev0, 'r+');
  await dev.write('{"n":1}\n{"n":');
  await waitUntil(() => got.length === 1, 'frame 1');
  await dev.close();
  await pair.restart();
  await waitUntil(() => link.status().reconnects === 1 && link.status().state === 'open', 'link reopened after the replug', 10_000);
  dev = await open(pair.dev0, 'r+');
  t.after(() => dev.close());
  await dev.write('{"n":3}\n');
  await waitUntil(() => got.length === 2, 'frame 3 after the replug');
  assert.deepEqual(got, ['{"n":1}', '{"n":3}']);
  assert.equal(await metricValue(deps.registry, 'gatehouse_serial_frame_errors_total', { link: 'cut', reason: 'truncated' }), 1, 'the cut frame is counted');
});
