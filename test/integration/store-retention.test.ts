// Retention on a real LevelDB: maxBytes with drop-oldest and reject (backpressure, timeout),
// ttl sweep (on demand and on the timer), the commit queue bound.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Registry } from 'prom-client';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { LocalStreams } from '../../gateway/store/types.js';
import { isGatehouseError } from '../../core/errors.js';
import { metricValue, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { capturedLogger } from '../helpers/industrial.js';

interface Opened {
  store: LocalStreams;
  registry: Registry;
  clock: { now: number };
}

async function open(t: TestContext, extra: Record<string, unknown> = {}): Promise<Opened> {
  const deps = testDeps();
  const clock = { now: 1_000_000 };
  deps.now = () => clock.now;
  const store = await openLocalStreams({ path: await tempDir(t), ...extra }, deps);
  t.after(() => store.close());
  return { store, registry: deps.registry, clock };
}

/** A record of exactly 10 accounted bytes (1 topic byte + 9 payload bytes). */
function rec10(i: number, receivedAt = 1_000_000): { topic: string; payload: Buffer; receivedAt: number } {
  return { topic: 't', payload: Buffer.from(`p${String(i).padStart(8, '0')}`), receivedAt };
}

test('drop-oldest drops the oldest segments to make room and counts them', async (t) => {
  const { store, registry } = await open(t);
  await store.defineStream({ name: 's', maxBytes: 100, onFull: 'drop-oldest' });
  await store.addConsumer('s', 'exp');
  for (let i = 1; i <= 15; i++) assert.equal(await store.append('s', rec10(i)), i);
  const info = store.info('s');
  assert.equal(info.bytes, 100);
  assert.equal(info.records, 10);
  assert.equal(info.firstSeq, 6);
  assert.equal(info.droppedRecords, 5);
  assert.equal(await metricValue(registry, 'gatehouse_stream_dropped_total', { stream: 's', reason: 'full' }), 5);
  const got = await store.read('s', 0);
  assert.deepEqual(
    got.map((r) => r.seq),
    [6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  );
  assert.equal(got[0]?.payload.toString(), 'p00000006');
  // The consumer that lost records reads on from the first one held.
  await store.setCheckpoint('s', 'exp', 3);
  assert.equal(store.info('s').records, 10);
});

test('drop-oldest: a single batch larger than maxBytes keeps its newest records', async (t) => {
  const { store } = await open(t);
  await store.defineStream({ name: 's', maxBytes: 100, onFull: 'drop-oldest' });
  const seqs = await Promise.all(Array.from({ length: 15 }, (_, i) => store.append('s', rec10(i + 1))));
  assert.deepEqual(
    seqs,
    Array.from({ length: 15 }, (_, i) => i + 1),
  );
  const info = store.info('s');
  assert.deepEqual([info.firstSeq, info.lastSeq, info.records, info.bytes, info.droppedRecords], [6, 15, 10, 100, 5]);
  assert.deepEqual(
    (await store.read('s', 1)).map((r) => r.payload.toString()),
    Array.from({ length: 10 }, (_, i) => `p${String(i + 6).padStart(8, '0')}`),
  );
});

test('reject: a full stream holds the append back until a checkpoint frees space', async (t) => {
  const { store } = await open(t, { appendTimeoutMs: 10_000 });
  await store.defineStream({ name: 's', maxBytes: 100, onFull: 'reject' });
  await store.addConsumer('s', 'exp');
  for (let i = 1; i <= 10; i++) await store.append('s', rec10(i));
  let settled = false;
  const held = store.append('s', rec10(11)).finally(() => (settled = true));
  // Another full commit round trip (a different stream) completes while the append stays held.
  await store.defineStream({ name: 'other', maxBytes: 100, onFull: 'reject' });
  await store.append('other', rec10(1));
  assert.equal(settled, false);
  assert.equal(store.info('s').lastSeq, 10);
  await store.setCheckpoint('s', 'exp', 1); // one segment (one record) freed
  assert.equal(await held, 11);
  const info = store.info('s');
  assert.deepEqual([info.firstSeq, info.records, info.bytes, info.rejectedAppends], [2, 10, 100, 0]);
});

test('reject: an append that finds no space within appendTimeoutMs fails with GH_STREAM_FULL', async (t) => {
  const { store, registry } = await open(t, { appendTimeoutMs: 50 });
  await store.defineStream({ name: 's', maxBytes: 100, onFull: 'reject' });
  for (let i = 1; i <= 10; i++) await store.append('s', rec10(i));
  await assert.rejects(
    store.append('s', rec10(11)),
    (e: unknown) =>
      isGatehouseError(e, 'GH_STREAM_FULL') &&
      e.where === 's' &&
      /maxBytes|drop-oldest/.test(e.hint ?? '') &&
      // docs/errors.md's template: the stream, its bytes held, then why
      e.message === "local stream 's' is full (100 of 100 bytes held, 0 pending): no space within 50 ms (appendTimeoutMs)",
  );
  assert.equal(store.info('s').rejectedAppends, 1);
  assert.equal(await metricValue(registry, 'gatehouse_stream_rejected_total', { stream: 's' }), 1);
  assert.equal(store.info('s').lastSeq, 10);
  // Raising maxBytes admits later appends at once.
  await store.defineStream({ name: 's', maxBytes: 200, onFull: 'reject' });
  assert.equal(await store.append('s', rec10(11)), 11);
});

/** A store with 'reject' streams 's' (full: 10 records of 10 bytes) and 'o', after a stop refused the append that waited for space in 's'. */
async function fullAfterStopRefusal(t: TestContext) {
  const { store } = await open(t, { appendTimeoutMs: 60_000 });
  await store.defineStream({ name: 's', maxBytes: 100, onFull: 'reject' });
  await store.defineStream({ name: 'o', maxBytes: 100, onFull: 'reject' });
  for (let i = 1; i <= 10; i++) await store.append('s', rec10(i));
  const held = store.append('s', rec10(11));
  assert.equal(store.refuseWaitingForSpace(), 1);
  await assert.rejects(
    held,
    (e: unknown) =>
      isGatehouseError(e, 'GH_STREAM_FULL') &&
      e.where === 's' &&
      e.message === "local stream 's' is full (100 of 100 bytes held, 0 pending): the gateway is stopping, so an append waiting for space is refused",
  );
  return store;
}

test('reject: the appends refused while waiting for space (stop) took no space: the stream stays bounded', async (t) => {
  const store = await fullAfterStopRefusal(t);
  // Still full. Had the refused append been admitted, the next one would be committed by the time
  // an append to another stream submitted after it is (one group commit, in submission order).
  const next = store.append('s', rec10(12));
  next.catch(() => undefined); // asserted below
  await store.append('o', rec10(1));
  assert.deepEqual([store.info('s').lastSeq, store.info('s').bytes], [10, 100]);
  // And it does not wait for space either: the gateway is stopping (see the next test).
  assert.equal(store.refuseWaitingForSpace(), 0, 'nothing waits for space after the stop refused the waiting appends');
  await assert.rejects(next, (e: unknown) => isGatehouseError(e, 'GH_STREAM_FULL'));
});

test('reject: once the stop refused the appends waiting for space, a later one that would wait is refused at once', async (t) => {
  // A closed client's QoS 0 publishes and will are committed once its in-flight publishes settle:
  // right after the stop refused those. Into a full stream they waited again (appendTimeoutMs), and
  // the stop with them, for shutdownTimeoutMs (20 s by default).
  const store = await fullAfterStopRefusal(t);
  let settled = false;
  const later = store.append('s', rec10(12)).finally(() => {
    settled = true;
  });
  later.catch(() => undefined); // asserted below
  // an append submitted after it, committed: the later one was refused before that, not held
  await store.append('o', rec10(1));
  assert.equal(settled, true, 'refused at once, not held for appendTimeoutMs');
  await assert.rejects(later, (e: unknown) => isGatehouseError(e, 'GH_STREAM_FULL') && /the gateway is stopping/.test((e as Error).message));
  // appends that fit still go in (a stream with room, a QoS 0 publish of a closed client)
  assert.equal(await store.append('o', rec10(2)), 2);
  assert.deepEqual([store.info('s').lastSeq, store.info('s').bytes], [10, 100]);
});

test('ttl: sweep drops segments older than ttl and counts them', async (t) => {
  const { store, registry, clock } = await open(t);
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject', ttlMs: 60_000 });
  await store.defineStream({ name: 'forever', maxBytes: 1 << 20, onFull: 'reject' });
  await Promise.all([1, 2, 3].map((i) => store.append('s', rec10(i, clock.now - 120_000))));
  await Promise.all([4, 5].map((i) => store.append('s', rec10(i, clock.now - 1_000))));
  await store.append('forever', rec10(1, 0));
  await store.sweep();
  let info = store.info('s');
  assert.deepEqual([info.firstSeq, info.records, info.bytes, info.droppedRecords], [4, 2, 20, 3]);
  assert.equal(info.oldestAt, clock.now - 1_000);
  assert.equal(await metricValue(registry, 'gatehouse_stream_dropped_total', { stream: 's', reason: 'ttl' }), 3);
  assert.equal(store.info('forever').records, 1);
  clock.now += 60_000;
  await store.sweep();
  info = store.info('s');
  assert.deepEqual([info.firstSeq, info.records, info.droppedRecords], [6, 0, 5]);
});

test('ttl: the sweep timer applies ttl without a call', async (t) => {
  const { store } = await open(t, { sweepIntervalMs: 20 });
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject', ttlMs: 1000 });
  await store.append('s', rec10(1, 0));
  await waitUntil(() => store.info('s').records === 0, 'the sweep timer dropped the expired record', 5000);
  assert.equal(store.info('s').droppedRecords, 1);
});

test('appends beyond maxPendingBytes wait for the running commit and all complete in order', async (t) => {
  const { store, registry } = await open(t, { maxPendingBytes: 1024 });
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  const seqs = await Promise.all(Array.from({ length: 500 }, (_, i) => store.append('s', rec10(i))));
  assert.deepEqual(
    seqs,
    Array.from({ length: 500 }, (_, i) => i + 1),
  );
  // Each record encodes to 25 bytes: at most ~41 per batch, so the bound split the burst.
  const data = await registry.getSingleMetric('gatehouse_store_commit_batch_records')?.get();
  const count = data?.values.find((v) => (v as { metricName?: string }).metricName === 'gatehouse_store_commit_batch_records_count')?.value ?? 0;
  assert.ok(count >= 500 / 41, `expected the queue bound to split the burst, got ${count} commits`);
  const got = await store.read('s', 1, { limit: 1000 });
  assert.deepEqual(
    got.map((r) => r.payload.toString()),
    Array.from({ length: 500 }, (_, i) => `p${String(i).padStart(8, '0')}`),
  );
});

test('drop-oldest at steady state logs once a minute with the records dropped since, not one warning per commit', async (t) => {
  // A full drop-oldest stream (alerts while the uplink is down for hours) drops at every commit:
  // one warning per commit was 130 lines/s at 5,000 msgs/s, written to the SD card it protects.
  const { logger, lines } = capturedLogger();
  const deps = testDeps();
  const mono = { now: 0 };
  const store = await openLocalStreams({ path: await tempDir(t) }, { ...deps, logger, monotonic: () => mono.now });
  t.after(() => store.close());
  await store.defineStream({ name: 's', maxBytes: 100, onFull: 'drop-oldest' });
  for (let i = 1; i <= 40; i++) await store.append('s', rec10(i));
  const dropLines = () => lines.filter((l) => l.msg.startsWith('stream full: dropped oldest records')) as unknown as Array<{ records: number }>;
  assert.equal(store.info('s').droppedRecords, 30);
  assert.equal(dropLines().length, 1, `one line for 30 commits that dropped: ${JSON.stringify(dropLines())}`);
  assert.equal(dropLines()[0]?.records, 1, 'the first drop is logged at once');
  mono.now += 60_000;
  await store.append('s', rec10(41));
  assert.equal(dropLines().length, 2, 'a line again after a minute');
  assert.equal(dropLines()[1]?.records, 30, 'it carries every record dropped since the last line (29 then 1 more)');
  assert.equal(await metricValue(deps.registry, 'gatehouse_stream_dropped_total', { stream: 's', reason: 'full' }), 31);
});
