// KPL-compatible aggregation (kinesis destination, aggregate: true), end to end: the real gateway
// (child process) exports to kinesalite; what kinesalite stored is read back with GetRecords and
// de-aggregated. Plus the wire format checked against hand-encoded bytes, and garbage input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startKinesalite } from '../helpers/peers.js';
import { GatewayHandle, Publisher, arrivalOf, assertExactPerPartitionOrder, e2eConfig, kinesisSink, tally } from '../helpers/upstream-e2e.js';
import { waitUntil } from '../helpers/index.js';
import { aggregateBatch, deaggregate, encodeAggregatedRecord, isAggregated, KPL_MAGIC } from '../../gateway/upstream/destinations/kinesis-agg.js';

test('kpl: the aggregated record format, byte for byte', () => {
  const agg = encodeAggregatedRecord(
    ['a', 'bc'],
    [
      { keyIndex: 0, data: Buffer.from('x') },
      { keyIndex: 1, data: Buffer.alloc(200, 7) },
    ],
  );
  // partition_key_table "a", "bc"; Record{0, "x"}; Record{1, 200 bytes} (lengths as varints: 200 = c8 01).
  const pb = Buffer.concat([
    Buffer.from([0x0a, 0x01, 0x61, 0x0a, 0x02, 0x62, 0x63]),
    Buffer.from([0x1a, 0x05, 0x08, 0x00, 0x1a, 0x01, 0x78]),
    Buffer.from([0x1a, 0xcd, 0x01, 0x08, 0x01, 0x1a, 0xc8, 0x01]),
    Buffer.alloc(200, 7),
  ]);
  assert.deepEqual(agg, Buffer.concat([KPL_MAGIC, pb, createHash('md5').update(pb).digest()]));
  assert.ok(isAggregated(agg));
  assert.deepEqual(deaggregate(agg, 'ignored'), [
    { partitionKey: 'a', data: Buffer.from('x') },
    { partitionKey: 'bc', data: Buffer.alloc(200, 7) },
  ]);
});

test('kpl: plain records, garbage and corrupt aggregates', () => {
  assert.deepEqual(deaggregate(Buffer.from('{"plain":1}'), 'k'), [{ partitionKey: 'k', data: Buffer.from('{"plain":1}') }]);
  // Magic with a wrong MD5: not an aggregate, passed through as plain data.
  const fake = Buffer.concat([KPL_MAGIC, Buffer.alloc(20, 1)]);
  assert.equal(isAggregated(fake), false);
  assert.equal(deaggregate(fake, 'k').length, 1);
  // A valid MD5 over a truncated protobuf: a clear error, not a crash or a silent loss.
  const pb = Buffer.from([0x0a, 0x05, 0x61]);
  const bad = Buffer.concat([KPL_MAGIC, pb, createHash('md5').update(pb).digest()]);
  assert.throws(() => deaggregate(bad, 'k'), /truncated/);
  const badIndex = Buffer.from([0x1a, 0x05, 0x08, 0x03, 0x1a, 0x01, 0x78]);
  assert.throws(() => deaggregate(Buffer.concat([KPL_MAGIC, badIndex, createHash('md5').update(badIndex).digest()]), 'k'), /out of range/);
});

test('kpl: batches are grouped per partition key, in order, within the size cap', () => {
  const payloads = Array.from({ length: 9 }, (_, i) => Buffer.from(`r${i}`.padEnd(100, '.')));
  const keys = payloads.map((_, i) => (i === 8 ? 'solo' : `k${i % 2}`));
  const units = aggregateBatch(payloads, keys, 400);
  const solo = units.find((u) => u.key === 'solo')!;
  assert.equal(solo.data, payloads[8], 'a group of one stays a plain record');
  for (const k of ['k0', 'k1']) {
    const got = units.filter((u) => u.key === k).flatMap((u) => deaggregate(u.data, k).map((r) => r.data.toString().slice(0, 2)));
    assert.deepEqual(
      got,
      payloads
        .map((p, i) => ({ p: p.toString().slice(0, 2), k: keys[i] }))
        .filter((x) => x.k === k)
        .map((x) => x.p),
    );
  }
  assert.ok(units.every((u) => u.data.length + Buffer.byteLength(u.key) <= 400 || u.members.length === 1));
});

test('kinesis e2e with aggregate: true: kinesalite holds few KPL records; de-aggregated, every record is there, in per-device order', {
  timeout: 90_000,
}, async (t) => {
  const k = await startKinesalite(t);
  const sink = await kinesisSink(t, k.url, 'fleet', 2);
  const destination = { type: 'kinesis', streamName: 'fleet', region: 'us-east-1', endpoint: k.url, accessKeyId: 'x', secretAccessKey: 'y', aggregate: true };
  const gw = new GatewayHandle(await e2eConfig(t, { destination, exporter: { batch: { maxRecords: 2000, lingerMs: 300 } } }), t);
  await gw.start();
  const pub = new Publisher();
  await pub.publish(gw.current.mqttUrl, 600);
  const users = await waitUntil(
    async () => {
      await sink.read();
      const out = sink.raw.flatMap((r) => deaggregate(r.data, r.key).map((u) => ({ ...u, shard: r.shard })));
      return tally(
        out.map((u) => arrivalOf(u.data.toString('utf8'))),
        pub.acked,
      ).missing.length === 0
        ? out
        : undefined;
    },
    'every record de-aggregated from kinesalite',
    45_000,
    200,
  );
  const arrivals = users.map((u) => arrivalOf(u.data.toString('utf8')));
  assertExactPerPartitionOrder(arrivals, pub);
  assert.ok(
    users.every((u) => u.partitionKey === arrivalOf(u.data.toString('utf8')).d),
    'user partition key = device',
  );
  const aggregated = sink.raw.filter((r) => isAggregated(r.data)).length;
  assert.ok(sink.raw.length <= 600 / 10, `${sink.raw.length} Kinesis records for 600 user records`);
  assert.ok(aggregated > 0);
  t.diagnostic(`user records 600, Kinesis records ${sink.raw.length} (${aggregated} aggregated)`);
  assert.equal(await gw.stop(), 0);
});
