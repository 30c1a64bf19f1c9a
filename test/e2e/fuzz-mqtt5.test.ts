// Fuzz the broker's own MQTT 5 layer (gateway/broker/v5/) through real sockets to a running
// gateway (in-process: the broker, the store, rules), for a bounded time with a deterministic,
// printed seed (FUZZ_SEED, FUZZ_MS override; test/e2e/fuzz.test.ts records a 3.1.1 session, which
// never reaches this layer). Three kinds of input, each on a fresh raw socket:
//
// - the bytes of a real mqtt.js protocolVersion 5 session (CONNECT with session expiry, receive
//   maximum, topic alias maximum, user properties and a will with a delay; SUBSCRIBE with a
//   subscription identifier, no local, retain handling and a $share filter; PUBLISH QoS 0/1/2 with
//   topic aliases, message expiry, content type, correlation data; UNSUBSCRIBE; AUTH; DISCONNECT
//   with a session expiry) recorded through a TCP proxy, mutated as a whole;
// - the same session's packets, one or a few of them mutated, dropped, repeated or reordered (the
//   CONNECT stays valid far more often, so the handlers past CONNACK are reached);
// - structured-random packets: a valid CONNECT with random properties, then well-formed packets of
//   every type with random fields (mqtt-packet's generator), from a small pool of client ids so
//   sessions are resumed and taken over.
//
// Meanwhile a real MQTT 5 device publishes QoS 1. Asserts: no crash (the test process is the
// gateway), no connection handler failing on a bug (the layer's catch-all logs 'MQTT 5 connection
// failed'), no hang (fresh 5 and 3.1.1 clients get their PUBACK, a fresh v5 subscriber gets a
// message), every PUBACKed device message in the store, sessions within mqtt5.maxSessions and the
// heap after a GC within a bound once the fuzz clients are gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { once } from 'node:events';
import mqtt from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { tempDir, withTimeout, metricValue } from '../helpers/index.js';
import { capturingLogger, fuzzer, fuzzSettings, heapAfterGc, recordClientBytes, splitMqttPackets, startWitness, storedWitnessIds } from '../helpers/fuzz.js';

const { seed: SEED, ms: DURATION_MS } = fuzzSettings(20261207, 5000);
const f = fuzzer(SEED);
const { rnd, int, pick } = f;
const MAX_SESSIONS = 24;

/** A real mqtt.js v5 session using every feature of the layer. */
async function recordV5Session(port: number): Promise<Buffer> {
  return recordClientBytes(port, async (p) => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${p}`, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      clientId: 'fz5-rec',
      clean: false,
      username: 'rec',
      password: 'pw',
      properties: { sessionExpiryInterval: 300, receiveMaximum: 20, topicAliasMaximum: 5, maximumPacketSize: 4096, userProperties: { who: 'rec' } },
      will: {
        topic: 'fz5/will',
        payload: Buffer.from('gone'),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 2, messageExpiryInterval: 60, contentType: 'text/plain', userProperties: { a: 'b' } },
      },
    });
    await c.subscribeAsync({ 'fz5/#': { qos: 1, nl: true, rap: true, rh: 1 } }, { properties: { subscriptionIdentifier: 7, userProperties: { s: '1' } } });
    await c.subscribeAsync({ '$share/g/fz5/+/x': { qos: 2 } });
    await c.publishAsync('fz5/a', 'q0', { qos: 0, properties: { topicAlias: 1, userProperties: { u: 'v' } } });
    await c.publishAsync('', 'alias', { qos: 1, properties: { topicAlias: 1, messageExpiryInterval: 30 } });
    await c.publishAsync('fz5/b', '{"v":1}', {
      qos: 1,
      retain: true,
      properties: { payloadFormatIndicator: true, contentType: 'application/json', responseTopic: 'fz5/r', correlationData: Buffer.from([1, 2]) },
    });
    await c.publishAsync('fz5/c', Buffer.from([1, 2, 3]), { qos: 2, properties: { messageExpiryInterval: 5 } });
    await c.unsubscribeAsync('$share/g/fz5/+/x');
    await c.endAsync(false, { reasonCode: 0x04, properties: { sessionExpiryInterval: 120 } });
  });
}

/** An AUTH packet (re-authentication: the broker has no enhanced authentication and must say so). */
const AUTH = mqttPacket.generate(
  { cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'SCRAM-SHA-1', authenticationData: Buffer.from('x') } } as Packet,
  {
    protocolVersion: 5,
  },
);

const CLIENT_IDS = ['fz5-a', 'fz5-b', 'fz5-c', 'fz5-rec', '', 'fz5-d', 'fz5-e'];
const TOPICS = ['fz5/a', 'fz5/b/x', 'witness/9', '', '$SYS/x', 'a/+', '#', 'fz5/\u00e9', 'x'.repeat(300), '$aws/rules/r', 'gatehouse/fz5/rules/set', '/'];
const FILTERS = [
  'fz5/#',
  '#',
  '+/+',
  '$share/g/fz5/#',
  '$share//x',
  '$share/g',
  '$share/+/x',
  'a/#/b',
  '$SYS/#',
  'witness/#',
  '',
  'x'.repeat(300),
  '$aws/rules/#',
  '/+',
];
const small = (): number => pick([0, 1, 2, 3, 65535, 0xffffffff, 0x7fffffff, 268435455, int(100)]);

function randomUserProps(): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0, n = int(4); i < n; i++) out[pick(['a', 'b', 'k'.repeat(int(50))])] = rnd() < 0.3 ? ['x', 'y'] : 'v'.repeat(int(40));
  return out;
}

function publishProps(): Record<string, unknown> {
  const p: Record<string, unknown> = {};
  if (rnd() < 0.3) p.topicAlias = pick([0, 1, 2, 5, 10, 65535, int(20)]);
  if (rnd() < 0.3) p.messageExpiryInterval = small();
  if (rnd() < 0.2) p.payloadFormatIndicator = rnd() < 0.5;
  if (rnd() < 0.2) p.contentType = pick(['text/plain', '', 'x'.repeat(200)]);
  if (rnd() < 0.2) p.responseTopic = pick(TOPICS);
  if (rnd() < 0.2) p.correlationData = f.randomBytes(int(20));
  if (rnd() < 0.3) p.userProperties = randomUserProps();
  if (rnd() < 0.1) p.subscriptionIdentifier = 1 + int(1000);
  return p;
}

function randomConnect(): Packet {
  const props: Record<string, unknown> = {};
  if (rnd() < 0.7) props.sessionExpiryInterval = small();
  if (rnd() < 0.4) props.receiveMaximum = pick([1, 2, 10, 65535]);
  if (rnd() < 0.4) props.maximumPacketSize = pick([1, 20, 64, 200, 4096, 268435455]);
  if (rnd() < 0.4) props.topicAliasMaximum = pick([0, 1, 2, 65535]);
  if (rnd() < 0.2) props.requestProblemInformation = rnd() < 0.5;
  if (rnd() < 0.2) props.requestResponseInformation = rnd() < 0.5;
  if (rnd() < 0.2) props.userProperties = randomUserProps();
  if (rnd() < 0.05) props.authenticationMethod = 'SCRAM-SHA-1';
  const p: Record<string, unknown> = {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 5,
    clean: rnd() < 0.4,
    clientId: pick(CLIENT_IDS),
    keepalive: pick([0, 1, 5, 60, 65535]),
    properties: props,
  };
  if (rnd() < 0.3) {
    const willProps: Record<string, unknown> = {};
    if (rnd() < 0.5) willProps.willDelayInterval = pick([0, 1, 3, 0xffffffff]);
    if (rnd() < 0.3) willProps.messageExpiryInterval = small();
    if (rnd() < 0.2) willProps.payloadFormatIndicator = rnd() < 0.5;
    if (rnd() < 0.2) willProps.userProperties = randomUserProps();
    p.will = { topic: pick(TOPICS), payload: f.randomBytes(int(30)), qos: int(3), retain: rnd() < 0.3, properties: willProps };
  }
  if (rnd() < 0.2) p.username = pick(['u', '', 'admin']);
  if (rnd() < 0.1) p.password = Buffer.from('pw');
  return p as unknown as Packet;
}

function randomPacket(): Packet {
  const id = pick([1, 2, 3, 65535, int(65536)]);
  const reasonCode = pick([0, 0x04, 0x10, 0x80, 0x8e, 0x92, 0x97, int(256)]);
  switch (int(11)) {
    case 0:
    case 1:
    case 2: {
      const qos = int(3) as 0 | 1 | 2;
      return {
        cmd: 'publish',
        topic: pick(TOPICS),
        payload: f.randomBytes(int(64)),
        qos,
        retain: rnd() < 0.2,
        dup: rnd() < 0.1,
        ...(qos > 0 ? { messageId: id } : {}),
        properties: publishProps(),
      } as Packet;
    }
    case 3: {
      const subscriptions = Array.from({ length: int(4) }, () => ({
        topic: pick(FILTERS),
        qos: int(3) as 0 | 1 | 2,
        nl: rnd() < 0.3,
        rap: rnd() < 0.3,
        rh: int(3),
      }));
      const properties: Record<string, unknown> = {};
      if (rnd() < 0.5) properties.subscriptionIdentifier = pick([1, 2, 268435455, int(100) + 1]);
      if (rnd() < 0.2) properties.userProperties = randomUserProps();
      return { cmd: 'subscribe', messageId: id, subscriptions, properties } as Packet;
    }
    case 4:
      return { cmd: 'unsubscribe', messageId: id, unsubscriptions: Array.from({ length: int(3) }, () => pick(FILTERS)) } as Packet;
    case 5:
      return { cmd: pick(['puback', 'pubrec', 'pubrel', 'pubcomp'] as const), messageId: id, reasonCode } as Packet;
    case 6:
      return { cmd: 'pingreq' } as Packet;
    case 7: {
      const properties: Record<string, unknown> = {};
      if (rnd() < 0.5) properties.sessionExpiryInterval = small();
      if (rnd() < 0.2) properties.reasonString = 'bye';
      return { cmd: 'disconnect', reasonCode: pick([0, 0x04, 0x80, 0x8e]), properties } as Packet;
    }
    case 8:
      return { cmd: 'auth', reasonCode: pick([0, 0x18, 0x19]), properties: { authenticationMethod: 'M', authenticationData: f.randomBytes(4) } } as Packet;
    case 9:
      return randomConnect();
    default:
      return { cmd: 'pubrel', messageId: id } as Packet;
  }
}

function encode(p: Packet): Buffer | undefined {
  try {
    return mqttPacket.generate(p, { protocolVersion: 5 });
  } catch {
    return undefined; // a field combination the generator itself refuses: not a case
  }
}

/** A structured-random session: a valid CONNECT, then 1..30 well-formed packets. */
function structuredSession(): Buffer {
  const parts = [encode(randomConnect())];
  for (let i = 0, n = 1 + int(30); i < n; i++) parts.push(encode(randomPacket()));
  return Buffer.concat(parts.filter((b): b is Buffer => b !== undefined));
}

/** The recorded session's packets with one to three of them mutated, dropped, repeated or swapped. */
function packetLevelMutation(packets: readonly Buffer[]): Buffer {
  const ps = [...packets];
  for (let i = 0, n = 1 + int(3); i < n; i++) {
    const at = 1 + int(Math.max(1, ps.length - 1)); // the CONNECT (0) stays, mostly
    switch (int(6)) {
      case 0:
        ps.splice(at, 1);
        break;
      case 1:
        ps.splice(at, 0, ps[at] ?? AUTH);
        break;
      case 2: {
        const other = 1 + int(Math.max(1, ps.length - 1));
        [ps[at], ps[other]] = [ps[other]!, ps[at]!];
        break;
      }
      case 3:
        ps.splice(at, 0, encode(randomPacket()) ?? AUTH);
        break;
      default:
        if (ps[at]) ps[at] = f.mutate(ps[at]!);
        else if (rnd() < 0.2) ps[0] = f.mutate(ps[0]!);
    }
  }
  return Buffer.concat(ps.filter(Boolean));
}

/** Send the bytes on a fresh socket, in one or a few writes; read what comes; close after a while. */
async function mqttCase(port: number, bytes: Buffer): Promise<void> {
  const s = netConnect(port, '127.0.0.1');
  s.on('error', () => undefined);
  s.on('data', () => undefined);
  const closed = once(s, 'close').catch(() => undefined);
  await Promise.race([once(s, 'connect'), closed]);
  if (s.destroyed) return;
  if (rnd() < 0.5) s.write(bytes);
  else for (let at = 0; at < bytes.length; ) s.write(bytes.subarray(at, (at += 1 + int(64))));
  // half the cases leave the socket open a while (wills, takeovers, deliveries), then close it
  // with or without a FIN
  const linger = rnd() < 0.5 ? 0 : 50 + int(400);
  await Promise.race([closed, new Promise((r) => setTimeout(r, linger).unref())]);
  if (rnd() < 0.5) s.end();
  else s.destroy();
  await Promise.race([closed, new Promise((r) => setTimeout(r, 300).unref())]);
  s.destroy();
}

test('fuzz MQTT 5: mutated and structured-random v5 sessions; no crash, no hang, no loss of acknowledged data, bounded state', {
  timeout: DURATION_MS + 120_000,
}, async (t) => {
  console.log(`# fuzz-mqtt5 seed ${SEED} (FUZZ_SEED to replay), duration ${DURATION_MS} ms (FUZZ_MS)`);
  const dir = await tempDir(t, 'gatehouse-fuzz5-');
  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    `gatewayId: fz5\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n` +
      `broker: { mqtt5: { maxSessions: ${MAX_SESSIONS}, maxQueuedMessages: 50, topicAliasMaximum: 4 }, outbound: { maxQueueMessages: 50 } }\n` +
      `rules: { version: 1, rules: [{ name: witness, sql: "SELECT * FROM 'witness/#'", actions: [{ stream: { name: archive } }] }] }\n`,
  );
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const registry = createMetricsRegistry('test', 'fz5');
  const { logger, lines } = capturingLogger();
  const gw = await startGateway(config, { logger, registry, version: 'test' });
  t.after(() => gw.stop());
  const port = gw.broker.addresses()[0]!.port;
  const session = await recordV5Session(port);
  const packets = splitMqttPackets(Buffer.concat([session, AUTH]));
  assert.ok(packets.length >= 9, `recorded ${packets.length} packets`);

  const witness = await startWitness(t, `mqtt://127.0.0.1:${port}`, { protocolVersion: 5 }, (i) => ({
    qos: 1,
    properties: { userProperties: { n: String(i) }, messageExpiryInterval: 60, topicAlias: 1 + (i % 2) },
  }));

  const heapBefore = heapAfterGc();
  const counts = { recorded: 0, packetLevel: 0, structured: 0 };
  const deadline = Date.now() + DURATION_MS;
  const failures = (): number => lines.filter((l) => l.msg === 'MQTT 5 connection failed').length;
  let culprit: string | undefined;
  while (Date.now() < deadline) {
    const batch = Array.from({ length: 8 }, () => {
      const r = rnd();
      if (r < 0.2) {
        counts.recorded++;
        return f.mutate(session);
      }
      if (r < 0.55) {
        counts.packetLevel++;
        return packetLevelMutation(packets);
      }
      counts.structured++;
      return structuredSession();
    });
    const before = failures();
    await Promise.all(batch.map((bytes) => mqttCase(port, bytes)));
    if (failures() > before) {
      // which case it was: each sent again alone (sessions may have changed meanwhile: the
      // bytes of the whole batch are printed when none fails alone)
      for (const bytes of batch) {
        const n = failures();
        await mqttCase(port, bytes);
        if (failures() > n) culprit = bytes.toString('hex');
        if (culprit) break;
      }
      culprit ??= `(none alone) ${batch.map((b) => b.toString('hex')).join(' ')}`;
      console.log(`# fuzz-mqtt5 failing case (hex): ${culprit}`);
      break;
    }
  }
  await witness.stop();
  const total = counts.recorded + counts.packetLevel + counts.structured;
  console.log(`# fuzz-mqtt5 cases tried: ${total} ${JSON.stringify(counts)}; device messages PUBACKed: ${witness.acked.length}`);

  const failed = lines.filter(
    (l) => l.msg === 'MQTT 5 connection failed' || (typeof l.level === 'number' && l.level >= 50 && l.msg !== 'MQTT 5 connection failed'),
  );
  assert.deepEqual(
    failed.slice(0, 3).map((l) => `${String(l.msg)}: ${String(l.err)} ${String(l.stack ?? '')}`),
    [],
    'no MQTT 5 handler failed on a bug and nothing was logged as an error',
  );

  // No hang: fresh v5 and 3.1.1 clients get their PUBACK; a fresh v5 subscriber gets a message.
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, clientId: 'after-sub', connectTimeout: 5000 });
  t.after(() => sub.endAsync(true));
  const got = new Promise<string>((resolve) => sub.on('message', (_t, p) => resolve(p.toString())));
  await sub.subscribeAsync('after/#', { qos: 1 });
  const fresh5 = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, clientId: 'after-5', connectTimeout: 5000 });
  t.after(() => fresh5.endAsync(true));
  await withTimeout(fresh5.publishAsync('witness/after', '{"id":-1}', { qos: 1 }), 5000, 'a v5 PUBACK after the fuzz');
  await withTimeout(fresh5.publishAsync('after/x', 'hello', { qos: 1 }), 5000, 'a v5 PUBACK after the fuzz');
  assert.equal(await withTimeout(got, 5000, 'a v5 subscriber gets a message after the fuzz'), 'hello');
  const fresh3 = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, clientId: 'after-3', connectTimeout: 5000 });
  t.after(() => fresh3.endAsync(true));
  await withTimeout(fresh3.publishAsync('witness/after', '{"id":-2}', { qos: 1 }), 5000, 'a 3.1.1 PUBACK after the fuzz');

  // No loss: every PUBACKed device message is in the archive stream.
  const stored = await storedWitnessIds(gw.streams);
  const missing = witness.acked.filter((id) => !stored.has(id));
  assert.equal(missing.length, 0, `PUBACKed but not stored: ${missing.slice(0, 10).join(', ')}`);
  assert.ok(witness.acked.length > 0, 'the device made progress during the fuzz');

  // Bounded state: the session table, and the heap once the fuzz clients are gone.
  const sessions = await metricValue(registry, 'gatehouse_mqtt5_sessions');
  assert.ok(sessions <= MAX_SESSIONS, `${sessions} MQTT 5 sessions held, over mqtt5.maxSessions ${MAX_SESSIONS}`);
  const heapAfter = heapAfterGc();
  const grownMb = (heapAfter - heapBefore) / 1024 / 1024;
  console.log(`# fuzz-mqtt5 heap after GC: ${(heapBefore / 1048576).toFixed(1)} MB before, ${(heapAfter / 1048576).toFixed(1)} MB after; sessions ${sessions}`);
  // sessions (24 x 50 queued messages of < 1 KiB), retained messages and the store's caches: far below
  assert.ok(grownMb < 48, `heap grew by ${grownMb.toFixed(1)} MB during the fuzz`);
});
