// `gatehouse simulate serial` entry point: help, argument errors, and a real run on a pty pair.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulateSerial } from '../../gateway/cli/simulate-serial.js';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { simulatorLinkOptions } from '../../firmware-bridge/simulator.js';
import { testDeps, waitUntil } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';
import { runCaptured } from '../helpers/cli-capture.js';

test('simulate serial: --help prints usage; bad arguments exit 2 with GH_ARG_INVALID', async () => {
  const h = await runCaptured(runSimulateSerial, ['--help']);
  assert.equal(h.code, 0);
  assert.match(h.out, /--framing F/);
  for (const args of [[], ['--port', '/x', '--framing', 'xmodem'], ['--port', '/x', '--rate', '-1'], ['--port', '/x', '--codec', 'struct'], ['--bogus']]) {
    const e = await runCaptured(runSimulateSerial, args);
    assert.equal(e.code, 2, args.join(' '));
    assert.match(e.err, /GH_ARG_INVALID/);
  }
});

test('simulate serial: --ack --count runs until every reading is acknowledged by a link', { skip: socatSkip }, async (t) => {
  const pair = await startSocat(t);
  let n = 0;
  const link = createSerialLink(simulatorLinkOptions('cli', pair.dev1, 'cobs', 'struct', true), { ...testDeps(), onMessage: () => void n++ });
  await link.start();
  t.after(() => link.stop());
  const h = await runCaptured(runSimulateSerial, [
    '--port',
    pair.dev0,
    '--rate',
    '200',
    '--framing',
    'cobs',
    '--codec',
    'struct',
    '--ack',
    '--count',
    '20',
    '--garbage',
    '0.2',
  ]);
  assert.equal(h.code, 0);
  const summary = JSON.parse(h.out.trim().split('\n').pop()!) as { simulator: { acked: number; unacked: number } };
  assert.equal(summary.simulator.unacked, 0);
  assert.ok(summary.simulator.acked >= 20);
  await waitUntil(() => n >= 20, '20 frames at the link');
});
