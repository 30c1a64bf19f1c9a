// Issue #12 item 4, "v5 everywhere data goes", end to end on the real gateway: a v5 publish's
// properties reach the rules (get_mqtt_property, get_user_properties), the republish action sets
// properties from AWS-style `headers` templates, the stored record keeps them, the MQTT bridge
// sends them upstream as v5 properties (to mosquitto), and /api/clients shows protocol versions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt, { type IPublishPacket } from 'mqtt';
import { needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';

const v5 = { protocolVersion: 5 as const, reconnectPeriod: 0, connectTimeout: 5000 };

test('v5 properties through rules, republish headers, the store and the MQTT bridge; /api/clients shows versions', {
  skip: needBinary('mosquitto', 'mosquitto'),
  timeout: 90_000,
}, async (t) => {
  const peer = await startMosquitto(t);
  const dir = await tempDir(t);
  const config = {
    dataDir: join(dir, 'data'),
    streams: { up: { maxBytes: 16 * 1024 * 1024 } },
    rules: {
      version: 1,
      rules: [
        { name: 'to_up', sql: "SELECT * FROM 'dev/+/data'", actions: [{ stream: { name: 'up' } }] },
        {
          name: 'props',
          sql: "SELECT get_mqtt_property('content_type') AS ct, get_mqtt_property('format_indicator') AS fi, get_user_properties('site') AS site, get_mqtt_property('response_topic') AS rt FROM 'dev/+/data'",
          actions: [
            {
              republish: {
                topic: 'seen/${topic(2)}',
                qos: 1,
                headers: {
                  payloadFormatIndicator: 'UTF8_DATA',
                  contentType: 'application/json',
                  responseTopic: 'reply/${topic(2)}',
                  correlationData: "${get_mqtt_property('correlation_data')}",
                  messageExpiry: '120',
                  userProperties: [
                    { key: 'origin', value: '${clientid()}' },
                    { key: 'rule', value: 'props' },
                  ],
                },
              },
            },
          ],
        },
      ],
    },
    exporters: [
      {
        name: 'bridge',
        stream: 'up',
        destination: { type: 'mqtt', url: peer.url, clientId: 'gh-v5-bridge', topics: [{ local: 'dev/+/data', stripPrefix: 'dev/', remotePrefix: 'cloud/' }] },
        batch: { maxRecords: 10, lingerMs: 20 },
      },
    ],
  };
  const gw = await startGatewayProcess(await writeConfig(dir, JSON.stringify(config)));
  t.after(() => gw.kill9());

  // upstream subscriber (v5) on mosquitto, local subscriber (v5) on the gateway
  const cloud = await mqtt.connectAsync(peer.url, { ...v5, clientId: 'cloud-sub' });
  t.after(() => cloud.end(true));
  const upstream: IPublishPacket[] = [];
  cloud.on('message', (_t, _p, packet) => upstream.push(packet));
  await cloud.subscribeAsync('cloud/#', { qos: 1 });
  const local = await mqtt.connectAsync(gw.mqttUrl, { ...v5, clientId: 'local-sub' });
  t.after(() => local.end(true));
  const seen: IPublishPacket[] = [];
  local.on('message', (_t, _p, packet) => seen.push(packet));
  await local.subscribeAsync('seen/#', { qos: 1 });

  const dev = await mqtt.connectAsync(gw.mqttUrl, { ...v5, clientId: 'dev-7' });
  t.after(() => dev.end(true));
  const old = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0, clientId: 'dev-311' });
  t.after(() => old.end(true));
  await dev.publishAsync('dev/7/data', '{"t":21.5}', {
    qos: 1,
    properties: {
      contentType: 'application/json',
      payloadFormatIndicator: true,
      responseTopic: 'dev/7/reply',
      correlationData: Buffer.from('req-42'),
      userProperties: { site: 'north' },
    },
  });

  // rules saw the properties (SELECT output), republish set its headers
  await waitUntil(() => seen.length >= 1, 'the republished message', 10_000);
  const r = seen[0]!;
  assert.deepEqual(JSON.parse(r.payload.toString()), { ct: 'application/json', fi: 'UTF8_DATA', site: ['north'], rt: 'dev/7/reply' });
  assert.equal(r.properties?.contentType, 'application/json');
  assert.equal(r.properties?.payloadFormatIndicator, true);
  assert.equal(r.properties?.responseTopic, 'reply/7');
  assert.equal(Buffer.from(r.properties!.correlationData!).toString(), 'req-42');
  assert.ok((r.properties?.messageExpiryInterval ?? 0) > 0 && r.properties!.messageExpiryInterval! <= 120);
  assert.deepEqual({ ...r.properties?.userProperties }, { origin: 'dev-7', rule: 'props' });

  // the stored record kept them, and the bridge sent them upstream as v5 properties
  await waitUntil(() => upstream.length >= 1, 'the bridged record upstream', 15_000);
  const u = upstream[0]!;
  assert.equal(u.topic, 'cloud/7/data');
  assert.equal(u.properties?.contentType, 'application/json');
  assert.equal(u.properties?.responseTopic, 'dev/7/reply');
  assert.equal(Buffer.from(u.properties!.correlationData!).toString(), 'req-42');
  assert.equal((u.properties!.userProperties as Record<string, string>).site, 'north');
  assert.match(String((u.properties!.userProperties as Record<string, string>)['gatehouse-id']), /^up:\d+$/);

  // /api/clients: each client's protocol version
  const res = (await (await fetch(`${gw.adminUrl}/api/clients`)).json()) as { clients: Array<{ id: string; protocolVersion: number }> };
  const versions = Object.fromEntries(res.clients.map((c) => [c.id, c.protocolVersion]));
  assert.equal(versions['dev-7'], 5);
  assert.equal(versions['dev-311'], 4);
  assert.equal(await gw.stop(), 0);
});
