// The MQTT bridge destination through the site's HTTP proxy: a real tinyproxy (Debian package
// tinyproxy), a real mosquitto (the remote broker), mqtts through a TLS front with its own CA (the
// destination's caFile), real stores and exporters. How a test knows the traffic went through the
// proxy: tinyproxy logs the CONNECT of each tunnel (`CONNECT 127.0.0.1:PORT HTTP/1.1`), and with
// the proxy down nothing is exported while the broker is up.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import mqtt from 'mqtt';
import { metricValue, needBinary, waitUntil } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import { append, assertAll, openStreams, passwordFile, startExporter } from '../helpers/exporter-rig.js';
import { startTinyproxy, tinyproxySkip } from '../helpers/tinyproxy.js';
import { tlsFront } from '../helpers/tls-front.js';
import { loggedDeps } from '../helpers/logged-deps.js';
import { ID_PROPERTY } from '../../gateway/upstream/destinations/mqtt.js';

const skip = tinyproxySkip ?? needBinary('mosquitto', 'mosquitto') ?? needBinary('openssl', 'openssl');
const PASSWORD = 'mqtt-pr0xy-s3cret-QwE';

/**
 * The record of each message on up/# at the broker (a direct MQTT 5 subscriber, QoS 1): its seq in
 * the gateway's stream, from the bridge's gatehouse-id property (`<stream>:<seq>`). Closed after the test.
 */
async function subscriber(t: TestContext, url: string): Promise<() => number[]> {
  const got: number[] = [];
  const c = await mqtt.connectAsync(url, { clientId: `watch-${process.pid}`, reconnectPeriod: 100, protocolVersion: 5 });
  t.after(() => c.endAsync(true));
  c.on('message', (_topic, _payload, packet) => {
    const id = packet.properties?.userProperties?.[ID_PROPERTY];
    got.push(Number(String(id).split(':').pop()));
  });
  await c.subscribeAsync('up/#', { qos: 1 });
  return () => got;
}

const bridge = (url: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: 'mqtt',
  url,
  clientId: `gw-proxy-${process.pid}`,
  topics: [{ local: '#', remotePrefix: 'up/' }],
  reconnectMinMs: 50,
  reconnectMaxMs: 300,
  connectTimeoutMs: 3000,
  ...extra,
});

test('mqtt:// with HTTP_PROXY in the environment: the bridge connects through a CONNECT tunnel, every record arrives; the start logs the route', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const proxy = await startTinyproxy(t);
  const broker = await startMosquitto(t);
  const got = await subscriber(t, broker.url);
  const { deps, log } = loggedDeps({ env: { HTTP_PROXY: proxy.url } });
  const streams = await openStreams(t);
  await append(streams, 20);
  const exporter = await startExporter(t, streams, bridge(broker.url), deps);
  await waitUntil(() => new Set(got()).size >= 20, 'all 20 at the broker', 20_000, 20);
  assertAll(got(), 20, 'mqtt through the proxy');
  assert.ok((await proxy.requests()).includes(`CONNECT 127.0.0.1:${broker.port} HTTP/1.1`), 'tinyproxy took the CONNECT to the broker');
  assert.match(log(), new RegExp(`upstream through the proxy ${proxy.url.replace(/[.]/g, '\\.')} \\(from HTTP_PROXY\\)`));
  assert.equal(exporter.status().deadLetters, 0);
});

test('mqtts:// through a proxy with Basic credentials (network.proxy username and passwordFile): TLS inside the tunnel with the caFile; the password nowhere in log or status', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const proxy = await startTinyproxy(t, { user: { name: 'gw', password: PASSWORD } });
  const broker = await startMosquitto(t);
  const front = await tlsFront(t, broker);
  const got = await subscriber(t, broker.url);
  const { deps, log } = loggedDeps({ proxy: { url: proxy.url, username: 'gw', passwordFile: await passwordFile(t, PASSWORD) }, env: {} });
  const streams = await openStreams(t);
  await append(streams, 10);
  // The front's certificate names localhost and 127.0.0.1: the host name is the servername checked inside the tunnel.
  const exporter = await startExporter(t, streams, bridge(`mqtts://localhost:${front.port}`, { caFile: front.ca }), deps);
  await waitUntil(() => new Set(got()).size >= 10, 'all 10 at the broker', 20_000, 20);
  assertAll(got(), 10, 'mqtts through the proxy');
  assert.ok((await proxy.requests()).includes(`CONNECT localhost:${front.port} HTTP/1.1`), 'tinyproxy took the CONNECT to the TLS front');
  assert.ok(!JSON.stringify(exporter.status()).includes(PASSWORD), 'the password is not in the status');
  assert.ok(!log().includes(PASSWORD), 'the password is not in the log');
  assert.match(log(), /through the proxy http:\/\/127\.0\.0\.1:\d+ as user gw \(from network\.proxy\.url\)/);
});

test('a proxy refusing the credentials (407): records held as GH_UPSTREAM_PROXY, one log line a minute, nothing dead-lettered; delivered once the credentials are right', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const proxy = await startTinyproxy(t, { user: { name: 'gw', password: PASSWORD } });
  const broker = await startMosquitto(t);
  const got = await subscriber(t, broker.url);
  const { deps, log } = loggedDeps({ proxy: { url: `http://gw:wrong-password@127.0.0.1:${proxy.port}` }, env: {} });
  const streams = await openStreams(t);
  await append(streams, 5);
  const exporter = await startExporter(t, streams, bridge(broker.url), deps);
  // Several reconnects refused (reconnectMaxMs 300): each through the proxy, each refused.
  await waitUntil(async () => (await proxy.requests()).filter((r) => r.startsWith('CONNECT')).length >= 4, 'several CONNECTs refused', 20_000, 20);
  await waitUntil(() => exporter.status().retries >= 3, 'sends held', 20_000, 20);
  const st = exporter.status();
  assert.equal(st.deadLetters, 0, 'nothing dead-lettered for the proxy');
  assert.equal(got().length, 0, 'nothing reached the broker');
  assert.match(JSON.stringify(st.lastError), /GH_UPSTREAM_PROXY/);
  assert.match(JSON.stringify(st.lastError), /HTTP 40[17]/);
  assert.ok(!JSON.stringify(st).includes('wrong-password'), 'the password is not in the status');
  assert.ok(
    (await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'mqtt', outcome: 'retryable', reason: 'auth' })) >= 1,
    'counted as auth, as a refused CONNECT of the HTTP destinations',
  );
  const lines = log()
    .split('\n')
    .filter((l) => l.includes('the proxy did not open the tunnel'));
  assert.equal(lines.length, 1, `one line for the refusals, not one per reconnect: ${lines.length}`);
  assert.ok(!log().includes('wrong-password'), 'the password is not in the log');
  await exporter.stop();
  // The credentials fixed (a restart with the right ones): the held records go out.
  const fixed = loggedDeps({ proxy: { url: `http://gw:${PASSWORD}@127.0.0.1:${proxy.port}` }, env: {} });
  await startExporter(t, streams, bridge(broker.url), fixed.deps);
  await waitUntil(() => new Set(got()).size >= 5, 'all 5 at the broker', 20_000, 20);
  assertAll(got(), 5, 'after the credentials were fixed');
});

test('the proxy down, then up: the bridge reconnects through it, nothing lost; NO_PROXY names the broker: direct, no CONNECT', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const proxy = await startTinyproxy(t);
  const broker = await startMosquitto(t);
  const got = await subscriber(t, broker.url);
  const { deps, log } = loggedDeps({ env: { HTTP_PROXY: proxy.url } });
  const streams = await openStreams(t);
  await append(streams, 5);
  const exporter = await startExporter(t, streams, bridge(broker.url), deps);
  await waitUntil(() => new Set(got()).size >= 5, 'the first 5', 20_000, 20);
  await proxy.down();
  await waitUntil(() => exporter.status().lastError !== undefined, 'the connection lost with the proxy', 20_000, 20);
  await append(streams, 10);
  // Held while the proxy is down (the broker is up: the gateway has no other way out here).
  await waitUntil(() => /GH_UPSTREAM_PROXY/.test(JSON.stringify(exporter.status().lastError)), 'GH_UPSTREAM_PROXY while the proxy is down', 20_000, 20);
  assert.equal(new Set(got()).size, 5, 'nothing went out while the proxy was down');
  await proxy.up();
  await waitUntil(() => new Set(got()).size >= 15, 'all 15 after the proxy came back', 20_000, 20);
  assertAll(got(), 15, 'proxy down then up');
  assert.equal(exporter.status().deadLetters, 0);
  assert.match(log(), /unreachable/);
  await exporter.stop();

  // NO_PROXY matching the broker: direct, the proxy takes no CONNECT for it.
  const before = (await proxy.requests()).length;
  const seen = got().length;
  const direct = loggedDeps({ env: { HTTP_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.1' } });
  const other = await openStreams(t);
  await append(other, 5);
  await startExporter(t, other, bridge(broker.url, { clientId: `gw-direct-${process.pid}` }), direct.deps);
  await waitUntil(() => got().length >= seen + 5, 'the 5 of the direct exporter', 20_000, 20);
  assert.equal((await proxy.requests()).length, before, 'no CONNECT for a broker NO_PROXY names');
  assert.match(direct.log(), /upstream direct \(127\.0\.0\.1:\d+ matches '127\.0\.0\.1' of NO_PROXY/);
});

test("mqtts:// to an IP address through the proxy: the broker certificate is checked against that address inside the tunnel; without caFile held with a hint naming caFile (the broker's fault, not the proxy's)", {
  skip,
  timeout: 60_000,
}, async (t) => {
  const proxy = await startTinyproxy(t);
  const broker = await startMosquitto(t);
  // A certificate for the address alone, and the proxy named localhost: the check must be against the broker's address, not the proxy's host.
  const front = await tlsFront(t, broker, 'IP:127.0.0.1');
  const got = await subscriber(t, broker.url);
  const { deps } = loggedDeps({ env: { HTTPS_PROXY: `http://localhost:${proxy.port}` } });
  const streams = await openStreams(t);
  await append(streams, 5);
  const untrusted = await startExporter(t, streams, bridge(`mqtts://127.0.0.1:${front.port}`), deps);
  await waitUntil(() => /certificate/i.test(JSON.stringify(untrusted.status().lastError)), 'a certificate error', 20_000, 20);
  const st = JSON.stringify(untrusted.status().lastError);
  assert.doesNotMatch(st, /GH_UPSTREAM_PROXY/, 'the proxy let the tunnel through: not its fault');
  assert.match(st, /caFile/);
  assert.equal(got().length, 0);
  await untrusted.stop();
  // The front's certificate names 127.0.0.1 (an IP SAN): checked against the address, through the tunnel.
  await startExporter(t, streams, bridge(`mqtts://127.0.0.1:${front.port}`, { caFile: front.ca }), deps);
  await waitUntil(() => new Set(got()).size >= 5, 'all 5 at the broker', 20_000, 20);
  assertAll(got(), 5, 'mqtts to an IP address through the proxy');
  assert.ok((await proxy.requests()).includes(`CONNECT 127.0.0.1:${front.port} HTTP/1.1`));
});

test("a proxy whose rules forbid the broker's port (403, tinyproxy's ConnectPort): held as GH_UPSTREAM_PROXY naming ConnectPort; through a proxy allowing the port, delivered", {
  skip,
  timeout: 60_000,
}, async (t) => {
  const broker = await startMosquitto(t);
  const strict = await startTinyproxy(t, { connectPorts: [443] });
  const allowing = await startTinyproxy(t, { connectPorts: [443, broker.port] });
  const got = await subscriber(t, broker.url);
  const streams = await openStreams(t);
  await append(streams, 5);
  const refused = await startExporter(t, streams, bridge(broker.url, { proxy: strict.url }), loggedDeps({ env: {} }).deps);
  await waitUntil(() => /HTTP 403/.test(JSON.stringify(refused.status().lastError)), 'the 403', 20_000, 20);
  const st = refused.status();
  assert.match(JSON.stringify(st.lastError), /GH_UPSTREAM_PROXY.*ConnectPort/);
  assert.equal(st.deadLetters, 0);
  assert.equal(got().length, 0);
  await refused.stop();
  await startExporter(t, streams, bridge(broker.url, { proxy: allowing.url }), loggedDeps({ env: {} }).deps);
  await waitUntil(() => new Set(got()).size >= 5, 'all 5 at the broker', 20_000, 20);
  assertAll(got(), 5, 'through the proxy allowing the port');
  assert.ok((await allowing.requests()).includes(`CONNECT 127.0.0.1:${broker.port} HTTP/1.1`));
});

test('a proxy that takes the connection and never answers the CONNECT: each connect ends at connectTimeoutMs, its socket closed (none left open), records held, then delivered through a working proxy', {
  skip,
  timeout: 60_000,
}, async (t) => {
  // A stand-in for a hung proxy (no real one hangs on demand): a TCP server that reads and never answers.
  const open = new Set<Socket>();
  let accepted = 0;
  const hung = createServer((s) => {
    accepted++;
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => undefined);
    s.resume(); // reads (and drops) the CONNECT: a paused socket would never see the client's end
  });
  hung.listen(0, '127.0.0.1');
  await once(hung, 'listening');
  t.after(() => {
    for (const s of open) s.destroy();
    return new Promise<void>((r) => hung.close(() => r()));
  });
  const hungUrl = `http://127.0.0.1:${(hung.address() as { port: number }).port}`;
  const broker = await startMosquitto(t);
  const got = await subscriber(t, broker.url);
  const streams = await openStreams(t);
  await append(streams, 5);
  const stuck = await startExporter(
    t,
    streams,
    bridge(broker.url, { proxy: hungUrl, connectTimeoutMs: 300, reconnectMaxMs: 100 }),
    loggedDeps({ env: {} }).deps,
  );
  await waitUntil(() => accepted >= 4, 'several connects to the hung proxy', 20_000, 20);
  assert.ok(open.size <= 2, `the timed-out tunnels' sockets are closed (${open.size} open after ${accepted} connects)`);
  assert.equal(stuck.status().deadLetters, 0);
  assert.equal(got().length, 0);
  await stuck.stop();
  await waitUntil(() => open.size === 0, 'no socket left to the hung proxy after the stop', 5000, 20);
  const proxy = await startTinyproxy(t);
  await startExporter(t, streams, bridge(broker.url, { proxy: proxy.url }), loggedDeps({ env: {} }).deps);
  await waitUntil(() => new Set(got()).size >= 5, 'all 5 at the broker', 20_000, 20);
  assertAll(got(), 5, 'after the hung proxy');
});
