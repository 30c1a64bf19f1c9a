// The broker's state files as snapshot + journal (gateway/broker/state-journal.ts) on the real
// gateway process with real mqtt.js clients: retained messages and an MQTT 5 session's queue survive
// a kill -9 (once the journal holds them: within ~200 ms) and a torn last journal line; a graceful
// stop compacts the journal into the snapshot; the whole-file JSON of earlier versions loads, and an
// old session's subscription to a Basic Ingest topic ($aws/rules/...) is dropped with a warning.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import mqtt, { type IClientOptions, type IPublishPacket } from 'mqtt';
import { tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

async function gateway(t: TestContext, dir: string): Promise<GatewayProcess> {
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n`);
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  return gw;
}

/** Connect, subscribe, and collect what arrives until `count` messages came. */
async function collect(url: string, filter: string, count: number, opts: IClientOptions = {}): Promise<IPublishPacket[]> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...opts });
  const got: IPublishPacket[] = [];
  c.on('message', (_t, _p, packet) => got.push(packet));
  await c.subscribeAsync(filter, { qos: 1 });
  await waitUntil(() => got.length >= count, `${count} message(s) on ${filter} (${got.length})`, 10_000);
  await c.endAsync();
  return got;
}

/** A persistent MQTT 5 session resumed, its 'message' handler attached before CONNACK (queued messages follow it at once). */
async function resume(url: string, clientId: string): Promise<{ c: mqtt.MqttClient; got: string[] }> {
  const c = mqtt.connect(url, { clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 });
  const got: string[] = [];
  c.on('message', (_t, p) => got.push(p.toString()));
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  return { c, got };
}

const text = (file: string): Promise<string> => readFile(file, 'utf8').catch(() => '');

test('retained messages and a v5 session queue survive kill -9 and a torn journal line; a graceful stop compacts', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t);
  const data = join(dir, 'data');
  const retainedJournal = join(data, 'mqtt-retained.json.journal');
  const sessionJournal = join(data, 'mqtt5-sessions.json.journal');
  let gw = await gateway(t, dir);
  // an offline MQTT 5 device whose session lasts an hour
  const dev = await mqtt.connectAsync(gw.mqttUrl, {
    clientId: 'dev-7',
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
    reconnectPeriod: 0,
  });
  await dev.subscribeAsync('cmd/dev-7/#', { qos: 1 });
  await dev.endAsync();
  const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'fleet', reconnectPeriod: 0 });
  for (let i = 0; i < 200; i++) await pub.publishAsync(`status/dev${i}`, `online ${i}`, { qos: 1, retain: true });
  await pub.publishAsync('status/dev5', '', { qos: 1, retain: true }); // cleared
  for (let i = 0; i < 5; i++) await pub.publishAsync(`cmd/dev-7/set`, `cmd ${i}`, { qos: 1 });
  await pub.endAsync();
  // the journals hold them within ~200 ms (no acknowledgement waits for them: they are state)
  await waitUntil(async () => (await text(retainedJournal)).includes('"topic":"status/dev5","deleted":true'), 'the retained journal', 5000, 20);
  await waitUntil(async () => (await text(sessionJournal)).split('"m":').length === 6, 'the session journal', 5000, 20);
  await gw.kill9();
  // a write cut short by the kill -9 (or a power cut): a partial last line
  await appendFile(retainedJournal, '{"topic":"status/torn","payload":"b25s');

  gw = await gateway(t, dir);
  const torn = gw.logs.find((l) => l.code === 'GH_BROKER_STATE_FILE');
  assert.match(String(torn?.msg), /mqtt-retained journal: line \d+ is torn/);
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  assert.match(metrics, /^gatehouse_mqtt_state_file_problems_total\{problem="torn_line"\} 1$/m);
  const retained = await collect(gw.mqttUrl, 'status/#', 199);
  assert.equal(retained.length, 199);
  assert.ok(!retained.some((p) => p.topic === 'status/dev5' || p.topic === 'status/torn'));
  assert.equal(retained.find((p) => p.topic === 'status/dev42')?.payload.toString(), 'online 42');
  // the torn tail was compacted away at start: every line of the journal parses
  for (const line of (await text(retainedJournal)).trim().split('\n')) JSON.parse(line);

  // the session and its queue, after the kill -9
  const { c: back, got } = await resume(gw.mqttUrl, 'dev-7');
  await waitUntil(() => got.length >= 5, `5 queued messages (${got.length})`, 10_000);
  assert.deepEqual(got, ['cmd 0', 'cmd 1', 'cmd 2', 'cmd 3', 'cmd 4']);
  await back.endAsync();

  // a graceful stop writes a snapshot and an empty journal; everything is back after the restart
  assert.equal(await gw.stop(), 0);
  const snapshot = await text(join(data, 'mqtt-retained.json'));
  assert.match(snapshot.split('\n')[0]!, /^\{"gatehouse":"mqtt-retained","v":2,"gen":\d+,"savedAt":\d+\}$/);
  assert.equal(snapshot.split('\n').filter((l) => l.startsWith('{"topic":"status/')).length, 199);
  assert.equal((await text(retainedJournal)).split('\n').length, 2);
  gw = await gateway(t, dir);
  assert.equal((await collect(gw.mqttUrl, 'status/#', 199)).length, 199);
  // the delivered messages stay delivered
  const { c: again, got: late } = await resume(gw.mqttUrl, 'dev-7');
  const fresh = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'fleet', reconnectPeriod: 0 });
  await fresh.publishAsync('cmd/dev-7/set', 'after restart', { qos: 1 });
  await fresh.endAsync();
  await waitUntil(() => late.length >= 1, 'the subscription kept across the restarts');
  assert.deepEqual(late, ['after restart']);
  await again.endAsync();
});

test('the whole-file JSON of earlier versions loads; an old session subscription to a Basic Ingest topic is dropped with a warning', {
  timeout: 60_000,
}, async (t) => {
  const dir = await tempDir(t);
  const data = join(dir, 'data');
  await mkdir(data, { recursive: true });
  const now = Date.now();
  await writeFile(
    join(data, 'mqtt-retained.json'),
    JSON.stringify({ savedAt: now, retained: [{ topic: 'config/dev1', payload: Buffer.from('{"rate":5}').toString('base64'), qos: 1 }] }),
  );
  const sub = (filter: string) => ({ filter, topicFilter: filter, qos: 1, nl: false, rap: false, rh: 0 });
  await writeFile(
    join(data, 'mqtt5-sessions.json'),
    JSON.stringify({
      savedAt: now,
      sessions: [
        {
          clientId: 'old-dev',
          expiryInterval: 3600,
          disconnectedAt: now,
          subs: [sub('cmd/old-dev'), sub('$aws/rules/BuildingManager/#')],
          queue: [{ topic: 'cmd/old-dev', payload: Buffer.from('queued before the upgrade').toString('base64'), qos: 1, retain: false }],
        },
      ],
    }),
  );
  const gw = await gateway(t, dir);
  const dropped = gw.logs.filter((l) => String(l.msg).includes('dropped at load'));
  assert.equal(dropped.length, 1);
  assert.equal(dropped[0]?.client, 'old-dev');
  assert.equal(dropped[0]?.filter, '$aws/rules/BuildingManager/#');
  const [config] = await collect(gw.mqttUrl, 'config/#', 1);
  assert.equal(config?.payload.toString(), '{"rate":5}');
  const { c: dev, got } = await resume(gw.mqttUrl, 'old-dev');
  await waitUntil(() => got.length >= 1, 'the message queued before the upgrade');
  assert.deepEqual(got, ['queued before the upgrade']);
  await dev.endAsync();
  assert.equal(await gw.stop(), 0);
  // rewritten in the new format, without the refused filter
  const sessions = await text(join(data, 'mqtt5-sessions.json'));
  assert.match(sessions, /^\{"gatehouse":"mqtt5-sessions","v":2/);
  assert.ok(sessions.includes('"filter":"cmd/old-dev"'));
  assert.ok(!sessions.includes('$aws/rules'));
});
