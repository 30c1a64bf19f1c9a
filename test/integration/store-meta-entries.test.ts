// A commitMeta put of several keys (MetaEntries, core/message.ts: the file source's state, a key
// per file): its keys are written and deleted in the same database batch as the appends submitted
// before it, under the put's key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openLocalStreams } from '../../gateway/store/index.js';
import { tempDir, testDeps } from '../helpers/index.js';

interface Op {
  type: string;
  key: Buffer;
  value?: Buffer;
}

test('a meta put of several keys writes and deletes them, under its key, in the batch of the appends before it', async (t) => {
  const path = await tempDir(t);
  const store = await openLocalStreams({ path, durability: 'fsync' }, testDeps());
  t.after(() => store.close());
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  await store.putMetas([
    ['src/x/state', Buffer.from('one value')],
    ['src/x/state/1:1', Buffer.from('old')],
    ['src/x/state/1:2', Buffer.from('gone')],
  ]);
  const db = (store as unknown as { db: { batch(ops: Op[], o: unknown): Promise<void> } }).db;
  const batch = db.batch.bind(db);
  const batches: string[][] = [];
  db.batch = (ops, o) => {
    batches.push(ops.map((op) => `${op.type} ${op.key.subarray(1).toString()}`).filter((s) => !s.includes('\u0000')));
    return batch(ops, o);
  };
  const appended = store.append('s', { topic: 't', payload: Buffer.from('r'), receivedAt: Date.now() });
  const put = store.commitMeta('src/x/state', () => [
    ['', null],
    ['/1:1', Buffer.from('new')],
    ['/1:2', null],
    ['/head', Buffer.from('h')],
  ]);
  await Promise.all([appended, put]);
  assert.equal(await store.getMeta('src/x/state'), undefined);
  assert.equal((await store.getMeta('src/x/state/1:1'))?.toString(), 'new');
  assert.equal(await store.getMeta('src/x/state/1:2'), undefined);
  assert.equal((await store.getMeta('src/x/state/head'))?.toString(), 'h');
  assert.deepEqual(await store.metaKeys!('src/x/'), ['src/x/state/1:1', 'src/x/state/head']);
  const withMeta = batches.filter((b) => b.some((op) => op.includes('src/x/')));
  assert.equal(withMeta.length, 1, `one batch: ${JSON.stringify(batches)}`);
  assert.equal(store.info('s').lastSeq, 1);
});
