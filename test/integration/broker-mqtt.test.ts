// The embedded broker against real mqtt.js clients (and raw sockets for malformed input), on port 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { once } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { TestContext } from 'node:test';
import { createBroker, hashPassword, type Broker, type BrokerOptionsInput } from '../../gateway/broker/index.js';
import type { Message } from '../../core/message.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { testDeps, metricValue, waitForEvent, waitUntil } from '../helpers/index.js';
import { capturedLogger } from '../helpers/industrial.js';

interface Setup {
  broker: Broker;
  deps: RuntimeDeps;
  url: string;
  port: number;
  received: Message[];
}

async function startBroker(t: TestContext, options: BrokerOptionsInput = {}, onPublish?: (msg: Message) => Promise<void> | undefined): Promise<Setup> {
  const deps = testDeps();
  const received: Message[] = [];
  const broker = await createBroker(
    { listeners: [{ host: '127.0.0.1', port: 0 }], ...options },
    {
      ...deps,
      onPublish: (msg) => {
        received.push(msg);
        return onPublish ? onPublish(msg) : undefined;
      },
    },
  );
  await broker.start();
  t.after(() => broker.stop());
  const port = broker.addresses()[0]!.port;
  return { broker, deps, url: `mqtt://127.0.0.1:${port}`, port, received };
}

/** Connect a real mqtt.js client (no reconnects); closed after the test. */
async function client(t: TestContext, url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  t.after(() => c.endAsync(true).catch(() => undefined));
  return c;
}

/** Connect expecting a refusal; returns the CONNACK return code. */
async function refusedCode(url: string, opts: IClientOptions): Promise<number | undefined> {
  try {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    await c.endAsync(true);
  } catch (err) {
    return (err as { code?: number }).code;
  }
  assert.fail('connection was accepted');
}

async function rawSocket(t: TestContext, port: number): Promise<Socket> {
  const sock = netConnect(port, '127.0.0.1');
  t.after(() => sock.destroy());
  await once(sock, 'connect');
  sock.on('error', () => undefined);
  return sock;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('QoS 0/1/2 publishes reach subscribers and onPublish with source details', async (t) => {
  const s = await startBroker(t);
  const sub = await client(t, s.url, { clientId: 'sub-1' });
  await sub.subscribeAsync('fleet/#', { qos: 2 });
  const got: { topic: string; payload: string; qos: number }[] = [];
  sub.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos }));
  const pub = await client(t, s.url, { clientId: 'truck7' });
  for (const qos of [0, 1, 2] as const) await pub.publishAsync(`fleet/truck7/q${qos}`, `{"temp":${qos}}`, { qos });
  await waitUntil(() => got.length === 3, 'subscriber got 3 messages');
  assert.deepEqual(got.map((g) => g.qos).sort(), [0, 1, 2]);
  assert.deepEqual(
    s.received.map((m) => [m.topic, m.qos, m.payload.toString(), m.source.kind, m.source.id]),
    [0, 1, 2].map((q) => [`fleet/truck7/q${q}`, q, `{"temp":${q}}`, 'mqtt', 'truck7']),
  );
  assert.equal(s.received[0]!.source.ip, '127.0.0.1');
  assert.equal(typeof s.received[0]!.receivedAt, 'number');
  assert.equal(await metricValue(s.deps.registry, 'gatehouse_mqtt_messages_in_total', { qos: '1' }), 1);
  assert.equal(await metricValue(s.deps.registry, 'gatehouse_mqtt_messages_in_total'), 3);
  assert.equal(await metricValue(s.deps.registry, 'gatehouse_mqtt_bytes_in_total'), 30);
  assert.ok((await metricValue(s.deps.registry, 'gatehouse_mqtt_messages_out_total')) >= 3);
  assert.equal(await metricValue(s.deps.registry, 'gatehouse_mqtt_clients'), 2);
  const infos = s.broker.clients().sort((a, b) => a.id.localeCompare(b.id));
  assert.deepEqual(
    infos.map((c) => [c.id, c.listener, c.protocolVersion, c.ip]),
    [
      ['sub-1', 'mqtt', 4, '127.0.0.1'],
      ['truck7', 'mqtt', 4, '127.0.0.1'],
    ],
  );
});

test('QoS 1 PUBACK is sent only after the onPublish promise resolves', async (t) => {
  const gate = deferred();
  const events: string[] = [];
  // only the publish under test is held; the other client's traffic commits at once
  const s = await startBroker(t, {}, (m) => (m.topic.startsWith('fleet/') ? gate.promise.then(() => void events.push('committed')) : undefined));
  const pub = await client(t, s.url);
  const acked = pub.publishAsync('fleet/a/engine', 'x', { qos: 1 }).then(() => void events.push('puback'));
  await waitUntil(() => s.received.length === 1, 'onPublish called');
  // Let the broker do a full round trip for another client meanwhile: had it acked early, the
  // PUBACK would have been written by now.
  const other = await client(t, s.url);
  await other.subscribeAsync('x/y', { qos: 1 });
  await other.publishAsync('x/y', 'z', { qos: 1 });
  assert.equal(s.received.length, 2);
  assert.deepEqual(events, []);
  gate.resolve();
  await acked;
  assert.deepEqual(events, ['committed', 'puback']);
});

test('QoS 2 PUBREC also waits for onPublish', async (t) => {
  const gate = deferred();
  let done = false;
  const s = await startBroker(t, {}, () => gate.promise);
  const pub = await client(t, s.url);
  const p = pub.publishAsync('fleet/a/engine', 'x', { qos: 2 }).then(() => (done = true));
  await waitUntil(() => s.received.length === 1, 'onPublish called');
  const other = await client(t, s.url);
  await other.subscribeAsync('x/y', { qos: 1 });
  assert.equal(done, false);
  gate.resolve();
  await p;
  assert.equal(done, true);
});

test('onPublish rejection: no PUBACK, the client is disconnected, counted', async (t) => {
  const s = await startBroker(t, {}, () => Promise.reject(new Error('stream full')));
  const pub = await client(t, s.url);
  let acked = false;
  pub.publishAsync('fleet/a/engine', 'x', { qos: 1 }).then(
    () => (acked = true),
    () => undefined,
  );
  await waitForEvent(pub, 'close');
  assert.equal(acked, false);
  assert.equal(await metricValue(s.deps.registry, 'gatehouse_mqtt_publish_rejected_total'), 1);
  // QoS 0: acked by nothing, counted, connection kept
  const p0 = await client(t, s.url);
  await p0.publishAsync('fleet/a/engine', 'y', { qos: 0 });
  await waitUntil(async () => (await metricValue(s.deps.registry, 'gatehouse_mqtt_publish_rejected_total')) === 2, 'qos 0 rejection counted');
  assert.equal(p0.connected, true);
});

test('maxInflight: publishes beyond the window wait for earlier commits, in order', async (t) => {
  const gates: (() => void)[] = [];
  const s = await startBroker(t, { maxInflight: 2 }, () => new Promise<void>((r) => gates.push(r)));
  const pub = await client(t, s.url);
  const acks = [1, 2, 3, 4, 5].map((i) => pub.publishAsync('fleet/a/engine', String(i), { qos: 1 }));
  await waitUntil(() => s.received.length === 2, 'two in flight');
  const other = await client(t, s.url);
  await other.subscribeAsync('x/y');
  assert.equal(s.received.length, 2, 'third publish waits for a slot');
  while (s.received.length < 5 || gates.length > 0) {
    await waitUntil(() => gates.length > 0, 'a pending commit');
    gates.shift()!();
  }
  await Promise.all(acks);
  assert.deepEqual(
    s.received.map((m) => m.payload.toString()),
    ['1', '2', '3', '4', '5'],
  );
});

test('users: wrong password and anonymous refused and counted; right password accepted', async (t) => {
  const s = await startBroker(t, { allowAnonymous: false, users: [{ username: 'dev', password: hashPassword('secret') }] });
  assert.equal(await refusedCode(s.url, { username: 'dev', password: 'wrong' }), 4);
  assert.equal(await refusedCode(s.url, { username: 'nobody', password: 'secret' }), 4);
  assert.equal(await refusedCode(s.url, {}), 5);
  assert.equal(await metricValue(s.deps.registry, 'gatehouse_mqtt_auth_failures_total'), 3);
  const ok = await client(t, s.url, { username: 'dev', password: 'secret', clientId: 'c1' });
  await ok.publishAsync('t/1', 'x', { qos: 1 });
  assert.equal(s.received[0]!.source.principal, 'dev');
  assert.equal(s.broker.clients()[0]!.user, 'dev');
});

test('ACL: publish and subscribe allow/deny with %u and %c; SUBACK 0x80 keeps the connection', async (t) => {
  const s = await startBroker(t, {
    allowAnonymous: true,
    users: [
      { username: 'alice', password: hashPassword('a') },
      { username: 'bob', password: hashPassword('b') },
    ],
    acl: {
      users: {
        alice: [
          { topic: 'shared/#', access: 'readwrite' },
          { topic: 'shared/secret', access: 'deny' },
        ],
      },
      patterns: [
        { topic: 'devices/%u/#', access: 'readwrite' },
        { topic: 'clients/%c/cmd', access: 'read' },
      ],
      anonymous: [{ topic: 'public/#', access: 'read' }],
    },
  });
  const alice = await client(t, s.url, { username: 'alice', password: 'a', clientId: 'pump1' });
  // mqtt.js rejects a SUBACK with any 0x80 code; the packet rides on the error
  const suback = await alice
    .subscribeAsync({
      'devices/alice/#': { qos: 1 },
      'devices/bob/#': { qos: 1 },
      'clients/pump1/cmd': { qos: 1 },
      'clients/other/cmd': { qos: 1 },
      '#': { qos: 0 },
      'shared/#': { qos: 1 },
    })
    .then(
      () => assert.fail('expected a SUBACK with failures'),
      (err: Error & { code?: number; packet?: { granted: number[] } }) => err,
    );
  assert.deepEqual(suback.packet?.granted, [1, 128, 1, 128, 128, 1]);
  assert.equal(await metricValue(s.deps.registry, 'gatehouse_mqtt_acl_denied_total', { action: 'subscribe' }), 3);
  // still connected: an allowed publish round-trips
  const got: string[] = [];
  alice.on('message', (topic) => got.push(topic));
  await alice.publishAsync('devices/alice/temp', '1', { qos: 1 });
  const bob = await client(t, s.url, { username: 'bob', password: 'b' });
  const bobClosed = waitForEvent(bob, 'close');
  await bob.publishAsync('shared/x', 'nope', { qos: 0 }).catch(() => undefined);
  await bobClosed; // bob has no shared/# write access: disconnected
  // alice's deny rule filters deliveries under her allowed shared/# subscription
  const alice2 = await client(t, s.url, { username: 'alice', password: 'a', clientId: 'pump2' });
  await alice2.publishAsync('shared/open', '1', { qos: 1 });
  await waitUntil(() => got.includes('shared/open'), 'alice got shared/open');
  // publishing to shared/secret is denied for alice: disconnect
  const alice2Closed = waitForEvent(alice2, 'close');
  void alice2.publishAsync('shared/secret', '1', { qos: 1 }).catch(() => undefined);
  await alice2Closed;
  // a delivery under shared/# that alice's deny rule covers is filtered per message
  await s.broker.publish({ topic: 'shared/secret', payload: Buffer.from('s'), qos: 1 });
  await s.broker.publish({ topic: 'shared/open2', payload: Buffer.from('o'), qos: 1 });
  await waitUntil(() => got.includes('shared/open2'), 'alice got shared/open2');
  assert.deepEqual(got.sort(), ['devices/alice/temp', 'shared/open', 'shared/open2']);
  assert.equal(await metricValue(s.deps.registry, 'gatehouse_mqtt_acl_denied_total', { action: 'publish' }), 2);
  assert.equal(alice.connected, true);
  // anonymous: read only on public/#
  const anon = await client(t, s.url);
  const anonSuback = await anon.subscribeAsync(['public/#', 'devices/#']).then(
    () => assert.fail('expected a SUBACK failure'),
    (err: Error & { packet?: { granted: number[] } }) => err,
  );
  assert.deepEqual(anonSuback.packet?.granted, [0, 128]);
  assert.equal(anon.connected, true);
  assert.deepEqual(
    s.received.map((m) => m.topic),
    ['devices/alice/temp', 'shared/open'],
  );
});

test('zero-length client id with clean session 0 gets CONNACK 0x02; with clean 1 it is accepted', async (t) => {
  const s = await startBroker(t);
  // mqtt.js refuses to send this CONNECT, so it is written by hand on a raw socket:
  // CONNECT, MQTT 3.1.1, flags 0 (clean session 0), keepalive 60, client id ''
  const raw = await rawSocket(t, s.port);
  const reply = waitForEvent<[Buffer]>(raw, 'data');
  raw.write(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 60, 0, 0]));
  const [connack] = await reply;
  assert.deepEqual([...connack], [0x20, 2, 0, 2]); // CONNACK, session present 0, return code 2
  await waitForEvent(raw, 'close');
  const ok = await client(t, s.url, { clientId: '', clean: true });
  assert.equal(ok.connected, true);
  assert.equal(s.broker.clients().length, 1);
});

test('MQTT 5 clients are served; with mqtt5.enabled false they get CONNACK 0x01 as before', async (t) => {
  const s = await startBroker(t);
  const c = await client(t, s.url, { protocolVersion: 5, clientId: 'v5-ok' });
  assert.equal(c.options.protocolVersion, 5);
  const off = await startBroker(t, { mqtt5: { enabled: false } });
  assert.equal(await refusedCode(off.url, { protocolVersion: 5 }), 1);
});

test('maxConnections: the client over the limit gets CONNACK 0x03, a freed slot is reusable', async (t) => {
  const s = await startBroker(t, { maxConnections: 2 });
  const a = await client(t, s.url, { clientId: 'a' });
  await client(t, s.url, { clientId: 'b' });
  assert.equal(await refusedCode(s.url, { clientId: 'c' }), 3);
  // a reconnecting id takes its own slot over
  await client(t, s.url, { clientId: 'b' });
  assert.equal(await metricValue(s.deps.registry, 'gatehouse_mqtt_connections_refused_total'), 1);
  await a.endAsync();
  await waitUntil(() => s.broker.clients().length === 1, 'a slot freed');
  await client(t, s.url, { clientId: 'c' });
});

test('maxConnections: a fleet retrying over the limit is logged once per 10 s with the count, not a warning per refused CONNECT', async (t) => {
  const { logger, lines } = capturedLogger();
  const deps = { ...testDeps(), logger };
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }], maxConnections: 1 }, { ...deps, onPublish: () => undefined });
  await broker.start();
  t.after(() => broker.stop());
  const url = `mqtt://127.0.0.1:${broker.addresses()[0]!.port}`;
  await client(t, url, { clientId: 'a' });
  for (let i = 0; i < 8; i++) assert.equal(await refusedCode(url, { clientId: `over-${i}` }), 3);
  assert.equal(await metricValue(deps.registry, 'gatehouse_mqtt_connections_refused_total'), 8);
  const limit = lines.filter((l) => l.msg.startsWith('connection limit reached'));
  assert.equal(limit.length, 1, `one line for 8 refused CONNECTs: ${JSON.stringify(limit)}`);
  assert.match(JSON.stringify(limit[0]), /"maxConnections":1/);
});

test('oversized payloads are refused (disconnect) and counted; the broker keeps serving', async (t) => {
  const s = await startBroker(t, { maxPayloadBytes: 1024 });
  const pub = await client(t, s.url);
  let acked = false;
  pub.publishAsync('fleet/a/engine', Buffer.alloc(2000), { qos: 1 }).then(
    () => (acked = true),
    () => undefined,
  );
  await waitForEvent(pub, 'close');
  assert.equal(acked, false);
  assert.equal(s.received.length, 0);
  // a length prefix far beyond the limit is refused before the bytes arrive
  const raw = await rawSocket(t, s.port);
  // CONNECT (MQTT 3.1.1, clean, keepalive 60, client id "r")
  raw.write(Buffer.from([0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, 1, 0x72]));
  raw.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f])); // PUBLISH, remaining length 268,435,455
  await waitForEvent(raw, 'close');
  assert.equal(await metricValue(s.deps.registry, 'gatehouse_mqtt_payload_too_large_total'), 2);
  const ok = await client(t, s.url);
  await ok.publishAsync('fleet/a/engine', Buffer.alloc(1024), { qos: 1 });
  assert.equal(s.received.length, 1);
});

test('garbage bytes and packets before CONNECT close the socket, are counted, broker unaffected', async (t) => {
  const s = await startBroker(t);
  const a = await rawSocket(t, s.port);
  a.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitForEvent(a, 'close');
  const b = await rawSocket(t, s.port);
  b.write(Buffer.from([0x30, 5, 0, 1, 0x74, 0x68, 0x69])); // PUBLISH before CONNECT
  await waitForEvent(b, 'close');
  const c = await rawSocket(t, s.port);
  c.write(Buffer.from([0xf0, 0x00, 0x00])); // reserved packet type 15
  await waitForEvent(c, 'close');
  assert.ok((await metricValue(s.deps.registry, 'gatehouse_mqtt_protocol_errors_total')) >= 3);
  const ok = await client(t, s.url);
  await ok.publishAsync('t', 'x', { qos: 1 });
  assert.equal(s.received.length, 1);
});

test('internal publish reaches clients; internal subscribe sees client publishes', async (t) => {
  const s = await startBroker(t);
  const seen: string[] = [];
  const unsubscribe = s.broker.subscribe('devices/+/cmd', (topic, payload) => seen.push(`${topic}=${payload.toString()}`));
  const sub = await client(t, s.url);
  await sub.subscribeAsync('alerts/#', { qos: 1 });
  const got = waitForEvent<[string, Buffer]>(sub, 'message');
  await s.broker.publish({ topic: 'alerts/hot', payload: Buffer.from('96.5'), qos: 1 });
  const [topic, payload] = await got;
  assert.equal(`${topic}=${payload.toString()}`, 'alerts/hot=96.5');
  const pub = await client(t, s.url);
  await pub.publishAsync('devices/d1/cmd', 'on', { qos: 1 });
  await waitUntil(() => seen.length === 1, 'internal subscriber got the command');
  unsubscribe();
  await pub.publishAsync('devices/d1/cmd', 'off', { qos: 1 });
  await pub.publishAsync('devices/d1/cmd', 'again', { qos: 1 });
  assert.deepEqual(seen, ['devices/d1/cmd=on']);
  assert.equal(s.received.length, 3, 'internal publishes do not call onPublish');
});

test('stop() closes clients and listeners and is idempotent', async (t) => {
  const s = await startBroker(t);
  const c = await client(t, s.url);
  const closed = waitForEvent(c, 'close');
  await Promise.all([s.broker.stop(), s.broker.stop()]);
  await closed;
  await assert.rejects(mqtt.connectAsync(s.url, { reconnectPeriod: 0, connectTimeout: 2000 }));
  await s.broker.stop();
});

test('createBroker refuses anonymous access beyond loopback', async () => {
  await assert.rejects(
    createBroker({ listeners: [{ host: '0.0.0.0', port: 0 }] }, { ...testDeps(), onPublish: () => undefined }),
    (err: Error & { code?: string }) => err.code === 'GH_CONFIG_INSECURE',
  );
});

test('a busy port fails start() with GH_BROKER_LISTEN', async (t) => {
  const s = await startBroker(t);
  const b = await createBroker({ listeners: [{ host: '127.0.0.1', port: s.port }] }, { ...testDeps(), onPublish: () => undefined });
  await assert.rejects(
    b.start(),
    (err: Error & { code?: string; hint?: string }) =>
      err.code === 'GH_BROKER_LISTEN' && err.message === `cannot listen on 127.0.0.1:${s.port}: EADDRINUSE` && /another process/.test(err.hint ?? ''),
  );
  await b.stop();
});
