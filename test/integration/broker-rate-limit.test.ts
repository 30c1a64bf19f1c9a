// Per-client publish rate limit (broker.maxPublishRatePerClient) against a real gateway with real
// mqtt.js clients, MQTT 3.1.1 and 5: a client publishing flat out is held near its rate by
// backpressure (its socket read more slowly) while another client's publishes keep flowing; every
// message, QoS 0 included, is delivered; throttling is counted, logged once and shown in clients().
// Assertions are on counts and on lower bounds of durations (the limit makes a flood slower, never
// faster, whatever the machine's load), and on ratios measured within one run.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import type { Registry } from 'prom-client';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { metricValue, needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { hashPassword } from '../../gateway/broker/index.js';
import { RawClient } from '../helpers/mqtt-raw.js';

interface Rig {
  gw: Gateway;
  registry: Registry;
  url: string;
  logs: Array<{ msg: string; client?: string }>;
}

async function startGw(t: TestContext, brokerYaml: string): Promise<Rig> {
  const d = await tempDir(t);
  const file = join(d, 'g.yaml');
  await writeFile(
    file,
    `gatewayId: ratelimit\ndataDir: ${JSON.stringify(join(d, 'data'))}\nexporters: []\ncontrol: { enabled: false }\nbroker:\n${brokerYaml}\n` +
      `rules: { version: 1, rules: [{ name: keep, sql: "SELECT * FROM 'data/#'", actions: [{ stream: { name: archive } }] }] }\n`,
  );
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const registry = createMetricsRegistry('test', 'ratelimit');
  const logs: Rig['logs'] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => void logs.push(JSON.parse(s) as Rig['logs'][number]) });
  const gw = await startGateway(config, { logger, registry, version: 'test' });
  t.after(() => gw.stop());
  return { gw, registry, url: `mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, logs };
}

async function connect(t: TestContext, url: string, clientId: string, protocolVersion: 4 | 5, ca?: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { clientId, protocolVersion, reconnectPeriod: 0, connectTimeout: 10_000, keepalive: 30, ...(ca ? { ca } : {}) });
  t.after(() => c.endAsync(true));
  return c;
}

/** A subscriber to data/#: the payloads it received per topic, in order. */
async function subscriber(t: TestContext, url: string, protocolVersion: 4 | 5): Promise<Map<string, string[]>> {
  const sub = await connect(t, url, `sub-${protocolVersion}`, protocolVersion);
  const got = new Map<string, string[]>();
  sub.on('message', (topic, payload) => {
    let l = got.get(topic);
    if (!l) got.set(topic, (l = []));
    l.push(payload.toString());
  });
  await sub.subscribeAsync('data/#', { qos: 1 });
  return got;
}

const RATE = 400;
const BURST_S = 0.25;
const BROKER = `  maxPublishRatePerClient: ${RATE}\n  maxPublishBytesPerSecPerClient: 0\n  publishRateBurstSeconds: ${BURST_S}\n`;

for (const version of [4, 5] as const) {
  const name = version === 5 ? 'MQTT 5' : 'MQTT 3.1.1';

  test(`${name}: a QoS 0 flood is held near maxPublishRatePerClient, every message delivered; another client's publishes keep flowing`, async (t) => {
    const rig = await startGw(t, BROKER);
    const got = await subscriber(t, rig.url, version);
    const flooder = await connect(t, rig.url, `flooder-${version}`, version);
    const device = await connect(t, rig.url, `device-${version}`, version);
    const N = 1600;
    const t0 = performance.now();
    for (let i = 0; i < N; i++) flooder.publish('data/flood', String(i), { qos: 0 });
    // the flooder is throttled (status and gauge) while its messages trickle in
    await waitUntil(() => rig.gw.broker.clients().find((c) => c.id === `flooder-${version}`)?.throttled, 'flooder shown throttled', 20_000);
    await waitUntil(async () => (await metricValue(rig.registry, 'gatehouse_mqtt_clients_throttled')) === 1, 'the gauge counts it', 10_000);
    // a normal device: 20 QoS 1 publishes, one after the other, all acknowledged while the flood is still held back
    const d0 = performance.now();
    for (let i = 0; i < 20; i++) await device.publishAsync('data/device', String(i), { qos: 1 });
    const deviceMs = performance.now() - d0;
    const floodSeen = got.get('data/flood')?.length ?? 0;
    assert.ok(floodSeen < N, `the device's 20 publishes went through while the flood waited (${floodSeen}/${N} flood messages delivered)`);
    await waitUntil(() => (got.get('data/flood')?.length ?? 0) >= N, 'every flood message delivered', 60_000);
    const floodMs = performance.now() - t0;
    assert.deepEqual(
      got.get('data/flood'),
      Array.from({ length: N }, (_, i) => String(i)),
      'every QoS 0 message delivered once, in order',
    );
    assert.deepEqual(
      got.get('data/device'),
      Array.from({ length: 20 }, (_, i) => String(i)),
    );
    // the bucket lets through at most burst + rate x time: the flood cannot be faster than this
    const minMs = ((N - RATE * BURST_S - 1) / RATE) * 1000;
    assert.ok(floodMs >= minMs * 0.95, `flood took ${floodMs.toFixed(0)} ms, the limit allows no less than ${minMs.toFixed(0)} ms`);
    // the device's publishes were not queued behind the flood: a fraction of the flood's time
    assert.ok(deviceMs < floodMs / 2, `device 20 x QoS 1: ${deviceMs.toFixed(0)} ms, flood ${floodMs.toFixed(0)} ms`);
    console.log(`${name}: flood of ${N} QoS 0 at ${RATE}/s: ${floodMs.toFixed(0)} ms (min ${minMs.toFixed(0)}); device 20 x QoS 1: ${deviceMs.toFixed(0)} ms`);

    await waitUntil(() => !rig.gw.broker.clients().find((c) => c.id === `flooder-${version}`)?.throttled, 'flooder no longer throttled', 10_000);
    const info = rig.gw.broker.clients().find((c) => c.id === `flooder-${version}`)!;
    assert.ok(info.throttles >= 1 && info.throttledSeconds > 0, JSON.stringify(info));
    const dev = rig.gw.broker.clients().find((c) => c.id === `device-${version}`)!;
    assert.equal(dev.throttles, 0, 'the device was never throttled');
    assert.ok((await metricValue(rig.registry, 'gatehouse_mqtt_client_throttled_total')) >= 1);
    assert.ok((await metricValue(rig.registry, 'gatehouse_mqtt_client_throttled_seconds_total')) > 0);
    assert.equal(await metricValue(rig.registry, 'gatehouse_mqtt_clients_throttled'), 0);
    // one warning naming the client, however often it was throttled within the minute
    const warned = rig.logs.filter((l) => l.msg.startsWith('client publishing over its rate limit'));
    assert.equal(warned.length, 1, JSON.stringify(warned));
    assert.equal(warned[0]!.client, `flooder-${version}`);
  });

  test(`${name}: a throttled QoS 1 flood loses nothing that was acknowledged`, async (t) => {
    const rig = await startGw(t, BROKER);
    const got = await subscriber(t, rig.url, version);
    const flooder = await connect(t, rig.url, `q1-${version}`, version);
    const N = 1200;
    // MQTT 5: at most the server's Receive Maximum (maxInflight, 100) unanswered, as the spec
    // asks of a client (mqtt.js does not hold back for it); 3.1.1: all at once
    const window = version === 5 ? 50 : N;
    const acked: number[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < N) {
        const i = next++;
        await flooder.publishAsync('data/q1', String(i), { qos: 1 });
        acked.push(i);
      }
    };
    await Promise.all(Array.from({ length: window }, worker));
    assert.equal(acked.length, N, 'every publish acknowledged, the connection kept');
    assert.ok((await metricValue(rig.registry, 'gatehouse_mqtt_client_throttled_total')) >= 1);
    await waitUntil(() => (got.get('data/q1')?.length ?? 0) >= N, 'every acknowledged message delivered', 30_000);
    assert.deepEqual(new Set(got.get('data/q1')), new Set(acked.map(String)));
  });
}

test('maxPublishRatePerClient: 0 and maxPublishBytesPerSecPerClient: 0: no limit, nothing throttled', async (t) => {
  const rig = await startGw(t, '  maxPublishRatePerClient: 0\n  maxPublishBytesPerSecPerClient: 0\n');
  const got = await subscriber(t, rig.url, 4);
  const flooder = await connect(t, rig.url, 'unlimited', 4);
  const N = 3000;
  const window = 200;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < N) await flooder.publishAsync('data/u', String(next++), { qos: 1 });
  };
  await Promise.all(Array.from({ length: window }, worker));
  await waitUntil(() => (got.get('data/u')?.length ?? 0) >= N, 'every message delivered', 30_000);
  assert.equal(await metricValue(rig.registry, 'gatehouse_mqtt_client_throttled_total'), 0);
  assert.equal(rig.gw.broker.clients().find((c) => c.id === 'unlimited')!.throttles, 0);
});

test('maxPublishBytesPerSecPerClient holds a client of large publishes to its byte rate', async (t) => {
  const BYTES = 200 * 1024;
  const rig = await startGw(t, `  maxPublishRatePerClient: 0\n  maxPublishBytesPerSecPerClient: ${BYTES}\n  publishRateBurstSeconds: 0.5\n`);
  const got = await subscriber(t, rig.url, 5);
  const flooder = await connect(t, rig.url, 'bytes', 5);
  const N = 100;
  const payload = Buffer.alloc(10 * 1024, 'x');
  const t0 = performance.now();
  for (let i = 0; i < N; i++) flooder.publish('data/b', payload, { qos: 0 });
  await waitUntil(() => (got.get('data/b')?.length ?? 0) >= N, 'every large message delivered', 30_000);
  const ms = performance.now() - t0;
  // 1,000 KiB through a 200 KiB/s budget with a 100 KiB burst (and one publish of debt)
  const minMs = ((N * payload.length - BYTES * 0.5 - payload.length) / BYTES) * 1000;
  assert.ok(ms >= minMs * 0.95, `${N} x 10 KiB took ${ms.toFixed(0)} ms, the limit allows no less than ${minMs.toFixed(0)} ms`);
  assert.ok((await metricValue(rig.registry, 'gatehouse_mqtt_client_throttled_total')) >= 1);
});

for (const version of [4, 5] as const) {
  test(`MQTT ${version === 5 ? '5' : '3.1.1'}: a throttled client meets TCP backpressure: its bytes wait in its own socket, not in the gateway`, async (t) => {
    const BYTES = 256 * 1024;
    const rig = await startGw(t, `  maxPublishRatePerClient: 0\n  maxPublishBytesPerSecPerClient: ${BYTES}\n  publishRateBurstSeconds: 1\n`);
    const flooder = await connect(t, rig.url, `bp-${version}`, version);
    const payload = Buffer.alloc(1024, 'y');
    // 64 MiB: more than the loopback socket buffers can hold (tcp_wmem + tcp_rmem maxima: 36 MiB here)
    const N = 64 * 1024;
    for (let i = 0; i < N; i++) flooder.publish('data/bp', payload, { qos: 0 });
    await waitUntil(async () => (await metricValue(rig.registry, 'gatehouse_mqtt_bytes_in_total')) >= 512 * 1024, 'the gateway took 512 KiB', 30_000);
    const taken = await metricValue(rig.registry, 'gatehouse_mqtt_bytes_in_total');
    const waitingInClient = flooder.stream.writableLength;
    // the gateway took its budget (burst + rate x time), the rest waits on the device's side
    assert.ok(taken < 8 * 1024 * 1024, `gateway took ${taken} bytes`);
    assert.ok(waitingInClient > 16 * 1024 * 1024, `the device still holds ${waitingInClient} bytes unsent`);
    assert.ok(rig.gw.broker.clients().find((c) => c.id === `bp-${version}`)?.throttled, 'shown throttled');
  });
}

test('a TLS listener: MQTT 3.1.1 and 5 floods are held to the rate, every message delivered', async (t) => {
  const missing = needBinary('openssl', 'openssl');
  if (missing) return t.skip(missing);
  const dir = await tempDir(t);
  const { cert, key } = opensslSelfSigned(dir);
  const rig = await startGw(t, `${BROKER}  listeners: [{ host: 127.0.0.1, port: 0, tls: { cert: ${JSON.stringify(cert)}, key: ${JSON.stringify(key)} } }]\n`);
  const url = rig.url.replace('mqtt://', 'mqtts://');
  const ca = await readFile(cert, 'utf8');
  const sub = await connect(t, url, 'tls-sub', 4, ca);
  const got = new Map<string, number>();
  sub.on('message', (topic) => got.set(topic, (got.get(topic) ?? 0) + 1));
  await sub.subscribeAsync('data/#', { qos: 1 });
  const N = 900;
  const t0 = performance.now();
  for (const version of [4, 5] as const) {
    const c = await connect(t, url, `tls-${version}`, version, ca);
    for (let i = 0; i < N; i++) c.publish(`data/tls${version}`, String(i), { qos: 0 });
  }
  await waitUntil(() => (got.get('data/tls4') ?? 0) >= N && (got.get('data/tls5') ?? 0) >= N, 'every message delivered', 60_000);
  const ms = performance.now() - t0;
  const minMs = ((N - RATE * BURST_S - 1) / RATE) * 1000;
  assert.ok(ms >= minMs * 0.95, `${ms.toFixed(0)} ms, the limit allows no less than ${minMs.toFixed(0)} ms`);
  assert.equal(got.get('data/tls4'), N);
  assert.equal(got.get('data/tls5'), N);
  assert.ok((await metricValue(rig.registry, 'gatehouse_mqtt_client_throttled_total')) >= 2);
});

/** A CONNECT with keep alive 1 s (3.1.1 or 5), clean session, client id `id`. */
function connectKeepalive1(id: string, level: 4 | 5): Buffer {
  const cid = Buffer.from(id);
  const body = Buffer.concat([
    Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, level, 0x02, 0x00, 0x01]),
    level === 5 ? Buffer.from([0]) : Buffer.alloc(0),
    Buffer.from([cid.length >> 8, cid.length & 0xff]),
    cid,
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

for (const level of [4, 5] as const) {
  test(`MQTT ${level === 5 ? '5' : '3.1.1'}: a client held back longer than its keep alive is not disconnected for keep alive`, async (t) => {
    // 100/s: 600 publishes read in one go take ~6 s to go through, the keep alive (1 s) times out after 1.5 s
    const rig = await startGw(t, '  maxPublishRatePerClient: 100\n  maxPublishBytesPerSecPerClient: 0\n  publishRateBurstSeconds: 0.1\n');
    const got = await subscriber(t, rig.url, 4);
    const raw = await RawClient.open(Number(new URL(rig.url).port));
    t.after(() => raw.destroy());
    raw.write(connectKeepalive1(`ka-${level}`, level));
    await raw.waitBytes(4);
    const N = 600;
    const topic = Buffer.from('data/ka');
    const one = (i: number): Buffer => {
      const p = Buffer.from(String(i).padStart(3, '0'));
      // PUBLISH QoS 0: topic, (v5: empty properties), payload
      const body = Buffer.concat([Buffer.from([0, topic.length]), topic, level === 5 ? Buffer.from([0]) : Buffer.alloc(0), p]);
      return Buffer.concat([Buffer.from([0x30, body.length]), body]);
    };
    raw.write(Buffer.concat(Array.from({ length: N }, (_, i) => one(i))));
    await waitUntil(() => (got.get('data/ka')?.length ?? 0) >= N || raw.closed, 'every publish delivered', 60_000);
    assert.equal(raw.closed, false, `closed after ${got.get('data/ka')?.length ?? 0} of ${N} publishes`);
    assert.equal(got.get('data/ka')?.length, N);
  });
}

for (const version of [4, 5] as const) {
  test(`MQTT ${version === 5 ? '5' : '3.1.1'}: the will of a client that drops while over its rate is published`, async (t) => {
    const rig = await startGw(t, '  maxPublishRatePerClient: 50\n  maxPublishBytesPerSecPerClient: 0\n  publishRateBurstSeconds: 0.1\n');
    const got = await subscriber(t, rig.url, 4);
    const c = await mqtt.connectAsync(rig.url, {
      clientId: `will-${version}`,
      protocolVersion: version,
      reconnectPeriod: 0,
      will: { topic: 'data/will', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    for (let i = 0; i < 200; i++) c.publish('data/w', String(i), { qos: 0 });
    await waitUntil(() => rig.gw.broker.clients().find((x) => x.id === `will-${version}`)?.throttled, 'throttled', 20_000);
    // the connection drops without DISCONNECT: the will is due, while the client's budget is spent
    c.stream.destroy();
    await waitUntil(() => got.get('data/will')?.length, 'the will delivered', 10_000);
    assert.deepEqual(got.get('data/will'), ['gone']);
    await waitUntil(async () => (await metricValue(rig.registry, 'gatehouse_mqtt_clients_throttled')) === 0, 'no client throttled', 10_000);
  });
}

test('users[].maxPublishRatePerClient: 0 lets a bridge user publish unthrottled while other users stay limited', async (t) => {
  const users =
    `  users:\n    - { username: bridge, password: ${JSON.stringify(hashPassword('b'))}, maxPublishRatePerClient: 0 }\n` +
    `    - { username: device, password: ${JSON.stringify(hashPassword('d'))} }\n`;
  const rig = await startGw(t, BROKER + users);
  const got = await subscriber(t, rig.url, 4);
  const N = 800;
  for (const [user, password] of [
    ['bridge', 'b'],
    ['device', 'd'],
  ] as const) {
    const c = await mqtt.connectAsync(rig.url, { clientId: user, username: user, password, reconnectPeriod: 0 });
    t.after(() => c.endAsync(true));
    for (let i = 0; i < N; i++) c.publish(`data/${user}`, String(i), { qos: 0 });
  }
  await waitUntil(() => (got.get('data/bridge')?.length ?? 0) >= N && (got.get('data/device')?.length ?? 0) >= N, 'every message delivered', 30_000);
  const info = (id: string) => rig.gw.broker.clients().find((c) => c.id === id)!;
  assert.equal(info('bridge').throttles, 0, 'the bridge user has no limit');
  assert.ok(info('device').throttles >= 1, 'the device user has the broker limit');
});
