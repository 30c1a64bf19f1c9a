// Kinesis destination against a real kinesalite (in process), read back with GetRecords.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KinesisClient, CreateStreamCommand, ListShardsCommand, GetShardIteratorCommand, GetRecordsCommand } from '@aws-sdk/client-kinesis';
import type { TestContext } from 'node:test';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createKinesisDestination, kinesisOptionsSchema } from '../../gateway/upstream/destinations/kinesis.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import type { Destination, RecordResult } from '../../gateway/upstream/types.js';
import { metricValue, testDeps, waitUntil } from '../helpers/index.js';
import { startKinesalite, type Peer } from '../helpers/peers.js';
import { kinesisInternalFailureProxy } from '../helpers/upstream-e2e.js';

// Peers' admin clients get a copy: the AWS SDK writes a $source key into the credentials object it is given.
const creds = { accessKeyId: 'local', secretAccessKey: 'local-secret' };

function rec(seq: number, key: string, payload?: Buffer): StoredRecord {
  return {
    stream: 'telemetry',
    seq,
    topic: `fleet/${key}/data`,
    key,
    receivedAt: 1_700_000_000_000 + seq,
    payload: payload ?? Buffer.from(JSON.stringify({ seq, key })),
  };
}

async function setup(
  t: TestContext,
  shards = 2,
  endpointOf: (peer: Peer) => Promise<string> = async (peer) => peer.url,
): Promise<{ peer: Peer; admin: KinesisClient; dest: Destination; deps: ReturnType<typeof testDeps> }> {
  const peer = await startKinesalite(t);
  const endpoint = await endpointOf(peer);
  const admin = new KinesisClient({ region: 'us-east-1', endpoint: peer.url, credentials: { ...creds }, requestHandler: new NodeHttpHandler() });
  t.after(() => admin.destroy());
  await admin.send(new CreateStreamCommand({ StreamName: 'gh', ShardCount: shards }));
  const deps = testDeps();
  const dest = createKinesisDestination(
    kinesisOptionsSchema.parse({
      streamName: 'gh',
      region: 'us-east-1',
      endpoint,
      ...creds,
      requestTimeoutMs: 3000,
      sdkMaxAttempts: 1,
      maxRecords: 500,
      maxRecordBytes: 1024 * 1024,
      maxBatchBytes: 5 * 1024 * 1024,
    }),
    deps,
  );
  await dest.start();
  t.after(() => dest.stop());
  return { peer, admin, dest, deps };
}

/** Every record in every shard, per shard in shard order. */
async function readAll(admin: KinesisClient): Promise<{ key: string; data: string }[][]> {
  const shards = (await admin.send(new ListShardsCommand({ StreamName: 'gh' }))).Shards ?? [];
  const out: { key: string; data: string }[][] = [];
  for (const s of shards) {
    let it = (await admin.send(new GetShardIteratorCommand({ StreamName: 'gh', ShardId: s.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    const got: { key: string; data: string }[] = [];
    for (;;) {
      const r = await admin.send(new GetRecordsCommand({ ShardIterator: it!, Limit: 10_000 }));
      for (const x of r.Records ?? []) got.push({ key: x.PartitionKey!, data: Buffer.from(x.Data!).toString() });
      it = r.NextShardIterator;
      if (!r.Records || r.Records.length === 0) break;
    }
    out.push(got);
  }
  return out;
}

function allOk(results: RecordResult[]): boolean {
  return results.every((r) => r.ok);
}

test('kinesis: records arrive complete and in per-partition order, keyed by device', async (t) => {
  const { admin, dest } = await setup(t);
  const devices = ['dev-a', 'dev-b', 'dev-c', 'dev-d'];
  let seq = 0;
  for (let batch = 0; batch < 4; batch++) {
    const records: StoredRecord[] = [];
    for (let i = 0; i < 50; i++) records.push(rec(++seq, devices[seq % devices.length]!));
    const res = await dest.send(records, new AbortController().signal);
    assert.equal(res.length, records.length);
    assert.ok(allOk(res), JSON.stringify(res.find((r) => !r.ok)));
  }
  const shards = await readAll(admin);
  const flat = shards.flat();
  assert.equal(flat.length, 200);
  const seen = new Set(flat.map((x) => (JSON.parse(x.data) as { seq: number }).seq));
  assert.equal(seen.size, 200);
  // Per partition key, sequence numbers are strictly increasing within its shard.
  for (const shard of shards) {
    const last = new Map<string, number>();
    for (const x of shard) {
      const d = JSON.parse(x.data) as { seq: number; key: string };
      assert.equal(x.key, d.key, 'partition key defaults to the record key');
      assert.ok(d.seq > (last.get(x.key) ?? 0), `order kept for ${x.key}`);
      last.set(x.key, d.seq);
    }
  }
});

test('kinesis: partition key template and fallback to topic', async (t) => {
  const peer = await startKinesalite(t);
  const admin = new KinesisClient({ region: 'us-east-1', endpoint: peer.url, credentials: { ...creds }, requestHandler: new NodeHttpHandler() });
  t.after(() => admin.destroy());
  await admin.send(new CreateStreamCommand({ StreamName: 'gh', ShardCount: 1 }));
  const deps = testDeps();
  const dest = createKinesisDestination(kinesisOptionsSchema.parse({ streamName: 'gh', endpoint: peer.url, ...creds, partitionKey: '{stream}/{key}' }), deps);
  await dest.start();
  t.after(() => dest.stop());
  const plain = createKinesisDestination(kinesisOptionsSchema.parse({ streamName: 'gh', endpoint: peer.url, ...creds }), deps);
  await plain.start();
  t.after(() => plain.stop());
  assert.ok(allOk(await dest.send([rec(1, 'k1')], new AbortController().signal)));
  const noKey: StoredRecord = { stream: 'telemetry', seq: 2, topic: 'plain/topic', receivedAt: 1, payload: Buffer.from('x') };
  assert.ok(allOk(await plain.send([noKey], new AbortController().signal)));
  const keys = (await readAll(admin)).flat().map((x) => x.key);
  assert.deepEqual(keys, ['telemetry/k1', 'plain/topic']);
  assert.throws(() => createKinesisDestination(kinesisOptionsSchema.parse({ streamName: 'gh', partitionKey: '{nope}' }), deps), /unknown field/);
});

test('kinesis: a record over 1 MiB is rejected as permanent, the others go through', async (t) => {
  const { admin, dest, deps } = await setup(t, 1);
  const big = rec(2, 'dev-a', Buffer.alloc(1024 * 1024 + 1, 0x61));
  const res = await dest.send([rec(1, 'dev-a'), big, rec(3, 'dev-a')], new AbortController().signal);
  assert.equal(res[0]!.ok, true);
  assert.deepEqual(res[1], { ok: false, retryable: false, error: res[1]!.ok ? '' : res[1]!.error, code: 'TOO_LARGE' });
  assert.match(res[1]!.ok ? '' : res[1]!.error, /^GH_EXPORT_PERMANENT: record of 1048577 bytes exceeds the Kinesis limit/);
  assert.equal(res[2]!.ok, true);
  const got = (await readAll(admin)).flat().map((x) => (JSON.parse(x.data) as { seq: number }).seq);
  assert.deepEqual(got, [1, 3]);
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_record_failures_total', { kind: 'kinesis', code: 'TOO_LARGE' }), 1);
});

test('kinesis: a batch larger than one PutRecords call is cut into calls within the limits, in order', async (t) => {
  const peer = await startKinesalite(t);
  const admin = new KinesisClient({ region: 'us-east-1', endpoint: peer.url, credentials: { ...creds }, requestHandler: new NodeHttpHandler() });
  t.after(() => admin.destroy());
  await admin.send(new CreateStreamCommand({ StreamName: 'gh', ShardCount: 1 }));
  const deps = testDeps();
  // At most 3 records and 200 bytes (data + key) per call, 180 per record.
  const dest = createKinesisDestination(
    kinesisOptionsSchema.parse({ streamName: 'gh', endpoint: peer.url, ...creds, maxRecords: 3, maxBatchBytes: 200, maxRecordBytes: 180 }),
    deps,
  );
  await dest.start();
  t.after(() => dest.stop());
  const batch = [1, 2, 3, 4, 5, 6, 7].map((s) => rec(s, 'k'));
  batch.push(rec(8, 'k', Buffer.alloc(170, 0x62)), rec(9, 'k'), rec(10, 'k', Buffer.alloc(181, 0x63)));
  const res = await dest.send(batch, new AbortController().signal);
  assert.deepEqual(
    res.map((r) => r.ok),
    [true, true, true, true, true, true, true, true, true, false],
  );
  assert.equal(res[9]!.ok ? '' : res[9]!.code, 'TOO_LARGE');
  // Records of 20 bytes: [1,2,3] [4,5,6] by count, [7,8] (20 + 171 bytes) then [9] by bytes; 10 (182) alone is too large.
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'kinesis', outcome: 'ok' }), 4);
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_record_failures_total', { kind: 'kinesis', code: 'TOO_LARGE' }), 1);
  const got = (await readAll(admin)).flat().map((x) => (x.data.startsWith('{') ? (JSON.parse(x.data) as { seq: number }).seq : x.data.length));
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 170, 9]);
});

test('kinesis: a missing stream is a retryable whole-batch error (throws), no record lost', async (t) => {
  const peer = await startKinesalite(t);
  const deps = testDeps();
  const dest = createKinesisDestination(kinesisOptionsSchema.parse({ streamName: 'absent', endpoint: peer.url, ...creds }), deps);
  await dest.start();
  t.after(() => dest.stop());
  await assert.rejects(
    dest.send([rec(1, 'a')], new AbortController().signal),
    (err: Error & { code?: string }) => err.code === 'GH_EXPORT_RETRYABLE' && /ResourceNotFound/.test(err.message),
  );
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'kinesis', outcome: 'retryable' }), 1);
});

test('kinesis: peer stopped and restarted mid-stream, nothing missing', async (t) => {
  const { peer, admin, dest } = await setup(t, 2);
  const total = 300;
  const pending: StoredRecord[] = [];
  for (let s = 1; s <= total; s++) pending.push(rec(s, `dev-${s % 5}`));
  let failures = 0;
  let sentBatches = 0;
  // A tiny exporter loop: batches of 30, retry a failed batch after the peer is back.
  while (pending.length > 0) {
    const batch = pending.slice(0, 30);
    if (sentBatches === 3) await peer.down();
    try {
      const res = await dest.send(batch, AbortSignal.timeout(5000));
      assert.ok(allOk(res));
      pending.splice(0, batch.length);
      sentBatches++;
    } catch (err) {
      failures++;
      assert.equal((err as { code?: string }).code, 'GH_EXPORT_RETRYABLE');
      await peer.up();
      sentBatches++; // do not take the peer down again
    }
  }
  assert.ok(failures >= 1, 'the outage was seen as a retryable error');
  const seqs = new Set((await readAll(admin)).flat().map((x) => (JSON.parse(x.data) as { seq: number }).seq));
  for (let s = 1; s <= total; s++) assert.ok(seqs.has(s), `record ${s} arrived`);
  await waitUntil(() => seqs.size === total, 'all records present');
});

test('kinesis: a per-record InternalFailure spends the retry budget only when a record of its partition key (its shard) was accepted in the call', async (t) => {
  // The proxy is there because kinesalite never fails a single record.
  let proxy: Awaited<ReturnType<typeof kinesisInternalFailureProxy>> | undefined;
  const failing = new Set([JSON.stringify({ seq: 1, key: 'a' }), JSON.stringify({ seq: 3, key: 'b' }), JSON.stringify({ seq: 4, key: 'b' })]);
  const { dest, admin } = await setup(t, 2, async (peer) => {
    proxy = await kinesisInternalFailureProxy(t, peer.url, (r) => failing.has(r.data));
    return proxy.url;
  });
  // a: seq 1 fails beside seq 2 of the same key (same shard), accepted: the failure may be the record's.
  // b: every record of the key fails (its shard in trouble) while a's and c's are accepted: the shard's.
  const results = await dest.send([rec(1, 'a'), rec(2, 'a'), rec(3, 'b'), rec(4, 'b'), rec(5, 'c')], new AbortController().signal);
  assert.deepEqual(
    results.map((r) => (r.ok ? 'ok' : `${r.retryable ? 'retryable' : 'permanent'} ${r.code}`)),
    ['retryable InternalFailure', 'ok', 'retryable THROTTLED', 'retryable THROTTLED', 'ok'],
  );
  assert.equal(proxy!.refused.size, 3);
  const stored = (await readAll(admin)).flat().map((r) => r.data);
  assert.deepEqual(stored.sort(), [JSON.stringify({ seq: 2, key: 'a' }), JSON.stringify({ seq: 5, key: 'c' })].sort());
});
