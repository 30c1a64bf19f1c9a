// Upstream end to end, s3 destination: the real gateway (child process) writes one NDJSON object
// per batch to s3rver (in this process, objects in a temp dir); objects are listed and read back.
// Real mqtt.js publishers on the gateway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { startS3rver } from '../helpers/peers.js';
import {
  GatewayHandle,
  Publisher,
  assertFirstSeenOrder,
  e2eConfig,
  exporterStatus,
  s3Sink,
  outageAndKill9,
  waitDeadLetters,
  publishAroundPoison,
} from '../helpers/upstream-e2e.js';

async function setup(t: TestContext, exporter: Record<string, unknown> = {}) {
  const peer = await startS3rver(t, ['archive']);
  const destination = {
    type: 's3',
    bucket: 'archive',
    endpoint: peer.url,
    forcePathStyle: true,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    requestTimeoutMs: 5000,
    maxRecordBytes: 1024,
    keyTemplate: '!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/{stream}-{firstSeq}-{lastSeq}.ndjson',
  };
  const gw = new GatewayHandle(await e2eConfig(t, { destination, exporter }), t);
  await gw.start();
  const sink = await s3Sink(t, peer.url, 'archive');
  return { peer, sink, gw, pub: new Publisher() };
}

test('s3 e2e: complete, per-device order, ids and time-partitioned keys; an oversized record is dead-lettered without blocking', {
  timeout: 90_000,
}, async (t) => {
  const { sink, gw, pub } = await setup(t);
  await publishAroundPoison(sink, gw.current.mqttUrl, pub, 4000);
  const now = new Date();
  const day = `${now.getUTCFullYear()}/${String(now.getUTCMonth() + 1).padStart(2, '0')}/`;
  assert.ok(
    sink.keys().every((k) => k.startsWith(`gatehouse/${day}`) && /\/up-\d+-\d+\.ndjson$/.test(k)),
    `keys: ${sink.keys().slice(0, 3).join(', ')}`,
  );
  const ids = sink.lines().map((l) => l.id as string);
  assert.equal(new Set(ids).size, ids.length, 'each record id once');
  assert.ok(ids.every((id) => /^up:\d+$/.test(id)));
  const dl = await waitDeadLetters(gw.current, 1);
  assert.match(dl[0]!.attrs?.error ?? '', /exceeds the destination limit/);
  assert.equal((await exporterStatus(gw.current)).deadLetters, 1);
  assert.equal(await gw.stop(), 0);
});

test('s3 e2e: s3rver down mid-stream and back, then kill -9 mid-export: every acknowledged record arrives', { timeout: 90_000 }, async (t) => {
  const { peer, sink, gw, pub } = await setup(t, { bandwidthKbps: 200 });
  const r = await outageAndKill9(t, gw, peer, sink, pub);
  assert.equal(r.tally.missing.length, 0);
  assertFirstSeenOrder(await sink.read());
  assert.equal(await gw.stop(), 0);
});
