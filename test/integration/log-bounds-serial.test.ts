// A serial port that drops and comes back every few seconds (a USB adapter on a bad cable or hub),
// its log bounded: each loss made 'serial port lost, retrying', the reopen 'serial link open', and
// a reopen that failed first its own warning: two or three lines per flap, for as long as the cable
// is bad. Now the first loss is said at once, then one line a minute with `suppressed` and the
// count of reconnects; the first reopen after a loss says how long the port was away (`downMs`),
// at most once a minute too. gatehouse_serial_reconnects_total still counts every loss. Real ptys:
// a socat pair killed and made again (the cable pulled and plugged back); the rate's clock is the
// process's monotonic clock plus an offset the test moves, so no test waits a minute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { capturedLogger } from '../helpers/industrial.js';
import { metricValue, testDeps, waitUntil } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

test('a serial port lost and back 8 times: one line for the losses, one for the reopens; a minute later one with the count; frames after each replug arrive', {
  skip: socatSkip,
  timeout: 120_000,
}, async (t) => {
  const pair = await startSocat(t);
  const { logger, lines } = capturedLogger('info');
  const offset = { ms: 0 };
  const deps = { ...testDeps(), logger, monotonic: () => performance.now() + offset.ms };
  const got: string[] = [];
  const link = createSerialLink(
    { name: 'flaky', path: pair.dev1, framing: { type: 'line' }, codec: { type: 'json' }, reconnect: { initialMs: 20, maxMs: 100, watchMs: 50 } },
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
  const named = (msg: string): Record<string, unknown>[] => lines.filter((l) => l.msg === msg) as unknown as Record<string, unknown>[];
  const flap = async (n: number): Promise<void> => {
    await pair.restart();
    await waitUntil(() => link.status().reconnects === n && link.status().state === 'open', `reopened after replug ${n}`, 10_000);
    const dev = await open(pair.dev0, 'r+');
    await dev.write(`{"n":${n}}\n`);
    await waitUntil(() => got.length === n, `the frame after replug ${n}`);
    await dev.close();
  };
  await waitUntil(() => link.status().state === 'open', 'open', 5000);
  for (let n = 1; n <= 8; n++) await flap(n);

  const lost = 'serial port lost, retrying';
  const opened = 'serial link open';
  assert.equal(named(lost).length, 1, `one line for 8 losses: ${named(lost).length} lost, ${named(opened).length} open, ${lines.length} lines in all`);
  assert.equal(named(opened).length, 2, `the first open and the first reopen: ${JSON.stringify(named(opened))}`);
  assert.equal(typeof named(opened)[1]!.downMs, 'number', 'the reopen says how long the port was away');
  assert.ok(lines.length <= 6, `no other line per flap: ${lines.map((l) => l.msg).join(' | ')}`);
  assert.equal(await metricValue(deps.registry, 'gatehouse_serial_reconnects_total', { link: 'flaky' }), 8, 'every loss counted');

  // A minute on: the next loss is said with those left out, and its reopen too.
  offset.ms += 61_000;
  await flap(9);
  assert.equal(named(lost).length, 2);
  assert.equal(named(lost)[1]!.suppressed, 7, 'the 7 losses not said');
  assert.equal(named(lost)[1]!.reconnects, 9);
  assert.equal(named(opened).length, 3);
  assert.deepEqual(
    got.map((g) => (JSON.parse(g) as { n: number }).n),
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
});
