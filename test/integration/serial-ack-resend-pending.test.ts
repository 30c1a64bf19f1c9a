// Round 23: ack.dedupWindow and a frame resent while its first copy is still being committed (a
// commit slower than the device's ACK timeout: a slow card, a full stream under `reject`). The
// window learns a sequence number at its commit, so the resend was handed on again and stored
// twice, with two ACKs. Now it is a duplicate: counted, not handed on, answered by the first copy's
// ACK. The commit is held by the test (onMessage's promise); real link on a socat pty pair.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { metricValue, testDeps, waitUntil } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

test('serial ack: with dedupWindow, a frame resent while its first copy is being committed is not handed on again; one ACK answers both', {
  skip: socatSkip,
}, async (t) => {
  const pair = await startSocat(t);
  const deps = testDeps();
  const handed: string[] = [];
  const commits: Array<() => void> = [];
  const link = createSerialLink(
    { name: 'resend', path: pair.dev1, framing: { type: 'line' }, codec: { type: 'json' }, ack: { enabled: true, dedupWindow: 16 } },
    {
      ...deps,
      onMessage: (m) => {
        handed.push(m.payload.toString());
        return new Promise<void>((resolve) => commits.push(resolve));
      },
    },
  );
  await link.start();
  t.after(() => link.stop());
  await waitUntil(() => link.status().state === 'open', 'link open');
  const dev = await open(pair.dev0, 'r+');
  t.after(() => dev.close());
  const count = (name: string, labels: Record<string, string>) => metricValue(deps.registry, name, { link: 'resend', ...labels });

  await dev.write('{"seq":5,"t":1}\n');
  await waitUntil(() => handed.length === 1, 'frame 5 handed on');
  // The device's ACK timeout passes before the commit: it sends frame 5 again, then frame 6.
  await dev.write('{"seq":5,"t":1}\n{"seq":6,"t":2}\n');
  await waitUntil(() => handed.some((p) => p.includes('"seq":6')), 'frame 6 handed on');
  assert.deepEqual(
    handed.map((p) => (JSON.parse(p) as { seq: number }).seq),
    [5, 6],
    'the resent frame 5 is not handed on a second time',
  );
  assert.equal(await count('gatehouse_serial_duplicates_total', {}), 1, 'the resend is counted as a duplicate');
  // The commits land: one ACK for frame 5 (it answers both copies) and one for frame 6.
  for (const c of commits) c();
  await waitUntil(async () => (await count('gatehouse_serial_acks_total', { kind: 'ack' })) === 2, 'frames 5 and 6 ACKed');
  // Frame 5 again after its commit: the window's usual duplicate, ACKed again, not handed on.
  await dev.write('{"seq":5,"t":1}\n');
  await waitUntil(async () => (await count('gatehouse_serial_acks_total', { kind: 'ack' })) === 3, 'the late resend ACKed again');
  assert.equal(handed.length, 2);
  assert.equal(await count('gatehouse_serial_duplicates_total', {}), 2);
});
