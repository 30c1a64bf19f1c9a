// The log cannot be written (stdout on a full filesystem: /dev/full answers every write with
// ENOSPC): the gateway keeps serving and stops on SIGTERM. Before, the first failing log write
// became an uncaught exception whose fatal log line's synchronous flush retried forever, and the
// whole process froze (broker, admin API) without exiting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { freePort, tempDir, waitUntil } from '../helpers/index.js';
import { cliCommand } from '../helpers/gateway-process.js';

const skip = existsSync('/dev/full') ? false : 'no /dev/full on this system';

test('a log that cannot be written is counted and dropped; the gateway keeps working', { skip, timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const [mqttPort, adminPort] = [await freePort(t), await freePort(t)];
  const full = openSync('/dev/full', 'w');
  t.after(() => closeSync(full));
  const { cmd, args } = cliCommand();
  const proc = spawn(cmd, [...args, 'start', '--data-dir', join(dir, 'data'), '--mqtt-port', String(mqttPort), '--admin-port', String(adminPort)], {
    stdio: ['ignore', full, 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const exited = once(proc, 'exit');
  t.after(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  const admin = `http://127.0.0.1:${adminPort}`;
  await waitUntil(async () => (await fetch(`${admin}/healthz`)).status === 200, 'the admin API to answer', 20_000, 100);
  // A publish is still acknowledged (and committed) while nothing can be logged.
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { reconnectPeriod: 0 });
  await c.publishAsync('t/1', '{"x":1}', { qos: 1 });
  await c.endAsync();
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  const failures = Number(/^gatehouse_log_write_failures_total (\d+)/m.exec(metrics)?.[1] ?? 0);
  assert.ok(failures > 0, `log write failures counted: ${failures}`);
  proc.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0);
});
