// Dropping streams (gateway/store/drop.ts): a stream that holds nothing and that nothing reads is
// undefined with every key of it (segments, checkpoints, high-water mark, tally) and the meta
// keys named, in one write; refused while it holds records, has other consumers or a reader
// waiting. A name defined again starts past every dropped stream's sequences (record ids
// <stream>:<seq> never repeat). A kill -9 at any point leaves the stream with its meta, or
// neither. Real store on a temp dir, the raw LevelDB read to count keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Level } from 'level';
import { openLocalStreams, type LocalStreams } from '../../gateway/store/index.js';
import { compiled, metricValue, repoRoot, tempDir, testDeps } from '../helpers/index.js';

/** Every key of the database, as text (the stream's name shows in it). */
async function rawKeys(path: string): Promise<string[]> {
  const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    return (await db.keys().all()).map((k) => k.toString('latin1'));
  } finally {
    await db.close();
  }
}

const rec = (i: number): { topic: string; payload: Buffer; receivedAt: number } => ({ topic: 't', payload: Buffer.from(`p${i}`), receivedAt: Date.now() });

async function drained(store: LocalStreams, name: string, n: number): Promise<number> {
  await store.defineStream({ name, maxBytes: 1 << 20, onFull: 'reject' });
  await store.addConsumer(name, 'exp');
  let last = 0;
  for (let i = 0; i < n; i++) last = await store.append(name, rec(i));
  return last;
}

test('dropStreams refuses a stream holding records, with another consumer or a reader waiting; drops a drained one with its keys and meta in one write', async (t) => {
  const dir = await tempDir(t);
  const deps = testDeps();
  let store = await openLocalStreams({ path: dir }, deps);
  const last = await drained(store, 'gone', 5);
  await store.putMeta('upstream/exporters/gone', Buffer.from('{}'));
  await store.putMeta('other', Buffer.from('stays'));
  await assert.rejects(
    store.dropStreams!(['gone'], { consumer: 'exp' }),
    (err: Error & { code?: string }) => err.code === 'GH_STREAM_IN_USE' && /holds 5 records/.test(err.message),
  );
  await store.setCheckpoint('gone', 'exp', last);
  await store.addConsumer('gone', 'reader');
  await assert.rejects(store.dropStreams!(['gone'], { consumer: 'exp' }), /consumers read it \(reader\)/);
  await store.removeConsumer('gone', 'reader');
  const waiting = assert.rejects(store.waitFor('gone', last + 1), /is closed/); // refused by the close below
  await assert.rejects(store.dropStreams!(['gone'], { consumer: 'exp' }), /a reader waits/);
  assert.equal(store.hasStream('gone'), true, 'a refused drop leaves the stream');
  await store.close();
  await waiting;

  store = await openLocalStreams({ path: dir }, deps);
  await store.defineStream({ name: 'gone', maxBytes: 1 << 20, onFull: 'reject' });
  assert.equal(await metricValue(deps.registry, 'gatehouse_stream_appended_total', { stream: 'gone' }), 0, 'its series is there before the drop');
  assert.ok((await deps.registry.metrics()).includes('stream="gone"'));
  assert.deepEqual(await store.dropStreams!(['gone', 'never-defined'], { consumer: 'exp', metaKeys: ['upstream/exporters/gone'] }), ['gone']);
  assert.equal(store.hasStream('gone'), false);
  assert.equal(store.undefinedStreams!().length, 0);
  const series = (await deps.registry.metrics()).split('\n').filter((l) => l.includes('stream="gone"'));
  assert.deepEqual(series, [], 'no metric series of the dropped stream');
  await store.close();

  const keys = await rawKeys(dir);
  assert.deepEqual(
    keys.filter((k) => k.includes('gone')),
    [],
    `no key of the stream, its checkpoint or its kept options: ${JSON.stringify(keys)}`,
  );
  assert.ok(keys.includes('Mother'), 'other meta keys stay');
  assert.ok(keys.includes('D'), 'the drop floor is kept');

  // Defined again (a rule update bringing the action back): after the old sequences, and a new
  // consumer starts there (it does not count the old ones as dropped by retention).
  store = await openLocalStreams({ path: dir }, deps);
  t.after(() => store.close());
  assert.equal(store.undefinedStreams!().length, 0, 'not found on disk after a restart');
  await store.defineStream({ name: 'gone', maxBytes: 1 << 20, onFull: 'reject' });
  await store.addConsumer('gone', 'exp');
  assert.equal(await store.getCheckpoint('gone', 'exp'), last);
  assert.equal(await store.append('gone', rec(9)), last + 1, 'no sequence of the dropped stream is reused');
  await store.defineStream({ name: 'brand-new', maxBytes: 1 << 20, onFull: 'reject' });
  assert.equal(await store.append('brand-new', rec(1)), last + 1, 'a new stream starts past the floor too');
  const [r] = await store.read('gone', 0);
  assert.equal(r?.payload.toString(), 'p9');
});

test('a kill -9 during drops leaves each stream with its kept meta, or neither, and no sequence reused', async (t) => {
  for (const killAt of [3, 8, 15]) {
    const dir = await tempDir(t);
    const script = compiled ? join(repoRoot, 'dist/test/integration/store-drop.child.js') : join(repoRoot, 'test/integration/store-drop.child.ts');
    const child = spawn(process.execPath, compiled ? [script, dir] : ['--import', 'tsx', script, dir], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const dropped = new Map<number, number>();
    let maxLast = 0;
    const lines = createInterface({ input: child.stdout });
    const exited = once(child, 'exit');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the child did not reach drop ${killAt} in 30 s; stderr: ${stderr}`)), 30_000);
      lines.on('line', (line) => {
        const [what, i, last] = line.split(' ');
        maxLast = Math.max(maxLast, Number(last));
        if (what === 'dropped') dropped.set(Number(i), Number(last));
        // Killed as drop killAt is issued: its batch is in flight.
        if (what === 'dropping' && Number(i) === killAt) {
          child.kill('SIGKILL');
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`child exited early (${code}); stderr: ${stderr}`));
      });
    });
    await exited;
    const keys = await rawKeys(dir);
    const store = await openLocalStreams({ path: dir }, testDeps());
    try {
      for (let i = 0; i <= killAt; i++) {
        const name = `d${i}`;
        const onDisk = store.undefinedStreams!().some((s) => s.name === name);
        const kept = keys.includes(`Mkept/${name}`);
        assert.equal(onDisk, kept, `stream ${name} on disk (${onDisk}) with its kept meta (${kept}): never one without the other`);
        if (dropped.has(i)) assert.equal(onDisk, false, `drop ${i} resolved before the kill: ${name} is gone`);
        if (onDisk) assert.equal(store.undefinedStreams!().find((s) => s.name === name)?.records, 0, 'nothing lost or resurrected: it was drained');
      }
      await store.defineStream({ name: 'after', maxBytes: 1 << 20, onFull: 'reject' });
      const seq = await store.append('after', rec(0));
      const floor = Math.max(0, ...dropped.values());
      assert.ok(seq > floor, `a stream defined after the kill starts past every dropped one's sequences (${seq} > ${floor})`);
    } finally {
      await store.close();
    }
  }
});

test('a stream defined after a drop and closed (or killed) before its first record keeps its start past the floor: its consumer sees what it appends after the reopen', async (t) => {
  // Found by the chaos bench (seed 72 --actions): a rule update made a new action stream after an
  // earlier one was dropped (its consumer's checkpoint written at the floor) while the disk was
  // full, and a kill -9 came before its first record. Reopened, the stream had the checkpoint but
  // no high-water mark: its sequences started at 1 again, below its consumer's checkpoint, so every
  // record appended after the restart (28,383, acknowledged) counted as delivered and was never
  // exported, then the stream was dropped as drained.
  const dir = await tempDir(t);
  const deps = testDeps();
  let store = await openLocalStreams({ path: dir }, deps);
  const last = await drained(store, 'old', 5);
  await store.setCheckpoint('old', 'exp', last);
  await store.dropStreams!(['old'], { consumer: 'exp' });
  await store.defineStream({ name: 'fresh', maxBytes: 1 << 20, onFull: 'reject' });
  await store.addConsumer('fresh', 'exp');
  assert.equal(await store.getCheckpoint('fresh', 'exp'), last, 'the consumer starts at the floor');
  await store.close();

  store = await openLocalStreams({ path: dir }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 'fresh', maxBytes: 1 << 20, onFull: 'reject' });
  await store.addConsumer('fresh', 'exp');
  const seq = await store.append('fresh', rec(1));
  const cp = await store.getCheckpoint('fresh', 'exp');
  assert.ok(seq > cp, `the record appended after the reopen (seq ${seq}) is past its consumer's checkpoint (${cp}): it will be exported`);
  const read = await store.read('fresh', cp + 1, { limit: 10 });
  assert.deepEqual(
    read.map((r) => r.seq),
    [seq],
    'the consumer reads it',
  );
});
