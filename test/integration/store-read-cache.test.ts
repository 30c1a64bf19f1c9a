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
  assert.deepEqual(tail.map((r) => r.seq), [n - 4, n - 3, n - 2]);
  const from = await store.read('s', n - 9, { limit: 100 });
  assert.deepEqual(from.map((r) => r.payload.toString()), Array.from({ length: 10 }, (_, i) => `{"i":${n - 9 + i}}`));
});
