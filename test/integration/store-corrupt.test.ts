// Damaged data on a real LevelDB: a segment value overwritten with garbage is reported with
// GH_STORE_CORRUPT and its key, counted, and skipped; the store keeps working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Level } from 'level';
import { openLocalStreams } from '../../gateway/store/index.js';
import { isGatehouseError } from '../../core/errors.js';
import { metricValue, tempDir, testDeps } from '../helpers/index.js';

test('a segment that does not decode is skipped with GH_STORE_CORRUPT, never a crash', async (t) => {
  const dir = await tempDir(t);
  let store = await openLocalStreams({ path: dir }, testDeps());
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  await Promise.all([1, 2, 3].map((i) => store.append('s', { topic: 't', payload: Buffer.from(`a${i}`), receivedAt: 1 })));
  await Promise.all([4, 5].map((i) => store.append('s', { topic: 't', payload: Buffer.from(`b${i}`), receivedAt: 2 })));
  await store.close();

  // Damage the second segment (seqs 4-5): the newest key of the stream's range.
  const raw = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  const keys = await raw.keys({ gte: Buffer.from('S'), lt: Buffer.from('T') }).all();
  assert.equal(keys.length, 2, 'one segment per commit batch');
  await raw.put(keys[1] as Buffer, Buffer.from('garbage that is not a segment'));
  await raw.close();

  const deps = testDeps();
  store = await openLocalStreams({ path: dir }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  assert.equal(store.info('s').lastSeq, 5, 'counters come from keys, so open is unaffected');
  assert.deepEqual(
    (await store.read('s', 1)).map((r) => r.seq),
    [1, 2, 3],
  );
  // Nothing decodable from 4 on: the reader gets the error with the key, not an empty page, in
  // the catalogue's words (docs/errors.md).
  await assert.rejects(store.read('s', 4), (e: unknown) => {
    assert.ok(isGatehouseError(e, 'GH_STORE_CORRUPT'));
    assert.match(e.where ?? '', /^s key [0-9a-f]+$/);
    assert.equal(e.message, "corrupt data in stream 's': the segment at 4 does not decode (or its key is malformed), no later record yet");
    return true;
  });
  assert.equal(await store.append('s', { topic: 't', payload: Buffer.from('c6'), receivedAt: 3 }), 6);
  // Readers move past the damaged segment.
  assert.deepEqual(
    (await store.read('s', 4)).map((r) => r.payload.toString()),
    ['c6'],
  );
  assert.ok((await metricValue(deps.registry, 'gatehouse_store_corrupt_segments_total', { stream: 's' })) >= 2);
  // Reclaim deletes it like any other segment.
  await store.addConsumer('s', 'exp');
  await store.setCheckpoint('s', 'exp', 5);
  assert.deepEqual([store.info('s').records, store.info('s').firstSeq], [1, 6]);
});

test('malformed segment keys are counted and skipped on read like segments that do not decode; firstHeld reads the keys', async (t) => {
  const dir = await tempDir(t);
  let store = await openLocalStreams({ path: dir }, testDeps());
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  for (const batch of [
    [1, 2],
    [3, 4],
    [5, 6],
    [7, 8],
  ]) {
    await Promise.all(batch.map((i) => store.append('s', { topic: 't', payload: Buffer.from(`r${i}`), receivedAt: i })));
  }
  // Reclaiming 1-2 writes the high-water mark (8): it keeps lastSeq when the newest keys are lost.
  await store.setCheckpoint('s', 'exp', 2);
  await store.close();

  // Give the segments 5-6 and 7-8 keys of the wrong shape (one byte too long): their records can
  // no longer be located. Each still sorts where it was.
  const raw = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  const keys = await raw.keys({ gte: Buffer.from('S'), lt: Buffer.from('T') }).all();
  assert.equal(keys.length, 3, 'one segment per commit batch, 1-2 reclaimed');
  for (const k of keys.slice(1)) {
    const v = (await raw.get(k)) as Buffer;
    await raw.batch([
      { type: 'del', key: k },
      { type: 'put', key: Buffer.concat([k, Buffer.from([0])]), value: v },
    ]);
  }
  await raw.close();

  const deps = testDeps();
  store = await openLocalStreams({ path: dir }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  const info = store.info('s');
  assert.deepEqual([info.firstSeq, info.lastSeq, info.records], [3, 8, 2], 'counters from the well-formed keys and the high-water mark');
  assert.deepEqual(
    (await store.read('s', 3)).map((r) => r.seq),
    [3, 4],
  );
  // Nothing locatable from 5 on: the reader says so with the key, as for a segment that does not
  // decode, instead of an empty page that an exporter would have to interpret.
  await assert.rejects(store.read('s', 5), (e: unknown) => isGatehouseError(e, 'GH_STORE_CORRUPT') && /key [0-9a-f]+/.test(e.where ?? ''));
  assert.ok((await metricValue(deps.registry, 'gatehouse_store_corrupt_segments_total', { stream: 's' })) >= 2);
  // firstHeld answers from the keys on disk: 3 is held, nothing from 5 on.
  assert.deepEqual([await store.firstHeld('s', 3), await store.firstHeld('s', 4), await store.firstHeld('s', 5)], [3, 4, undefined]);
  // A newer record: reads from 5 pass over both malformed keys to it.
  assert.equal(await store.append('s', { topic: 't', payload: Buffer.from('r9'), receivedAt: 9 }), 9);
  assert.deepEqual(
    (await store.read('s', 5)).map((r) => r.seq),
    [9],
  );
  assert.equal(await store.firstHeld('s', 5), 9);
});
