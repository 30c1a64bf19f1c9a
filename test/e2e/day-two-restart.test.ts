// End to end, real parts: what an operator's upgrade in place starts on (docs/upgrading.md, "What
// carries over"), as round 32 checked it by hand from round 31 (e66a34c): a data folder holding a
// backlog for an upstream that is down, dead letters a receiver refused (HTTP 400), a file tailed
// part way, a rule set applied through PUT /api/rules above the config's version, and the
// installation id. The gateway is stopped once by SIGTERM and once by kill -9, lines appended to
// the file while it is down; then the upstream comes back and the gateway starts again: every
// record reaches the receiver once (every file line once, none missing), the dead letters are still
// listed and are redriven, the stored rule set is the active one and the installation id is kept.
// The formats of round 31 are this version's (the store, the offsets, the id file), so the same
// data folder written by this version stands for it; the by-hand check ran round 31's build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { main } from '../../gateway/cli/main.js';
import { tempDir, waitUntil } from '../helpers/index.js';

const lines = (from: number, to: number): string => Array.from({ length: to - from }, (_, i) => `line-${from + i}\n`).join('');

async function held(gw: GatewayProcess, name: string): Promise<number> {
  const body = (await (await fetch(`${gw.adminUrl}/api/streams`)).json()) as { streams: Array<{ name: string; records: number }> };
  return body.streams.find((s) => s.name === name)?.records ?? 0;
}

async function installationId(gw: GatewayProcess): Promise<string> {
  return ((await (await fetch(`${gw.adminUrl}/api/overview`)).json()) as { installationId: string }).installationId;
}

async function publish(gw: GatewayProcess, topic: string, ids: string[]): Promise<void> {
  const c = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0 });
  try {
    for (const id of ids) await c.publishAsync(topic, JSON.stringify({ seq: id }), { qos: 1 });
  } finally {
    await c.endAsync();
  }
}

const seqs = (prefix: string, from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

test('a day of state (backlog for a down upstream, dead letters, a file read part way, a stored rule set, the installation id) carries across SIGTERM and kill -9', {
  timeout: 120_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-e2e-day-two-');
  const up = await startFirehoseReceiver();
  t.after(() => up.close());
  await up.down();
  const refusing = await startFirehoseReceiver();
  t.after(() => refusing.close());
  let refuse = true;
  refusing.rejectWhen(() => refuse, 400);
  await mkdir(join(dir, 'in'));
  const file = join(dir, 'in', 'app.log');
  await writeFile(file, lines(0, 100));
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}
sources:
  - { type: file, name: app, paths: [${JSON.stringify(join(dir, 'in', '*.log'))}], initialPosition: start_of_file, topic: "files/{stem}" }
streams:
  archive: { maxBytes: 67108864 }
  bad: { maxBytes: 67108864 }
rules:
  version: 1
  rules:
    - { name: all, sql: "SELECT * FROM '#'", actions: [{ stream: { name: archive } }] }
    - { name: bad, sql: "SELECT * FROM 'bad/#'", actions: [{ stream: { name: bad } }] }
exporters:
  - { name: up, stream: archive, destination: { type: http, url: "${up.url}" }, batch: { lingerMs: 100 } }
  - { name: badx, stream: bad, destination: { type: http, url: "${refusing.url}" }, batch: { lingerMs: 100 } }
`,
  );

  // Day one: a backlog (upstream down), dead letters, a rule set of version 5 over the config's 1.
  let gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  await publish(gw, 'dev/a', seqs('M', 0, 50));
  await publish(gw, 'bad/a', seqs('B', 0, 10));
  await appendFile(file, lines(100, 150));
  const rules5 = {
    version: 5,
    rules: [
      { name: 'all5', sql: "SELECT * FROM '#'", actions: [{ stream: { name: 'archive' } }] },
      { name: 'bad', sql: "SELECT * FROM 'bad/#'", actions: [{ stream: { name: 'bad' } }] },
    ],
  };
  const put = await fetch(`${gw.adminUrl}/api/rules`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rules5) });
  assert.equal(put.status, 200, await put.text());
  await waitUntil(async () => (await held(gw, 'bad-dlq')) === 10, 'the 10 refused records dead-lettered', 30_000, 50);
  // 150 lines, 50 + 10 publishes (the '#' rule takes bad/a too)
  await waitUntil(async () => (await held(gw, 'archive')) === 210, 'the backlog of 210 records', 30_000, 50);
  const id = await installationId(gw);
  assert.equal(await gw.stop(), 0);

  // Stopped: the file grows. Started again, more of everything, then kill -9; the file grows again.
  await appendFile(file, lines(150, 200));
  gw = await startGatewayProcess(config);
  await publish(gw, 'dev/a', seqs('M', 50, 100));
  await appendFile(file, lines(200, 250));
  await waitUntil(async () => (await held(gw, 'archive')) === 360, 'the backlog of 360 records', 30_000, 50);
  await gw.kill9();
  await appendFile(file, lines(250, 300));

  // The upgrade's start: the upstream is back.
  await up.up();
  gw = await startGatewayProcess(config);
  const expected = [...seqs('line-', 0, 300), ...seqs('M', 0, 100).map((s) => `{"seq":"${s}"}`), ...seqs('B', 0, 10).map((s) => `{"seq":"${s}"}`)];
  await waitUntil(() => up.acceptedRecords >= expected.length, `${expected.length} records upstream`, 60_000, 50);
  const got = up.accepted.flatMap((r) => r.records.map((b) => b.toString('utf8')));
  assert.deepEqual([...got].sort(), [...expected].sort(), 'every record once: each file line, each publish');
  const api = (await (await fetch(`${gw.adminUrl}/api/rules`)).json()) as { activeVersion: number };
  assert.equal(api.activeVersion, 5, 'the stored rule set is still the active one');
  assert.equal(await installationId(gw), id, 'the installation id is kept (same store, same machine)');

  // The dead letters are still there, and redriven once the receiver takes them.
  assert.equal(await held(gw, 'bad-dlq'), 10);
  refuse = false;
  const run = await runCaptured(main, ['streams', 'redrive', 'bad-dlq', '--admin', gw.adminUrl]);
  assert.equal(run.code, 0, run.err);
  await waitUntil(() => refusing.acceptedRecords === 10, 'the 10 dead letters upstream', 30_000, 50);
  assert.deepEqual(
    refusing.accepted.flatMap((r) => r.records.map((b) => b.toString('utf8'))).sort(),
    seqs('B', 0, 10)
      .map((s) => `{"seq":"${s}"}`)
      .sort(),
  );
  assert.equal(await held(gw, 'bad-dlq'), 0);
  assert.equal(await gw.stop(), 0);
});
