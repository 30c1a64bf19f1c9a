// Clients that do not wait for CONNACK (MQTT 3.1.1 3.1.4 and MQTT 5 3.1.4 allow it: "Clients are
// allowed to send further Control Packets immediately after sending a CONNECT packet"): a device
// flushing what it buffered while offline, `mosquitto_pub -l`, small embedded stacks. The packets
// behind the CONNECT must be served after the CONNACK, not cost the connection (broker audit).
// Also: what a client does wrong is logged at a bounded rate (protocol errors, refused publishes
// and subscriptions; an MQTT 5 client keeps its connection after a refusal), never at error level.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import mqttPacket, { type Packet } from 'mqtt-packet';
import mqtt from 'mqtt';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createBroker, hashPassword, type BrokerOptionsInput } from '../../gateway/broker/index.js';
import type { Message } from '../../core/message.js';
import { metricValue, needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { subackCodes } from '../helpers/mqtt-suback.js';

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

async function startBroker(t: TestContext, options: BrokerOptionsInput = {}) {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  const registry = new Registry();
  const received: Message[] = [];
  const broker = await createBroker(
    { listeners: [{ host: '127.0.0.1', port: 0 }], ...options },
    {
      logger: pino({ level: 'info' }, sink),
      registry,
      onPublish: (msg) => {
        received.push(msg);
        return Promise.resolve();
      },
    },
  );
  await broker.start();
  t.after(() => broker.stop());
  return { port: broker.addresses()[0]!.port, registry, received, lines };
}

/** A raw socket speaking `version`: write bytes, collect the broker's packets until it closes. */
async function raw(t: TestContext, port: number, version: 4 | 5) {
  const sock = netConnect(port, '127.0.0.1');
  sock.on('error', () => undefined);
  t.after(() => sock.destroy());
  await once(sock, 'connect');
  const parser = mqttPacket.parser({ protocolVersion: version });
  const got: Packet[] = [];
  parser.on('packet', (p) => got.push(p));
  sock.on('data', (d: Buffer) => parser.parse(d));
  let closed = false;
  sock.once('close', () => (closed = true));
  return { sock, got, isClosed: () => closed };
}

function burst(version: 4 | 5, n: number, auth: boolean): Buffer {
  const opts = { protocolVersion: version };
  const bufs = [
    mqttPacket.generate(
      {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: version,
        clientId: `burst${version}`,
        clean: true,
        keepalive: 60,
        ...(auth ? { username: 'dev', password: Buffer.from('pw') } : {}),
      },
      opts,
    ),
  ];
  for (let i = 1; i <= n; i++) {
    bufs.push(
      mqttPacket.generate({ cmd: 'publish', topic: 'data/burst', payload: Buffer.from(`m${i}`), qos: 1, messageId: i, retain: false, dup: false }, opts),
    );
  }
  bufs.push(mqttPacket.generate({ cmd: 'pingreq' }, opts));
  return Buffer.concat(bufs);
}

for (const version of [4, 5] as const) {
  for (const auth of [false, true]) {
    test(`MQTT ${version === 4 ? '3.1.1' : '5'}${auth ? ' with a password' : ''}: CONNECT and 60 QoS 1 publishes (fewer than maxInflight, more than aedes queues by default) in one write get CONNACK 0 and 60 PUBACKs in order`, async (t) => {
      const users = auth ? { allowAnonymous: false, users: [{ username: 'dev', password: hashPassword('pw') }] } : {};
      const { port, received, registry } = await startBroker(t, users);
      const c = await raw(t, port, version);
      c.sock.write(burst(version, 60, auth));
      const answered = (): boolean => c.got.some((p) => p.cmd === 'pingresp') && c.got.filter((p) => p.cmd === 'puback').length === 60;
      await waitUntil(() => answered() || c.isClosed(), 'PINGRESP and 60 PUBACKs, or a close', 10_000);
      const connack = c.got[0];
      assert.equal(connack?.cmd, 'connack', `first answer is CONNACK, got ${c.got.map((p) => p.cmd).join(',') || 'nothing'} (closed: ${c.isClosed()})`);
      assert.equal(version === 5 ? (connack as mqttPacket.IConnackPacket).reasonCode : (connack as mqttPacket.IConnackPacket).returnCode, 0);
      const acks = c.got.filter((p): p is mqttPacket.IPubackPacket => p.cmd === 'puback');
      assert.deepEqual(
        acks.map((p) => p.messageId),
        Array.from({ length: 60 }, (_, i) => i + 1),
      );
      assert.deepEqual(
        received.map((m) => m.payload.toString()),
        Array.from({ length: 60 }, (_, i) => `m${i + 1}`),
      );
      assert.equal(c.isClosed(), false);
      assert.equal(await metricValue(registry, 'gatehouse_mqtt_protocol_errors_total'), 0);
    });
  }
}

test('MQTT 5: a SUBSCRIBE without filters is DISCONNECT 0x82 with a reason string, counted and logged as a warning (not an error)', async (t) => {
  const { port, registry, lines } = await startBroker(t);
  const c = await raw(t, port, 5);
  c.sock.write(
    mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'nosubs', clean: true, keepalive: 60 }, { protocolVersion: 5 }),
  );
  await waitUntil(() => c.got.find((p) => p.cmd === 'connack'), 'CONNACK');
  // SUBSCRIBE, packet id 1, no properties, no filters [MQTT-3.8.3-2]
  c.sock.write(Buffer.from([0x82, 0x03, 0x00, 0x01, 0x00]));
  await waitUntil(() => c.isClosed(), 'the close');
  const d = c.got.find((p): p is mqttPacket.IDisconnectPacket => p.cmd === 'disconnect');
  assert.equal(d?.reasonCode, 0x82, `DISCONNECT 0x82, got ${JSON.stringify(c.got.map((p) => p.cmd))}`);
  assert.match(String(d?.properties?.reasonString), /no topic filter/);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_protocol_errors_total'), 1);
  assert.deepEqual(
    lines.filter((l) => l.level >= 50).map((l) => l.msg),
    [],
  );
  const warn = lines.find((l) => l.level === 40 && /protocol error/.test(l.msg));
  assert.ok(warn, `a warning names the protocol error: ${JSON.stringify(lines)}`);
  assert.equal(warn.client, 'nosubs');
});

test('MQTT 3.1.1: a malformed packet is counted and logged as a warning naming the client and the error', async (t) => {
  const { port, registry, lines } = await startBroker(t);
  const c = await raw(t, port, 4);
  c.sock.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'badqos', clean: true, keepalive: 60 }));
  await waitUntil(() => c.got.find((p) => p.cmd === 'connack'), 'CONNACK');
  // PUBLISH with both QoS bits set [MQTT-3.3.1-4]
  c.sock.write(Buffer.from([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]));
  await waitUntil(() => c.isClosed(), 'the close');
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_protocol_errors_total'), 1);
  const warn = lines.find((l) => l.level === 40 && /protocol error/.test(l.msg));
  assert.ok(warn, `a warning names the protocol error: ${JSON.stringify(lines)}`);
  assert.equal(warn.client, 'badqos');
  assert.match(String(warn.err), /qos/i);
});

test('MQTT 5: 2,000 publishes and 50 subscriptions outside the ACL are refused (0x87 / 0x80, connection kept), counted each, logged at a bounded rate', async (t) => {
  const { port, registry, lines } = await startBroker(t, { acl: { anonymous: [{ topic: 'ok/#', access: 'readwrite' }] } });
  const c = await raw(t, port, 5);
  const opts = { protocolVersion: 5 } as const;
  const bufs = [mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'denied', clean: true, keepalive: 60 }, opts)];
  for (let i = 0; i < 2000; i++)
    bufs.push(mqttPacket.generate({ cmd: 'publish', topic: 'secret/x', payload: Buffer.from('x'), qos: 0, retain: false, dup: false }, opts));
  for (let i = 1; i <= 50; i++) bufs.push(mqttPacket.generate({ cmd: 'subscribe', messageId: i, subscriptions: [{ topic: 'secret/#', qos: 1 }] }, opts));
  bufs.push(mqttPacket.generate({ cmd: 'publish', topic: 'secret/x', payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false }, opts));
  c.sock.write(Buffer.concat(bufs));
  await waitUntil(() => c.got.find((p) => p.cmd === 'puback') ?? (c.isClosed() ? true : undefined), 'the PUBACK of the QoS 1 publish', 10_000);
  const puback = c.got.find((p): p is mqttPacket.IPubackPacket => p.cmd === 'puback');
  assert.equal(puback?.reasonCode, 0x87);
  assert.equal(c.got.filter((p) => p.cmd === 'suback').length, 50);
  assert.equal(c.isClosed(), false, 'an MQTT 5 client keeps its connection');
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_acl_denied_total', { action: 'publish' }), 2001);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_acl_denied_total', { action: 'subscribe' }), 50);
  const denials = lines.filter((l) => /denied by ACL/.test(l.msg));
  assert.ok(denials.length <= 4, `at most one line per kind and interval, got ${denials.length}`);
  const pubLine = denials.find((l) => /publish/.test(l.msg));
  assert.equal(pubLine?.client, 'denied');
  assert.doesNotMatch(String(pubLine?.msg), /disconnecting/, 'an MQTT 5 refusal does not say it disconnects');
  // the first denied publish was at QoS 0: no PUBACK went out, and the line does not say one did
  assert.equal(pubLine?.msg, 'publish denied by ACL: dropped (QoS 0: no PUBACK to carry reason code 0x87)');
});

test('MQTT 3.1.1 persistent session: an offline client gets at most maxQueuedMessages kept for it, the rest dropped and counted; online it gets everything', async (t) => {
  const { port, registry, lines } = await startBroker(t, { maxQueuedMessages: 5 });
  const url = `mqtt://127.0.0.1:${port}`;
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'pub' });
  t.after(() => pub.endAsync(true));
  const session = async (): Promise<{ c: mqtt.MqttClient; got: string[] }> => {
    const got: string[] = [];
    const c = mqtt.connect(url, { reconnectPeriod: 0, clientId: 'offline-dev', clean: false });
    c.on('message', (_t, p) => got.push(p.toString()));
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
    });
    t.after(() => c.endAsync(true));
    return { c, got };
  };
  let s = await session();
  await s.c.subscribeAsync('q/#', { qos: 1 });
  await s.c.endAsync();
  for (let i = 1; i <= 8; i++) await pub.publishAsync('q/x', `m${i}`, { qos: 1 });
  s = await session();
  await waitUntil(() => s.got.length >= 5, 'the queued messages');
  // online now: nothing is cut
  for (let i = 9; i <= 20; i++) await pub.publishAsync('q/x', `m${i}`, { qos: 1 });
  await waitUntil(() => s.got.length >= 17, 'the live messages');
  assert.deepEqual(s.got, ['m1', 'm2', 'm3', 'm4', 'm5', ...Array.from({ length: 12 }, (_, i) => `m${i + 9}`)]);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_offline_dropped_total'), 3);
  const warn = lines.find((l) => /offline session queue full/.test(l.msg));
  assert.equal(warn?.client, 'offline-dev');
  // the drained queue is counted empty again: the next offline spell keeps 5 more
  await s.c.endAsync();
  for (let i = 21; i <= 27; i++) await pub.publishAsync('q/x', `m${i}`, { qos: 1 });
  s = await session();
  await waitUntil(() => s.got.length >= 5, 'the second offline spell');
  assert.deepEqual(s.got, ['m21', 'm22', 'm23', 'm24', 'm25']);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_offline_dropped_total'), 5);
});

// A v5 publisher's properties are kept with each queued copy (3.1.1 and v5 sessions alike): ~64 KiB
// of user properties beside a one-byte payload passed outbound.maxQueueBytes 16 times over.
test('offline session queues: the bytes of MQTT 5 properties count in outbound.maxQueueBytes, 3.1.1 and 5 sessions', async (t) => {
  const maxQueueBytes = 256 * 1024;
  const { port, registry } = await startBroker(t, { outbound: { maxQueueBytes } });
  const url = `mqtt://127.0.0.1:${port}`;
  const resume = async (clientId: string, protocolVersion: 4 | 5): Promise<{ c: mqtt.MqttClient; got: string[] }> => {
    const got: string[] = [];
    const c = mqtt.connect(url, {
      reconnectPeriod: 0,
      clientId,
      clean: false,
      protocolVersion,
      ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
    });
    c.on('message', (_t, p) => got.push(p.toString()));
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
    });
    t.after(() => c.endAsync(true));
    return { c, got };
  };
  for (const [id, v] of [
    ['away3', 4],
    ['away5', 5],
  ] as const) {
    const s = await resume(id, v);
    await s.c.subscribeAsync('q/#', { qos: 1 });
    await s.c.endAsync();
  }
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'props-pub', protocolVersion: 5 });
  t.after(() => pub.endAsync(true));
  const pad = 'p'.repeat(16 * 1024);
  for (let i = 0; i < 100; i++) await pub.publishAsync('q/x', `${i % 10}`, { qos: 1, properties: { userProperties: { pad } } });
  // 15 copies of ~16 KiB fit in 256 KiB, for each session; the others dropped and counted.
  const dropped3 = await metricValue(registry, 'gatehouse_mqtt_offline_dropped_total');
  const dropped5 = await metricValue(registry, 'gatehouse_mqtt5_dropped_total');
  assert.ok(dropped3 >= 85 && dropped3 <= 86, `3.1.1 session: ${dropped3} of 100 dropped`);
  assert.ok(dropped5 >= 85 && dropped5 <= 86, `v5 session: ${dropped5} of 100 dropped`);
  for (const [id, v, dropped] of [
    ['away3', 4, dropped3],
    ['away5', 5, dropped5],
  ] as const) {
    const s = await resume(id, v);
    await waitUntil(() => s.got.length >= 100 - dropped, `${id}: its queued messages`);
    assert.equal(s.got.length, 100 - dropped);
  }
});

test('MQTT 3.1.1 persistent session: 30 QoS 2 messages queued offline all arrive on reconnect (two PUBRECs in flight no longer share one PUBREL)', async (t) => {
  const { port } = await startBroker(t);
  const url = `mqtt://127.0.0.1:${port}`;
  const sub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'q2-dev', clean: false });
  await sub.subscribeAsync('q2/#', { qos: 2 });
  await sub.endAsync();
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  for (let i = 0; i < 30; i++) await pub.publishAsync('q2/x', `m${i}`, { qos: 2 });
  const got: string[] = [];
  const again = mqtt.connect(url, { reconnectPeriod: 0, clientId: 'q2-dev', clean: false });
  t.after(() => again.endAsync(true));
  again.on('message', (_t, p) => got.push(p.toString()));
  await waitUntil(() => got.length >= 30, `30 messages (got ${got.length})`, 5000).catch(() => undefined);
  assert.deepEqual([...got].sort(), Array.from({ length: 30 }, (_, i) => `m${i}`).sort());
});

test('TLS listener: a device speaking plain MQTT to it is counted and logged (a warning with its address and the TLS error)', {
  skip: needBinary('openssl', 'openssl'),
}, async (t) => {
  const dir = await tempDir(t);
  const { cert, key } = opensslSelfSigned(dir);
  const { port, registry, lines } = await startBroker(t, { listeners: [{ host: '127.0.0.1', port: 0, tls: { cert, key } }] });
  const c = await raw(t, port, 4);
  c.sock.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'plain', clean: true, keepalive: 60 }));
  await waitUntil(() => c.isClosed(), 'the close');
  await waitUntil(async () => (await metricValue(registry, 'gatehouse_mqtt_protocol_errors_total')) >= 1, 'the failed handshake counted');
  const warn = lines.find((l) => l.level === 40 && /TLS handshake failed/.test(l.msg));
  assert.ok(warn, `a warning: ${JSON.stringify(lines)}`);
  assert.equal(warn.ip, '127.0.0.1');
  assert.ok(String(warn.err).length > 0);
});

test('a client id taken over (3.1.1 by 3.1.1, 3.1.1 by 5, 5 by 5) is counted and logged with both addresses, at a bounded rate', async (t) => {
  const { port, registry, lines } = await startBroker(t);
  const url = `mqtt://127.0.0.1:${port}`;
  const takeover = async (first: 4 | 5, second: 4 | 5, id: string): Promise<void> => {
    const a = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: id, protocolVersion: first });
    t.after(() => a.endAsync(true));
    const closed = new Promise<void>((resolve) => a.once('close', () => resolve()));
    const b = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: id, protocolVersion: second });
    t.after(() => b.endAsync(true));
    await closed;
  };
  await takeover(4, 4, 'shared-a');
  await takeover(4, 5, 'shared-b');
  await takeover(5, 5, 'shared-c');
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_takeovers_total'), 3);
  const warns = lines.filter((l) => /client id taken over/.test(l.msg));
  assert.equal(warns.length, 1, 'one line per 10 s');
  assert.equal(warns[0]?.client, 'shared-a');
  assert.equal(warns[0]?.ip, '127.0.0.1');
  assert.equal(warns[0]?.previousIp, '127.0.0.1');
});

test('MQTT 5: a client over the Receive Maximum (maxInflight unanswered QoS 1) gets DISCONNECT 0x93, counted as a protocol error and logged', async (t) => {
  const { port, registry, lines } = await startBroker(t, { maxInflight: 10 });
  const c = await raw(t, port, 5);
  const opts = { protocolVersion: 5 } as const;
  const bufs = [mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'eager', clean: true, keepalive: 60 }, opts)];
  // sent in one write: all parsed before the first commit can answer
  for (let i = 1; i <= 30; i++)
    bufs.push(mqttPacket.generate({ cmd: 'publish', topic: 'data/x', payload: Buffer.from('x'), qos: 1, messageId: i, retain: false, dup: false }, opts));
  c.sock.write(Buffer.concat(bufs));
  await waitUntil(() => c.isClosed(), 'the close');
  const d = c.got.find((p): p is mqttPacket.IDisconnectPacket => p.cmd === 'disconnect');
  assert.equal(d?.reasonCode, 0x93);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_protocol_errors_total'), 1);
  const warn = lines.find((l) => l.level === 40 && /protocol error/.test(l.msg));
  assert.equal(warn?.client, 'eager');
  assert.match(String(warn?.err), /Receive Maximum/);
});

// aedes' memory persistence kept an entry for every client id that ever PUBACKed a QoS 1 message
// or published at QoS 2, clean or not, for the life of the process: devices making up a new id at
// each connect grew the heap (~100 bytes an id, a QoS 2 packet for one that left mid-handshake).
test('MQTT 3.1.1 clean clients under ever new ids leave no session state behind: QoS 1 deliveries, QoS 2 publishes, one left mid-handshake', async (t) => {
  const { port, registry } = await startBroker(t);
  const url = `mqtt://127.0.0.1:${port}`;
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'pub' });
  t.after(() => pub.endAsync(true));
  for (let i = 0; i < 40; i++) {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `dev-${i}-${Math.random().toString(36).slice(2)}`, clean: true });
    await c.subscribeAsync(`sub/${i}`, { qos: 1 });
    const got = new Promise((r) => c.once('message', r));
    await pub.publishAsync(`sub/${i}`, 'x', { qos: 1 });
    await got;
    await c.publishAsync(`up/${i}`, 'y', { qos: 2 });
    await c.endAsync();
  }
  // One more sends a QoS 2 PUBLISH, gets PUBREC, and leaves without PUBREL.
  const r = await raw(t, port, 4);
  r.sock.write(
    Buffer.concat([
      mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'half-way', clean: true, keepalive: 60 }),
      mqttPacket.generate({ cmd: 'publish', topic: 'up/half', payload: Buffer.from('z'), qos: 2, messageId: 7, retain: false, dup: false }),
    ]),
  );
  await waitUntil(() => r.got.some((p) => p.cmd === 'pubrec'), 'PUBREC');
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_session_state_clients', { kind: 'qos2' }), 1, 'its QoS 2 publish awaits PUBREL');
  r.sock.destroy();
  await waitUntil(async () => (await metricValue(registry, 'gatehouse_mqtt_clients')) === 1, 'only the publisher connected');
  await waitUntil(
    async () => (await metricValue(registry, 'gatehouse_mqtt_session_state_clients', { kind: 'qos2' })) === 0,
    'the QoS 2 store of the clean session gone with it',
  );
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_session_state_clients', { kind: 'queue' }), 0, 'no queue kept for any id');
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_persistent_sessions'), 0);
});

test('MQTT 3.1.1 persistent sessions are bounded: past maxPersistentSessions the session disconnected longest ago is removed with its queue; the others keep theirs', async (t) => {
  const { port, registry, lines } = await startBroker(t, { maxPersistentSessions: 3 });
  const url = `mqtt://127.0.0.1:${port}`;
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'pub' });
  t.after(() => pub.endAsync(true));
  // Five devices open a persistent session each, subscribe and leave, in order.
  for (const id of ['d1', 'd2', 'd3', 'd4', 'd5']) {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: id, clean: false });
    await c.subscribeAsync(`cmd/${id}`, { qos: 1 });
    await c.endAsync();
    await pub.publishAsync(`cmd/${id}`, `for ${id}`, { qos: 1 }); // queued for it while offline
  }
  // d4 and d5 made room by removing d1 and d2 (disconnected longest ago).
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_persistent_sessions'), 3);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_sessions_evicted_total'), 2);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_offline_dropped_total'), 2, 'their queued message each, counted');
  const warn = lines.find((l) => /persistent session table full/.test(l.msg));
  assert.equal(warn?.client, 'd1');
  const resume = async (id: string): Promise<{ present: boolean; got: string[] }> => {
    const got: string[] = [];
    const c = mqtt.connect(url, { reconnectPeriod: 0, clientId: id, clean: false });
    c.on('message', (_topic, p) => got.push(p.toString()));
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      c.once('connect', resolve);
      c.once('error', reject);
    });
    t.after(() => c.endAsync(true));
    if (connack.sessionPresent) await waitUntil(() => got.length > 0, `${id}'s queued message`);
    // A probe after the live message: once it is in, the live one came before it or not at all.
    await c.subscribeAsync('probe', { qos: 1 });
    await pub.publishAsync(`cmd/${id}`, `live ${id}`, { qos: 1 });
    await pub.publishAsync('probe', 'p', { qos: 1 });
    await waitUntil(() => got.includes('p'), `${id}: the probe`);
    return { present: connack.sessionPresent, got: got.filter((m) => m !== 'p') };
  };
  const d5 = await resume('d5');
  assert.equal(d5.present, true);
  assert.deepEqual(d5.got, ['for d5', 'live d5'], 'd5: its queued and its live message');
  // d1's session is gone: no session present, no subscription left (nothing arrives for it).
  const d1 = await resume('d1');
  assert.equal(d1.present, false);
  assert.deepEqual(d1.got, []);
  // Connected sessions are never removed: d5 and d1 are connected, d3 and d4 stay; d1 pushed d3 out.
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_sessions_evicted_total'), 3);
  // Memory held for queues: d4's one message only (d5's queue, drained, is gone; d3's with it).
  // Waited for: a queue is gone once its last PUBACK is in, which can follow the probe's delivery
  // (it read 3 once in a loaded full run).
  await waitUntil(async () => (await metricValue(registry, 'gatehouse_mqtt_session_state_clients', { kind: 'queue' })) === 1, "the queues held: d4's alone");
});

// aedes kept every retained message for ever (and the gateway on disk): a client retaining on
// ever new topics grew both without bound.
test('retained messages are bounded: past maxRetainedMessages (or maxRetainedBytes) a retained publish to a new topic is delivered but not retained; replacing and clearing pass', async (t) => {
  const { port, registry, lines } = await startBroker(t, { maxRetainedMessages: 3, maxRetainedBytes: 100 });
  const url = `mqtt://127.0.0.1:${port}`;
  const live: string[] = [];
  const watcher = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'watcher' });
  t.after(() => watcher.endAsync(true));
  watcher.on('message', (topic, p) => live.push(`${topic}=${p.toString()}`));
  await watcher.subscribeAsync('r/#', { qos: 1 });
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'pub' });
  t.after(() => pub.endAsync(true));
  for (const n of [1, 2, 3, 4, 5]) await pub.publishAsync(`r/${n}`, `v${n}`, { qos: 1, retain: true });
  await waitUntil(() => live.length === 5, 'every publish delivered live, retained or not');
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_retained_refused_total'), 2);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_retained_messages'), 3);
  assert.equal(lines.find((l) => /retained messages full/.test(l.msg))?.topic, 'r/4');
  const retainedNow = async (): Promise<string[]> => {
    const got: string[] = [];
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `late-${Math.random()}` });
    c.on('message', (topic, p, packet) => packet.retain && got.push(`${topic}=${p.toString()}`));
    await c.subscribeAsync(['r/#', 'probe'], { qos: 1 });
    const probe = new Promise((r) => c.on('message', (topic) => topic === 'probe' && r(undefined)));
    await pub.publishAsync('probe', 'p', { qos: 1 }); // after the retained ones it gets on SUBACK
    await probe;
    await c.endAsync();
    return got.sort();
  };
  assert.deepEqual(await retainedNow(), ['r/1=v1', 'r/2=v2', 'r/3=v3']);
  // Replacing one passes; clearing one makes room for a new topic.
  await pub.publishAsync('r/1', 'w1', { qos: 1, retain: true });
  await pub.publishAsync('r/2', '', { qos: 1, retain: true });
  await pub.publishAsync('r/4', 'v4', { qos: 1, retain: true });
  assert.deepEqual(await retainedNow(), ['r/1=w1', 'r/3=v3', 'r/4=v4']);
  // The byte bound: 100 payload bytes in all.
  await pub.publishAsync('r/3', 'x'.repeat(120), { qos: 1, retain: true });
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_retained_refused_total'), 3);
  assert.deepEqual(await retainedNow(), ['r/1=w1', 'r/3=v3', 'r/4=v4']);
});

// An MQTT 5 retained message whose Message Expiry passed is sent to no one, yet it held its place
// in the bound until replaced: a bound full of expired messages refused every new topic.
test('retained messages are bounded: MQTT 5 messages whose Message Expiry passed give their room to a new topic', async (t) => {
  let clock = 1_000_000; // the broker's monotonic clock, moved by the test (the expiry is its subject)
  const registry = new Registry();
  const broker = await createBroker(
    { listeners: [{ host: '127.0.0.1', port: 0 }], maxRetainedMessages: 2 },
    { logger: pino({ level: 'silent' }), registry, monotonic: () => clock, onPublish: () => Promise.resolve() },
  );
  await broker.start();
  t.after(() => broker.stop());
  const url = `mqtt://127.0.0.1:${broker.addresses()[0]!.port}`;
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'pub5', protocolVersion: 5 });
  t.after(() => pub.endAsync(true));
  await pub.publishAsync('r/short', 'soon gone', { qos: 1, retain: true, properties: { messageExpiryInterval: 5 } });
  await pub.publishAsync('r/kept', 'no expiry', { qos: 1, retain: true });
  await pub.publishAsync('r/new', 'early', { qos: 1, retain: true });
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_retained_refused_total'), 1, 'full while nothing expired');
  clock += 6_000;
  await pub.publishAsync('r/new', 'late', { qos: 1, retain: true });
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_retained_refused_total'), 1, 'the expired message made room');
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_retained_expired_dropped_total'), 1);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_retained_messages'), 2);
  const got: string[] = [];
  const late = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'late5', protocolVersion: 5 });
  t.after(() => late.endAsync(true));
  late.on('message', (topic, p, packet) => packet.retain && got.push(`${topic}=${p.toString()}`));
  await late.subscribeAsync(['r/#', 'probe'], { qos: 1 });
  const probe = new Promise((r) => late.on('message', (topic) => topic === 'probe' && r(undefined)));
  await pub.publishAsync('probe', 'p', { qos: 1 });
  await probe;
  assert.deepEqual(got.sort(), ['r/kept=no expiry', 'r/new=late']);
});

// An MQTT 5 retained message keeps its properties (in memory and in the state file), and a PUBLISH
// may carry ~64 KiB of user properties beside a one-byte payload: maxRetainedBytes counted the
// topic and the payload only, so 100,000 such topics held 6 GB under its 64 MiB.
test('retained messages are bounded: the bytes of MQTT 5 properties (user properties) count in maxRetainedBytes', async (t) => {
  const maxRetainedBytes = 256 * 1024;
  const { port, registry } = await startBroker(t, { maxRetainedBytes });
  const url = `mqtt://127.0.0.1:${port}`;
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'props5', protocolVersion: 5 });
  t.after(() => pub.endAsync(true));
  const pad = 'p'.repeat(16 * 1024);
  for (let i = 0; i < 200; i++) {
    await pub.publishAsync(`r/${i}`, 'x', { qos: 1, retain: true, properties: { userProperties: { pad, n: String(i) } } });
  }
  const held = await metricValue(registry, 'gatehouse_mqtt_retained_messages');
  const bytes = await metricValue(registry, 'gatehouse_mqtt_retained_bytes');
  assert.ok(bytes <= maxRetainedBytes, `retained bytes ${bytes} within maxRetainedBytes`);
  assert.ok(bytes > held * pad.length, `the properties counted: ${bytes} bytes for ${held} messages`);
  assert.ok(held >= 14 && held <= 15, `${held} held: 15 messages of 16 KiB of properties fit in 256 KiB`);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_retained_refused_total'), 200 - held);
  // Those held keep their properties: a late subscriber gets them with the message.
  const late = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'late-props5', protocolVersion: 5 });
  t.after(() => late.endAsync(true));
  const got = new Promise<Record<string, unknown> | undefined>((r) => late.once('message', (_topic, _p, packet) => r(packet.properties?.userProperties)));
  await late.subscribeAsync('r/0', { qos: 1 });
  const props = await got;
  assert.equal(props?.n, '0');
  assert.equal(props?.pad === pad, true, 'its 16 KiB user property kept');
});

// MQTT lets topics, filters and client ids be 65,535 bytes, and the broker keeps them: one client
// holding 1,000 filters of 60 KB took 66 MB (four took 265 MB), and the session table is keyed by
// client id. broker.maxTopicLength and maxClientIdLength bound what one entry may cost.
test('identifier sizes are bounded: a topic or filter over maxTopicLength and a client id over maxClientIdLength are refused, 3.1.1 and 5', async (t) => {
  const { port, registry, received } = await startBroker(t, { maxTopicLength: 64, maxClientIdLength: 32 });
  const url = `mqtt://127.0.0.1:${port}`;
  const long = `a/${'x'.repeat(70)}`;
  const longId = 'd'.repeat(33);

  // 3.1.1: the long filter gets SUBACK 0x80, the other one passes; a long PUBLISH topic disconnects.
  const c4 = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'ids4' });
  t.after(() => c4.endAsync(true));
  assert.deepEqual(await subackCodes(c4, [long, 'a/ok'], 1), [0x80, 1]);
  const closed = new Promise<void>((r) => c4.once('close', () => r()));
  c4.publish(long, 'p', { qos: 1 });
  await closed;
  assert.equal(received.length, 0, 'nothing committed for the refused publish');

  // MQTT 5: SUBACK 0x8F and PUBACK 0x90; the client stays connected and may go on.
  const c5 = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'ids5', protocolVersion: 5 });
  t.after(() => c5.endAsync(true));
  assert.deepEqual(await subackCodes(c5, [long, 'a/ok'], 1), [0x8f, 1]);
  await assert.rejects(c5.publishAsync(long, 'p', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x90);
  await c5.publishAsync('a/ok', 'fine', { qos: 1 });
  assert.deepEqual(
    received.map((m) => m.topic),
    ['a/ok'],
  );
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_topic_too_long_total'), 4);

  // Client ids: CONNACK 0x02 (3.1.1), 0x85 (MQTT 5); one at the bound connects.
  await assert.rejects(mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: longId }), (err: Error & { code?: number }) => err.code === 2);
  await assert.rejects(
    mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: longId, protocolVersion: 5 }),
    (err: Error & { code?: number }) => err.code === 0x85,
  );
  const atBound = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'd'.repeat(32) });
  await atBound.endAsync();
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_client_id_too_long_total'), 2);

  // A will is kept with its connection and published at its end: its topic is refused at CONNECT
  // (3.1.1 has no code for a will: 0x05 not authorized; MQTT 5: 0x90 Topic Name invalid).
  const will = { topic: long, payload: Buffer.from('gone'), qos: 1 as const, retain: false };
  await assert.rejects(mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'will4', will }), (err: Error & { code?: number }) => err.code === 5);
  await assert.rejects(
    mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'will5', protocolVersion: 5, will }),
    (err: Error & { code?: number }) => err.code === 0x90,
  );
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_topic_too_long_total'), 6);
});

// aedes bounds the QoS 2 publishes awaiting PUBREL per connection (1,000) only, and the store kept
// each one whole: a persistent session whose client withheld PUBREL took 1,000 more payloads at
// each reconnect, up to 65,535.
test('MQTT 3.1.1 QoS 2 publishes awaiting PUBREL are bounded per client id across reconnects: past 1,000 the oldest id is forgotten, counted and logged', async (t) => {
  const { port, registry, lines, received } = await startBroker(t);
  const hold = async (first: number): Promise<void> => {
    const c = await raw(t, port, 4);
    const bufs = [mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'hoarder', clean: false, keepalive: 60 })];
    for (let id = first; id < first + 1000; id++) {
      bufs.push(mqttPacket.generate({ cmd: 'publish', topic: 'up/hoard', payload: Buffer.alloc(64, 1), qos: 2, messageId: id, retain: false, dup: false }));
    }
    c.sock.write(Buffer.concat(bufs));
    await waitUntil(() => c.got.filter((p) => p.cmd === 'pubrec').length === 1000 || c.isClosed(), '1,000 PUBRECs', 20_000);
    assert.equal(c.isClosed(), false, 'a connection holding 1,000 stays open');
    c.sock.destroy();
    await waitUntil(async () => (await metricValue(registry, 'gatehouse_mqtt_clients')) === 0, 'the hoarder gone');
  };
  // Three connections of one persistent session, 1,000 fresh packet ids each, no PUBREL.
  await hold(1);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_qos2_pending'), 1000);
  await hold(1001);
  await hold(2001);
  assert.equal(received.length, 3000, 'every publish delivered once');
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_qos2_pending'), 1000, 'held: the newest 1,000 of 3,000');
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_qos2_forgotten_total'), 2000);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_session_state_clients', { kind: 'qos2' }), 1);
  const warns = lines.filter((l) => /QoS 2 publishes awaiting PUBREL/.test(l.msg));
  assert.ok(warns.length >= 1 && warns.length <= 2, `logged at a bounded rate: ${warns.length} lines`);
  assert.equal(warns[0]?.client, 'hoarder');
  // The session goes on: a retransmission of a held id is answered (PUBREC), its PUBREL releases it.
  const c = await raw(t, port, 4);
  c.sock.write(
    Buffer.concat([
      mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'hoarder', clean: false, keepalive: 60 }),
      mqttPacket.generate({ cmd: 'publish', topic: 'up/hoard', payload: Buffer.from('again'), qos: 2, messageId: 3000, retain: false, dup: true }),
      mqttPacket.generate({ cmd: 'pubrel', messageId: 3000 }),
    ]),
  );
  await waitUntil(() => c.got.some((p) => p.cmd === 'pubcomp'), 'PUBCOMP');
  assert.deepEqual(
    c.got.map((p) => p.cmd),
    ['connack', 'pubrec', 'pubcomp'],
  );
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_qos2_pending'), 999);
});
