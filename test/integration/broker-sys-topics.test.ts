// The broker's figures on $SYS/broker/... under mosquitto's names (gateway/broker/sys-topics.ts):
// a real in-process gateway (broker, store, default archive rule) and real mqtt.js clients, 3.1.1
// and 5, as mosquitto_sub and MQTT Explorer read them.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { needBinary, repoRoot, tempDir, testDeps, waitUntil } from '../helpers/index.js';

async function gateway(t: TestContext, sysIntervalSec: number): Promise<{ gw: Gateway; url: string; admin: string }> {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nbroker: { sysIntervalSec: ${sysIntervalSec} }\n`);
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger: testDeps().logger, registry: createMetricsRegistry('test', 'gw-sys'), version: '9.9.9-test' });
  t.after(() => gw.stop());
  return { gw, url: `mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, admin: `http://127.0.0.1:${gw.admin!.address().port}` };
}

/** A client that keeps the last payload of each topic it receives. */
async function watcher(
  t: TestContext,
  url: string,
  filter: string,
  protocolVersion: 4 | 5 = 4,
): Promise<{ c: MqttClient; last: Map<string, string>; topics: Set<string> }> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, protocolVersion });
  t.after(() => c.endAsync(true));
  const last = new Map<string, string>();
  const topics = new Set<string>();
  c.on('message', (topic, payload) => {
    last.set(topic, payload.toString());
    topics.add(topic);
  });
  await c.subscribeAsync(filter, { qos: 0 });
  return { c, last, topics };
}

test('a 3.1.1 subscriber to $SYS/# gets the figures at once under mosquitto names, and the next rounds count what was published', async (t) => {
  // An hour between rounds: what arrives before it is the round a subscription asks for.
  const { url } = await gateway(t, 3600);
  const w = await watcher(t, url, '$SYS/#');
  await waitUntil(() => w.last.get('$SYS/broker/version'), 'the round a subscription asks for', 5000);
  assert.equal(w.last.get('$SYS/broker/version'), 'gatehouse 9.9.9-test');
  assert.equal(w.last.get('$SYS/broker/clients/connected'), '1');
  assert.match(w.last.get('$SYS/broker/uptime') ?? '', /^\d+ seconds$/);
  for (const name of [
    'messages/received',
    'messages/sent',
    'publish/messages/received',
    'bytes/received',
    'retained messages/count',
    'load/messages/received/1min',
  ])
    assert.ok(w.last.has(`$SYS/broker/${name}`), name);
  // Three publishes from a second client, then a subscription asks for a round again: counted.
  const p = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  t.after(() => p.endAsync(true));
  for (let i = 0; i < 3; i++) await p.publishAsync('plant/line1', `{"i":${i}}`, { qos: 1 });
  w.last.clear();
  // A round at most once a second: the second subscription is answered once a second has passed.
  await waitUntil(
    async () => {
      await w.c.subscribeAsync('$SYS/broker/+', { qos: 0 });
      return w.last.get('$SYS/broker/messages/received');
    },
    'a second round',
    5000,
    250,
  );
  assert.equal(w.last.get('$SYS/broker/messages/received'), '3');
  assert.equal(w.last.get('$SYS/broker/clients/connected'), '2');
  assert.equal(w.last.get('$SYS/broker/clients/maximum'), '2');
});

test("an MQTT 5 subscriber gets $SYS/broker/ at each round, not aedes' own $SYS chatter; the archive stores none of it", async (t) => {
  const { url, admin } = await gateway(t, 1);
  const w = await watcher(t, url, '$SYS/#', 5);
  await waitUntil(() => w.last.get('$SYS/broker/uptime'), 'a round on the timer', 5000);
  // A 3.1.1 client connecting makes aedes publish $SYS/<id>/new/clients: not for MQTT 5 clients.
  const old = await watcher(t, url, 'x/never');
  await waitUntil(() => w.last.get('$SYS/broker/clients/connected') === '2' || undefined, 'a round counting the second client', 5000);
  assert.deepEqual(
    [...w.topics].filter((tp) => !tp.startsWith('$SYS/broker/')),
    [],
  );
  await old.c.endAsync();
  // Rules' '#' (the default archive) never sees $ topics: the stream holds nothing.
  const streams = (await (await fetch(`${admin}/api/streams`)).json()) as { streams: Array<{ name: string; lastSeq: number }> };
  assert.equal(streams.streams.find((s) => s.name === 'archive')?.lastSeq, 0);
});

test('a client cannot publish on $SYS/broker/ (the broker owns it)', async (t) => {
  const { url } = await gateway(t, 3600);
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
  c.publish('$SYS/broker/clients/connected', '999', { qos: 1 });
  // MQTT 3.1.1 cannot refuse a publish: the connection is closed (docs/broker.md, Publish denied).
  await closed;
  c.end(true);
});

test("docs/broker.md's $SYS example runs as written (the port moved): the first three figures, as the page shows them", {
  skip: needBinary('mosquitto_sub', 'mosquitto-clients'),
}, async (t) => {
  const page = await readFile(join(repoRoot, 'docs', 'broker.md'), 'utf8');
  const section = page.slice(page.indexOf('### `$SYS` topics'));
  const block = /```sh\n([\s\S]*?)\n```/.exec(section)![1]!.split('\n');
  const [line, ...shown] = block;
  assert.ok(line!.startsWith('mosquitto_sub '));
  const { gw } = await gateway(t, 3600);
  // Not execFileSync: the gateway runs in this process, and its event loop must answer.
  const { stdout: out } = await promisify(execFile)('sh', ['-ec', line!.replace('mosquitto_sub ', `mosquitto_sub -p ${gw.broker.addresses()[0]!.port} `)], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  // The figures' values move (the build's commit, the seconds): their topics and shapes do not.
  const shape = (l: string): string =>
    l
      .replace(/^# /, '')
      .replace(/gatehouse \S+/, 'gatehouse V')
      .replace(/\d+ seconds/, 'N seconds');
  assert.deepEqual(out.trimEnd().split('\n').map(shape), shown.map(shape));
});
