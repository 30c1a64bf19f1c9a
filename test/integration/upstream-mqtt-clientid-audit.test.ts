// Two gateways bridging to one broker with the same clientId (a copied config, a cloned SD card):
// the broker (real mosquitto) takes the session over at each connect, closing the other one. Both
// bridges reset their reconnect backoff at every CONNACK, so they kicked each other out several
// times a second, and each said only 'not connected. Fix: check the broker URL and network'. Now
// the reconnect backoff starts over only after a connection that lasted, and the last error says
// the broker closed an accepted connection and to give each gateway its own clientId.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { freePort, needBinary, tempDir, waitUntil, which } from '../helpers/index.js';

const skip = needBinary('mosquitto', 'mosquitto');

test('mqtt: two bridges with one clientId do not fight several times a second, and say why', { skip, timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t, 'gatehouse-mqtt-dupid-');
  const port = await freePort(t);
  const conf = join(dir, 'm.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nlog_dest stderr\nuser ${userInfo().username}\n`);
  const broker = spawn(which('mosquitto')!, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let takeovers = 0;
  broker.stderr.setEncoding('utf8').on('data', (d: string) => {
    takeovers += d.split('already connected').length - 1;
  });
  t.after(async () => {
    if (broker.exitCode === null && broker.signalCode === null) {
      const exited = new Promise((resolve) => broker.once('exit', resolve));
      broker.kill('SIGKILL');
      await exited;
    }
  });
  const destination = { type: 'mqtt', url: `mqtt://127.0.0.1:${port}`, clientId: 'gh-same-id', protocolVersion: 4 };
  const one = await openStreams(t);
  const two = await openStreams(t);
  const a = await startExporter(t, one, destination);
  await waitUntil(() => takeovers === 0 && a.status().state !== 'stopped', 'the first bridge started');
  const b = await startExporter(t, two, destination);
  const started = performance.now();
  await append(one, 1);
  await append(two, 1);
  const why = /closed the connection without a reason( \([^)]*\))?: another client with this clientId.*Fix: give each gateway its own clientId/;
  await waitUntil(() => [a, b].some((e) => why.test(e.status().lastError?.message ?? '')), 'a last error saying why', 20_000).catch((err: unknown) => {
    throw new Error(`${String(err)}; last errors: ${a.status().lastError?.message} / ${b.status().lastError?.message}`);
  });
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 8000 - (performance.now() - started))));
  // Default reconnect backoff (500 ms doubling to 30 s, full jitter): a few takeovers in 8 s.
  // Before: the backoff started over at each CONNACK, ~33 takeovers in 8 s (8 after).
  assert.ok(takeovers <= 20, `${takeovers} session takeovers in 8 s`);
});
