// Sequential reads on a real LevelDB go through the read cache: every record comes back exactly
// once and in order, across big segments read in small pages, new appends, checkpoints and
// reclaim (which drops cached segments), and random reads still see the right records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openLocalStreams } from '../../gateway/store/index.js';
import { tempDir, testDeps } from '../helpers/index.js';

test('paged sequential reads with checkpoints return every record once, in order', async (t) => {
  const dir = await tempDir(t);
  const store = await openLocalStreams({ path: dir, durability: 'os' }, testDeps());
  t.after(() => store.close());
  await store.defineStream({ name: 's', maxBytes: 1 << 26, onFull: 'reject' });
  await store.addConsumer('s', 'exp');
  const payload = (i: number): Buffer => Buffer.from(`{"i":${i}}`);
  // Big segments (2,000 concurrent appends share a commit) and small ones.
  let n = 0;
  const append = async (k: number): Promise<void> => {
    const ps: Promise<number>[] = [];
    for (let i = 0; i < k; i++) ps.push(store.append('s', { topic: 't', payload: payload(++n), receivedAt: n }));
    await Promise.all(ps);
  };
  await append(2000);
  await append(3);
  await append(2000);
  let next = 1;
  let round = 0;
  while (next <= n) {
    const page = await store.read('s', next, { limit: 333 });
    assert.ok(page.length > 0, `records from ${next}`);
    for (const r of page) {
      assert.equal(r.seq, next, 'in order, no gap, no repeat');
      assert.equal(r.payload.toString(), `{"i":${next}}`);
      next++;
    }
    await store.setCheckpoint('s', 'exp', next - 1);
    // Appends while reading: a new segment after the cached ones.
    if (++round === 3) await append(50);
  }
  assert.equal(next, n + 1);
  assert.equal(store.info('s').records, 0, 'reclaimed behind the checkpoint');
  // A random read behind the read position (a second reader, the admin API) is still right.
  await append(10);
  const tail = await store.read('s', n - 4, { limit: 3 });
  assert.deepEqual(
    tail.map((r) => r.seq),
    [n - 4, n - 3, n - 2],
  );
  const from = await store.read('s', n - 9, { limit: 100 });
  assert.deepEqual(
    from.map((r) => r.payload.toString()),
    Array.from({ length: 10 }, (_, i) => `{"i":${n - 9 + i}}`),
  );
});

test('checkpoints inside a cached head segment count records and bytes as a reopen does', async (t) => {
  const dir = await tempDir(t);
  let store = await openLocalStreams({ path: dir, durability: 'os' }, testDeps());
  await store.defineStream({ name: 's', maxBytes: 1 << 26, onFull: 'reject' });
  await store.addConsumer('s', 'exp');
  // One segment of 100 records of growing size (committed with a consumer: cached at commit).
  const recs = Array.from({ length: 100 }, (_, i) => ({ topic: 't/x', payload: Buffer.alloc(i + 1, 0x61), receivedAt: i }));
  await Promise.all(recs.map((r) => store.append('s', r)));
  const bytesFrom = (seq: number): number => recs.slice(seq - 1).reduce((n, r) => n + r.topic.length + r.payload.length, 0);
  for (const ck of [10, 11, 57, 99]) {
    await store.setCheckpoint('s', 'exp', ck);
    assert.deepEqual([store.info('s').records, store.info('s').bytes, store.info('s').firstSeq], [100 - ck, bytesFrom(ck + 1), ck + 1], `checkpoint ${ck}`);
    const next = await store.read('s', 1, { limit: 1 });
    assert.equal(next[0]?.seq, ck + 1, 'reads start after the checkpoint');
  }
  await store.close();
  store = await openLocalStreams({ path: dir, durability: 'os' }, testDeps());
  t.after(() => store.close());
  await store.defineStream({ name: 's', maxBytes: 1 << 26, onFull: 'reject' });
  assert.deepEqual([store.info('s').records, store.info('s').bytes], [1, bytesFrom(100)], 'the reopened store agrees');
  await store.setCheckpoint('s', 'exp', 100);
  assert.deepEqual([store.info('s').records, store.info('s').bytes], [0, 0]);
});
