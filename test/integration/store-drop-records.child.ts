// Child process of store-drop-records.test.ts: defines stream w<i>, appends <records> records of 200
// bytes (many segments), moves a consumer part-way, then drops it with its records
// (dropStreams records: what it holds); prints "dropping i" before each drop and "dropped i" once it
// resolved, until it is killed.
import { openLocalStreams } from '../../gateway/store/index.js';
import { testDeps } from '../helpers/index.js';

const dir = process.argv[2];
const RECORDS = Number(process.argv[3]);
if (!dir || !(RECORDS > 10)) throw new Error('usage: store-drop-records.child <data dir> <records>');
const store = await openLocalStreams({ path: dir, durability: 'fsync' }, testDeps());
const pad = 'z'.repeat(200);
for (let i = 0; ; i++) {
  const name = `w${i}`;
  await store.defineStream({ name, maxBytes: 64 << 20, onFull: 'reject' });
  await store.addConsumer(name, 'gone-exporter');
  const seqs = await Promise.all(
    Array.from({ length: RECORDS }, (_, j) => store.append(name, { topic: 't', payload: Buffer.from(`${name}-${j}-${pad}`), receivedAt: Date.now() })),
  );
  // Its first 10 delivered (its sequences start past the streams dropped before it).
  await store.setCheckpoint(name, 'gone-exporter', Math.max(...seqs) - RECORDS + 10);
  process.stdout.write(`dropping ${i}\n`);
  await store.dropStreams!([name], { records: store.info(name).records });
  process.stdout.write(`dropped ${i}\n`);
}
