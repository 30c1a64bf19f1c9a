// Upstream end to end, http destination: the real gateway (child process) exports to the
// Firehose-protocol receiver (a real HTTP server written for the tests: Firehose has no local
// implementation). Real mqtt.js publishers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import {
  GatewayHandle,
  Publisher,
  assertExactPerPartitionOrder,
  assertFirstSeenOrder,
  e2eConfig,
  exporterStatus,
  outageAndKill9,
  receiverSink,
  tally,
  waitAllArrived,
  waitDeadLetters,
} from '../helpers/upstream-e2e.js';

test('http e2e: complete and in per-device order; a 413 record is isolated and dead-lettered, 503s retried with the same request id', {
  timeout: 90_000,
}, async (t) => {
  const rx = await startFirehoseReceiver({ accessKey: 'k-e2e' });
  t.after(() => rx.close());
  // Any request carrying a poison record is refused as too large (permanent, no per-record verdict).
  rx.rejectWhen((recs) => recs.some((r) => r.includes('"poison":true')), 413);
  const gw = new GatewayHandle(await e2eConfig(t, { destination: { type: 'http', url: rx.url, accessKey: 'k-e2e' } }), t);
  await gw.start();
  const pub = new Publisher();
  rx.failNext(2, 503);
  await pub.publish(gw.current.mqttUrl, 150);
  await pub.poison(gw.current.mqttUrl, 500);
  await pub.publish(gw.current.mqttUrl, 150);

  const sink = receiverSink(rx);
  const done = await waitAllArrived(sink, pub.acked);
  const dl = await waitDeadLetters(gw.current, 1);
  assert.equal(dl.length, 1);
  assert.match(dl[0]!.payload ?? '', /"poison":true/);
  assert.match(dl[0]!.attrs?.error ?? '', /413/);
  assert.equal(dl[0]!.attrs?.sourceStream, 'up');
  assert.equal(done.poison, 0, 'the poison record was never accepted');
  // The 503s were retried with the same request id, then accepted (a deduplicating receiver keeps one copy).
  const failed = rx.requests.filter((r) => r.status === 503);
  assert.equal(failed.length, 2);
  assert.ok(
    rx.accepted.some((r) => r.requestId === failed[0]!.requestId),
    'the retry of a 503 kept its request id',
  );
  assert.equal(rx.uniqueRecords().length, pub.acked.length, 'a deduplicating receiver sees each record once');
  // Exact per-device order: a failing batch (503 resent whole, 413 split in halves) holds back the
  // records behind it, so nothing overtakes.
  assertExactPerPartitionOrder(await sink.read(), pub);
  const st = await exporterStatus(gw.current);
  assert.equal(st.deadLetters, 1);
  assert.equal(st.exportedRecords, pub.acked.length);
  t.diagnostic(`records ${pub.acked.length}, requests ${rx.totalRequests}, accepted ${rx.acceptedRequests}, dead letters ${st.deadLetters}`);
  assert.equal(await gw.stop(), 0);
});

test('http e2e: receiver down mid-stream and back, then kill -9 mid-export: every acknowledged record arrives', { timeout: 90_000 }, async (t) => {
  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  // 200 kbit/s of payload keeps the backlog draining for a few seconds, so the kill lands mid-export.
  const gw = new GatewayHandle(await e2eConfig(t, { destination: { type: 'http', url: rx.url, timeoutMs: 3000 }, exporter: { bandwidthKbps: 200 } }), t);
  await gw.start();
  const pub = new Publisher();
  const sink = receiverSink(rx);
  const r = await outageAndKill9(t, gw, rx, sink, pub);
  assert.equal(r.tally.missing.length, 0);
  assertFirstSeenOrder(await sink.read());
  assert.equal(tally(await sink.read(), pub.acked).unique, pub.acked.length);
  assert.equal(await gw.stop(), 0);
});
