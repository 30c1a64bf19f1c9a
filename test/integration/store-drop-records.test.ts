// Dropping a stream with the records it holds (gateway/store/drop.ts, DropOptions.records: an
// operator's DELETE /api/streams/{name}?records=N): only with the count it holds now, never with
// appends pending; its segments, checkpoints, high-water mark and tally in one write, so a kill -9
// leaves it whole (every record readable) or gone (no key of it). Real store on a temp dir, the
// raw LevelDB read to list keys; the kill -9 in a child process (store-drop-records.child.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { Level } from 'level';
import { openLocalStreams } from '../../gateway/store/index.js';
import { compiled, repoRoot, tempDir, testDeps, waitUntil } from '../helpers/index.js';

const RECORDS = 2000;

async function rawKeys(path: string): Promise<string[]> {
  const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    return (await db.keys().all()).map((k) => k.toString('latin1'));
  } finally {
    await db.close();
  }
}

const rec = (i: number) => ({ topic: 't', payload: Buffer.from(`p${i}`), receivedAt: Date.now() });

test('a stream holding records is dropped only with the count it holds, not while an append is pending; with its consumers, every key gone', async (t) => {
  const dir = await tempDir(t);
  const deps = testDeps();
  let store = await openLocalStreams({ path: dir }, deps);
  await store.defineStream({ name: 'old', maxBytes: 1 << 20, onFull: 'reject' });
  await store.addConsumer('old', 'removed-exporter');
  for (let i = 0; i < 50; i++) await store.append('old', rec(i));
  await store.setCheckpoint('old', 'removed-exporter', 20);
  await store.defineStream({ name: 'keep', maxBytes: 1 << 20, onFull: 'reject' });
  await store.append('keep', rec(1));
  // Records past the checkpoint: 30 held (those through 20 reclaimed).
  const held = store.info('old').records;
  await assert.rejects(store.dropStreams!(['old'], { records: held - 1 }), new RegExp(`GH_STREAM_IN_USE|holds ${held} records, not ${held - 1}`));
  await assert.rejects(store.dropStreams!(['old']), new RegExp(`holds ${held} records`), 'without a count: refused as before');
  // An append in flight: refused, and the append lands.
  const appending = store.append('old', rec(99));
  await assert.rejects(store.dropStreams!(['old'], { records: held }), /appends to it are pending|holds/);
  await appending;
  assert.equal(store.info('old').records, held + 1);
  assert.deepEqual(await store.dropStreams!(['old'], { records: held + 1 }), ['old']);
  assert.equal(store.hasStream('old'), false);
  await store.close();
  const keys = await rawKeys(dir);
  assert.deepEqual(
    keys.filter((k) => k.includes('old')),
    [],
    'no segment, checkpoint, high-water mark or tally of it',
  );

  store = await openLocalStreams({ path: dir }, deps);
  t.after(() => store.close());
  assert.deepEqual(
    store.undefinedStreams!().map((i) => i.name),
    ['keep'],
  );
  await store.defineStream({ name: 'old', maxBytes: 1 << 20, onFull: 'reject' });
  assert.ok((await store.append('old', rec(1))) > 51, 'defined again, it starts past the dropped sequences');
});

test('a kill -9 during drops of streams holding records leaves each whole (every record) or gone (no key)', async (t) => {
  for (const killAt of [0, 2, 4]) {
    const dir = await tempDir(t);
    const script = compiled
      ? join(repoRoot, 'dist/test/integration/store-drop-records.child.js')
      : join(repoRoot, 'test/integration/store-drop-records.child.ts');
    const child = spawn(process.execPath, compiled ? [script, dir, String(RECORDS)] : ['--import', 'tsx', script, dir, String(RECORDS)], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const dropped = new Set<number>();
    const lines = createInterface({ input: child.stdout });
    const exited = once(child, 'exit');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the child did not reach drop ${killAt} in 60 s; stderr: ${stderr}`)), 60_000);
      lines.on('line', (line) => {
        const [what, i] = line.split(' ');
        if (what === 'dropped') dropped.add(Number(i));
        // Killed as drop killAt is issued: its batch is in flight, or not written yet.
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
    const store = await openLocalStreams({ path: dir }, testDeps());
    try {
      const found = new Map(store.undefinedStreams!().map((i) => [i.name, i]));
      for (let i = 0; i <= killAt; i++) {
        const name = `w${i}`;
        const info = found.get(name);
        if (i < killAt || dropped.has(i)) {
          assert.equal(info, undefined, `${name}: dropped before the kill, gone`);
          continue;
        }
        if (info === undefined) continue; // the drop in flight was written whole
        // Whole: every record past the checkpoint readable, in order.
        await store.defineStream({ name, maxBytes: 64 << 20, onFull: 'reject' });
        const recs = await store.read(name, info.lastSeq - RECORDS + 11, { limit: RECORDS });
        // (What it counts as held depends on when the consumer's reclaim ran: 1,990 or 2,000.)
        assert.ok(store.info(name).records >= RECORDS - 10, `${name} whole: ${store.info(name).records}`);
        assert.deepEqual(
          recs.map((r) => r.seq),
          Array.from({ length: RECORDS - 10 }, (_, k) => info.lastSeq - RECORDS + 11 + k),
          `${name}: every record past its checkpoint`,
        );
      }
      t.diagnostic(`killed at drop ${killAt}: w${killAt} ${found.has(`w${killAt}`) ? 'whole' : 'gone'}`);
    } finally {
      await store.close();
    }
  }
});

test('the disk space of a stream dropped with its records is given back', async (t) => {
  const dir = await tempDir(t);
  const onDisk = async (): Promise<number> => {
    let n = 0;
    for (const f of await readdir(dir)) n += (await stat(join(dir, f))).size;
    return n;
  };
  let store = await openLocalStreams({ path: dir }, testDeps());
  await store.defineStream({ name: 'big', maxBytes: 64 << 20, onFull: 'reject' });
  // Random payloads: LevelDB's compression leaves them their size (8 MB).
  for (let k = 0; k < 8; k++)
    await Promise.all(Array.from({ length: 1000 }, () => store.append('big', { topic: 't', payload: randomBytes(1000), receivedAt: Date.now() })));
  await store.close();
  store = await openLocalStreams({ path: dir }, testDeps());
  t.after(() => store.close());
  const before = await onDisk();
  assert.ok(before > 7_000_000, `the records are on disk (${before} bytes)`);
  await store.dropStreams!(['big'], { records: 8000 });
  // Without a compaction of its range, LevelDB keeps the deleted tables (measured: all 19 MiB of a
  // 20,000-record stream still there 30 s later, and after a close).
  const after = await waitUntil(async () => ((await onDisk()) < before / 4 ? onDisk() : undefined), 'its space given back', 20_000, 50);
  t.diagnostic(`on disk: ${before} bytes before the drop, ${after} after`);
});
