// Upstream end to end, mqtt destination: the real gateway (child process) bridges to mosquitto as
// the cloud broker (Debian package mosquitto); a persistent-session mqtt.js subscriber on
// mosquitto reads what arrives. Real mqtt.js publishers on the gateway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { needBinary } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import {
  GatewayHandle,
  Publisher,
  STREAM,
  assertFirstSeenOrder,
  e2eConfig,
  exporterStatus,
  mqttSink,
  outageAndKill9,
  waitDeadLetters,
  publishAroundPoison,
} from '../helpers/upstream-e2e.js';

const skip = needBinary('mosquitto', 'mosquitto');

async function setup(t: TestContext, exporter: Record<string, unknown> = {}) {
  const peer = await startMosquitto(t);
  const sink = await mqttSink(t, peer.url, 'cloud/#');
  const destination = {
    type: 'mqtt',
    url: peer.url,
    clientId: 'gh-e2e-bridge',
    reconnectMinMs: 50,
    reconnectMaxMs: 500,
    ackTimeoutMs: 3000,
    // Only device data is mapped; anything else in the stream is UNMAPPED (a permanent error).
    topics: [{ local: 'dev/+/data', stripPrefix: 'dev/', remotePrefix: 'cloud/' }],
  };
  const extraRules = [{ name: 'other', sql: "SELECT * FROM 'other/#'", actions: [{ stream: { name: STREAM } }] }];
  const gw = new GatewayHandle(await e2eConfig(t, { destination, exporter, extraRules }), t);
  await gw.start();
  return { peer, sink, gw, pub: new Publisher() };
}

test('mqtt e2e: complete, per-device order, record ids as user properties; an unmapped topic is dead-lettered without blocking', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const { sink, gw, pub } = await setup(t);
  await publishAroundPoison(sink, gw.current.mqttUrl, pub, 100, 'other/x');
  assert.ok(
    sink.ids.every((id) => /^up:\d+$/.test(id)),
    'every bridged message carries gatehouse-id <stream>:<seq>',
  );
  const dl = await waitDeadLetters(gw.current, 1);
  assert.equal(dl[0]!.topic, 'other/x');
  assert.match(dl[0]!.attrs?.error ?? '', /mapping|UNMAPPED|map/i);
  assert.equal((await exporterStatus(gw.current)).deadLetters, 1);
  assert.equal(await gw.stop(), 0);
});

test('mqtt e2e: mosquitto down mid-stream and back, then kill -9 mid-export: every acknowledged record arrives', { skip, timeout: 90_000 }, async (t) => {
  const { peer, sink, gw, pub } = await setup(t, { bandwidthKbps: 200 });
  const r = await outageAndKill9(t, gw, peer, sink, pub);
  assert.equal(r.tally.missing.length, 0);
  assertFirstSeenOrder(await sink.read());
  assert.equal(await gw.stop(), 0);
});
