// What a user meets configuring the MQTT bridge and NATS destinations, through the real
// `gatehouse check-config` (the schema `start` loads with): a broker URL the bridge could not
// connect to as meant (a port that is not a number, which mqtt.js silently replaces by 1883; one
// out of range; port 0; a scheme that is not MQTT) and topic mappings no broker accepts (a local
// filter with '#' in the middle, a remote prefix holding a wildcard: every publish would fail and
// be retried forever) are refused with their key. And credentials in a URL never reach the
// destination's target (status, logs, metrics labels), also a password holding an '@'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { checkConfigText, exporterConfigText } from '../helpers/check-config.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { tempDir, testDeps } from '../helpers/index.js';
import { createMqttBridgeDestination, mqttBridgeOptionsSchema } from '../../gateway/upstream/destinations/mqtt.js';
import { createNatsDestination, natsOptionsSchema } from '../../gateway/upstream/destinations/nats.js';

const config = (destination: string): string => exporterConfigText(destination, 'bridge');

test('mqtt bridge: a URL with a port that is not a number, out of range or 0, or another scheme, is refused naming exporters.0.destination.url', async (t) => {
  for (const url of [
    'mqtt://127.0.0.1:abc',
    'mqtt://127.0.0.1:99999',
    'mqtts://broker.example:8883x',
    'mqtt://127.0.0.1:0',
    'htp://127.0.0.1:1883',
    '127.0.0.1:1883',
  ]) {
    const r = await checkConfigText(t, config(`{ type: mqtt, url: ${JSON.stringify(url)}, clientId: site1 }`));
    assert.equal(r.code, 1, `${url}: ${r.out}`);
    assert.match(r.err, /exporters\.0\.destination\.url|destination\.url/, `${url}: ${r.err}`);
  }
  for (const url of [
    'mqtt://127.0.0.1:1883',
    'mqtt://[::1]:1883',
    'mqtts://a1b2c3-ats.iot.eu-west-1.amazonaws.com:8883',
    'wss://broker.example/mqtt',
    'mqtt://u:s@h',
  ]) {
    const r = await checkConfigText(t, config(`{ type: mqtt, url: ${JSON.stringify(url)}, clientId: site1 }`));
    assert.equal(r.code, 0, `${url}: ${r.err}`);
  }
});

test('mqtt bridge: a local filter with # before its end, or a wildcard in remotePrefix or stripPrefix, is refused with its key', async (t) => {
  for (const [map, key] of [
    ['{ local: "fleet/#/data" }', /topics\.0\.local/],
    ['{ local: "fleet/+x/data" }', /topics\.0\.local/],
    ['{ local: "fleet/#", remotePrefix: "site+/" }', /topics\.0\.remotePrefix/],
    ['{ local: "fleet/#", remotePrefix: "site/#/" }', /topics\.0\.remotePrefix/],
    ['{ local: "fleet/#", stripPrefix: "fleet/+/" }', /topics\.0\.stripPrefix/],
  ] as const) {
    const r = await checkConfigText(t, config(`{ type: mqtt, url: "mqtt://127.0.0.1:1883", clientId: site1, topics: [${map}] }`));
    assert.equal(r.code, 1, `${map}: ${r.out}`);
    assert.match(r.err, key, `${map}: ${r.err}`);
  }
  for (const topics of [
    '[{ local: "fleet/+/data", stripPrefix: "fleet/", remotePrefix: "site1/telemetry/" }]',
    '[{ local: "#" }]',
    '[{ local: "alerts/#", remotePrefix: "site1/" }]',
  ]) {
    const r = await checkConfigText(t, config(`{ type: mqtt, url: "mqtt://127.0.0.1:1883", clientId: site1, topics: ${topics} }`));
    assert.equal(r.code, 0, `${topics}: ${r.err}`);
  }
});

test('mqtt bridge and nats: credentials in the URL are not in the target, also a password with an @ in it', () => {
  for (const [url, shown] of [
    ['mqtt://user:p@ss@broker.example:1883', 'mqtt://broker.example:1883'],
    ['mqtt://user:secret@broker.example:1883', 'mqtt://broker.example:1883'],
    ['mqtts://broker.example:8883', 'mqtts://broker.example:8883'],
  ] as const) {
    const d = createMqttBridgeDestination(mqttBridgeOptionsSchema.parse({ url, clientId: 'site1' }), testDeps());
    assert.equal(d.target, `mqtt:${shown} (site1)`);
    assert.doesNotMatch(d.target, /ss@|secret|user/);
  }
  for (const [url, shown] of [
    ['nats://user:p@ss@hub.example:4222', 'nats://hub.example:4222'],
    ['nats://tok3n@hub.example:4222', 'nats://hub.example:4222'],
    ['u:p@ss@hub.example:4222', 'hub.example:4222'],
  ] as const) {
    const d = createNatsDestination(natsOptionsSchema.parse({ servers: [url], stream: 'GH' }), testDeps());
    assert.equal(d.target, `nats:${shown}/GH`);
  }
});

test('nats: a server URL whose port is not a number or out of range, or whose scheme is not NATS, is refused naming exporters.0.destination.servers', async (t) => {
  for (const servers of ['"nats://127.0.0.1:abc"', '["nats://hub:4222", "nats://127.0.0.1:99999"]', '"htp://127.0.0.1:4222"', '"nats://127.0.0.1:0"']) {
    const r = await checkConfigText(t, config(`{ type: nats, servers: ${servers}, stream: GH }`));
    assert.equal(r.code, 1, `${servers}: ${r.out}`);
    assert.match(r.err, /exporters\.0\.destination\.servers/, `${servers}: ${r.err}`);
  }
  for (const servers of ['"nats://127.0.0.1:4222"', '["tls://hub.example:4222", "hub2.example:4222"]', '"nats://u:p@hub"', '"ws://hub.example:8080"']) {
    const r = await checkConfigText(t, config(`{ type: nats, servers: ${servers}, stream: GH }`));
    assert.equal(r.code, 0, `${servers}: ${r.err}`);
  }
});

test('mqtt bridge: sessionExpirySec with protocolVersion 4 (not sent: the broker decides) is a warning of check-config and a log line of start, once', async (t) => {
  const bridge = (extra: string): string => config(`{ type: mqtt, url: "mqtt://127.0.0.1:1", clientId: site1${extra} }`);
  const warned =
    /warning: MQTT destination of exporter 'bridge': sessionExpirySec 3600 is not sent with protocolVersion 4 \(MQTT 3\.1\.1 has no session expiry\).* \(at exporters\.0\.destination\.sessionExpirySec\)\. Fix: set protocolVersion: 5/;
  const r = await checkConfigText(t, bridge(', protocolVersion: 4, sessionExpirySec: 3600'));
  assert.equal(r.code, 0, r.err);
  // Before: nothing said, and the session lasted what the broker decided.
  assert.match(r.err, warned);
  // Not when it is left out, nor with MQTT 5 (the bridge's default: sent in the CONNECT).
  for (const extra of ['', ', protocolVersion: 4', ', sessionExpirySec: 3600', ', protocolVersion: 5, sessionExpirySec: 3600']) {
    const ok = await checkConfigText(t, bridge(extra));
    assert.equal(ok.code, 0, ok.err);
    assert.doesNotMatch(ok.err, /sessionExpirySec/, extra);
  }

  // start: logged once (warn), with the fix.
  const dir = await tempDir(t);
  const file = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n${bridge(', protocolVersion: 4, sessionExpirySec: 3600')}`);
  const gw = await startGatewayProcess(file);
  t.after(() => gw.kill9());
  const lines = gw.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('sessionExpirySec 3600 is not sent'));
  assert.equal(lines.length, 1, JSON.stringify(lines));
  assert.equal(lines[0]!.level, 40);
  assert.match(String(lines[0]!.fix), /set protocolVersion: 5/);
});

test("mqtt bridge to this gateway's own broker is a warning of check-config: with protocolVersion 4 each record goes round for ever, with 5 it is stored twice", async (t) => {
  const own = (url: string, extra = '', listener = '127.0.0.1'): string =>
    config(`{ type: mqtt, url: ${JSON.stringify(url)}, clientId: site1${extra} }`).replace(
      'listeners: [{ host: 127.0.0.1, port: 0 }]',
      `listeners: [{ host: ${JSON.stringify(listener)}, port: 1883 }], allowAnonymous: false`,
    );
  // Before: OK without a word, and one publish came back through the rules every second, for ever.
  const v4 = await checkConfigText(t, own('mqtt://127.0.0.1:1883', ', protocolVersion: 4'));
  assert.equal(v4.code, 0, v4.err);
  assert.match(
    v4.err,
    /warning: MQTT destination of exporter 'bridge' publishes to this gateway's own broker \(listener mqtt 127\.0\.0\.1:1883\): with protocolVersion 4 .*goes round for ever \(at exporters\.0\.destination\.url\)\. Fix: point url at the upstream broker/,
  );
  const v5 = await checkConfigText(t, own('mqtt://localhost'));
  assert.match(v5.err, /own broker \(listener mqtt 127\.0\.0\.1:1883\): each record comes back through the rules once, so every message is stored twice/);
  // A listener on every address answers on loopback too.
  assert.match((await checkConfigText(t, own('mqtt://127.0.0.1:1883', '', '0.0.0.0'))).err, /own broker \(listener mqtt 0\.0\.0\.0:1883\)/);
  // Another port, another host: no warning.
  for (const url of ['mqtt://127.0.0.1:1884', 'mqtt://broker.example:1883', 'mqtts://127.0.0.1:8883']) {
    const r = await checkConfigText(t, own(url));
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.err, /own broker/, url);
  }
});

test("a rule's mqtt action gets the bridge's warnings: sessionExpirySec with protocolVersion 4, and a url on this gateway's own broker", async (t) => {
  const rule = (mqtt: string, where = 'actions: [{ mqtt: MQTT }]'): string => `
broker: { listeners: [{ host: 127.0.0.1, port: 1883 }], allowAnonymous: false }
admin: { enabled: false }
rules: { version: 1, rules: [{ name: up, sql: "SELECT * FROM 'fleet/#'", ${where.replace('MQTT', mqtt)} }] }
exporters: []
`;
  // Before: OK without a word (start logged the session expiry once; the loop over 3.1.1 went round for ever).
  const expiry = await checkConfigText(t, rule('{ url: "mqtt://broker.example:1883", clientId: site1, protocolVersion: 4, sessionExpirySec: 3600 }'));
  assert.equal(expiry.code, 0, expiry.err);
  assert.match(
    expiry.err,
    /warning: MQTT action of rule 'up': sessionExpirySec 3600 is not sent with protocolVersion 4 \(MQTT 3\.1\.1 has no session expiry\).* \(at rule up, actions\[0\]\.mqtt\.sessionExpirySec\)\. Fix: set protocolVersion: 5/,
  );
  // Not with MQTT 5 (the default), nor when it is left out.
  for (const extra of ['', ', protocolVersion: 4', ', sessionExpirySec: 3600']) {
    const ok = await checkConfigText(t, rule(`{ url: "mqtt://broker.example:1883", clientId: site1${extra} }`));
    assert.equal(ok.code, 0, ok.err);
    assert.doesNotMatch(ok.err, /warning/, extra);
  }
  const own = await checkConfigText(
    t,
    rule('{ url: "mqtt://127.0.0.1:1883", clientId: site1, protocolVersion: 4 }', 'actions: [{ republish: { topic: x } }], errorAction: { mqtt: MQTT }'),
  );
  assert.equal(own.code, 0, own.err);
  assert.match(
    own.err,
    /warning: MQTT action of rule 'up' publishes to this gateway's own broker \(listener mqtt 127\.0\.0\.1:1883\): with protocolVersion 4 .*goes round for ever \(at rule up, errorAction\.mqtt\.url\)\. Fix: point url at the upstream broker/,
  );
});
