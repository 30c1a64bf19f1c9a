// Upstream MQTT over WebSocket to a broker reached by its IPv6 address: an aedes broker behind a
// WebSocket server listening on ::1 only, the gateway's bridge (ws://[::1]:port, directly and
// through a proxy on [::1]) and an MQTT source subscribed there. The other upstreams on [::1]
// (http, kinesis, s3, mqtt://, mqtts://, nats://, the control channel, the proxy) were tried by hand
// and needed nothing (README.md, "IPv6 sites"). Skips only where the machine has no IPv6 loopback.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { tempDir, waitUntil } from '../helpers/index.js';
import { checkConfigText } from '../helpers/check-config.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { main } from '../../gateway/cli/main.js';
import { type GatewayProcess, jsonWatcher, startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { noIpv6Loopback } from '../helpers/ipv6.js';
import { startTinyproxy, tinyproxySkip } from '../helpers/tinyproxy.js';
import mqtt from 'mqtt';

const noV6 = await noIpv6Loopback();

/** An MQTT 3.1.1 broker (aedes) served over WebSocket on [::1]: its port, and every publish its clients made. */
async function wsBrokerOnV6(t: TestContext): Promise<{ port: number; published: Array<{ client: string; topic: string }>; broker: Aedes }> {
  const broker = await Aedes.createBroker();
  const published: Array<{ client: string; topic: string }> = [];
  broker.on('publish', (p, c) => {
    if (c) published.push({ client: c.id, topic: p.topic });
  });
  const wss = new WebSocketServer({ host: '::1', port: 0 });
  wss.on('connection', (socket) => broker.handle(createWebSocketStream(socket)));
  await once(wss, 'listening');
  t.after(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    await new Promise<void>((r) => broker.close(() => r()));
  });
  return { port: (wss.address() as { port: number }).port, published, broker };
}

test('the MQTT bridge and an MQTT source over ws://[::1]:port (mqtt.js built ws://::1:port/: Invalid URL, and the gateway did not start)', {
  skip: noV6,
}, async (t) => {
  const peer = await wsBrokerOnV6(t);
  const dir = await tempDir(t);
  const url = `ws://[::1]:${peer.port}`;
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}
streams: { up: { maxBytes: 16777216 } }
rules:
  version: 1
  rules:
    - { name: up, sql: "SELECT * FROM 'fleet/#'", actions: [{ stream: { name: up } }] }
    - { name: cmd, sql: "SELECT * FROM 'down/cmd/#'", actions: [{ republish: { topic: 'local/\${topic(3)}', qos: 1 } }] }
exporters:
  - { name: bridge, stream: up, destination: { type: mqtt, url: "${url}", clientId: gw-bridge, protocolVersion: 4 } }
sources:
  - { name: cloud, type: mqtt, url: "${url}", clientId: gw-cloud, topics: [{ filter: "cmd/#", localPrefix: "down/" }] }
`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const watcher = await jsonWatcher(t, gw, 'local/#');
  const device = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'dev', reconnectPeriod: 0 });
  t.after(() => device.endAsync(true));
  await device.publishAsync('fleet/d1/engine', JSON.stringify({ temp: 96.5 }), { qos: 1 });
  await waitUntil(() => peer.published.some((p) => p.client === 'gw-bridge' && p.topic === 'fleet/d1/engine'), 'the record bridged over ws://[::1]', 15_000);
  // the source subscribed over ws://[::1]: a message published there reaches the gateway's rules
  // (republished locally; published again until the source's subscription is in place)
  await waitUntil(
    async () => {
      await new Promise<void>((r) =>
        peer.broker.publish({ cmd: 'publish', topic: 'cmd/valve', payload: Buffer.from('{"open":true}'), qos: 1, retain: false, dup: false }, () => r()),
      );
      return watcher.got.some(([topic]) => topic === 'local/valve');
    },
    'the command from ws://[::1] on the local broker',
    15_000,
    500,
  );
  assert.deepEqual(watcher.got.find(([topic]) => topic === 'local/valve')?.[1], { open: true });
});

/** A gateway process whose MQTT bridge goes to `url` through the proxy at `proxyUrl`, with one record published to it. */
async function bridgeThroughProxy(t: TestContext, url: string, proxyUrl: string): Promise<GatewayProcess> {
  const dir = await tempDir(t);
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}
streams: { up: { maxBytes: 16777216 } }
rules: { version: 1, rules: [{ name: up, sql: "SELECT * FROM 'fleet/#'", actions: [{ stream: { name: up } }] }] }
exporters:
  - { name: bridge, stream: up, destination: { type: mqtt, url: "${url}", clientId: gw-bridge, protocolVersion: 4, proxy: "${proxyUrl}" } }
`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const device = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'dev', reconnectPeriod: 0 });
  t.after(() => device.endAsync(true));
  await device.publishAsync('fleet/d1/engine', JSON.stringify({ temp: 96.5 }), { qos: 1 });
  return gw;
}

test('the MQTT bridge over ws://[::1]:port through the HTTP proxy: CONNECT [::1]:port, then the WebSocket upgrade', {
  skip: noV6 ?? tinyproxySkip,
}, async (t) => {
  const peer = await wsBrokerOnV6(t);
  const proxy = await startTinyproxy(t);
  await bridgeThroughProxy(t, `ws://[::1]:${peer.port}/mqtt`, proxy.url);
  await waitUntil(() => peer.published.some((p) => p.client === 'gw-bridge' && p.topic === 'fleet/d1/engine'), 'the record bridged through the proxy', 15_000);
  assert.ok((await proxy.requests()).includes(`CONNECT [::1]:${peer.port} HTTP/1.1`), (await proxy.requests()).join('\n'));
});

test('an IPv6 address written into a URL without brackets is refused by check-config, each saying how to write it (the OPC UA endpoint passed and failed at every connect)', async (t) => {
  const config = `
admin: { enabled: false }
control: { upstream: { url: "mqtt://fd00::30:1883" } }
sources:
  - { name: ua, type: opcua, endpoint: "opc.tcp://fd00::10:4840/UA", subscriptions: [{ items: [{ nodeId: "ns=1;s=a", name: a }] }] }
  - { name: src, type: mqtt, url: "mqtts://fd00::30:8883", clientId: y, topics: [{ filter: "a/#" }] }
`;
  const first = await checkConfigText(t, config);
  assert.equal(first.code, 1);
  for (const want of [
    "control.upstream.url: an IPv6 address in a URL goes in brackets: 'mqtt://[fd00::30]:1883'",
    "sources.0.endpoint: an IPv6 address in a URL goes in brackets: 'opc.tcp://[fd00::10]:4840/UA'",
    "sources.1.url: an IPv6 address in a URL goes in brackets: 'mqtts://[fd00::30]:8883'",
  ])
    assert.ok(first.err.includes(want), `${want}\n${first.err}`);
  const destinations = await checkConfigText(
    t,
    `
admin: { enabled: false }
exporters:
  - { name: h, stream: archive, destination: { type: http, url: "http://fd00::20:8080/firehose" } }
  - { name: k, stream: archive, destination: { type: kinesis, streamName: s, endpoint: "http://::1:4567" } }
  - { name: m, stream: archive, destination: { type: mqtt, url: "mqtt://fd00::30", clientId: x } }
  - { name: n, stream: archive, destination: { type: nats, servers: ["nats://fd00::40:4222", "fd00::41:4222"] } }
`,
  );
  assert.equal(destinations.code, 1);
  for (const want of [
    "exporters.0.destination.url: an IPv6 address in a URL goes in brackets: 'http://[fd00::20]:8080/firehose'",
    "exporters.1.destination.endpoint: an IPv6 address in a URL goes in brackets: 'http://[::1]:4567'",
    "exporters.2.destination.url: an IPv6 address in a URL goes in brackets: 'mqtt://[fd00::30]'",
    "exporters.3.destination.servers.0: an IPv6 address in a URL goes in brackets: 'nats://[fd00::40]:4222'",
    "exporters.3.destination.servers.1: an IPv6 address in a URL goes in brackets: '[fd00::41]:4222'",
  ])
    assert.ok(destinations.err.includes(want), `${want}\n${destinations.err}`);
});

test('gatehouse simulate mqtt --url ws://[::1]:port sends its devices there (mqtt.js: Invalid URL)', { skip: noV6 }, async (t) => {
  const peer = await wsBrokerOnV6(t);
  const r = await runCaptured(main, ['simulate', 'mqtt', '--url', `ws://[::1]:${peer.port}`, '--devices', '2', '--rate', '10', '--count', '4']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /sent 4, acked 4, errors 0/);
  await waitUntil(() => peer.published.length === 4, 'the 4 publishes at the broker');
});

test('a CONNECT to an IPv6 address the proxy refuses names it as [addr]:port in the exporter status (it read ::1:9)', {
  skip: noV6 ?? tinyproxySkip,
}, async (t) => {
  const proxy = await startTinyproxy(t, { connectPorts: [443] });
  const gw = await bridgeThroughProxy(t, 'ws://[::1]:9/mqtt', proxy.url);
  const said = await waitUntil(
    async () => {
      const body = JSON.stringify(await (await fetch(`${gw.adminUrl}/api/streams`)).json());
      return /GH_UPSTREAM_PROXY/.test(body) ? body : undefined;
    },
    "the proxy's refusal in the exporter status",
    15_000,
  );
  assert.match(said, /refused \[::1\]:9: HTTP 403/, said);
});
