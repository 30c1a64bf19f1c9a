// A start that does not finish (a data disk that stopped answering; here a FIFO where the retained
// message file should be, whose read waits for a writer forever): the first SIGINT/SIGTERM says it is
// held until the start completes, a second one ends the process at once (by SIGINT itself: process.exit hung on the FIFO's thread), as after the start. Before,
// both were held silently and only kill -9 ended the process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { tempDir, waitUntil, which, withTimeout } from '../helpers/index.js';
import { cliCommand } from '../helpers/gateway-process.js';

test('a second stop signal while the gateway is still starting exits at once; the first says it is held', {
  skip: which('mkfifo') ? undefined : "needs 'mkfifo' (coreutils)",
}, async (t) => {
  const dir = await tempDir(t);
  const data = join(dir, 'data');
  await mkdir(data);
  assert.equal(spawnSync('mkfifo', [join(data, 'mqtt-retained.json')]).status, 0);
  const { cmd, args } = cliCommand();
  const proc = spawn(cmd, [...args, 'start', '--data-dir', data, '--mqtt-port', '0', '--admin-port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const exited = once(proc, 'exit');
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const msgs: string[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      msgs.push(String((JSON.parse(line) as { msg?: unknown }).msg));
    } catch {
      msgs.push(line);
    }
  });
  // The store opens before the broker reads its retained messages (where the start stays).
  await waitUntil(() => msgs.includes('store opened'), 'the start reached the store', 20_000);
  assert.ok(!msgs.includes('gatehouse started'), 'the start is held on the FIFO');
  proc.kill('SIGINT');
  await waitUntil(() => msgs.some((m) => m.startsWith('stop requested while starting')), 'the first signal is acknowledged in the log', 5_000);
  assert.equal(proc.exitCode, null, 'the first signal waits for the start');
  proc.kill('SIGINT');
  const [code, signal] = (await withTimeout(exited, 5_000, 'the process exits after a second signal')) as [number | null, string | null];
  // ended by the signal itself (process.exit waited for the thread pool, stuck on the FIFO: 1 run in 5)
  assert.deepEqual([code, signal], [null, 'SIGINT']);
  assert.ok(
    msgs.some((m) => m.startsWith('second signal while starting')),
    msgs.join('\n'),
  );
});
