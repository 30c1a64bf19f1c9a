// Child process of store-crash.test.ts: appends with durability fsync from several concurrent
// appenders and prints each acknowledged record as "seq worker index" until it is killed.
import { openLocalStreams } from '../../gateway/store/index.js';
import { testDeps } from '../helpers/index.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: store-crash.child <data dir> [store.tallyEveryBytes]');
const store = await openLocalStreams({ path: dir, durability: 'fsync', ...(process.argv[3] ? { tallyEveryBytes: Number(process.argv[3]) } : {}) }, testDeps());
await store.defineStream({ name: 'crash', maxBytes: 64 * 1024 * 1024, onFull: 'reject' });
process.stdout.write('ready\n');

async function worker(w: number): Promise<void> {
  for (let i = 0; ; i++) {
    const seq = await store.append('crash', {
      topic: `dev/${w}`,
      payload: Buffer.from(`rec-${w}-${i}-`.padEnd(120, 'x')),
      receivedAt: Date.now(),
      key: `w${w}`,
    });
    process.stdout.write(`${seq} ${w} ${i}\n`);
  }
}
await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
