// Upstream end to end, nats destination: the real gateway (child process) publishes to a real
// `nats-server -js` (Debian package nats-server) with Nats-Msg-Id; the JetStream stream is read
// back with an ordered consumer. Real mqtt.js publishers on the gateway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { needBinary } from '../helpers/index.js';
import { startNats } from '../helpers/peers.js';
import {
  GatewayHandle,
  Publisher,
  assertFirstSeenOrder,
  e2eConfig,
  exporterStatus,
  natsSink,
  outageAndKill9,
  waitDeadLetters,
  publishAroundPoison,
} from '../helpers/upstream-e2e.js';

const skip = needBinary('nats-server', 'nats-server');

async function setup(t: TestContext, exporter: Record<string, unknown> = {}) {
  const peer = await startNats(t);
  const destination = {
    type: 'nats',
    servers: peer.url,
    subject: 'gatehouse.{stream}.{key}',
    stream: 'GH',
    createStream: true,
    reconnectWaitMs: 100,
    ackTimeoutMs: 2000,
    maxRecordBytes: 1024,
  };
  const gw = new GatewayHandle(await e2eConfig(t, { destination, exporter }), t);
  await gw.start();
  const sink = await natsSink(t, peer.url, 'GH');
  return { peer, sink, gw, pub: new Publisher() };
}

test('nats e2e: complete, per-device order, Nats-Msg-Id = <installation>:<stream>:<seq>; an oversized record is dead-lettered without blocking', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const { sink, gw, pub } = await setup(t);
  await publishAroundPoison(sink, gw.current.mqttUrl, pub, 4000);
  const ids = await sink.ids();
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(ids.every((id) => /^[0-9a-f]{16}:up:\d+$/.test(id)));
  // One installation id: the gateway's, kept in its data dir.
  assert.equal(new Set(ids.map((id) => id.split(':')[0])).size, 1);
  const dl = await waitDeadLetters(gw.current, 1);
  assert.match(dl[0]!.attrs?.error ?? '', /exceeds the destination limit/);
  assert.equal((await exporterStatus(gw.current)).deadLetters, 1);
  assert.equal(await gw.stop(), 0);
});

test('nats e2e: nats-server down mid-stream and back, then kill -9 mid-export: every acknowledged record arrives', { skip, timeout: 90_000 }, async (t) => {
  const { peer, sink, gw, pub } = await setup(t, { bandwidthKbps: 200 });
  const r = await outageAndKill9(t, gw, peer, sink, pub);
  assert.equal(r.tally.missing.length, 0);
  // JetStream drops resends within its duplicate window (Nats-Msg-Id): none should be stored twice.
  assert.equal(r.tally.duplicates, 0, 'JetStream deduplicated the resends');
  assertFirstSeenOrder(await sink.read());
  assert.equal(await gw.stop(), 0);
});
