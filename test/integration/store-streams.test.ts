// The local stream store on a real LevelDB in temp dirs: order, group commit, reads, reclaim,
// sequence continuity across restarts, meta, waitFor, errors.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Registry } from 'prom-client';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { LocalStreams, StoredRecord } from '../../gateway/store/types.js';
import { isGatehouseError } from '../../core/errors.js';
import { metricValue, tempDir, testDeps } from '../helpers/index.js';

async function open(t: TestContext, path: string, extra: Record<string, unknown> = {}): Promise<{ store: LocalStreams; registry: Registry }> {
  const deps = testDeps();
  const store = await openLocalStreams({ path, ...extra }, deps);
  t.after(() => store.close());
  return { store, registry: deps.registry };
}

function rec(topic: string, payload: string, receivedAt = Date.now()): { topic: string; payload: Buffer; receivedAt: number } {
  return { topic, payload: Buffer.from(payload), receivedAt };
}

async function histogram(registry: Registry, name: string): Promise<{ count: number; sum: number }> {
  const data = await registry.getSingleMetric(name)?.get();
  let count = 0;
  let sum = 0;
  for (const v of data?.values ?? []) {
    const m = (v as { metricName?: string }).metricName;
    if (m === `${name}_count`) count += v.value;
    if (m === `${name}_sum`) sum += v.value;
  }
  return { count, sum };
}

test('appends across many streams keep order and per-stream sequences', async (t) => {
  const { store } = await open(t, await tempDir(t));
  const names = ['a', 'b', 'c', 'd', 'e'];
  for (const name of names) await store.defineStream({ name, maxBytes: 1 << 20, onFull: 'reject' });
  const pending: Array<Promise<number>> = [];
  for (let i = 0; i < 200; i++) {
    const name = names[i % names.length] as string;
    pending.push(store.append(name, { ...rec(`t/${name}`, `${name}-${Math.floor(i / names.length)}`), key: i % 2 ? 'k' : undefined } as never));
  }
  const seqs = await Promise.all(pending);
  for (let i = 0; i < 200; i++) assert.equal(seqs[i], Math.floor(i / names.length) + 1);
  for (const name of names) {
    const got = await store.read(name, 1, { limit: 1000 });
    assert.equal(got.length, 40);
    got.forEach((r, j) => {
      assert.equal(r.seq, j + 1);
      assert.equal(r.stream, name);
      assert.equal(r.payload.toString(), `${name}-${j}`);
    });
    const info = store.info(name);
    assert.equal(info.lastSeq, 40);
    assert.equal(info.firstSeq, 1);
    assert.equal(info.records, 40);
  }
  assert.deepEqual(store.streamNames(), names);
});

test('concurrent appends share one group commit', async (t) => {
  const { store, registry } = await open(t, await tempDir(t));
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  await store.defineStream({ name: 'u', maxBytes: 1 << 20, onFull: 'reject' });
  const before = await histogram(registry, 'gatehouse_store_commit_batch_records');
  const all: Array<Promise<number>> = [];
  for (let i = 0; i < 100; i++) all.push(store.append(i % 2 ? 's' : 'u', rec('t', `p${i}`)));
  await Promise.all(all);
  const after = await histogram(registry, 'gatehouse_store_commit_batch_records');
  // 100 appends made in one tick across two streams: one db.batch write.
  assert.equal(after.count - before.count, 1);
  assert.equal(after.sum - before.sum, 100);
  assert.equal(await metricValue(registry, 'gatehouse_stream_appended_total', { stream: 's' }), 50);
  const lat = await histogram(registry, 'gatehouse_store_commit_seconds');
  assert.equal(lat.count, 1);
});

test('appends made while a write is in flight form the next batch', async (t) => {
  const { store, registry } = await open(t, await tempDir(t));
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  // 10 sequential appenders (each awaits its append before the next, like QoS 1 publishers).
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; i < 20; i++) await store.append('s', rec('t', `${w}-${i}`));
  };
  await Promise.all(Array.from({ length: 10 }, (_, w) => worker(w)));
  const h = await histogram(registry, 'gatehouse_store_commit_batch_records');
  assert.equal(h.sum, 200);
  assert.ok(h.count <= 40, `expected natural batching, got ${h.count} commits for 200 appends`);
  assert.equal(store.info('s').lastSeq, 200);
});

test('read works from any sequence, inside a segment, with limit and maxBytes', async (t) => {
  const { store } = await open(t, await tempDir(t));
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  // Three batches of 10 (three segments).
  for (let b = 0; b < 3; b++) await Promise.all(Array.from({ length: 10 }, (_, i) => store.append('s', rec('t', `r${b * 10 + i + 1}`))));
  const mid = await store.read('s', 15, { limit: 8 });
  assert.deepEqual(
    mid.map((r) => r.seq),
    [15, 16, 17, 18, 19, 20, 21, 22],
  );
  assert.deepEqual(
    mid.map((r) => r.payload.toString()),
    mid.map((r) => `r${r.seq}`),
  );
  assert.deepEqual(
    (await store.read('s', 0, { limit: 2 })).map((r) => r.seq),
    [1, 2],
  );
  assert.deepEqual(
    (await store.read('s', 30)).map((r) => r.seq),
    [30],
  );
  assert.deepEqual(await store.read('s', 31), []);
  // Payloads are 2-3 bytes: a cap of 5 bytes gives two records; a cap of 0 still gives one.
  assert.deepEqual(
    (await store.read('s', 1, { maxBytes: 5 })).map((r) => r.seq),
    [1, 2],
  );
  assert.deepEqual(
    (await store.read('s', 12, { maxBytes: 0 })).map((r) => r.seq),
    [12],
  );
});

test('checkpoints reclaim whole segments and count partial ones out of records and bytes', async (t) => {
  const { store, registry } = await open(t, await tempDir(t));
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  await store.addConsumer('s', 'exp1');
  await store.addConsumer('s', 'exp2');
  for (let b = 0; b < 3; b++) await Promise.all(Array.from({ length: 10 }, (_, i) => store.append('s', rec('tt', `payload-${b}${i}`)))); // 2 + 10 bytes each
  assert.equal(store.info('s').bytes, 30 * 12);
  await store.setCheckpoint('s', 'exp1', 25);
  // exp2 still needs everything.
  assert.equal(store.info('s').records, 30);
  assert.equal(await metricValue(registry, 'gatehouse_stream_backlog_records', { stream: 's', consumer: 'exp2' }), 30);
  await store.setCheckpoint('s', 'exp2', 15);
  let info = store.info('s');
  assert.equal(info.firstSeq, 16);
  assert.equal(info.records, 15);
  assert.equal(info.bytes, 15 * 12);
  assert.equal(await store.getCheckpoint('s', 'exp2'), 15);
  assert.deepEqual(
    (await store.read('s', 1, { limit: 1 })).map((r) => r.seq),
    [16],
  );
  await store.setCheckpoint('s', 'exp2', 30);
  info = store.info('s');
  assert.equal(info.firstSeq, 26);
  assert.equal(info.records, 5);
  await store.removeConsumer('s', 'exp1');
  info = store.info('s');
  assert.equal(info.records, 0);
  assert.equal(info.bytes, 0);
  assert.equal(info.firstSeq, 31);
  assert.equal(await metricValue(registry, 'gatehouse_stream_records', { stream: 's' }), 0);
});

test('sequences continue after reclaim-to-empty and reopen; state is restored on reopen', async (t) => {
  const dir = await tempDir(t);
  let { store } = await open(t, dir);
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  await store.defineStream({ name: 'kept', maxBytes: 1 << 20, onFull: 'reject' });
  await store.addConsumer('s', 'exp');
  await store.addConsumer('kept', 'exp');
  await Promise.all(Array.from({ length: 12 }, (_, i) => store.append('s', rec('t', `x${i}`))));
  for (let i = 0; i < 7; i++) await store.append('kept', { ...rec('k/t', `v${i}`, 1000 + i), key: `dev${i}`, attrs: { n: String(i) } });
  await store.setCheckpoint('s', 'exp', 12);
  await store.setCheckpoint('kept', 'exp', 3);
  assert.equal(store.info('s').records, 0);
  const keptBefore = store.info('kept');
  await store.putMeta('rules', Buffer.from('v1'));
  await store.close();
  await assert.rejects(
    store.append('s', rec('t', 'late')),
    (e: unknown) =>
      isGatehouseError(e, 'GH_STORE_CLOSED') &&
      e.describe() === `GH_STORE_CLOSED: the local stream store is closed (at ${dir}). Fix: the gateway is shutting down; retry after restart`,
  );

  ({ store } = await open(t, dir));
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  await store.defineStream({ name: 'kept', maxBytes: 1 << 20, onFull: 'reject' });
  assert.equal(store.info('s').lastSeq, 12);
  assert.equal(store.info('s').records, 0);
  assert.equal(await store.append('s', rec('t', 'after')), 13);
  const kept = store.info('kept');
  assert.deepEqual(
    { firstSeq: kept.firstSeq, lastSeq: kept.lastSeq, records: kept.records, bytes: kept.bytes, oldestAt: kept.oldestAt, consumers: kept.consumers },
    {
      firstSeq: keptBefore.firstSeq,
      lastSeq: keptBefore.lastSeq,
      records: keptBefore.records,
      bytes: keptBefore.bytes,
      oldestAt: keptBefore.oldestAt,
      consumers: keptBefore.consumers,
    },
  );
  const got = await store.read('kept', 0);
  assert.deepEqual(
    got.map((r: StoredRecord) => [r.seq, r.key, r.attrs?.n, r.payload.toString(), r.receivedAt]),
    [4, 5, 6, 7].map((s) => [s, `dev${s - 1}`, String(s - 1), `v${s - 1}`, 1000 + s - 1]),
  );
  assert.deepEqual(await store.getMeta('rules'), Buffer.from('v1'));
  assert.equal(await store.getMeta('missing'), undefined);
  await store.compact();
});

test('waitFor resolves on commit and rejects on abort', async (t) => {
  const { store } = await open(t, await tempDir(t));
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  await store.waitFor('s', 0);
  const w = store.waitFor('s', 2);
  let done = false;
  void w.then(() => (done = true));
  await store.append('s', rec('t', '1'));
  assert.equal(done, false);
  await store.append('s', rec('t', '2'));
  await w;
  const ac = new AbortController();
  const aborted = store.waitFor('s', 10, ac.signal);
  ac.abort();
  await assert.rejects(aborted, { name: 'AbortError' });
});

test('unknown streams, bad input and closed store give clear errors', async (t) => {
  const { store } = await open(t, await tempDir(t));
  await store.defineStream({ name: 'archive', maxBytes: 100, onFull: 'reject' });
  await assert.rejects(store.append('nope', rec('t', 'x')), (e: unknown) => isGatehouseError(e, 'GH_STREAM_UNKNOWN') && /archive/.test(e.hint ?? ''));
  assert.throws(
    () => store.info('nope'),
    (e: unknown) => isGatehouseError(e, 'GH_STREAM_UNKNOWN'),
  );
  await assert.rejects(store.append('archive', rec('t', 'x'.repeat(200))), (e: unknown) => isGatehouseError(e, 'GH_RECORD_TOO_LARGE'));
  await assert.rejects(store.defineStream({ name: 'a\0b', maxBytes: 1, onFull: 'reject' }), (e: unknown) => isGatehouseError(e, 'GH_CONFIG_INVALID'));
  assert.equal(store.hasStream('archive'), true);
  assert.equal(store.hasStream('nope'), false);
  await store.close();
  await store.close(); // idempotent
  await assert.rejects(store.read('archive', 1), (e: unknown) => isGatehouseError(e, 'GH_STORE_CLOSED'));
  await assert.rejects(store.putMeta('k', Buffer.from('v')), (e: unknown) => isGatehouseError(e, 'GH_STORE_CLOSED'));
});

test('close flushes pending appends', async (t) => {
  const dir = await tempDir(t);
  let { store } = await open(t, dir);
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  const all = Array.from({ length: 50 }, (_, i) => store.append('s', rec('t', `${i}`)));
  await store.close();
  assert.equal((await Promise.all(all)).length, 50);
  ({ store } = await open(t, dir, { durability: 'os' }));
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  assert.equal(store.info('s').lastSeq, 50);
});

test('a second process on the same directory fails with GH_STORE_OPEN', async (t) => {
  const dir = await tempDir(t);
  await open(t, dir);
  await assert.rejects(openLocalStreams({ path: dir }, testDeps()), (e: unknown) => isGatehouseError(e, 'GH_STORE_OPEN'));
});
