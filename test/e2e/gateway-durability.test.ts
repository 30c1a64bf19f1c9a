// End to end, real parts: the gateway CLI in a child process, real mqtt.js clients, kill -9.
// The promise under test: a PUBACK means the record is on disk, and it is exported after restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import mqtt from 'mqtt';
import { tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else out.push(p);
  }
  return out;
}

/** Every exported NDJSON line under dir, parsed. */
async function exportedLines(dir: string): Promise<Array<Record<string, unknown>>> {
  const lines: Array<Record<string, unknown>> = [];
  for (const f of await listFiles(dir)) {
    let buf = await readFile(f);
    if (f.endsWith('.gz')) buf = gunzipSync(buf);
    for (const l of buf.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
  }
  return lines;
}

async function publishAll(url: string, n: number, topic: (i: number) => string): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `pub-${process.pid}-${Date.now()}`, reconnectPeriod: 0 });
  try {
    await Promise.all(Array.from({ length: n }, (_, i) => client.publishAsync(topic(i), JSON.stringify({ i, temp: 90 + (i % 20) }), { qos: 1 })));
  } finally {
    await client.endAsync(true);
  }
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  return res.json();
}

test('acknowledged QoS 1 publishes survive kill -9 and are exported after restart', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nlog: { level: info }\nexporters:\n  - name: archive-files\n    stream: archive\n    destination: { type: file, dir: ${JSON.stringify(join(dir, 'export'))} }\n    batch: { lingerMs: 50 }\n`,
  );
  let gw: GatewayProcess | undefined = await startGatewayProcess(config);
  t.after(() => gw?.kill9());

  const N = 300;
  await publishAll(gw.mqttUrl, N, (i) => `fleet/truck${i % 7}/engine`);
  // Every PUBACK arrived: kill the gateway without any chance to flush.
  await gw.kill9();

  gw = await startGatewayProcess(config);
  // The exporter resumes from its checkpoint and delivers every acknowledged record
  // (duplicates allowed, nothing missing). Exported records are reclaimed from the stream, so the
  // files are where to look.
  const exported = await waitUntil(
    async () => {
      const lines = await exportedLines(join(dir, 'export'));
      const ids = new Set(lines.map((l) => (l.payload as { i: number }).i));
      return ids.size >= N ? ids : undefined;
    },
    `all ${N} records are exported to files`,
    30_000,
    50,
  );
  assert.equal(exported.size, N);
  for (let i = 0; i < N; i++) assert.ok(exported.has(i), `acknowledged message ${i} was lost`);

  const streams = (await getJson(`${gw.adminUrl}/api/streams`)) as {
    streams: Array<{ name: string; lastSeq: number; exporters: Array<{ name: string; lastExportedSeq: number }> }>;
  };
  const archive = streams.streams.find((s) => s.name === 'archive');
  assert.ok(archive && archive.lastSeq >= N);
  assert.equal(archive.exporters[0]?.name, 'archive-files');

  const code = await gw.stop();
  gw = undefined;
  assert.equal(code, 0, 'graceful stop exits 0');
});

test('SIGTERM flushes: records published just before a graceful stop are there after restart', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nlog: { level: info }\nstore: { durability: os }\nexporters: []\n`);
  let gw: GatewayProcess | undefined = await startGatewayProcess(config);
  t.after(() => gw?.kill9());
  await publishAll(gw.mqttUrl, 50, () => 'site/a/temp');
  assert.equal(await gw.stop(), 0);
  gw = await startGatewayProcess(config);
  const body = (await getJson(`${gw.adminUrl}/api/streams/archive/records?from=1&limit=100`)) as { records: unknown[] };
  assert.equal(body.records.length, 50);
  assert.equal(await gw.stop(), 0);
  gw = undefined;
});
