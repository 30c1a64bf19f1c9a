// MQTT over WebSockets (broker.listeners[].protocol: websockets) in a real gateway with real
// mqtt.js clients, MQTT 3.1.1 and 5, over ws:// and wss:// (a certificate made by openssl): a QoS 1
// publish is acknowledged once its record is in the store; messages flow between WebSocket and TCP
// clients both ways; users and the ACL hold over WebSockets; the publish rate limit slows a
// WebSocket flooder by backpressure and drops nothing; the gateway's stop closes WebSocket clients.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pino from 'pino';
import type { Registry } from 'prom-client';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { hashPassword } from '../../gateway/broker/index.js';
import { runningStatus } from '../../gateway/runtime/service-status.js';
import { metricValue, needBinary, tempDir, waitForEvent, waitUntil } from '../helpers/index.js';
import { readAll } from '../helpers/store-intake.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';

interface Rig {
  gw: Gateway;
  registry: Registry;
  tcp: string;
  ws: string;
  wss: string | undefined;
  ca: string | undefined;
  logs: Array<{ msg: string }>;
}

const PASSWORD = 'correct horse';

async function startGw(t: TestContext, brokerYaml: string, withTls: boolean): Promise<Rig> {
  const d = await tempDir(t);
  const tls = withTls ? opensslSelfSigned(d) : undefined;
  const hash = await hashPassword(PASSWORD);
  const file = join(d, 'g.yaml');
  await writeFile(
    file,
    `gatewayId: websockets\ndataDir: ${JSON.stringify(join(d, 'data'))}\nexporters: []\ncontrol: { enabled: false }\nbroker:\n` +
      '  allowAnonymous: false\n' +
      `  users:\n    - { username: device, password: '${hash}' }\n    - { username: browser, password: '${hash}' }\n` +
      '  acl:\n    users:\n      device: [{ topic: "#" }]\n' +
      '      browser: [{ topic: "data/hmi/#", access: readwrite }, { topic: "data/plant/#", access: read }]\n' +
      '  listeners:\n    - { host: 127.0.0.1, port: 0 }\n    - { host: 127.0.0.1, port: 0, protocol: websockets }\n' +
      (tls ? `    - { host: 127.0.0.1, port: 0, protocol: websockets, path: /mqtt, tls: { cert: '${tls.cert}', key: '${tls.key}' } }\n` : '') +
      brokerYaml +
      `rules: { version: 1, rules: [{ name: keep, sql: "SELECT * FROM 'data/#'", actions: [{ stream: { name: archive } }] }] }\n`,
  );
  const config = await loadConfig(file, { adminPort: 0 });
  const registry = createMetricsRegistry('test', 'websockets');
  const logs: Rig['logs'] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s) as Rig['logs'][number]) });
  const gw = await startGateway(config, { logger, registry, version: 'test' });
  t.after(() => gw.stop());
  const [tcp, ws, wss] = gw.broker.addresses();
  return {
    gw,
    registry,
    logs,
    tcp: `mqtt://127.0.0.1:${tcp!.port}`,
    ws: `ws://127.0.0.1:${ws!.port}`,
    wss: wss ? `wss://localhost:${wss.port}/mqtt` : undefined,
    ca: tls ? await readFile(tls.cert, 'utf8') : undefined,
  };
}

async function connect(t: TestContext, url: string, clientId: string, protocolVersion: 4 | 5, more: IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { clientId, protocolVersion, reconnectPeriod: 0, connectTimeout: 10_000, keepalive: 30, password: PASSWORD, ...more });
  t.after(() => c.endAsync(true));
  return c;
}

const nextMessage = (c: MqttClient, topic: string): Promise<string> =>
  new Promise((resolve) => {
    const on = (t: string, payload: Buffer): void => {
      if (t !== topic) return;
      c.removeListener('message', on);
      resolve(payload.toString());
    };
    c.on('message', on);
  });

for (const version of [4, 5] as const) {
  const name = version === 5 ? 'MQTT 5' : 'MQTT 3.1.1';

  test(`${name} over ws:// and wss://: PUBACK once stored, WebSocket <-> TCP both ways, users and ACL, listed as ws/wss, closed by the stop`, {
    skip: needBinary('openssl', 'openssl'),
  }, async (t) => {
    const rig = await startGw(t, '', true);
    assert.match(runningStatus(rig.gw), /running: MQTT on mqtt:\/\/127\.0\.0\.1:\d+, ws:\/\/127\.0\.0\.1:\d+, wss:\/\/127\.0\.0\.1:\d+\/mqtt/);
    const device = await connect(t, rig.tcp, `device-${version}`, version, { username: 'device' });
    const browser = await connect(t, rig.ws, `browser-${version}`, version, { username: 'browser' });
    const info = rig.gw.broker.clients().find((c) => c.id === `browser-${version}`)!;
    assert.deepEqual([info.listener, info.ip, info.user, info.protocolVersion], ['ws', '127.0.0.1', 'browser', version]);

    // QoS 1 over WebSockets: acknowledged only once the record is committed
    await device.subscribeAsync('data/hmi/#', { qos: 1 });
    const atDevice = nextMessage(device, 'data/hmi/setpoint');
    for (let i = 0; i < 5; i++) {
      await browser.publishAsync('data/hmi/setpoint', `{"sp":${i}}`, { qos: 1 });
      assert.equal(rig.gw.streams.info('archive').lastSeq, i + 1, 'the record is stored when the PUBACK arrives');
    }
    assert.equal(await atDevice, '{"sp":0}', 'the TCP subscriber got the WebSocket publish');

    // TCP -> WebSocket
    await browser.subscribeAsync('data/plant/#', { qos: 1 });
    const atBrowser = nextMessage(browser, 'data/plant/temp');
    await device.publishAsync('data/plant/temp', '21.5', { qos: 1 });
    assert.equal(await atBrowser, '21.5');

    // the ACL over WebSockets: a publish to a read-only topic is not stored (MQTT 5: PUBACK 0x87;
    // 3.1.1: the connection is closed, as over TCP)
    let hmi = browser;
    if (version === 5) {
      await assert.rejects(browser.publishAsync('data/plant/temp', 'forged', { qos: 1 }), /135|Not authorized/i);
    } else {
      const gone = waitForEvent(browser, 'close', 10_000);
      browser.publish('data/plant/temp', 'forged', { qos: 1 });
      await gone;
      hmi = await connect(t, rig.ws, `browser-${version}`, version, { username: 'browser' });
    }
    // a subscription outside the ACL is refused (SUBACK 0x80 / 0x87: mqtt.js rejects it)
    await assert.rejects(hmi.subscribeAsync('data/secret/#', { qos: 1 }), /Subscribe error/);
    await hmi.publishAsync('data/hmi/ack', 'after', { qos: 1 });
    const stored = (await readAll(rig.gw.streams, 'archive')).map((r) => `${r.topic} ${r.payload.toString()}`);
    assert.ok(!stored.includes('data/plant/temp forged'), 'the forged publish was not stored');
    assert.equal(stored.at(-1), 'data/hmi/ack after');

    // a wrong password over WebSockets is refused as over TCP
    await assert.rejects(
      mqtt.connectAsync(rig.ws, { clientId: `intruder-${version}`, protocolVersion: version, username: 'browser', password: 'guess', reconnectPeriod: 0 }),
      /Bad username or password|not authorized|Connection refused/i,
    );

    // wss:// on its path with the certificate's CA
    const secure = await connect(t, rig.wss!, `secure-${version}`, version, { username: 'browser', ca: rig.ca!, servername: 'localhost' });
    await secure.publishAsync('data/hmi/secure', 'tls', { qos: 1 });
    assert.equal(rig.gw.streams.info('archive').lastSeq, 8);
    assert.equal(rig.gw.broker.clients().find((c) => c.id === `secure-${version}`)?.listener, 'wss');
    const listening = rig.logs.find((l) => l.msg === 'MQTT broker listening') as { listeners?: Array<{ name: string; protocol: string }> } | undefined;
    assert.deepEqual(
      listening?.listeners?.map((l) => `${l.name} ${l.protocol}`),
      ['mqtt mqtt', 'ws websockets', 'wss websockets'],
      'the start log names each listener and its transport',
    );

    // the gateway's stop closes the WebSocket clients
    const closed = Promise.all([waitForEvent(hmi, 'close', 10_000), waitForEvent(secure, 'close', 10_000)]);
    await rig.gw.stop();
    await closed;
  });

  test(`${name} over ws://: the publish rate limit slows a WebSocket flooder by backpressure, every message delivered`, async (t) => {
    const RATE = 400;
    const rig = await startGw(t, `  maxPublishRatePerClient: ${RATE}\n  maxPublishBytesPerSecPerClient: 0\n  publishRateBurstSeconds: 0.25\n`, false);
    const device = await connect(t, rig.tcp, `sub-${version}`, version, { username: 'device' });
    const got: string[] = [];
    device.on('message', (topic, payload) => {
      if (topic === 'data/hmi/flood') got.push(payload.toString());
    });
    await device.subscribeAsync('data/hmi/#', { qos: 1 });
    const flooder = await connect(t, rig.ws, `flooder-${version}`, version, { username: 'browser' });
    const N = 1200;
    const t0 = performance.now();
    for (let i = 0; i < N; i++) flooder.publish('data/hmi/flood', String(i), { qos: 0 });
    await waitUntil(() => rig.gw.broker.clients().find((c) => c.id === `flooder-${version}`)?.throttled, 'the WebSocket flooder shown throttled', 20_000);
    await waitUntil(() => got.length >= N, 'every flood message delivered', 60_000);
    const ms = performance.now() - t0;
    assert.deepEqual(
      got,
      Array.from({ length: N }, (_, i) => String(i)),
      'every QoS 0 message delivered once, in order',
    );
    const minMs = ((N - RATE * 0.25 - 1) / RATE) * 1000;
    assert.ok(ms >= minMs * 0.95, `flood took ${ms.toFixed(0)} ms, the limit allows no less than ${minMs.toFixed(0)} ms`);
    assert.ok((await metricValue(rig.registry, 'gatehouse_mqtt_client_throttled_total')) >= 1);
    await waitUntil(() => rig.gw.streams.info('archive').lastSeq >= N, 'every flood message stored', 20_000);
    console.log(`# ${name} over ws: ${N} QoS 0 at ${RATE}/s took ${ms.toFixed(0)} ms (min ${minMs.toFixed(0)})`);
  });
}
