// The MQTT source and the control channel through the site's HTTP proxy: a real tinyproxy, a real
// mosquitto (the office's broker), a real store behind the source (test/helpers/store-intake.ts),
// a whole gateway (in process) applying a signed rule update that came through the tunnel.
// tinyproxy's log of the CONNECT proves the connection went through it; with the proxy down the
// source gets nothing while the broker keeps the session's messages, and stores them once it is back.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import { needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import { readAll, storeIntake } from '../helpers/store-intake.js';
import { subscribed } from '../helpers/mqtt-source-rig.js';
import { loggedDeps } from '../helpers/logged-deps.js';
import { startTinyproxy, tinyproxySkip } from '../helpers/tinyproxy.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { mqttSourceSchema } from '../../gateway/pipeline/sources/mqtt/options.js';
import { MqttSubscribeSource } from '../../gateway/pipeline/sources/mqtt/source.js';
import { upstreamChannel } from '../../gateway/control/channel.js';
import { controlUpstreamSchema } from '../../gateway/control/options.js';
import type { ProxySettings } from '../../gateway/upstream/proxy.js';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { generateSigningKeys, makeEnvelope, signRuleSetBytes } from '../../gateway/control/signing.js';
import { buildUpdateDocument } from '../../gateway/control/document.js';
import type { ControlStatus } from '../../gateway/control/remote.js';
import { cliCommand, writeConfig } from '../helpers/gateway-process.js';

const skip = tinyproxySkip ?? needBinary('mosquitto', 'mosquitto');

async function sourceRig(t: TestContext, brokerUrl: string, network: ProxySettings) {
  const dir = await tempDir(t);
  const { deps, log: text } = loggedDeps(network);
  const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 'down', maxBytes: 1 << 26, onFull: 'reject' });
  const intake = storeIntake(store, 'down', 'cloud');
  const options = mqttSourceSchema.parse({
    type: 'mqtt',
    name: 'cloud',
    url: brokerUrl,
    clientId: 'gh-source-proxy',
    reconnectMinMs: 50,
    reconnectMaxMs: 300,
    topics: [{ filter: 'cloud/#', stripPrefix: 'cloud/', localPrefix: 'downlink/' }],
  });
  const source = new MqttSubscribeSource(options, { ...deps, dataDir: dir });
  t.after(() => source.stop());
  return { store, intake, source, log: text };
}

test('the MQTT source through HTTP_PROXY: messages from the remote broker stored; the proxy down then up: messages sent meanwhile stored after, none lost', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const proxy = await startTinyproxy(t);
  const broker = await startMosquitto(t);
  const { store, intake, source, log } = await sourceRig(t, broker.url, { env: { HTTP_PROXY: proxy.url } });
  const office = await mqtt.connectAsync(broker.url, { clientId: 'office', reconnectPeriod: 100 });
  t.after(() => office.endAsync(true));
  await source.start(intake);
  await subscribed(source);
  assert.ok((await proxy.requests()).includes(`CONNECT 127.0.0.1:${broker.port} HTTP/1.1`), 'the source connected through the proxy');
  assert.match(log(), /upstream through the proxy http:\/\/127\.0\.0\.1:\d+ \(from HTTP_PROXY\)/);
  for (let i = 0; i < 3; i++) await office.publishAsync(`cloud/cmd/${i}`, `c${i}`, { qos: 1 });
  await waitUntil(async () => (await readAll(store, 'down')).length >= 3, 'three stored', 10_000);

  await proxy.down();
  await waitUntil(() => source.status().state !== 'connected', 'the source lost its connection with the proxy', 10_000);
  // Sent while the gateway cannot reach its broker: queued in the source's session on the broker.
  for (let i = 3; i < 8; i++) await office.publishAsync(`cloud/cmd/${i}`, `c${i}`, { qos: 1 });
  await waitUntil(() => /GH_UPSTREAM_PROXY/.test(JSON.stringify(source.status().details)), 'GH_UPSTREAM_PROXY in the status', 10_000);
  assert.equal((await readAll(store, 'down')).length, 3, 'nothing came while the proxy was down');
  await proxy.up();
  const recs = await waitUntil(
    async () => {
      const r = await readAll(store, 'down');
      return r.length >= 8 ? r : undefined;
    },
    'all eight stored',
    20_000,
  );
  assert.deepEqual(
    [...new Set(recs.map((r) => r.payload.toString()))].sort(),
    [...Array(8).keys()].map((i) => `c${i}`),
  );
  assert.ok((await proxy.requests()).filter((r) => r.startsWith('CONNECT')).length >= 2, 'the reconnect went through the proxy too');
});

test('the MQTT source refused by the proxy (407) says GH_UPSTREAM_PROXY in its status, once in the log; NO_PROXY: direct', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const proxy = await startTinyproxy(t, { user: { name: 'gw', password: 'right-one' } });
  const broker = await startMosquitto(t);
  const refused = await sourceRig(t, broker.url, { proxy: { url: `http://gw:wrong-one@127.0.0.1:${proxy.port}` }, env: {} });
  await refused.source.start(refused.intake);
  await waitUntil(async () => (await proxy.requests()).filter((r) => r.startsWith('CONNECT')).length >= 4, 'several CONNECTs refused', 20_000);
  const details = JSON.stringify(refused.source.status().details);
  assert.match(details, /GH_UPSTREAM_PROXY.*HTTP 40[17]/);
  assert.ok(!details.includes('wrong-one') && !refused.log().includes('wrong-one'), 'the password in neither status nor log');
  assert.equal(
    refused
      .log()
      .split('\n')
      .filter((l) => l.includes('GH_UPSTREAM_PROXY')).length,
    1,
    'one log line for the refusals',
  );
  await refused.source.stop();

  const before = (await proxy.requests()).length;
  const direct = await sourceRig(t, broker.url, { env: { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } });
  await direct.source.start(direct.intake);
  await subscribed(direct.source);
  assert.equal((await proxy.requests()).length, before, 'no CONNECT for a broker NO_PROXY names');
});

test('the control channel through network.proxy: connected and subscribed through the tunnel, its messages flow both ways', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const proxy = await startTinyproxy(t);
  const broker = await startMosquitto(t);
  const network = { proxy: { url: proxy.url }, env: {} };
  const { deps, log: text } = loggedDeps(network);
  const opts = controlUpstreamSchema.parse({ url: broker.url, clientId: 'gh-control-proxy', reconnectMinMs: 100, reconnectMaxMs: 1000 });
  const channel = upstreamChannel(opts, { ...deps, gatewayId: 'gw1' });
  t.after(() => channel.stop());
  const got: string[] = [];
  channel.subscribe('gatehouse/gw1/rules/set', (_topic, payload) => got.push(payload.toString()));
  await channel.start();
  await waitUntil(() => channel.connected(), 'the control channel connected', 10_000);
  assert.ok((await proxy.requests()).includes(`CONNECT 127.0.0.1:${broker.port} HTTP/1.1`), 'through the proxy');
  assert.match(text(), /upstream through the proxy http:\/\/127\.0\.0\.1:\d+ \(from network\.proxy\.url\)/);
  const office = await mqtt.connectAsync(broker.url, { clientId: 'office-control' });
  t.after(() => office.endAsync(true));
  const heard: string[] = [];
  office.on('message', (_topic, payload) => heard.push(payload.toString()));
  await office.subscribeAsync('gatehouse/gw1/status', { qos: 1 });
  // An update from the office reaches the gateway through the tunnel (the subscription is made at connect)...
  await waitUntil(
    async () => {
      await office.publishAsync('gatehouse/gw1/rules/set', 'update-1', { qos: 1 });
      return got.includes('update-1');
    },
    'the update through the tunnel',
    10_000,
    200,
  );
  // ...and the gateway's answer reaches the office.
  await channel.publish('gatehouse/gw1/status', 'applied', { qos: 1, retain: false });
  await waitUntil(() => heard.includes('applied'), 'the status at the office', 10_000);
});

test("a gateway whose only way out is network.proxy: check-config names the MQTT source's and the control channel's routes; a signed rule update sent on the office broker is applied through the tunnel", {
  skip,
  timeout: 90_000,
}, async (t) => {
  const proxy = await startTinyproxy(t);
  const broker = await startMosquitto(t);
  const dir = await tempDir(t);
  const keys = generateSigningKeys();
  const pub = join(dir, 'ops.pub');
  await writeFile(pub, keys.publicKeyPem);
  const config = await writeConfig(
    dir,
    [
      'gatewayId: site7',
      `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
      'exporters: []',
      `network: { proxy: { url: "${proxy.url}" } }`,
      'sources:',
      `  - { type: mqtt, name: office, url: "${broker.url}", clientId: gh-office-src, topics: [{ filter: "cmd/#" }] }`,
      'control:',
      `  publicKeys: [${JSON.stringify(pub)}]`,
      `  upstream: { url: "${broker.url}", reconnectMinMs: 200 }`,
      'rules:',
      '  version: 1',
      '  rules: [{ name: keep, sql: "SELECT * FROM \'data/#\'", actions: [{ stream: { name: archive } }] }]',
      '',
    ].join('\n'),
  );
  const { cmd, args } = cliCommand();
  const checked = spawnSync(cmd, [...args, 'check-config', config], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(checked.status, 0, checked.stderr);
  const via = `through the proxy http://127\\.0\\.0\\.1:${proxy.port} \\(from network\\.proxy\\.url\\)`;
  assert.match(checked.stdout, new RegExp(`MQTT source 'office' goes ${via}`));
  assert.match(checked.stdout, new RegExp(`the control channel goes ${via}`));
  assert.doesNotMatch(checked.stderr, /connects directly/, 'no warning for MQTT connections');

  const gw = await startGateway(await loadConfig(config, { mqttPort: 0, adminPort: 0 }), {
    logger: pino({ level: 'silent' }),
    registry: createMetricsRegistry('test', 'site7'),
    version: 'test',
  });
  t.after(() => gw.stop());
  await waitUntil(() => gw.control.channel.connected(), 'the control channel connected', 15_000);
  const connects = (await proxy.requests()).filter((r) => r === `CONNECT 127.0.0.1:${broker.port} HTTP/1.1`);
  assert.ok(connects.length >= 2, `the source and the control channel each through the proxy (${connects.length} CONNECTs)`);

  const now = new Date();
  const ruleSet = {
    version: 2,
    rules: [
      { name: 'keep', sql: "SELECT * FROM 'data/#'", actions: [{ stream: { name: 'archive' } }] },
      { name: 'more', sql: "SELECT * FROM 'more/#'", actions: [{ stream: { name: 'archive' } }] },
    ],
  };
  const bytes = buildUpdateDocument({ targets: ['site7'], version: 2, issuedAt: now, expiresAt: new Date(now.getTime() + 3600_000), ruleSet });
  const office = await mqtt.connectAsync(broker.url, { clientId: 'office-ops' });
  t.after(() => office.endAsync(true));
  const statuses: ControlStatus[] = [];
  office.on('message', (_topic, payload) => statuses.push(JSON.parse(payload.toString()) as ControlStatus));
  await office.subscribeAsync('gatehouse/site7/rules/status', { qos: 1 });
  const envelope = makeEnvelope(bytes, signRuleSetBytes(bytes, keys.privateKeyPem), 'ops');
  // Sent again until applied: connected() comes at the CONNACK, the control subscription just after
  // (a first session has nothing queued for a message sent before it). A copy after the first is refused as not newer.
  await waitUntil(
    async () => {
      if (!statuses.some((st) => st.version === 2 && st.state === 'applied')) await office.publishAsync('gatehouse/site7/rules/set', envelope, { qos: 1 });
      return statuses.some((st) => st.version === 2 && st.state === 'applied');
    },
    'the update applied (status on the office broker)',
    15_000,
    500,
  );
  assert.equal(gw.rules.activeDefinition()?.version, 2);
});
