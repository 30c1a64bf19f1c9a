// The topic an MQTT source gives its messages, and the messages it must not take, against real
// brokers: Debian's mosquitto for what a user meets (several subscriptions with their own
// prefixes, a message on a filter's parent level, a subscription an earlier configuration left in
// the persistent session), and a hostile broker on a raw socket for what no well-behaved broker
// sends (wildcards, NUL or nothing as a topic name). The intake is test/helpers/store-intake.ts:
// a real store, without the rules engine.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { metricValue, needBinary, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { startMosquitto, type Peer } from '../helpers/peers.js';
import { CONNACK_OK, publishPacket } from '../helpers/mqtt-raw.js';
import { readAll, storeIntake, type StoreIntake } from '../helpers/store-intake.js';
import { openLocalStreams, type LocalStreams } from '../../gateway/store/index.js';
import { mqttSourceSchema } from '../../gateway/pipeline/sources/mqtt/options.js';
import { MqttSubscribeSource } from '../../gateway/pipeline/sources/mqtt/source.js';
import type { RuntimeDeps } from '../../core/deps.js';

const skip = needBinary('mosquitto', 'mosquitto');

interface Details {
  received: number;
  acknowledged: number;
  dropped: number;
  subscriptions: Array<{ filter: string; qos: number | null }>;
  lastError: { message: string } | null;
}

const details = (s: MqttSubscribeSource): Details => s.status().details as unknown as Details;

async function storeFor(t: TestContext, deps: RuntimeDeps): Promise<{ store: LocalStreams; intake: StoreIntake; dir: string }> {
  const dir = await tempDir(t);
  const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 'down', maxBytes: 1 << 26, onFull: 'reject' });
  return { store, intake: storeIntake(store, 'down', 'cloud'), dir };
}

function source(t: TestContext, url: string, deps: RuntimeDeps, dir: string, extra: Record<string, unknown>): MqttSubscribeSource {
  const s = new MqttSubscribeSource(
    mqttSourceSchema.parse({ type: 'mqtt', name: 'cloud', url, clientId: 'gh-topics', reconnectMinMs: 50, reconnectMaxMs: 200, ...extra }),
    { ...deps, dataDir: dir },
  );
  t.after(() => s.stop());
  return s;
}

async function subscribed(s: MqttSubscribeSource): Promise<void> {
  await waitUntil(() => s.status().state === 'connected' && details(s).subscriptions.every((x) => x.qos !== null), 'the source connected and subscribed');
}

async function office(t: TestContext, peer: Peer): Promise<mqtt.MqttClient> {
  const c = await mqtt.connectAsync(peer.url, { clientId: 'office', reconnectPeriod: 0 });
  t.after(() => c.endAsync(true));
  return c;
}

/** Records of the stream once `marker` (a payload) is among them: everything sent before it was taken or not. */
async function recordsUntil(store: LocalStreams, marker: string): Promise<Array<[string, string]>> {
  const recs = await waitUntil(async () => {
    const r = await readAll(store, 'down');
    return r.some((x) => x.payload.toString() === marker) ? r : undefined;
  }, `the marker ${marker}`);
  return recs.map((r) => [r.topic, r.payload.toString()]);
}

test('mqtt source: each message takes the mapping of the subscription that matches it; localPrefix is always added', { skip }, async (t) => {
  const peer = await startMosquitto(t);
  const deps = testDeps();
  const { store, intake, dir } = await storeFor(t, deps);
  // A subscription without stripPrefix listed first must not take the messages of the second.
  const s = source(t, peer.url, deps, dir, {
    topics: [
      { filter: 'b/#', localPrefix: 'y/' },
      { filter: 'a/#', stripPrefix: 'a/', localPrefix: 'x/' },
      { filter: 'cmd/site1/#', stripPrefix: 'cmd/site1/', localPrefix: 'downlink/' },
      // A shared subscription delivers the topics of the filter after $share/<group>/.
      { filter: '$share/g/s/#', stripPrefix: 's/', localPrefix: 'z/' },
    ],
  });
  await s.start(intake);
  await subscribed(s);
  const pub = await office(t, peer);
  await pub.publishAsync('a/1', 'a1', { qos: 1 });
  await pub.publishAsync('b/1', 'b1', { qos: 1 });
  // '#' matches its parent level: the topic does not start with stripPrefix, and still gets localPrefix.
  await pub.publishAsync('cmd/site1', 'parent', { qos: 1 });
  await pub.publishAsync('s/1', 's1', { qos: 1 });
  await pub.publishAsync('cmd/site1/valves/v3', 'end', { qos: 1 });
  assert.deepEqual(await recordsUntil(store, 'end'), [
    ['x/1', 'a1'],
    ['y/b/1', 'b1'],
    ['downlink/cmd/site1', 'parent'],
    ['z/1', 's1'],
    ['downlink/valves/v3', 'end'],
  ]);
});

test('mqtt source: a subscription an earlier configuration left in the persistent session brings nothing into the rules', { skip }, async (t) => {
  const peer = await startMosquitto(t);
  const deps = testDeps();
  // Yesterday's configuration subscribed to old/#, with the same client id (the session is kept).
  const before = await storeFor(t, deps);
  const old = source(t, peer.url, deps, before.dir, { topics: [{ filter: 'old/#' }] });
  await old.start(before.intake);
  await subscribed(old);
  await old.stop();
  // Today's has only new/# (and a store that knows nothing of yesterday's: a reinstall).
  const { store, intake, dir } = await storeFor(t, deps);
  const s = source(t, peer.url, deps, dir, { topics: [{ filter: 'new/#', localPrefix: 'down/' }] });
  await s.start(intake);
  await subscribed(s);
  const pub = await office(t, peer);
  await pub.publishAsync('old/1', 'stale', { qos: 1 });
  await pub.publishAsync('new/1', 'end', { qos: 1 });
  assert.deepEqual(await recordsUntil(store, 'end'), [['down/new/1', 'end']]);
  const d = details(s);
  assert.equal(d.dropped, 1, JSON.stringify(d));
  assert.match(d.lastError?.message ?? '', /old\/1.*matches none of the configured topics/);
  // ...and what to do about it (before: no word of how to end the left-over subscription).
  assert.match(
    d.lastError?.message ?? '',
    /Fix: add a filter for it to topics if it is wanted; else end that subscription: give the source a new clientId, or clear its session on the broker$/,
  );
  // Acknowledged, not left for the broker to deliver again at each reconnect.
  await s.stop();
  const again = source(t, peer.url, deps, dir, { topics: [{ filter: 'new/#', localPrefix: 'down/' }] });
  await again.start(intake);
  await subscribed(again);
  await pub.publishAsync('new/2', 'end2', { qos: 1 });
  assert.deepEqual(await recordsUntil(store, 'end2'), [
    ['down/new/1', 'end'],
    ['down/new/2', 'end2'],
  ]);
});

/**
 * A broker that answers CONNECT and SUBSCRIBE, then sends `publishes` (raw packets; a function of
 * the connection's number, from 1, for each connection its own), and records the PUBACKs it gets.
 */
async function hostileBroker(
  t: TestContext,
  publishes: Buffer[] | ((connection: number) => Buffer[]),
): Promise<{ url: string; pubacks: number[]; pubcomps: number[]; connections: () => number }> {
  const pubacks: number[] = [];
  const pubcomps: number[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((sock) => {
    sockets.add(sock);
    const n = ++connections;
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => {
      if (p.cmd === 'connect') sock.write(CONNACK_OK);
      if (p.cmd === 'subscribe') {
        const id = p.messageId ?? 0;
        sock.write(Buffer.from([0x90, 2 + p.subscriptions.length, id >> 8, id & 0xff, ...p.subscriptions.map(() => 1)]));
        for (const b of typeof publishes === 'function' ? publishes(n) : publishes) sock.write(b);
      }
      if (p.cmd === 'puback') pubacks.push(p.messageId ?? -1);
      // QoS 2: PUBREC answered with PUBREL, the exchange ends with PUBCOMP.
      if (p.cmd === 'pubrec') sock.write(Buffer.from([0x62, 0x02, (p.messageId ?? 0) >> 8, (p.messageId ?? 0) & 0xff]));
      if (p.cmd === 'pubcomp') pubcomps.push(p.messageId ?? -1);
    });
    sock.on('data', (d) => parser.parse(d));
    sock.on('error', () => undefined);
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const addr = server.address();
  return { url: `mqtt://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, pubacks, pubcomps, connections: () => connections };
}

test('mqtt source: a topic name with a wildcard, a NUL or nothing in it (a hostile broker) is not taken, but acknowledged and counted', async (t) => {
  const deps = testDeps();
  const { store, intake, dir } = await storeFor(t, deps);
  const bad = ['cmd/valves/+', 'cmd/valves/#', 'cmd/valves/a\u0000b', ''];
  const broker = await hostileBroker(t, [...bad.map((topic, i) => publishPacket(topic, 'x', 1, 10 + i)), publishPacket('cmd/ok', 'end', 1, 20)]);
  const s = source(t, broker.url, deps, dir, { topics: [{ filter: 'cmd/#', localPrefix: 'down/' }] });
  await s.start(intake);
  assert.deepEqual(await recordsUntil(store, 'end'), [['down/cmd/ok', 'end']]);
  // Acknowledged all the same: left unacknowledged, the broker would send them again forever.
  await waitUntil(() => broker.pubacks.length === 5, 'five PUBACKs');
  assert.deepEqual(broker.pubacks, [10, 11, 12, 13, 20]);
  const d = details(s);
  assert.equal(d.dropped, 4);
  assert.equal(await metricValue(deps.registry, 'gatehouse_mqtt_source_messages_total', { source: 'cloud', result: 'dropped' }), 4);
  assert.match(d.lastError?.message ?? '', /not a valid topic name/);
});

test('mqtt source: a QoS 2 message from a broker that ignores the granted QoS 1 ends with PUBCOMP once committed, not a PUBACK', async (t) => {
  const deps = testDeps();
  const { store, intake, dir } = await storeFor(t, deps);
  const broker = await hostileBroker(t, [publishPacket('cmd/q2', 'two', 2, 30), publishPacket('cmd/ok', 'end', 1, 31)]);
  const s = source(t, broker.url, deps, dir, { topics: [{ filter: 'cmd/#', localPrefix: 'down/' }] });
  await s.start(intake);
  await waitUntil(() => details(s).acknowledged === 2, 'both committed');
  assert.deepEqual((await recordsUntil(store, 'end')).sort(), [
    ['down/cmd/ok', 'end'],
    ['down/cmd/q2', 'two'],
  ]);
  await waitUntil(() => broker.pubcomps.length + broker.pubacks.length === 2, 'two answers');
  // Before: a PUBACK for the QoS 2 message (a packet of another flow), and no PUBCOMP ever.
  assert.deepEqual(broker.pubcomps, [30]);
  assert.deepEqual(broker.pubacks, [31]);
});

test('mqtt source: a malformed packet from the broker drops the connection (MQTT 4.8.0-1); the next one reads on', async (t) => {
  const deps = testDeps();
  const { store, intake, dir } = await storeFor(t, deps);
  // A QoS 1 PUBLISH whose topic length (16) runs past its packet (3 bytes): no parser can read on after it.
  const malformed = Buffer.from([0x32, 0x03, 0x00, 0x10, 0x61]);
  const broker = await hostileBroker(t, (n) => (n === 1 ? [malformed, publishPacket('cmd/lost', 'x', 1, 40)] : [publishPacket('cmd/ok', 'end', 1, 41)]));
  // keepaliveSec 30 (the default): before, the source stayed 'connected' on the broken stream until keepalive gave up (45 s).
  const s = source(t, broker.url, deps, dir, { topics: [{ filter: 'cmd/#', localPrefix: 'down/' }] });
  await s.start(intake);
  assert.deepEqual(await recordsUntil(store, 'end'), [['down/cmd/ok', 'end']]);
  assert.equal(broker.connections(), 2);
  assert.match(details(s).lastError?.message ?? '', /Cannot parse topic|malformed/i);
});

test('mqtt source: a filter removed from the configuration is unsubscribed on the broker, so nothing more is queued for it in the session', {
  skip,
}, async (t) => {
  const peer = await startMosquitto(t);
  const deps = testDeps();
  const { store, intake, dir } = await storeFor(t, deps);
  const old = source(t, peer.url, deps, dir, { topics: [{ filter: 'old/#' }, { filter: 'new/#', localPrefix: 'down/' }] });
  await old.start(intake);
  await subscribed(old);
  await old.stop();
  // The same gateway (same store) restarted with old/# removed.
  const first = source(t, peer.url, deps, dir, { topics: [{ filter: 'new/#', localPrefix: 'down/' }] });
  await first.start(intake);
  await subscribed(first);
  const pub = await office(t, peer);
  await pub.publishAsync('new/1', 'end', { qos: 1 });
  await recordsUntil(store, 'end');
  await first.stop();
  // While it is down, the broker queues only what the configured filters ask for.
  await pub.publishAsync('old/2', 'stale', { qos: 1 });
  await pub.publishAsync('new/2', 'end2', { qos: 1 });
  const again = source(t, peer.url, deps, dir, { topics: [{ filter: 'new/#', localPrefix: 'down/' }] });
  await again.start(intake);
  assert.deepEqual(await recordsUntil(store, 'end2'), [
    ['down/new/1', 'end'],
    ['down/new/2', 'end2'],
  ]);
  assert.equal(details(again).received, 1, JSON.stringify(details(again)));
  assert.equal(details(again).dropped, 0);
});
