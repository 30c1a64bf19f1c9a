// `gatehouse start` meeting a bug (an uncaught exception) stops cleanly and exits 1, so that
// systemd's Restart=on-failure restarts it. Two ways that went wrong before:
// - a second uncaught exception during that stop (the same bug again) counted as a second stop
//   signal: the process ended by SIGINT, which systemd counts as a clean exit, and the gateway
//   stayed down;
// - a stop that hung after the exception (nothing asked for it, so no systemd TimeoutStopSec is
//   behind it) left a process that neither worked nor exited: now ended by SIGKILL after
//   shutdownTimeoutMs + 10 s, which systemd counts as a failure.
// The bug is stood in for by a module preloaded with --import that throws on SIGUSR2 (the gateway
// has no such handler); the hung stop by a FIFO where the retained messages' snapshot is written
// at the stop, whose open waits for a reader for ever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tempDir, waitUntil, which, withTimeout } from '../helpers/index.js';
import { spawnGatewayLogged, writeConfig, type SpawnedGateway } from '../helpers/gateway-process.js';

const THROWS = `process.on('SIGUSR2', () => {
  setImmediate(() => { throw new Error('test bug: first'); });
  setImmediate(() => { throw new Error('test bug: second'); });
});
`;

async function startThrowing(t: import('node:test').TestContext, dir: string): Promise<{ g: SpawnedGateway; data: string }> {
  const data = join(dir, 'data');
  await mkdir(data);
  const preload = join(dir, 'throws.mjs');
  await writeFile(preload, THROWS);
  const file = await writeConfig(dir, `dataDir: ${data}\nshutdownTimeoutMs: 500\nexporters: []\n`);
  const g = spawnGatewayLogged(file, ['--import', pathToFileURL(preload).href]);
  t.after(() => {
    if (g.proc.exitCode === null && g.proc.signalCode === null) g.proc.kill('SIGKILL');
  });
  await waitUntil(() => g.msgs().includes('gatehouse started'), 'the gateway to start', 20_000);
  return { g, data };
}

const ended = (g: SpawnedGateway): Promise<{ code: number | null; signal: string | null }> => g.exited.then((code) => ({ code, signal: g.proc.signalCode }));

test('a second uncaught exception during the stop it caused does not end the process by SIGINT: the stop ends, exit 1', async (t) => {
  const { g } = await startThrowing(t, await tempDir(t));
  g.proc.kill('SIGUSR2');
  const end = await withTimeout(ended(g), 20_000, 'the gateway to exit');
  assert.deepEqual(end, { code: 1, signal: null }, `exit 1, not by a signal systemd counts as clean: ${g.msgs().join(' | ')}`);
  assert.ok(g.msgs().includes('uncaught exception'));
  assert.ok(g.msgs().includes('uncaught exception during the stop: the stop goes on, then exits 1'));
  assert.ok(!g.msgs().includes('second signal: exiting without waiting'));
});

test('a stop that hangs after an uncaught exception is ended by SIGKILL after shutdownTimeoutMs + 10 s', {
  skip: which('mkfifo') ? undefined : "needs 'mkfifo' (coreutils)",
}, async (t) => {
  const { g, data } = await startThrowing(t, await tempDir(t));
  assert.equal(spawnSync('mkfifo', [join(data, 'mqtt-retained.json.tmp')]).status, 0);
  const at = performance.now();
  g.proc.kill('SIGUSR2');
  const end = await withTimeout(ended(g), 40_000, 'the gateway to be ended by its watchdog');
  const s = (performance.now() - at) / 1000;
  assert.deepEqual(end, { code: null, signal: 'SIGKILL' }, `killed, which systemd restarts: ${g.msgs().join(' | ')}`);
  assert.ok(s >= 10.5, `not before shutdownTimeoutMs + 10 s: ${s.toFixed(1)} s`);
  assert.ok(
    g.msgs().some((m) => m.startsWith('the stop after an uncaught exception did not end')),
    g.msgs().join(' | '),
  );
});
