// MQTT bridge destination against a real mosquitto (Debian package mosquitto) as the cloud
// broker, with a real mqtt.js subscriber (persistent session) reading what arrives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import {
  createMqttBridgeDestination,
  mqttBridgeOptionsSchema,
  compileFilter,
  matchFilter,
  type MqttBridgeOptions,
} from '../../gateway/upstream/destinations/mqtt.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import type { Destination } from '../../gateway/upstream/types.js';
import { metricValue, needBinary, testDeps, waitForEvent, waitUntil } from '../helpers/index.js';
import { startMosquitto, type Peer } from '../helpers/peers.js';

const skip = needBinary('mosquitto', 'mosquitto');

function rec(seq: number, topic = `fleet/d${seq % 3}/data`, attrs?: Record<string, string>): StoredRecord {
  return { stream: 'telemetry', seq, topic, receivedAt: seq, payload: Buffer.from(`p${seq}`), ...(attrs ? { attrs } : {}) };
}

interface Got {
  topic: string;
  payload: string;
  id: unknown;
  bridged: unknown;
}

async function subscriber(t: TestContext, peer: Peer, filter: string): Promise<{ client: MqttClient; got: Got[] }> {
  const client = mqtt.connect(peer.url, {
    clientId: 'verifier',
    clean: false,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: 3600 },
    reconnectPeriod: 100,
  });
  t.after(() => client.endAsync(true));
  const got: Got[] = [];
  client.on('message', (topic, payload, packet) => {
    const up = packet.properties?.userProperties ?? {};
    got.push({ topic, payload: payload.toString(), id: up['gatehouse-id'], bridged: up['gatehouse-bridged'] });
  });
  client.on('error', () => undefined);
  await waitForEvent(client, 'connect');
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, got };
}

async function bridge(t: TestContext, peer: Peer, opts: Partial<MqttBridgeOptions> = {}): Promise<{ dest: Destination; deps: ReturnType<typeof testDeps> }> {
  const deps = testDeps();
  const dest = createMqttBridgeDestination(
    mqttBridgeOptionsSchema.parse({ url: peer.url, clientId: 'gh-bridge-1', reconnectMinMs: 50, reconnectMaxMs: 500, ackTimeoutMs: 3000, ...opts }),
    deps,
  );
  await dest.start();
  t.after(() => dest.stop());
  return { dest, deps };
}

test('mqtt: filter matching with + and #', () => {
  const m = (f: string, topic: string): boolean => matchFilter(compileFilter(f), topic);
  assert.equal(m('fleet/#', 'fleet/a/b'), true);
  assert.equal(m('fleet/#', 'fleet'), true);
  assert.equal(m('fleet/+/data', 'fleet/d1/data'), true);
  assert.equal(m('fleet/+/data', 'fleet/d1/x/data'), false);
  assert.equal(m('fleet/+', 'fleet/'), true);
  assert.equal(m('#', '$SYS/x'), false);
  assert.equal(m('a/b', 'a/bc'), false);
  assert.equal(m('a/b', 'a/b/c'), false);
});

test('mqtt: topic mapping, record ids as user properties, loop prevention, unmapped rejected', { skip }, async (t) => {
  const peer = await startMosquitto(t);
  const { got } = await subscriber(t, peer, 'site1/#');
  const { dest, deps } = await bridge(t, peer, {
    topics: [
      { local: 'fleet/+/data', stripPrefix: 'fleet/', remotePrefix: 'site1/telemetry/' },
      { local: 'alerts/#', stripPrefix: '', remotePrefix: 'site1/' },
    ],
    neverForward: ['cloud/#'],
  });
  await waitUntil(
    async () => {
      try {
        await dest.send([], AbortSignal.timeout(1000));
        return true;
      } catch {
        return false;
      }
    },
    'bridge connected',
    10_000,
    20,
  );
  const res = await dest.send(
    [
      rec(1),
      rec(2, 'alerts/fire'),
      rec(3, 'cloud/cmd/x'),
      rec(4, 'fleet/d4/data', { 'gatehouse-bridged': 'remote' }),
      rec(5, 'other/x'),
      // As a stream action stores a message that came down through an MQTT source: the mark is
      // one of its MQTT 5 user properties (store/mqtt5-attrs.ts).
      rec(6, 'fleet/d6/data', { 'mqtt5.userProperties': JSON.stringify({ 'gatehouse-bridged': 'source:cloud', other: 'x' }) }),
    ],
    AbortSignal.timeout(5000),
  );
  assert.deepEqual(
    res.map((r) => r.ok),
    [true, true, true, true, false, true],
  );
  assert.equal(!res[4]!.ok && res[4]!.code, 'UNMAPPED');
  await waitUntil(() => got.length >= 2, 'two messages bridged');
  assert.deepEqual(got, [
    { topic: 'site1/telemetry/d1/data', payload: 'p1', id: 'telemetry:1', bridged: 'gh-bridge-1' },
    { topic: 'site1/alerts/fire', payload: 'p2', id: 'telemetry:2', bridged: 'gh-bridge-1' },
  ]);
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_skipped_total', { kind: 'mqtt' }), 3);
});

test('mqtt: broker stopped and restarted mid-stream, everything acknowledged arrives', { skip }, async (t) => {
  const peer = await startMosquitto(t);
  const { got } = await subscriber(t, peer, 'site1/#');
  const { dest } = await bridge(t, peer, { topics: [{ local: '#', stripPrefix: '', remotePrefix: 'site1/' }] });
  const total = 300;
  const acked = new Set<number>();
  let failedAttempts = 0;
  for (let next = 1; next <= total; next += 25) {
    const batch: StoredRecord[] = [];
    for (let i = 0; i < 25; i++) batch.push(rec(next + i));
    if (next === 101) await peer.restart();
    // Resend what is not acknowledged until it is, as the exporter loop would.
    let todo = batch;
    await waitUntil(
      async () => {
        try {
          const res = await dest.send(todo, AbortSignal.timeout(5000));
          const left: StoredRecord[] = [];
          res.forEach((r, i) => (r.ok ? acked.add(todo[i]!.seq) : left.push(todo[i]!)));
          todo = left;
        } catch {
          // not connected: retry
        }
        if (todo.length > 0) failedAttempts++;
        return todo.length === 0;
      },
      `batch at ${next} acknowledged`,
      20_000,
      25,
    );
  }
  assert.equal(acked.size, total);
  assert.ok(failedAttempts > 0, 'the outage was noticed');
  await waitUntil(() => new Set(got.map((g) => g.id)).size >= total, 'every acknowledged record at the subscriber', 15_000).catch((e: unknown) => {
    const ids = new Set(got.map((g) => g.id));
    throw new Error(`${String(e)}; missing: ${[...acked].filter((s) => !ids.has(`telemetry:${s}`)).join(',')}`);
  });
  const ids = new Set(got.map((g) => g.id));
  for (const s of acked) assert.ok(ids.has(`telemetry:${s}`), `record ${s} arrived`);
});

test('mqtt: not connected -> send throws a retryable error; bad TLS file is a config error', async (t) => {
  const deps = testDeps();
  const dest = createMqttBridgeDestination(mqttBridgeOptionsSchema.parse({ url: 'mqtt://127.0.0.1:1', clientId: 'x', reconnectMinMs: 1000 }), deps);
  await dest.start();
  t.after(() => dest.stop());
  await assert.rejects(dest.send([rec(1)], AbortSignal.timeout(1000)), (err: { code?: string }) => err.code === 'GH_EXPORT_RETRYABLE');
  const bad = createMqttBridgeDestination(mqttBridgeOptionsSchema.parse({ url: 'mqtts://127.0.0.1:1', clientId: 'y', caFile: '/nonexistent/ca.pem' }), deps);
  await assert.rejects(bad.start(), (err: { code?: string }) => err.code === 'GH_DESTINATION_CONFIG');
  assert.equal(dest.target.includes('secret'), false);
});
