// commitMeta puts of one key queued together (a source committing its state after every chunk it
// reads) are written once, with the newest value: the older puts settle with it. (A put still waits
// for the appends submitted before it: pipeline-ingest.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openLocalStreams } from '../../gateway/store/index.js';
import { tempDir, testDeps } from '../helpers/index.js';

interface Op {
  type: string;
  key: Buffer;
  value?: Buffer;
}

test('meta puts of one key queued before a write are written once, with the newest value; every put settles', async (t) => {
  const path = await tempDir(t);
  const store = await openLocalStreams({ path, durability: 'fsync' }, testDeps());
  t.after(() => store.close());
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  // Count the meta values each database write carries.
  const db = (store as unknown as { db: { batch(ops: Op[], o: unknown): Promise<void> } }).db;
  const batch = db.batch.bind(db);
  const written: string[] = [];
  db.batch = (ops, o) => {
    for (const op of ops) if (op.type === 'put' && op.key.toString().includes('state')) written.push(op.value!.toString());
    return batch(ops, o);
  };
  const puts: Array<Promise<void>> = [];
  const appends: Array<Promise<number>> = [];
  for (let i = 1; i <= 50; i++) {
    appends.push(store.append('s', { topic: 't', payload: Buffer.from(`r${i}`), receivedAt: Date.now() }));
    puts.push(store.commitMeta('src/x/state', Buffer.from(`state ${i}`)));
  }
  await Promise.all([...appends, ...puts]);
  // Before: 50 values of one key written to the database (the first alone, 49 in the next batch).
  assert.ok(written.length <= 2, `${written.length} values written: ${written.join(', ')}`);
  assert.equal(written.at(-1), 'state 50');
  assert.equal((await store.getMeta('src/x/state'))?.toString(), 'state 50');
  assert.equal(store.info('s').lastSeq, 50);
  // Another key is not touched by it.
  await store.commitMeta('src/y/state', Buffer.from('y'));
  assert.equal((await store.getMeta('src/x/state'))?.toString(), 'state 50');
});
