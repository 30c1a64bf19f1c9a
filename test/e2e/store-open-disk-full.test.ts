// A gateway killed (kill -9) with an un-compacted LevelDB log, on a disk that then fills: opening
// the store replays the log into a new table and needs room. `gatehouse start` used to fail with
// GH_STORE_DISK_FULL and exit (under systemd: a restart every 2 s forever, the broker down). Now it
// waits: one error line, /healthz 503 with the reason, a stop signal ends it at once (exit 0), and
// once space is freed it starts by itself with every record acknowledged before the kill.
// On a REAL small filesystem (a 4 MiB tmpfs holding the data dir; needs root, skipped otherwise).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir, stat, unlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { tempDir, waitUntil, withTimeout } from '../helpers/index.js';
import { cliCommand, spawnGatewayLogged, startGatewayProcess, writeConfig, type SpawnedGateway } from '../helpers/gateway-process.js';
import { freeBytes, mountSmallFs, smallFsSkip } from '../helpers/small-fs.js';
import { startNotifyManager } from '../helpers/notify-manager.js';
import { needBinary } from '../helpers/index.js';

const skip = smallFsSkip();
const MESSAGES = 1500;
const PAD = 'x'.repeat(800);

/** What a start waiting for space shows: /api/overview, the page (in Chromium where installed), `gatehouse status`. */
async function assertWaitingShown(admin: string, dataDir: string, t: TestContext): Promise<void> {
  const res = await fetch(`${admin}/api/overview`);
  assert.equal(res.status, 200);
  const o = (await res.json()) as { health: { ok: boolean; status: string }; starting: Record<string, unknown> };
  assert.equal(o.health.status, 'starting');
  const s = o.starting;
  assert.equal(s.state, 'waiting-for-disk');
  assert.equal(s.waitingFor, 'free disk space to open the store');
  assert.ok(Number.isFinite(Date.parse(String(s.since))), `since is a time: ${String(s.since)}`);
  assert.equal(s.freeBytes, 0);
  assert.ok(Number(s.neededBytes) > MESSAGES * PAD.length, `needed bytes: ${String(s.neededBytes)}`);
  assert.equal(s.storePath, join(dataDir, 'store'));
  assert.match(String(s.whatToDo), /free space on the filesystem of .*store/);
  assert.match(String(s.notRunning), /MQTT broker/);
  const page = await fetch(`${admin}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /id="starting"/);

  const { cmd, args } = cliCommand();
  const text = spawnSync(cmd, [...args, 'status', '--admin', admin], { encoding: 'utf8' });
  assert.equal(text.status, 1, `not healthy: exit 1\n${text.stderr}`);
  assert.match(text.stdout, /: starting: NOT STARTED: waiting for free disk space to open the store since /);
  assert.match(text.stdout, /free space: 0 B; needed: about [\d.]+ (KiB|MiB) to open/);
  assert.match(text.stdout, /what to do: free space on the filesystem of /);
  assert.match(text.stdout, /meanwhile: the MQTT broker/);
  const json = spawnSync(cmd, [...args, 'status', '--admin', admin, '--json'], { encoding: 'utf8' });
  const doc = JSON.parse(json.stdout) as { running: boolean; starting: { state: string; freeBytes: number } };
  assert.equal(doc.running, false);
  assert.equal(doc.starting.state, 'waiting-for-disk');
  assert.equal(doc.starting.freeBytes, 0);

  if (!existsSync('/usr/bin/chromium')) return t.diagnostic('status page in a browser not checked: needs the Debian package chromium');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const tab = await browser.newPage();
    await tab.goto(`${admin}/`, { waitUntil: 'load', timeout: 20_000 });
    const panel = tab.locator('#starting');
    await panel.waitFor({ state: 'visible', timeout: 10_000 });
    const shown = (await panel.textContent()) ?? '';
    assert.match(shown, /Waiting for\s*free disk space to open the store/);
    assert.match(shown, /0 B free, about .* needed to open/);
    assert.match(shown, /What to do\s*free space on the filesystem of/);
    assert.match(shown, /MQTT broker/);
    assert.equal(await tab.locator('#main').isHidden(), true, 'the figures of a running gateway are hidden');
    assert.equal(await tab.locator('#health').textContent(), 'starting');
  } finally {
    await browser.close();
  }
}

function adminUrl(g: SpawnedGateway): string {
  const line = g.logs.find((l) => l.msg === 'admin API listening');
  assert.ok(line, 'admin API listening is logged');
  return `http://127.0.0.1:${String(line.port)}`;
}

test('a store that cannot open on a full disk is waited for: healthz 503, a stop signal exits 0, freed space starts it with every acked record', {
  skip,
  timeout: 180_000,
}, async (t) => {
  const root = await mountSmallFs(t, 4);
  const dataDir = join(root, 'data');
  const filler = join(root, 'filler');
  const dir = await tempDir(t);
  // No exporter: the records stay in 'archive' to be counted after the restart.
  const config = await writeConfig(dir, [`dataDir: ${JSON.stringify(dataDir)}`, 'store: { reserveBytes: 0 }', 'exporters: []'].join('\n'));

  // 1. Records acknowledged, then kill -9: they are in LevelDB's log only (not compacted).
  const gw = await startGatewayProcess(config);
  const client = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'filler', reconnectPeriod: 0 });
  const acked: string[] = [];
  await Promise.all(
    Array.from({ length: MESSAGES }, async (_, i) => {
      await client.publishAsync('fleet/t', JSON.stringify({ id: `m${i}`, pad: PAD }), { qos: 1 });
      acked.push(`m${i}`);
    }),
  );
  client.end(true);
  await gw.kill9();
  const store = join(dataDir, 'store');
  const logs = (await readdir(store)).filter((n) => n.endsWith('.log'));
  let logBytes = 0;
  for (const n of logs) logBytes += (await stat(join(store, n))).size;
  assert.ok(logBytes > MESSAGES * PAD.length, `the records are in LevelDB's log (${logBytes} bytes)`);

  // 2. The disk fills up (dd stops at ENOSPC).
  spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k'], { stdio: 'ignore' });
  assert.equal(freeBytes(root), 0, 'the filesystem is full');

  // 3. A start waits instead of exiting; a stop signal ends the wait at once, exit 0.
  const first = spawnGatewayLogged(config);
  t.after(() => first.proc.kill('SIGKILL'));
  await waitUntil(() => first.proc.exitCode !== null || first.msgs().includes('admin API listening'), 'the start waits for space (admin up)', 30_000);
  assert.equal(first.proc.exitCode, null, `the start exited instead of waiting: ${first.msgs().slice(-3).join('\n')}`);
  const waitLine = first.logs.find((l) => String(l.msg).startsWith('store cannot open: the disk is full; waiting for space'));
  assert.ok(waitLine, first.msgs().join('\n'));
  assert.equal(waitLine.level, 50);
  assert.equal(waitLine.freeBytes, 0);
  assert.match(String(waitLine.hint), /at least \d+ bytes/);
  const health = await fetch(`${adminUrl(first)}/healthz`);
  assert.equal(health.status, 503);
  const body = (await health.json()) as { status: string; reason: string; store: { condition: string; freeBytes: number } };
  assert.equal(body.status, 'starting');
  assert.match(body.reason, /waiting for disk space to open the store/);
  assert.equal(body.store.condition, 'cannot-open');
  const streams = await fetch(`${adminUrl(first)}/api/streams`);
  assert.equal(streams.status, 503);
  assert.equal(((await streams.json()) as { error: { code: string } }).error.code, 'GH_STORE_DISK_FULL');
  // The dead-letter routes too (not a 405 naming the method it was sent with).
  const redrive = await fetch(`${adminUrl(first)}/api/streams/archive-dlq/redrive`, { method: 'POST' });
  assert.equal(redrive.status, 503);
  assert.equal(((await redrive.json()) as { error: { code: string } }).error.code, 'GH_STORE_DISK_FULL');
  // And a stream drop (not a 405 naming DELETE, the method it was sent with).
  const drop = await fetch(`${adminUrl(first)}/api/streams/archive?records=0`, { method: 'DELETE' });
  assert.equal(drop.status, 503);
  assert.equal(((await drop.json()) as { error: { code: string } }).error.code, 'GH_STORE_DISK_FULL');
  assert.equal(first.proc.exitCode, null, 'still running while the disk is full');
  const t0 = performance.now();
  first.proc.kill('SIGTERM');
  const code = await withTimeout(first.exited, 5_000, 'exit after SIGTERM while waiting');
  assert.equal(code, 0);
  assert.ok(performance.now() - t0 < 5_000);
  assert.ok(first.msgs().includes('stopped while waiting for disk space to open the store (nothing was started)'), first.msgs().join('\n'));

  // 4. Start again, still full: it waits (one error line, no exit through a free-space check).
  // Under systemd (Type=notify; a stand-in for PID 1 where python3 and systemd-notify are here):
  // the wait is said in STATUS= and extends the start timeout, READY=1 comes once it is over.
  const notifySkip = needBinary('python3', 'python3') ?? needBinary('systemd-notify', 'systemd');
  if (notifySkip) t.diagnostic(`Type=notify messages not checked: ${notifySkip}`);
  const manager = notifySkip ? undefined : await startNotifyManager(t);
  const second = spawnGatewayLogged(config, [], manager ? { NOTIFY_SOCKET: manager.socket } : {});
  t.after(() => second.proc.kill('SIGKILL'));
  await waitUntil(() => second.msgs().includes('admin API listening'), 'the second start waits for space', 30_000);
  // The status page, /api/overview and `gatehouse status` say what the start waits for (the
  // broker staying down is said too), where /api/overview answered 503 and the page 404 before.
  const waitStart = performance.now();
  await assertWaitingShown(adminUrl(second), dataDir, t);
  // Past one free-space check (every 5 s): still waiting, nothing more logged.
  await new Promise((r) => setTimeout(r, Math.max(0, 6_000 - (performance.now() - waitStart))));
  assert.equal(second.proc.exitCode, null, 'still running');
  assert.equal(second.msgs().filter((m) => m.startsWith('store cannot open')).length, 1, 'one line, not one per check');
  assert.ok(!second.msgs().includes('gatehouse started'));
  if (manager) {
    const waiting = await manager.waitFor('EXTEND_TIMEOUT_USEC=');
    assert.ok(waiting.fields.includes('EXTEND_TIMEOUT_USEC=60000000'), waiting.fields.join(' '));
    const status = waiting.fields.find((f) => f.startsWith('STATUS='));
    assert.match(String(status), /^STATUS=NOT STARTED: waiting for free disk space to open the store \(\d+ attempts?; free 0 bytes, needed about \d+\): /);
    assert.equal(manager.with('READY=1').length, 0, 'not ready while the store waits');
  }

  // 5. Space freed: the start goes on by itself, every acknowledged record is there.
  await unlink(filler);
  await waitUntil(() => second.msgs().includes('gatehouse started'), 'started once space is freed', 30_000);
  assert.ok(second.msgs().includes('store opened after waiting for disk space'));
  const admin = adminUrl(second);
  assert.equal((await fetch(`${admin}/healthz`)).status, 200);
  if (manager) {
    const ready = await manager.waitFor('READY=1');
    assert.ok(
      ready.fields.some((f) => f.startsWith('STATUS=running: MQTT on mqtt://')),
      ready.fields.join(' '),
    );
  }
  const seen = new Set<string>();
  for (let from = 1; ; ) {
    const res = (await (await fetch(`${admin}/api/streams/archive/records?from=${from}&limit=1000`)).json()) as {
      records: Array<{ payload: string }>;
      next: number;
    };
    if (res.records.length === 0) break;
    for (const r of res.records) seen.add((JSON.parse(r.payload) as { id: string }).id);
    from = res.next;
  }
  const missing = acked.filter((id) => !seen.has(id));
  assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged records missing`);
  second.proc.kill('SIGTERM');
  assert.equal(await withTimeout(second.exited, 10_000, 'exit after SIGTERM'), 0);
});
