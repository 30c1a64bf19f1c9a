// The MQTT source facing a faulty upstream broker (Debian's mosquitto, real sources, real stores):
// - a broker that refuses the CONNECT (wrong password): lastError says so and what to check, not
//   only mqtt.js' "Connection refused: Not authorized";
// - a broker that goes away: the status says since when the source has had no connection (the
//   last error's time moves at each reconnect attempt), and nothing once it is back;
// - a URL that names no MQTT broker (an HTTP port, a plain port with mqtts://, a server that never
//   answers the CONNECT, a port nothing listens on, a host that does not resolve): lastError says
//   which and what to check, not only mqtt-packet's "Invalid header flag bits, must be 0x0 for
//   puback packet", "connack timeout" or Node's "connect ECONNREFUSED";
// - a connection dropped as soon as it is up, again and again (here: a message the store refuses at
//   every redelivery): the reconnect backoff grows to reconnectMaxMs instead of starting over at each
//   CONNACK, which reconnected (and had the broker redeliver, and the rules run again) ~15 times a
//   second with the default reconnectMinMs.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import { userInfo } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import mqtt from 'mqtt';
import { freePort, metricValue, needBinary, tempDir, testDeps, waitUntil, which } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import { storeIntake } from '../helpers/store-intake.js';
import { subscribed } from '../helpers/mqtt-source-rig.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { mqttSourceSchema } from '../../gateway/pipeline/sources/mqtt/options.js';
import { MqttSubscribeSource } from '../../gateway/pipeline/sources/mqtt/source.js';

const skip = needBinary('mosquitto', 'mosquitto') ?? needBinary('mosquitto_passwd', 'mosquitto');

/** mosquitto that takes user gw with password 'right' only. */
async function passwordMosquitto(t: TestContext): Promise<string> {
  const dir = await tempDir(t, 'gatehouse-msrc-auth-');
  const port = await freePort(t);
  await writeFile(join(dir, 'pw'), '');
  execFileSync(which('mosquitto_passwd')!, ['-b', join(dir, 'pw'), 'gw', 'right']);
  const conf = join(dir, 'm.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous false\npassword_file ${join(dir, 'pw')}\nuser ${userInfo().username}\n`);
  const child = spawn(which('mosquitto')!, ['-c', conf], { stdio: 'ignore' });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  });
  return `mqtt://127.0.0.1:${port}`;
}

async function source(t: TestContext, options: Record<string, unknown>) {
  const deps = testDeps();
  const dir = await tempDir(t);
  const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 'down', maxBytes: 1 << 26, onFull: 'reject' });
  const intake = storeIntake(store, 'down', 'cloud');
  const s = new MqttSubscribeSource(mqttSourceSchema.parse({ type: 'mqtt', name: 'cloud', clientId: 'gh-faults', topics: [{ filter: 'cmd/#' }], ...options }), {
    ...deps,
    dataDir: dir,
  });
  t.after(() => s.stop());
  await s.start(intake);
  return { source: s, intake, registry: deps.registry };
}

for (const protocolVersion of [4, 5] as const) {
  test(`mqtt source (MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}): a CONNECT the broker refuses (wrong password) says what to check`, {
    skip,
    timeout: 30_000,
  }, async (t) => {
    const url = await passwordMosquitto(t);
    const { source: s } = await source(t, { url, username: 'gw', password: 'wrong', protocolVersion, reconnectMinMs: 100, reconnectMaxMs: 300 });
    const message = await waitUntil(() => {
      const e = (s.status().details as { lastError: { message: string } | null }).lastError;
      return e?.message;
    }, 'the refused CONNECT in lastError');
    assert.match(message, /Connection refused: (Not authorized|Bad user ?name or password)/i);
    assert.match(message, /Fix: .*username\/password/);
    assert.equal(s.status().state === 'connected', false);
  });
}

test('mqtt source: a connection dropped at once, again and again (a message refused at every redelivery), backs off to reconnectMaxMs', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const peer = await startMosquitto(t);
  const { source: s, intake, registry } = await source(t, { url: peer.url, reconnectMinMs: 50, reconnectMaxMs: 2000 });
  await subscribed(s);
  // Every append refused: the message comes back at each connection and is refused again.
  intake.failNext(1_000_000);
  const publisher = await mqtt.connectAsync(peer.url, { clientId: 'office', reconnectPeriod: 0 });
  t.after(() => publisher.endAsync(true));
  await publisher.publishAsync('cmd/valve-1', '{"open":true}', { qos: 1 });
  await waitUntil(() => (s.status().details as { refused: number }).refused >= 1, 'the message refused');
  const before = await metricValue(registry, 'gatehouse_mqtt_source_reconnects_total', { source: 'cloud' });
  // A measuring window, not a synchronisation: how often the source reconnects in 4 s.
  await delay(4000);
  const reconnects = (await metricValue(registry, 'gatehouse_mqtt_source_reconnects_total', { source: 'cloud' })) - before;
  // Backoff 50 ms doubling to 2 s (full jitter): about 8 in 4 s. Before, it started over at each
  // CONNACK: every reconnect within 50 ms, 50-70 in 4 s.
  assert.ok(reconnects <= 25, `${reconnects} reconnects in 4 s`);
  assert.ok(reconnects >= 1, 'it keeps reconnecting');
  const d = s.status().details as { refused: number; lastError: { message: string } };
  assert.match(d.lastError.message, /refused \(test: append refused\)/);
});

test('mqtt source: while the broker is down the status says since when there is no connection; once back, nothing', { skip, timeout: 60_000 }, async (t) => {
  const peer = await startMosquitto(t);
  const { source: s } = await source(t, { url: peer.url, reconnectMinMs: 50, reconnectMaxMs: 100 });
  await subscribed(s);
  const details = () => s.status().details as { downSince: string | null; lastError: { at: string } | null };
  assert.equal(details().downSince, null);
  await peer.down();
  const since = await waitUntil(() => details().downSince, 'the source without a connection');
  const firstError = await waitUntil(() => details().lastError?.at, 'a failed reconnect');
  await waitUntil(() => details().lastError!.at !== firstError, 'another failed reconnect');
  // The errors' time moves with each attempt; the outage's start does not.
  assert.equal(details().downSince, since);
  assert.notEqual(s.status().state, 'connected');
  await peer.up();
  await subscribed(s);
  assert.equal(details().downSince, null);
});

/** A TCP server that answers every read with an HTTP response (`http`) or says nothing at all. */
async function notABroker(t: TestContext, http: boolean): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
    sock.on('close', () => sockets.delete(sock));
    if (http) sock.on('data', () => sock.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
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
  return typeof addr === 'object' && addr ? addr.port : 0;
}

test('mqtt source: a URL that names no MQTT broker says what to check (an HTTP port, mqtts:// on a plain port, no CONNACK)', {
  timeout: 30_000,
}, async (t) => {
  const http = await notABroker(t, true);
  const silent = await notABroker(t, false);
  const closed = await freePort(t);
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    // A mistyped port or a broker not running: Node's 'connect ECONNREFUSED ...' alone, before.
    [`mqtt://127.0.0.1:${closed}`, {}, /ECONNREFUSED 127\.0\.0\.1:\d+\. Fix: nothing takes connections at the host and port of url: check them/],
    // A host name that does not resolve (.invalid never does: RFC 6761).
    ['mqtt://broker.example.invalid:1883', {}, /(ENOTFOUND|EAI_AGAIN).*\. Fix: the host name in url does not resolve: check url and the gateway's DNS/],
    [`mqtt://127.0.0.1:${http}`, {}, /Fix: what answers at url does not speak MQTT \(an HTTP or TLS port\?\)/],
    [`mqtts://127.0.0.1:${http}`, { rejectUnauthorized: false }, /Fix: the server does not answer in TLS: use mqtt:\/\/ for a plain port/],
    [
      `mqtt://127.0.0.1:${silent}`,
      { connectTimeoutMs: 300 },
      /connack timeout\. Fix: the server took the connection but sent no CONNACK within connectTimeoutMs/,
    ],
  ];
  for (const [url, extra, fix] of cases) {
    const { source: s } = await source(t, { url, reconnectMinMs: 100, reconnectMaxMs: 300, ...extra });
    const message = await waitUntil(() => (s.status().details as { lastError: { message: string } | null }).lastError?.message, `an error for ${url}`);
    assert.match(message, fix, url);
    await s.stop();
  }
});
