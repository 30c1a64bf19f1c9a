// A damaged segment met at every read of its range, its log bounded: each read logged the error
// again (an exporter held at a damaged last segment retries at every backoff, and each admin read
// of the range is one more), now the first read that meets it logs it and the next at most once a
// minute per segment; gatehouse_store_corrupt_segments_total still counts every read. Real LevelDB,
// a segment's value overwritten with garbage as store-corrupt.test.ts does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Level } from 'level';
import { Registry } from 'prom-client';
import { openLocalStreams } from '../../gateway/store/index.js';
import { capturedLogger } from '../helpers/industrial.js';
import { metricValue, tempDir, testDeps } from '../helpers/index.js';

test('20 reads of a damaged segment make one error line; each read counted; another damaged segment still logged at once', async (t) => {
  const dir = await tempDir(t);
  let store = await openLocalStreams({ path: dir }, testDeps());
  for (const name of ['s', 'u']) {
    await store.defineStream({ name, maxBytes: 1 << 20, onFull: 'reject' });
    await Promise.all([1, 2].map((i) => store.append(name, { topic: 't', payload: Buffer.from(`a${i}`), receivedAt: 1 })));
    await Promise.all([3, 4].map((i) => store.append(name, { topic: 't', payload: Buffer.from(`b${i}`), receivedAt: 2 })));
  }
  await store.close();
  // The last segment (seqs 3-4) of each stream overwritten with garbage.
  const raw = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  const keys = await raw.keys({ gte: Buffer.from('S'), lt: Buffer.from('T') }).all();
  assert.equal(keys.length, 4, 'two segments per stream');
  for (const k of [keys[1]!, keys[3]!]) await raw.put(k, Buffer.from('garbage that is not a segment'));
  await raw.close();

  const { logger, lines } = capturedLogger('info');
  const registry = new Registry();
  store = await openLocalStreams({ path: dir }, { logger, registry });
  t.after(() => store.close());
  for (const name of ['s', 'u']) await store.defineStream({ name, maxBytes: 1 << 20, onFull: 'reject' });
  const corrupt = (): { msg: string }[] => lines.filter((l) => /corrupt store data/.test(l.msg));
  for (let i = 0; i < 20; i++) await assert.rejects(store.read('s', 3), /does not decode/);
  assert.equal(corrupt().length, 1, `one line for 20 reads: ${corrupt().length}`);
  assert.equal(await metricValue(registry, 'gatehouse_store_corrupt_segments_total', { stream: 's' }), 20, 'every read counted');
  // Another segment (another stream's) is another fault: at once.
  await assert.rejects(store.read('u', 3), /does not decode/);
  assert.equal(corrupt().length, 2);
});
