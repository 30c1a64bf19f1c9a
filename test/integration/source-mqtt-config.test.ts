// What a user meets configuring an MQTT source (`sources: [{ type: mqtt }]`), through the real
// `gatehouse check-config` (the schema `start` loads with): a URL the source could not connect to
// as meant (a port out of range, a port that is not a number, which mqtt.js silently replaced by
// 1883, port 0) is refused with its key, not met at start as a bare Node error or a connection to
// another broker; and credentials in the URL never reach the status, whatever they hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { checkConfigText } from '../helpers/check-config.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { tempDir, testDeps } from '../helpers/index.js';
import { mqttSourceSchema } from '../../gateway/pipeline/sources/mqtt/options.js';
import { MqttSubscribeSource } from '../../gateway/pipeline/sources/mqtt/source.js';

const config = (url: string): string => `
broker: { listeners: [{ host: 127.0.0.1, port: 0 }] }
admin: { enabled: false }
sources:
  - type: mqtt
    name: cloud
    url: ${JSON.stringify(url)}
    clientId: site1-gatehouse-down
    topics: [{ filter: "cmd/site1/#", stripPrefix: "cmd/site1/", localPrefix: "downlink/" }]
streams: { commands: { maxBytes: 16777216, localOnly: true } }
rules: { version: 1, rules: [{ name: log, sql: "SELECT * FROM 'downlink/#'", actions: [{ stream: { name: commands } }] }] }
`;

test('mqtt source: a URL with a port out of range, not a number or 0 is refused by check-config, naming sources.0.url', async (t) => {
  for (const url of ['mqtt://127.0.0.1:99999', 'mqtt://127.0.0.1:abc', 'mqtts://broker.example:8883x', 'mqtt://127.0.0.1:0']) {
    const r = await checkConfigText(t, config(url));
    assert.equal(r.code, 1, `${url}: ${r.out}`);
    assert.match(r.err, /sources\.0\.url/, url);
    assert.match(r.err, /port/, url);
  }
  for (const url of [
    'mqtt://127.0.0.1:1883',
    'mqtt://[::1]:1883',
    'mqtts://a1b2c3-ats.iot.eu-west-1.amazonaws.com:8883',
    'wss://broker.example/mqtt',
    'mqtt://u:s@h',
  ]) {
    const r = await checkConfigText(t, config(url));
    assert.equal(r.code, 0, `${url}: ${r.err}`);
  }
});

test('mqtt source: a URL without its scheme is one problem, the scheme to write, not a second one about its port', async (t) => {
  const r = await checkConfigText(t, config('127.0.0.1:1883'));
  assert.equal(r.code, 1, r.out);
  assert.match(r.err, /\(1 problem\)/, r.err);
  assert.match(r.err, /sources\.0\.url: must be mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/ followed by a host/);
  assert.doesNotMatch(r.err, /the port must be a number/);
});

test("mqtt source: a subscription with qos: 2 (Telegraf's, Node-RED's option) is refused saying QoS is 0 or 1 and why", async (t) => {
  const r = await checkConfigText(t, config('mqtt://127.0.0.1:1883').replace('topics: [{ filter: "cmd/site1/#"', 'topics: [{ qos: 2, filter: "cmd/site1/#"'));
  assert.equal(r.code, 1, r.out);
  // Before: 'Invalid input: expected 0 (found number 2)', as if 0 were the only QoS.
  assert.match(r.err, /sources\.0\.topics\.0\.qos: the subscription QoS is 0 or 1: QoS 1 already acknowledges each message only once it is committed/);
});

test('mqtt source: a stripPrefix with a wildcard (it would never match a topic name) is refused, naming the key', async (t) => {
  const r = await checkConfigText(t, config('mqtt://127.0.0.1:1883').replace('stripPrefix: "cmd/site1/"', 'stripPrefix: "cmd/+/"'));
  assert.equal(r.code, 1, r.out);
  // Before: accepted, and every topic kept its whole remote prefix (downlink/cmd/site1/...).
  assert.match(r.err, /sources\.0\.topics\.0\.stripPrefix: must not contain '\+' or '#'/);
});

test('mqtt source: credentials in the URL are not shown in its status, also a password with an @ in it', () => {
  for (const [url, shown] of [
    ['mqtt://user:p@ss@broker.example:1883', 'mqtt://broker.example:1883'],
    ['mqtt://user:secret@broker.example:1883', 'mqtt://broker.example:1883'],
    ['mqtts://broker.example:8883', 'mqtts://broker.example:8883'],
  ] as const) {
    const s = new MqttSubscribeSource(mqttSourceSchema.parse({ type: 'mqtt', name: 'cloud', url, clientId: 'gw', topics: [{ filter: 'cmd/#' }] }), {
      ...testDeps(),
      dataDir: '/nonexistent',
    });
    assert.equal((s.status().details as { url: string }).url, shown);
  }
});

test('mqtt source: sessionExpirySec with MQTT 3.1.1 (not sent: the broker decides) is a warning of check-config and a log line of start, once', async (t) => {
  const withExpiry = (extra: string) => config('mqtt://127.0.0.1:1').replace('clientId: site1-gatehouse-down', `clientId: site1-gatehouse-down${extra}`);
  const warned =
    /warning: MQTT source 'cloud': sessionExpirySec 3600 is not sent with protocolVersion 4 \(MQTT 3\.1\.1 has no session expiry\).* \(at sources\.0\.sessionExpirySec\)\. Fix: set protocolVersion: 5/;
  const r = await checkConfigText(t, withExpiry('\n    sessionExpirySec: 3600'));
  assert.equal(r.code, 0, r.err);
  // Before: nothing said, and the session lasted what the broker decided (AWS IoT: 1 hour).
  assert.match(r.err, warned);
  // Not when it is left out, nor with MQTT 5 (sent in the CONNECT).
  for (const extra of ['', '\n    protocolVersion: 5\n    sessionExpirySec: 3600']) {
    const ok = await checkConfigText(t, withExpiry(extra));
    assert.equal(ok.code, 0, ok.err);
    assert.doesNotMatch(ok.err, /sessionExpirySec/);
  }

  // start: logged once (warn), with the fix.
  const dir = await tempDir(t);
  const file = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n${withExpiry('\n    sessionExpirySec: 3600')}`);
  const gw = await startGatewayProcess(file);
  t.after(() => gw.kill9());
  const lines = gw.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('sessionExpirySec 3600 is not sent'));
  assert.equal(lines.length, 1, JSON.stringify(lines));
  assert.equal(lines[0]!.level, 40);
  assert.match(String(lines[0]!.fix), /set protocolVersion: 5/);
});
