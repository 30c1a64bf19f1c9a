// A WebSocket listener (protocol: websockets) against what is not a well-behaved MQTT client, with
// the real broker, real mqtt.js clients and raw `ws` clients: HTTP that is not an upgrade, other
// paths and sub-protocols, text frames, garbage, a message over the packet limit, silent upgraded
// connections (the pre-CONNECT guard and the connect deadline), maxConnections counting WebSocket
// clients, a frozen browser (the slow-consumer limits). Every refusal is counted by reason.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { createBroker, hashPassword, type Broker, type BrokerOptionsInput } from '../../gateway/broker/index.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { metricValue, testDeps, waitForEvent, waitUntil, withTimeout } from '../helpers/index.js';
import { CONNACK_OK, connectPacket } from '../helpers/mqtt-raw.js';

interface Rig {
  broker: Broker;
  deps: RuntimeDeps;
  port: number;
  url: string;
}

async function start(t: TestContext, more: BrokerOptionsInput = {}, path?: string, origins?: string[]): Promise<Rig> {
  const deps = testDeps();
  const broker = await createBroker(
    {
      listeners: [
        { host: '127.0.0.1', port: 0 },
        { host: '127.0.0.1', port: 0, protocol: 'websockets', ...(path ? { path } : {}), ...(origins ? { origins } : {}) },
      ],
      ...more,
    },
    { ...deps, onPublish: () => Promise.resolve() },
  );
  await broker.start();
  t.after(() => broker.stop());
  const port = broker.addresses()[1]!.port;
  return { broker, deps, port, url: `ws://127.0.0.1:${port}` };
}

const refused = (rig: Rig, reason: string): Promise<number> =>
  metricValue(rig.deps.registry, 'gatehouse_mqtt_websocket_refused_total', { listener: 'ws', reason });

/** A raw WebSocket client: open, or the HTTP status of a refused upgrade. */
async function raw(t: TestContext, url: string, protocols?: string | string[], origin?: string): Promise<{ ws?: WebSocket; status?: number }> {
  const ws = new WebSocket(url, protocols, origin ? { origin } : {});
  t.after(() => ws.terminate());
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode! });
      res.resume();
    });
    ws.once('error', reject);
  });
}

/** A CONNECT in one binary frame; the first binary frame back. */
async function mqttConnect(ws: WebSocket, clientId: string): Promise<Buffer> {
  const back = waitForEvent<[Buffer, boolean]>(ws, 'message', 5000);
  ws.send(connectPacket(clientId), { binary: true });
  const [data, isBinary] = await back;
  assert.equal(isBinary, true, 'the broker answers in binary frames');
  return data;
}

test('HTTP that is not an upgrade is answered 426 with no body; another path 404; an offer without mqtt 400; no offer is served', async (t) => {
  const rig = await start(t, {}, '/mqtt');
  for (const [path, status] of [
    ['/mqtt', 426],
    ['/', 404],
    ['/index.html', 404],
  ] as const) {
    const res = await fetch(`http://127.0.0.1:${rig.port}${path}`);
    assert.equal(res.status, status, path);
    assert.equal(await res.text(), '', 'no page');
    if (status === 426) assert.equal(res.headers.get('upgrade'), 'websocket');
  }
  assert.equal((await raw(t, `${rig.url}/other`, 'mqtt')).status, 404, 'an upgrade on another path');
  assert.equal((await raw(t, `${rig.url}/mqtt`, ['chat', 'json'])).status, 400, 'an upgrade offering no MQTT sub-protocol');
  // mqttv3.1 (MQTT 3.1 clients) is picked when mqtt is not offered; mqtt first when both are
  const v31 = await raw(t, `${rig.url}/mqtt`, ['mqttv3.1']);
  assert.equal(v31.ws?.protocol, 'mqttv3.1');
  const both = await raw(t, `${rig.url}/mqtt?x=1`, ['mqttv3.1', 'mqtt']);
  assert.equal(both.ws?.protocol, 'mqtt', 'the path is matched without its query');
  // no Sec-WebSocket-Protocol at all: served (docs/decisions.md)
  const none = await raw(t, `${rig.url}/mqtt`);
  assert.ok(none.ws, 'an upgrade with no sub-protocol is served');
  assert.deepEqual(await mqttConnect(none.ws, 'no-subprotocol'), CONNACK_OK);
  assert.equal(await refused(rig, 'not-upgrade'), 1);
  assert.equal(await refused(rig, 'path'), 3);
  assert.equal(await refused(rig, 'subprotocol'), 1);
  // a request node cannot parse is closed without an answer page
  const sock = netConnect(rig.port, '127.0.0.1');
  t.after(() => sock.destroy());
  sock.write('NOT HTTP AT ALL\r\n\r\n');
  sock.resume();
  await waitForEvent(sock, 'close', 5000);
  await waitUntil(async () => (await refused(rig, 'headers')) === 1, 'the bad request counted');
});

test('a text frame (1003), a message over the packet limit (1009) and garbage close the connection; the listener goes on serving', async (t) => {
  const rig = await start(t, { maxPayloadBytes: 1024 });
  const text = (await raw(t, rig.url, 'mqtt')).ws!;
  const textClosed = waitForEvent<[number]>(text, 'close', 5000);
  text.send('{"hello":"mqtt"}');
  assert.equal((await textClosed)[0], 1003);
  assert.equal(await refused(rig, 'text-frame'), 1);

  // the limit is the broker's largest packet (maxPayloadBytes + topic and header room)
  const big = (await raw(t, rig.url, 'mqtt')).ws!;
  const bigClosed = waitForEvent<[number]>(big, 'close', 5000);
  big.send(Buffer.alloc(1024 + 65_535 + 64 + 1, 0x30), { binary: true });
  assert.equal((await bigClosed)[0], 1009);
  assert.equal(await refused(rig, 'too-large'), 1);

  for (const garbage of [
    Buffer.from('GET / HTTP/1.1\r\n\r\n'),
    Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
    Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]),
  ]) {
    const g = (await raw(t, rig.url, 'mqtt')).ws!;
    const closed = waitForEvent(g, 'close', 10_000);
    g.send(garbage, { binary: true });
    await closed;
  }
  // a CONNECT split over frames, as the spec allows, is one CONNECT
  const split = (await raw(t, rig.url, 'mqtt')).ws!;
  const back = waitForEvent<[Buffer]>(split, 'message', 5000);
  const connect = connectPacket('split-frames');
  for (let i = 0; i < connect.length; i += 3) split.send(connect.subarray(i, i + 3), { binary: true });
  assert.deepEqual((await back)[0], CONNACK_OK);
  const c = await mqtt.connectAsync(rig.url, { reconnectPeriod: 0, clientId: 'after-garbage', protocolVersion: 5 });
  t.after(() => c.endAsync(true));
  await c.publishAsync('x/y', 'ok', { qos: 1 });
});

test('silent WebSocket connections: the pre-CONNECT guard sheds the oldest, the connect deadline runs from accept; maxConnections counts WebSocket clients', async (t) => {
  const connectTimeoutMs = 1500;
  const rig = await start(t, { maxConnections: 2, maxPendingConnections: 50, maxPendingPerAddress: 3, connectTimeoutMs });
  // six upgraded, silent connections from one address: the three oldest are shed
  const silent = [];
  for (let i = 0; i < 6; i++) silent.push((await raw(t, rig.url, 'mqtt')).ws!);
  const closes = silent.map((s) => waitForEvent<[number]>(s, 'close', 10_000));
  await Promise.all(closes.slice(0, 3));
  await waitUntil(async () => (await metricValue(rig.deps.registry, 'gatehouse_mqtt_preconnect_shed_total', { limit: 'address' })) === 3, 'three shed');
  // the rest: closed by the deadline (from accept: the upgrade counts against it)
  await Promise.all(closes.slice(3));
  // a TCP connection that never sends its HTTP request is closed by the same deadline
  const mute = netConnect(rig.port, '127.0.0.1');
  t.after(() => mute.destroy());
  const t0 = Date.now();
  await waitForEvent(mute, 'close', connectTimeoutMs + 3000);
  assert.ok(Date.now() - t0 < connectTimeoutMs + 1000, `closed after ${Date.now() - t0} ms`);
  await waitUntil(
    async () => (await metricValue(rig.deps.registry, 'gatehouse_mqtt_connect_timeouts_total')) === 4,
    `three upgraded and one mute connection timed out (${await metricValue(rig.deps.registry, 'gatehouse_mqtt_connect_timeouts_total')})`,
  );

  // maxConnections 2: one TCP client and one WebSocket client fill it, the next WebSocket client is refused
  const tcp = await mqtt.connectAsync(`mqtt://127.0.0.1:${rig.broker.addresses()[0]!.port}`, { reconnectPeriod: 0, clientId: 'tcp' });
  t.after(() => tcp.endAsync(true));
  const ws1 = await mqtt.connectAsync(rig.url, { reconnectPeriod: 0, clientId: 'ws1' });
  t.after(() => ws1.endAsync(true));
  await assert.rejects(mqtt.connectAsync(rig.url, { reconnectPeriod: 0, clientId: 'ws2' }), /Server unavailable|unavailable/i);
  assert.equal(await metricValue(rig.deps.registry, 'gatehouse_mqtt_connections_refused_total'), 1);
  assert.deepEqual(
    rig.broker
      .clients()
      .map((c) => `${c.id} ${c.listener}`)
      .sort(),
    ['tcp mqtt', 'ws1 ws'],
  );
});

test('a frozen browser (WebSocket subscriber that stops reading): the publisher never waits, the subscriber is disconnected as a slow consumer', async (t) => {
  const rig = await start(t, { drainTimeoutMs: 600_000, outbound: { maxQueueMessages: 200, maxQueueBytes: 512 * 1024 } });
  const sub = await mqtt.connectAsync(rig.url, { reconnectPeriod: 0, clientId: 'frozen' });
  t.after(() => sub.endAsync(true).catch(() => undefined));
  await sub.subscribeAsync('big/#', { qos: 1 });
  (sub.stream as unknown as { pause(): void }).pause();
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${rig.broker.addresses()[0]!.port}`, { reconnectPeriod: 0, clientId: 'pub' });
  t.after(() => pub.endAsync(true));
  const payload = Buffer.alloc(64 * 1024, 7);
  await withTimeout(
    (async () => {
      for (let i = 0; i < 400; i++) await pub.publishAsync('big/x', payload, { qos: 1 });
    })(),
    120_000,
    'publisher PUBACKs (a publisher waiting on the frozen browser would stall here)',
  );
  await waitUntil(
    async () => (await metricValue(rig.deps.registry, 'gatehouse_mqtt_slow_consumer_disconnects_total')) === 1,
    'the frozen browser disconnected',
    10_000,
  );
  assert.equal(
    rig.broker.clients().some((c) => c.id === 'frozen'),
    false,
  );
});

test('wrong passwords over WebSockets ban the address: its next upgrade and its TCP connections are closed at accept', async (t) => {
  const rig = await start(t, {
    allowAnonymous: false,
    users: [{ username: 'hmi', password: await hashPassword('right') }],
    authBackoff: { maxFailures: 3, banMs: 60_000 },
  });
  for (let i = 0; i < 3; i++) {
    await assert.rejects(mqtt.connectAsync(rig.url, { reconnectPeriod: 0, clientId: `guess-${i}`, username: 'hmi', password: `wrong-${i}` }));
  }
  await waitUntil(async () => (await metricValue(rig.deps.registry, 'gatehouse_mqtt_auth_bans_total', { scope: 'address' })) === 1, 'the address banned');
  // closed at accept: no HTTP answer, no upgrade
  await assert.rejects(raw(t, rig.url, 'mqtt'), /socket hang up|ECONNRESET/);
  // and on the TCP listener: the same address (closed well before connectTimeoutMs)
  const tcp = netConnect(rig.broker.addresses()[0]!.port, '127.0.0.1');
  t.after(() => tcp.destroy());
  tcp.on('error', () => undefined);
  await waitForEvent(tcp, 'close', 2000);
  assert.ok((await metricValue(rig.deps.registry, 'gatehouse_mqtt_auth_banned_attempts_total')) >= 2);
});

test('a ping flood from a client that reads nothing: pongs are bounded by the socket, the connection still serves MQTT', async (t) => {
  const rig = await start(t);
  // a hand-made client (ws's own resumes its socket): the upgrade, then frames masked with a zero key
  const sock = netConnect(rig.port, '127.0.0.1');
  t.after(() => sock.destroy());
  await waitForEvent(sock, 'connect');
  sock.write(
    'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n',
  );
  let seen = Buffer.alloc(0);
  const onData = (d: Buffer): void => {
    seen = Buffer.concat([seen, d]);
  };
  sock.on('data', onData);
  await waitUntil(() => seen.includes('\r\n\r\n'), 'the 101');
  assert.match(seen.toString('latin1'), /^HTTP\/1\.1 101 /);
  sock.removeListener('data', onData);
  sock.pause();
  const frame = (opcode: number, payload: Buffer): Buffer => Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
  // 600,000 pings of 125 bytes: 76 MB of pongs if each were answered into a socket nobody reads
  // (more than loopback's socket buffers hold: up to 32 + 4 MB with Debian's tcp_rmem/tcp_wmem)
  const N = 600_000;
  const ping = frame(0x9, Buffer.alloc(125, 1));
  for (let i = 0; i < N; i += 1000) sock.write(Buffer.concat(Array.from({ length: 1000 }, () => ping)));
  sock.write(frame(0x2, connectPacket('after-pings')));
  // every ping sent (the broker read them all) while this client still reads nothing
  if (sock.writableLength > 0) await waitForEvent(sock, 'drain', 60_000);
  // read it all now: pongs (0x8a) up to the CONNACK, which comes after every pong written before it
  let buf = Buffer.alloc(0);
  let pongs = 0;
  const connack = new Promise<Buffer>((resolve) => {
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf[1]! & 0x7f; // the server's frames here are all under 126 bytes, unmasked
        if (buf.length < 2 + len) break;
        const op = buf[0]! & 0x0f;
        const body = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        if (op === 0xa) pongs++;
        else if (op === 0x2) resolve(Buffer.from(body));
      }
    });
  });
  sock.resume();
  assert.deepEqual(await withTimeout(connack, 60_000, 'the CONNACK after the pings'), CONNACK_OK);
  console.log(`# ${pongs} pongs for ${N} pings`);
  assert.ok(pongs < N / 2, `pongs bounded: ${pongs} for ${N} pings`);
});

test("browsers' pages: with anonymous clients allowed only listed origins connect (403 for others); with every client authenticating any origin", async (t) => {
  const open = await start(t);
  assert.equal((await raw(t, open.url, 'mqtt', 'http://evil.example')).status, 403, 'anonymous allowed, no list: a page is refused');
  const node = await raw(t, open.url, 'mqtt');
  assert.deepEqual(await mqttConnect(node.ws!, 'no-origin'), CONNACK_OK, 'a client sending no Origin is not concerned');
  assert.equal(await refused(open, 'origin'), 1);

  const listed = await start(t, {}, undefined, ['http://hmi.plant.local:8080']);
  const panel = await raw(t, listed.url, 'mqtt', 'http://HMI.plant.local:8080');
  assert.deepEqual(await mqttConnect(panel.ws!, 'panel'), CONNACK_OK, 'a listed origin (compared without case)');
  assert.equal((await raw(t, listed.url, 'mqtt', 'http://hmi.plant.local:9090')).status, 403, 'another port is another origin');

  const authed = await start(t, { allowAnonymous: false, users: [{ username: 'hmi', password: await hashPassword('right') }] });
  const page = await raw(t, authed.url, 'mqtt', 'https://dashboards.example');
  assert.ok(page.ws, 'every client authenticates: any origin may try');
});
