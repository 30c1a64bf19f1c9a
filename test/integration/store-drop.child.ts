// Child process of store-drop.test.ts: defines stream d<i>, appends, drains it (its consumer's
// checkpoint), keeps meta beside it as a rule exporter does, then drops it with that meta; prints
// "dropping i" before each drop and "dropped i" once it resolved, until it is killed.
import { openLocalStreams } from '../../gateway/store/index.js';
import { testDeps } from '../helpers/index.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: store-drop.child <data dir>');
const store = await openLocalStreams({ path: dir, durability: 'fsync' }, testDeps());
for (let i = 0; ; i++) {
  const name = `d${i}`;
  await store.defineStream({ name, maxBytes: 1 << 20, onFull: 'reject' });
  await store.addConsumer(name, 'x');
  let last = 0;
  for (let j = 0; j < 3; j++) last = await store.append(name, { topic: 't', payload: Buffer.from(`r${i}-${j}`), receivedAt: Date.now() });
  await store.putMeta(`kept/${name}`, Buffer.from(String(last)));
  await store.setCheckpoint(name, 'x', last);
  process.stdout.write(`dropping ${i} ${last}\n`);
  await store.dropStreams!([name], { consumer: 'x', metaKeys: [`kept/${name}`] });
  process.stdout.write(`dropped ${i} ${last}\n`);
}
