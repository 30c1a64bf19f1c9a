// Upstream end to end, kinesis destination: the real gateway (child process) exports to kinesalite
// (in this process, 2 shards); records are read back with GetRecords. Real mqtt.js publishers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { waitUntil } from '../helpers/index.js';
import { startKinesalite } from '../helpers/peers.js';
import {
  GatewayHandle,
  Publisher,
  assertFirstSeenOrder,
  e2eConfig,
  exporterStatus,
  kinesisSink,
  kinesisThrottlingProxy,
  kinesisInternalFailureProxy,
  outageAndKill9,
  waitAllArrived,
  waitDeadLetters,
  publishAroundPoison,
  STREAM,
  streamRecords,
} from '../helpers/upstream-e2e.js';

function destination(endpoint: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'kinesis', streamName: 'fleet', region: 'us-east-1', endpoint, accessKeyId: 'x', secretAccessKey: 'y', requestTimeoutMs: 5000, ...extra };
}

async function setup(t: TestContext, extra: Record<string, unknown>, exporter: Record<string, unknown> = {}) {
  const k = await startKinesalite(t);
  const sink = await kinesisSink(t, k.url, 'fleet', 2);
  const gw = new GatewayHandle(await e2eConfig(t, { destination: destination(k.url, extra), exporter }), t);
  await gw.start();
  return { k, sink, gw, pub: new Publisher() };
}

test('kinesis e2e: complete, per-device order on the shards, partition key = device; an oversized record is dead-lettered without blocking', {
  timeout: 90_000,
}, async (t) => {
  const { sink, gw, pub } = await setup(t, { maxRecordBytes: 1024 });
  await publishAroundPoison(sink, gw.current.mqttUrl, pub, 4000);
  // The default partition key is the record key the rule set (topic(2): the device), so a device
  // stays on one shard.
  const shardOf = new Map<string, string>();
  for (const r of sink.raw) {
    const d = (JSON.parse(r.data.toString()) as { d: string }).d;
    assert.equal(r.key, d, 'partition key is the device');
    assert.equal(shardOf.get(d) ?? r.shard, r.shard, `${d} stays on one shard`);
    shardOf.set(d, r.shard);
  }
  assert.ok(new Set(shardOf.values()).size >= 1);
  const dl = await waitDeadLetters(gw.current, 1);
  assert.match(dl[0]!.attrs?.error ?? '', /exceeds the destination limit/);
  assert.equal((await exporterStatus(gw.current)).deadLetters, 1);
  t.diagnostic(`records ${pub.acked.length}, shards used ${new Set(shardOf.values()).size}`);
  assert.equal(await gw.stop(), 0);
});

test('kinesis e2e: kinesalite down mid-stream and back, then kill -9 mid-export: every acknowledged record arrives', { timeout: 90_000 }, async (t) => {
  const { k, sink, gw, pub } = await setup(t, {}, { bandwidthKbps: 200 });
  const r = await outageAndKill9(t, gw, k, sink, pub);
  assert.equal(r.tally.missing.length, 0);
  assertFirstSeenOrder(await sink.read());
  assert.equal(await gw.stop(), 0);
});

test('kinesis e2e: records throttled one by one (ProvisionedThroughputExceeded) are resent once more (held, in a later batch), the rest once', {
  timeout: 90_000,
}, async (t) => {
  const k = await startKinesalite(t);
  const sink = await kinesisSink(t, k.url, 'fleet', 2);
  // Every 7th record of each device fails on its first attempt.
  const proxy = await kinesisThrottlingProxy(t, k.url, (data) => (JSON.parse(data) as { i: number }).i % 7 === 3);
  const gw = new GatewayHandle(await e2eConfig(t, { destination: destination(proxy.url) }), t);
  await gw.start();
  const pub = new Publisher();
  await pub.publish(gw.current.mqttUrl, 300);
  const done = await waitAllArrived(sink, pub.acked);
  assert.ok(proxy.failed.size > 30, `${proxy.failed.size} records were throttled`);
  assert.equal(done.duplicates, 0, 'kinesalite holds each record once');
  for (const [data, n] of proxy.sends) {
    assert.equal(n, proxy.failed.has(data) ? 2 : 1, `sent ${n} times: ${data.slice(0, 30)}`);
  }
  const st = await exporterStatus(gw.current);
  assert.equal(st.deadLetters, 0, 'throttling does not spend the retry budget');
  t.diagnostic(`records ${pub.acked.length}, throttled then resent ${proxy.failed.size}`);
  assert.equal(await gw.stop(), 0);
});

test('kinesis e2e: a shard refusing every record with InternalFailure while the others accept dead-letters nothing; all arrive once it heals', {
  timeout: 120_000,
}, async (t) => {
  const k = await startKinesalite(t);
  const sink = await kinesisSink(t, k.url, 'fleet', 2);
  // dev1's records (its partition key: one shard) fail; dev0, dev2.. are accepted meanwhile, which
  // is no evidence against dev1's records: they are on another shard.
  const proxy = await kinesisInternalFailureProxy(t, k.url, (r) => r.key === 'dev1');
  const maxAttempts = 3;
  const gw = new GatewayHandle(await e2eConfig(t, { destination: destination(proxy.url), exporter: { maxAttempts } }), t);
  await gw.start();
  const pub = new Publisher(6, 50);
  // Records keep coming (each accepted one is the evidence a retry budget is spent on) until dev1's
  // first record was refused three times its budget, or something was dead-lettered.
  const first = JSON.stringify({ d: 'dev1', i: 0, pad: 'x'.repeat(50) });
  await waitUntil(
    async () => {
      await pub.publish(gw.current.mqttUrl, 30, 30);
      return (proxy.refused.get(first) ?? 0) >= 3 * maxAttempts || (await exporterStatus(gw.current)).deadLetters > 0 || undefined;
    },
    "dev1's first record refused 9 times, or a dead letter",
    60_000,
    100,
  );
  const during = await exporterStatus(gw.current);
  proxy.heal();
  await pub.publish(gw.current.mqttUrl, 30, 30);
  const done = await waitAllArrived(sink, pub.acked).catch((err: Error) => err);
  const st = await exporterStatus(gw.current);
  t.diagnostic(
    `acknowledged ${pub.acked.length}, exported while the shard failed ${during.exportedRecords}, dev1's first record refused ${proxy.refused.get(first) ?? 0} times, dead letters ${st.deadLetters} (${during.deadLetters} during the failure)`,
  );
  assert.equal(st.deadLetters, 0, "a shard's InternalFailure is the service's, not the records': nothing dead-lettered");
  assert.deepEqual(await streamRecords(gw.current, `${STREAM}-dlq`), []);
  assert.ok(!(done instanceof Error), String(done));
  assert.equal(await gw.stop(), 0);
});
