// Trimming a stream's oldest records (gateway/store/trim.ts), the primitive under the redrive and
// purge of dead letters: whole segments deleted, the segment holding `through` rewritten from
// through + 1, in one write with the high-water mark and the tally. Real store on a temp dir:
// what it holds after each trim and after reopening (from the tally the trim wrote).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openLocalStreams, type LocalStreams } from '../../gateway/store/index.js';
import { tempDir, testDeps } from '../helpers/index.js';

const rec = (i: number, at = 1_700_000_000_000 + i): { topic: string; payload: Buffer; receivedAt: number; attrs: Record<string, string> } => ({
  topic: `t/${i}`,
  payload: Buffer.from(`payload-${i}`),
  receivedAt: at,
  attrs: { error: `e${i % 3}`, sourceStream: 'src' },
});

/** n records in commits of `per` (each commit one segment). */
async function fill(store: LocalStreams, name: string, n: number, per: number): Promise<void> {
  await store.defineStream({ name, maxBytes: 1 << 24, onFull: 'drop-oldest' });
  for (let i = 1; i <= n; i += per) {
    await Promise.all(Array.from({ length: Math.min(per, n - i + 1) }, (_, k) => store.append(name, rec(i + k))));
  }
}

async function seqs(store: LocalStreams, name: string): Promise<number[]> {
  return (await store.read(name, 1, { limit: 10_000 })).map((r) => r.seq);
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

test('trimThrough removes exactly the records through SEQ, inside a segment or on its boundary, and the store reopens with them gone', async (t) => {
  const dir = await tempDir(t);
  const deps = testDeps();
  let store = await openLocalStreams({ path: dir }, deps);
  await fill(store, 'dl', 100, 10); // segments 1-10, 11-20, ..., 91-100
  assert.deepEqual(await store.trimThrough!('dl', 15), { records: 15, bytes: await fullBytes(1, 15) });
  let info = store.info('dl');
  assert.equal(info.firstSeq, 16);
  assert.equal(info.records, 85);
  assert.deepEqual(await seqs(store, 'dl'), range(16, 100));
  const r16 = (await store.read('dl', 16, { limit: 1 }))[0]!;
  assert.equal(r16.topic, 't/16');
  assert.equal(r16.payload.toString(), 'payload-16');
  assert.deepEqual(r16.attrs, { error: 'e1', sourceStream: 'src' });
  assert.equal(info.oldestAt, rec(16).receivedAt, 'the oldest record held is the first one kept');
  // On a boundary, then nothing (through below firstSeq), then beyond lastSeq.
  assert.equal((await store.trimThrough!('dl', 30)).records, 15);
  assert.equal((await store.trimThrough!('dl', 12)).records, 0);
  assert.deepEqual(await seqs(store, 'dl'), range(31, 100));
  await store.close();

  store = await openLocalStreams({ path: dir }, deps);
  await store.defineStream({ name: 'dl', maxBytes: 1 << 24, onFull: 'drop-oldest' });
  info = store.info('dl');
  assert.deepEqual([info.firstSeq, info.lastSeq, info.records, info.bytes], [31, 100, 70, await fullBytes(31, 100)]);
  assert.deepEqual(await seqs(store, 'dl'), range(31, 100));
  // Inside the newest segment: the tally's last segment is the rewritten one.
  assert.equal((await store.trimThrough!('dl', 95)).records, 65);
  assert.deepEqual(await seqs(store, 'dl'), range(96, 100));
  assert.equal(await store.append('dl', rec(101)), 101, 'sequences go on');
  await store.close();

  store = await openLocalStreams({ path: dir }, deps);
  await store.defineStream({ name: 'dl', maxBytes: 1 << 24, onFull: 'drop-oldest' });
  assert.deepEqual(await seqs(store, 'dl'), range(96, 101));
  assert.equal((await store.trimThrough!('dl', 101)).records, 6);
  info = store.info('dl');
  assert.deepEqual([info.firstSeq, info.lastSeq, info.records, info.bytes], [102, 101, 0, 0]);
  await store.close();
  store = await openLocalStreams({ path: dir }, deps);
  await store.defineStream({ name: 'dl', maxBytes: 1 << 24, onFull: 'drop-oldest' });
  assert.equal(store.info('dl').records, 0);
  assert.equal(await store.append('dl', rec(102)), 102, 'an emptied stream keeps its sequences');
  await store.close();
});

test('trimThrough with a consumer inside the kept head segment: its skip is counted again, and reclaim goes on from there', async (t) => {
  const dir = await tempDir(t);
  const store = await openLocalStreams({ path: dir }, testDeps());
  await fill(store, 'dl', 30, 10);
  await store.addConsumer('dl', 'reader');
  await store.setCheckpoint('dl', 'reader', 17); // 1-10 reclaimed, 11-17 skipped in the head
  assert.equal(store.info('dl').firstSeq, 18);
  assert.equal((await store.trimThrough!('dl', 14)).records, 0, 'nothing held through 14');
  assert.equal((await store.trimThrough!('dl', 19)).records, 2);
  const info = store.info('dl');
  assert.deepEqual([info.firstSeq, info.records], [20, 11]);
  await store.setCheckpoint('dl', 'reader', 25);
  assert.deepEqual(await seqs(store, 'dl'), range(26, 30));
  await store.close();
});

/** Accounted bytes of rec(a..b): topic + payload + attrs. */
async function fullBytes(a: number, b: number): Promise<number> {
  let n = 0;
  for (let i = a; i <= b; i++) {
    const r = rec(i);
    n += Buffer.byteLength(r.topic) + r.payload.length;
    for (const [k, v] of Object.entries(r.attrs)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  return n;
}
