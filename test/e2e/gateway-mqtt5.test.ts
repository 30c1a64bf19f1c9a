// MQTT 5 against the real gateway (CLI child process, LevelDB store, exporters): sessions across a
// restart, negative PUBACKs from a full stream, and kill -9 with v5 publishers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdir, readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import mqtt from 'mqtt';
import { tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

const v5 = { protocolVersion: 5 as const, reconnectPeriod: 0, connectTimeout: 5000 };

test('v5 sessions (subscriptions, queued QoS 1) survive a gateway restart and expire on time', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n`);
  let gw: GatewayProcess | undefined = await startGatewayProcess(config);
  t.after(() => gw?.kill9());
  const long = await mqtt.connectAsync(gw.mqttUrl, { ...v5, clientId: 'sess-long', clean: true, properties: { sessionExpiryInterval: 3600 } });
  await long.subscribeAsync('cmd/#', { qos: 1 });
  await long.endAsync();
  const short = await mqtt.connectAsync(gw.mqttUrl, { ...v5, clientId: 'sess-short', clean: true, properties: { sessionExpiryInterval: 2 } });
  await short.subscribeAsync('cmd/#', { qos: 1 });
  await short.endAsync();
  const shortGone = Date.now() + 2000;
  // queued for the offline session, then the gateway restarts
  const pub = await mqtt.connectAsync(gw.mqttUrl, { ...v5, clientId: 'sess-pub' });
  await pub.publishAsync('cmd/before', 'queued before restart', { qos: 1 });
  await pub.endAsync();
  assert.equal(await gw.stop(), 0);
  gw = await startGatewayProcess(config);

  const pub2 = await mqtt.connectAsync(gw.mqttUrl, { ...v5, clientId: 'sess-pub' });
  await pub2.publishAsync('cmd/after', 'published after restart', { qos: 1 });
  await pub2.endAsync();
  const got: string[] = [];
  const back = mqtt.connect(gw.mqttUrl, { ...v5, clientId: 'sess-long', clean: false, properties: { sessionExpiryInterval: 3600 } });
  t.after(() => back.end(true));
  back.on('message', (topic) => got.push(topic));
  const [connack] = (await new Promise((r) => back.once('connect', (...a) => r(a)))) as [{ sessionPresent: boolean }];
  assert.equal(connack.sessionPresent, true, 'the 3600 s session is still there after the restart');
  await waitUntil(() => got.length >= 2, 'both queued messages delivered', 10_000);
  assert.deepEqual(got.sort(), ['cmd/after', 'cmd/before']);
  await back.endAsync();

  // the 2 s session expires on time, counted across the restart: wait for its deadline
  const wait = shortGone + 500 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait)); // the behaviour under test is a deadline
  const again = await mqtt.connectAsync(gw.mqttUrl, { ...v5, clientId: 'sess-short', clean: false });
  const present = await new Promise<boolean>((r) => {
    const c = (again as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket;
    r(c?.sessionPresent ?? true);
  });
  assert.equal(present, false, 'the 2 s session expired');
  await again.endAsync();
  assert.equal(await gw.stop(), 0);
  gw = undefined;
});

test('a full stream answers v5 publishes with PUBACK 0x97 and a reason string; the connection stays up', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nstore: { appendTimeoutMs: 100 }\nstreams:\n  archive: { maxBytes: 8192, onFull: reject }\nexporters: []\n`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const c = await mqtt.connectAsync(gw.mqttUrl, { ...v5, clientId: 'filler' });
  t.after(() => c.end(true));
  let refused: { code?: number; message?: string } | undefined;
  for (let i = 0; i < 50 && !refused; i++) {
    refused = await c.publishAsync('fill/x', Buffer.alloc(1000, 'a'), { qos: 1 }).then(
      () => undefined,
      (e: unknown) => e as { code?: number },
    );
  }
  assert.ok(refused, 'the stream filled up');
  assert.equal(refused.code, 0x97);
  assert.equal(c.connected, true, 'the connection stays up after a negative PUBACK');
  // QoS 2 too, and the reason string (mqtt.js keeps it on the error message)
  const q2 = (await c.publishAsync('fill/x', Buffer.alloc(1000, 'a'), { qos: 2 }).catch((e: unknown) => e)) as { code?: number };
  assert.equal(q2?.code, 0x97);
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  assert.match(metrics, /gatehouse_mqtt5_negative_acks_total [1-9]/);
  // a 3.1.1 client is disconnected without a PUBACK, as before
  const old = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0, clientId: 'filler-311' });
  const closed = new Promise<void>((r) => old.once('close', () => r()));
  old.publish('fill/x', Buffer.alloc(1000, 'a'), { qos: 1 });
  await closed;
});

async function exportedIds(dir: string): Promise<Set<number>> {
  const ids = new Set<number>();
  let files: string[] = [];
  try {
    files = (await readdir(dir, { recursive: true })).map((f) => join(dir, f));
  } catch {
    return ids;
  }
  for (const f of files) {
    if (!f.endsWith('.ndjson') && !f.endsWith('.gz')) continue;
    let buf = await readFile(f);
    if (f.endsWith('.gz')) buf = gunzipSync(buf);
    for (const l of buf.toString('utf8').split('\n')) if (l.trim()) ids.add((JSON.parse(l) as { payload: { i: number } }).payload.i);
  }
  return ids;
}

test('kill -9 with v5 publishers: every PUBACKed message is exported after restart', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters:\n  - name: archive-files\n    stream: archive\n    destination: { type: file, dir: ${JSON.stringify(join(dir, 'export'))} }\n    batch: { lingerMs: 50 }\n`,
  );
  let gw: GatewayProcess | undefined = await startGatewayProcess(config);
  t.after(() => gw?.kill9());
  const N = 300;
  const acked = new Set<number>();
  const clients = await Promise.all([0, 1, 2].map((k) => mqtt.connectAsync(gw!.mqttUrl, { ...v5, clientId: `v5-pub-${k}` })));
  // publish until killed mid-stream: what was acknowledged before the kill must all arrive
  void Promise.all(
    clients.map(async (c, k) => {
      for (let i = k; i < N; i += 3) {
        const ok = await c.publishAsync(`fleet/v5/${k}`, JSON.stringify({ i }), { qos: 1, properties: { userProperties: { n: String(i) } } }).then(
          () => true,
          () => false,
        );
        if (!ok) return;
        acked.add(i);
      }
    }),
  );
  await waitUntil(() => acked.size >= N / 2, 'half the messages acknowledged', 20_000);
  await gw.kill9();
  // publishes in flight at the kill never settle (no reconnect): only the acknowledged ones count
  const ackedAtKill = new Set(acked);
  for (const c of clients) c.end(true);
  assert.ok(ackedAtKill.size >= N / 2);
  gw = await startGatewayProcess(config);
  await waitUntil(
    async () => {
      const ids = await exportedIds(join(dir, 'export'));
      return [...ackedAtKill].every((i) => ids.has(i));
    },
    `all ${ackedAtKill.size} acknowledged v5 publishes exported`,
    30_000,
    50,
  );
  assert.equal(await gw.stop(), 0);
  gw = undefined;
});
