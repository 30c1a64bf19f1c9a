// The gateway under Type=notify and WatchdogSec= (systemd/gatehouse.service): the real
// `gatehouse start` and the real systemd-notify binary (Debian package systemd), talking to a
// stand-in for PID 1 (test/helpers/notify-manager.py, python3: no systemd runs as PID 1 here; it
// answers systemd-notify's barrier as PID 1 does). READY=1 only once the broker accepts
// connections, STATUS= lines, WATCHDOG=1 at a quarter of WATCHDOG_USEC and none while the event
// loop is blocked, RELOADING=1 / READY=1 on SIGHUP, STOPPING=1 on SIGTERM; nothing at all without
// NOTIFY_SOCKET; a missing binary is a warning and a counter, the gateway runs on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import mqtt from 'mqtt';
import { needBinary, repoRoot, tempDir, waitUntil, freePort, withTimeout } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { startNotifyManager, type NotifyMessage } from '../helpers/notify-manager.js';

const skip = needBinary('python3', 'python3') ?? needBinary('systemd-notify', 'systemd');

/** WatchdogSec=2 in the gateway's environment: a ping every 500 ms. */
const WATCHDOG_USEC = 2_000_000;
const BLOCK_MS = 3000;

async function gatewayConfig(t: import('node:test').TestContext): Promise<string> {
  const dir = await tempDir(t);
  return writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n`);
}

const pings = (ms: NotifyMessage[]) => ms.filter((m) => m.fields.includes('WATCHDOG=1')).map((m) => m.t);

test('Type=notify: READY=1 once the broker accepts, STATUS=, watchdog pings that stop while the event loop is blocked, RELOADING=1 on SIGHUP, STOPPING=1 on SIGTERM', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const port = await freePort(t);
  const manager = await startNotifyManager(t, port);
  const config = await gatewayConfig(t);
  const gw = await startGatewayProcess(
    config,
    ['--mqtt-port', String(port)],
    30_000,
    ['--import', pathToFileURL(join(repoRoot, 'test', 'helpers', 'loop-blocker.mjs')).href],
    {
      NOTIFY_SOCKET: manager.socket,
      WATCHDOG_USEC: String(WATCHDOG_USEC),
      GATEHOUSE_TEST_BLOCK_MS: String(BLOCK_MS),
    },
  );
  t.after(() => gw.kill9());

  const ready = await manager.waitFor('READY=1');
  // The stand-in connected to the broker's port the moment it took READY=1.
  assert.equal(ready.accepting, true, 'the broker accepts connections when READY=1 arrives');
  const beforeReady = manager.messages.filter((m) => m.t < ready.t);
  assert.ok(
    beforeReady.some((m) => m.fields.some((f) => f.startsWith('STATUS=starting: opening the store '))),
    `a STATUS= says what the start does first: ${JSON.stringify(beforeReady.map((m) => m.fields))}`,
  );
  assert.ok(ready.fields.includes(`STATUS=running: MQTT on mqtt://127.0.0.1:${port}, admin API on http://127.0.0.1:${gw.adminPort}`), ready.fields.join(' '));
  // Each message came with systemd-notify's barrier, answered (else it would have waited 5 s and failed).
  assert.ok(manager.with('BARRIER=1').every((m) => m.fds === 1));
  // A real client is accepted too.
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  await client.endAsync();

  // Pings at a quarter of WatchdogSec=: every gap well within it.
  const from = ready.t;
  await waitUntil(() => pings(manager.messages).filter((p) => p > from).length >= 5, 'five pings after READY=1', 15_000);
  const steady = pings(manager.messages).filter((p) => p > from);
  for (let i = 1; i < steady.length; i++) {
    assert.ok(steady[i]! - steady[i - 1]! < WATCHDOG_USEC / 1e6, `gap ${steady[i]! - steady[i - 1]!} s under WatchdogSec=2: ${steady}`);
  }

  // The event loop blocked for 3 s (longer than WatchdogSec=): no ping meanwhile, systemd would kill it.
  gw.proc.kill('SIGUSR2');
  const unblocked = await waitUntil(() => gw.logs.find((l) => l.msg === 'test: event loop unblocked'), 'the loop runs again', 15_000);
  const blocked = gw.logs.find((l) => l.msg === 'test: event loop blocked')!;
  const [b0, b1] = [blocked.mono as number, unblocked.mono as number];
  assert.ok(b1 - b0 >= BLOCK_MS / 1000 - 0.05, `blocked ${b1 - b0} s`);
  await waitUntil(() => pings(manager.messages).some((p) => p > b1), 'a ping once the loop runs again', 10_000);
  // A run spawned just before the block may land in its first moments (systemd-notify is a process of its own).
  const during = pings(manager.messages).filter((p) => p > b0 + 0.5 && p < b1);
  assert.deepEqual(during, [], `no WATCHDOG=1 while the event loop was blocked (${b0}..${b1})`);
  const all = pings(manager.messages);
  const gapOverBlock = Math.max(...all.slice(1).map((p, i) => p - all[i]!));
  assert.ok(gapOverBlock > WATCHDOG_USEC / 1e6, `a gap longer than WatchdogSec= (${gapOverBlock} s): systemd would have restarted it`);

  // SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1 again once the reload is done.
  const readiesBefore = manager.with('READY=1').length;
  gw.proc.kill('SIGHUP');
  const reloading = await manager.waitFor('RELOADING=1');
  assert.ok(
    reloading.fields.some((f) => /^MONOTONIC_USEC=\d+$/.test(f)),
    reloading.fields.join(' '),
  );
  assert.ok(reloading.fields.includes('STATUS=reloading the configuration (SIGHUP)'));
  const mono = Number(reloading.fields.find((f) => f.startsWith('MONOTONIC_USEC='))!.split('=')[1]) / 1e6;
  assert.ok(Math.abs(mono - reloading.t) < 5, `MONOTONIC_USEC is CLOCK_MONOTONIC (${mono} vs ${reloading.t})`);
  await waitUntil(() => manager.with('READY=1').length > readiesBefore, 'READY=1 after the reload', 15_000);
  const reReady = manager.with('READY=1').at(-1)!;
  assert.ok(reReady.t > reloading.t);

  // SIGTERM: STOPPING=1, a clean exit.
  const code = await gw.stop();
  assert.equal(code, 0);
  const stopping = await manager.waitFor('STOPPING=1', 5000);
  assert.ok(
    stopping.fields.some((f) => f.startsWith('STATUS=stopping (SIGTERM)')),
    stopping.fields.join(' '),
  );
  assert.ok(stopping.t > reReady.t);
  assert.equal(gw.logs.filter((l) => l.level === 40 && /systemd-notify/.test(String(l.msg))).length, 0, 'no warning about systemd-notify');
});

test('without NOTIFY_SOCKET systemd-notify is never run, WATCHDOG_USEC or not', { skip, timeout: 60_000 }, async (t) => {
  // A systemd-notify first on PATH that records each run: there must be none.
  const bin = await tempDir(t);
  const record = join(bin, 'runs');
  await writeFile(join(bin, 'systemd-notify'), `#!/bin/sh\necho "$@" >> ${JSON.stringify(record)}\n`);
  await chmod(join(bin, 'systemd-notify'), 0o755);
  // NOTIFY_SOCKET empty, as unset (sd_notify(3) takes both as "not under Type=notify").
  const env: Record<string, string> = { PATH: `${bin}:${process.env.PATH ?? ''}`, NOTIFY_SOCKET: '', WATCHDOG_USEC: '400000' };
  const gw = await startGatewayProcess(await gatewayConfig(t), [], 30_000, [], env);
  t.after(() => gw.kill9());
  const client = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0 });
  await client.publishAsync('a/b', 'x', { qos: 1 });
  await client.endAsync();
  // Ten ping intervals (100 ms each) and a reload without a single run.
  gw.proc.kill('SIGHUP');
  await waitUntil(() => gw.logs.some((l) => String(l.msg).startsWith('reload: ')), 'the reload is done', 10_000);
  await new Promise((r) => setTimeout(r, 1000)); // time for pings that must not come: no event to wait on
  assert.equal(await gw.stop(), 0);
  await assert.rejects(readFile(record, 'utf8'), { code: 'ENOENT' }, 'systemd-notify was never run');
  assert.ok(!gw.logs.some((l) => /systemd watchdog/.test(String(l.msg))));
});

test('systemd-notify missing from PATH: one warning naming the package, a counter, the gateway runs and stops as ever', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const manager = await startNotifyManager(t);
  const empty = await tempDir(t);
  const gw = await startGatewayProcess(await gatewayConfig(t), [], 30_000, [], {
    PATH: empty,
    NOTIFY_SOCKET: manager.socket,
    WATCHDOG_USEC: '400000',
  });
  t.after(() => gw.kill9());
  const client = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0 });
  await client.publishAsync('a/b', 'x', { qos: 1 });
  await client.endAsync();
  // The pings (every 100 ms) fail too: counted, not warned again.
  const failures = async (): Promise<number> => {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const m = /^gatehouse_systemd_notify_failures_total\{reason="spawn"\} (\d+)/m.exec(text);
    return m ? Number(m[1]) : 0;
  };
  await waitUntil(async () => (await failures()) >= 5, 'five failed runs counted', 15_000, 100);
  const warnings = gw.logs.filter((l) => l.level === 40 && /systemd-notify could not be run/.test(String(l.msg)));
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.match(String(warnings[0]!.msg), /Debian package systemd/);
  assert.match(String(warnings[0]!.detail), /ENOENT/);
  const health = await withTimeout(fetch(`${gw.adminUrl}/healthz`), 5000, '/healthz');
  assert.equal(health.status, 200);
  assert.equal(await gw.stop(), 0);
  assert.deepEqual(manager.messages, [], 'nothing reached the socket');
});
