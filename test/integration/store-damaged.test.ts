// A store damaged at rest, as an SD card or a power cut leaves it: real LevelDB files of a real
// store, damaged on disk (CURRENT zeroed or deleted, the MANIFEST cut short or deleted, a table file
// deleted), then opened again. Before round 33 each of these (but a deleted CURRENT) failed the open
// with GH_STORE_OPEN for good, and a deleted CURRENT made LevelDB start a NEW database and delete
// every table: the backlog gone without a line. Now the store is repaired (LevelDB RepairDB), says
// so at error level (GH_STORE_REPAIRED), counts it, and every record that was readable is read
// back. (store-corrupt.test.ts covers a segment VALUE that does not decode.)
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, open, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Level } from 'level';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { LocalStreams } from '../../gateway/store/types.js';
import { checkpointKey, u64 } from '../../gateway/store/codec.js';
import { metricValue, removeTempDir, tempDir } from '../helpers/index.js';

const STREAM = { name: 'archive', maxBytes: 1 << 30, onFull: 'reject' as const };

/** Logs captured as parsed lines. */
function capture(): { deps: { logger: pino.Logger; registry: Registry }; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    }),
  );
  return { deps: { logger, registry: new Registry() }, lines };
}

async function appendRange(store: LocalStreams, from: number, to: number): Promise<void> {
  // Batches of 20 concurrent appends: one segment each (group commit).
  for (let i = from; i <= to; i += 20) {
    const batch: Promise<number>[] = [];
    for (let k = i; k <= Math.min(to, i + 19); k++) {
      batch.push(store.append('archive', { topic: `d/${k}`, payload: Buffer.concat([Buffer.from(`${k}:`), randomBytes(300)]), receivedAt: k }));
    }
    await Promise.all(batch);
  }
}

/**
 * A store of 400 records in two LevelDB tables: 1-200 written, closed, 201-400 written, closed,
 * opened and closed once more (each open turns LevelDB's log into a table). Made once, copied per case.
 */
let pristineDir: string | undefined;
after(() => (pristineDir ? removeTempDir(pristineDir) : undefined));
let pristine: Promise<string> | undefined;
function pristineStore(): Promise<string> {
  pristine ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-damaged-src-'));
    pristineDir = dir;
    const path = join(dir, 'store');
    for (const [from, to] of [
      [1, 200],
      [201, 400],
      [0, 0],
    ] as const) {
      const s = await openLocalStreams({ path }, capture().deps);
      await s.defineStream(STREAM);
      if (from > 0) await appendRange(s, from, to);
      await s.close();
    }
    const tables = (await readdir(path)).filter((f) => f.endsWith('.ldb')).sort();
    assert.ok(tables.length >= 2, `two tables at least: ${tables.join(', ')}`);
    return path;
  })();
  return pristine;
}

async function damagedCopy(t: TestContext, damage: (path: string, files: string[]) => Promise<void>): Promise<string> {
  const dir = await tempDir(t, 'gatehouse-damaged-');
  const path = join(dir, 'store');
  await cp(await pristineStore(), path, { recursive: true });
  await damage(path, (await readdir(path)).sort());
  return path;
}

async function readAll(store: LocalStreams): Promise<number[]> {
  const seqs: number[] = [];
  for (let from = 1; ; ) {
    const page = await store.read('archive', from, { limit: 500 });
    if (page.length === 0) return seqs;
    for (const r of page) {
      assert.equal(r.payload.subarray(0, `${r.seq}:`.length).toString(), `${r.seq}:`, 'each record is its own');
      seqs.push(r.seq);
    }
    from = (page.at(-1)?.seq ?? from) + 1;
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Open the damaged store; assert it was repaired, loudly; return what it reads back. */
async function openRepaired(t: TestContext, path: string, reason: RegExp): Promise<{ store: LocalStreams; seqs: number[] }> {
  const { deps, lines } = capture();
  const store = await openLocalStreams({ path }, deps);
  t.after(() => store.close());
  await store.defineStream(STREAM);
  const line = lines.find((l) => l.code === 'GH_STORE_REPAIRED');
  assert.ok(line, `a GH_STORE_REPAIRED line: ${lines.map((l) => l.msg).join(' | ')}`);
  assert.equal(line.level, 50, 'at error level');
  assert.match(
    String(line.msg),
    new RegExp(`^the local stream store at ${path} was damaged \\(.*\\) and has been repaired: \\d+ records held after it \\(archive \\d+`),
  );
  assert.match(String(line.reason), reason);
  assert.equal(line.lostDir, join(path, 'lost'));
  assert.ok((await stat(join(path, 'lost'))).isDirectory(), 'what RepairDB set aside is kept');
  assert.equal(await metricValue(deps.registry, 'gatehouse_store_repairs_total'), 1);
  const repaired = store.repaired?.();
  assert.ok(repaired, 'the store says it was repaired (healthz, status)');
  assert.match(repaired.reason, reason);
  const seqs = await readAll(store);
  assert.deepEqual(repaired.streams.find((s) => s.name === 'archive')?.records, seqs.length, 'the report counts what is read back');
  return { store, seqs };
}

test('CURRENT zeroed, cut short, or deleted: repaired, every record read back', async (t) => {
  for (const [what, damage, reason] of [
    ['zeroed', (p: string) => writeFile(join(p, 'CURRENT'), Buffer.alloc(16)), /Corruption: CURRENT file does not end with newline/],
    ['cut short', (p: string) => truncate(join(p, 'CURRENT'), 5), /Corruption: CURRENT file does not end with newline/],
    // LevelDB itself made a new database over the tables and deleted them: 400 records gone, no error.
    ['deleted', (p: string) => rm(join(p, 'CURRENT')), /its CURRENT file is missing while \d+ LevelDB file\(s\) are there/],
  ] as const) {
    await t.test(what, async (t) => {
      const { store, seqs } = await openRepaired(t, await damagedCopy(t, damage), reason);
      assert.deepEqual(seqs, range(1, 400));
      assert.equal(await store.append('archive', { topic: 't', payload: Buffer.from('401:'), receivedAt: 401 }), 401);
    });
  }
});

test('MANIFEST cut short or deleted: repaired, every record read back', async (t) => {
  const manifest = (files: string[]): string => files.find((f) => f.startsWith('MANIFEST-')) as string;
  await t.test('cut short', async (t) => {
    const path = await damagedCopy(t, (p, files) => truncate(join(p, manifest(files)), 40));
    assert.deepEqual((await openRepaired(t, path, /Corruption: /)).seqs, range(1, 400));
  });
  await t.test('deleted', async (t) => {
    const path = await damagedCopy(t, (p, files) => rm(join(p, manifest(files))));
    assert.deepEqual((await openRepaired(t, path, /MANIFEST-\d+: No such file or directory/)).seqs, range(1, 400));
  });
});

test('a table file deleted: repaired, the records of the other tables read back, sequences go on', async (t) => {
  // The older table holds 1-200: the newer one, 201-400, is what is left.
  const path = await damagedCopy(t, (p, files) => rm(join(p, files.find((f) => f.endsWith('.ldb')) as string)));
  const { store, seqs } = await openRepaired(t, path, /Corruption: \d+ missing files; e\.g\.: .*\.ldb/);
  assert.deepEqual(seqs, range(201, 400));
  assert.equal(store.info('archive').firstSeq, 201);
  assert.equal(await store.append('archive', { topic: 't', payload: Buffer.from('401:'), receivedAt: 401 }), 401);
});

test('a repaired store gets a new store id (the installation id upstream is made anew)', async (t) => {
  const before = await openLocalStreams({ path: await pristineStore() }, capture().deps);
  const id = before.identity?.().id;
  await before.close();
  const { store } = await openRepaired(t, await damagedCopy(t, (p) => writeFile(join(p, 'CURRENT'), 'garbage')), /Corruption/);
  assert.ok(id);
  assert.notEqual(store.identity?.().id, id);
});

test('the LOCK file deleted: opened as it is, no repair', async (t) => {
  const path = await damagedCopy(t, (p) => rm(join(p, 'LOCK')));
  const { deps, lines } = capture();
  const store = await openLocalStreams({ path }, deps);
  t.after(() => store.close());
  await store.defineStream(STREAM);
  assert.deepEqual(await readAll(store), range(1, 400));
  assert.equal(store.repaired?.(), undefined);
  assert.equal(lines.filter((l) => l.code === 'GH_STORE_REPAIRED' || l.code === 'GH_STORE_CORRUPT').length, 0);
  assert.equal(await metricValue(deps.registry, 'gatehouse_store_repairs_total'), 0);
  assert.equal(await metricValue(deps.registry, 'gatehouse_store_log_dropped_bytes_total'), 0);
});

test("a checkpoint above a stream's last record held (its newest table lost) is where its sequences go on", async (t) => {
  // What a repair leaves when the table with the newest segments and the high-water mark is lost
  // while the checkpoint's survived: records 1-10 held, consumer b at 50. Numbered 11.. again, the
  // next appends counted as delivered to b (at or below its checkpoint) and were never sent.
  const dir = await tempDir(t);
  let store = await openLocalStreams({ path: dir }, capture().deps);
  await store.defineStream(STREAM);
  await appendRange(store, 1, 10);
  await store.addConsumer('archive', 'a');
  await store.close();
  const raw = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await raw.put(checkpointKey('archive', 'b'), u64(50));
  await raw.close();
  store = await openLocalStreams({ path: dir }, capture().deps);
  t.after(() => store.close());
  await store.defineStream(STREAM);
  assert.equal(store.info('archive').records, 10);
  assert.equal(await store.append('archive', { topic: 't', payload: Buffer.from('x'), receivedAt: 1 }), 51);
  assert.deepEqual(
    (await store.read('archive', 51)).map((r) => r.seq),
    [51],
  );
});

/** A store of 2,000 records still in LevelDB's write-ahead log (closed, never reopened): its path and the log's. */
async function storeInItsLog(t: TestContext): Promise<{ path: string; log: string }> {
  const path = join(await tempDir(t), 'store');
  const s = await openLocalStreams({ path }, capture().deps);
  await s.defineStream(STREAM);
  await appendRange(s, 1, 2000);
  await s.close();
  const logs = (await readdir(path)).filter((f) => f.endsWith('.log'));
  assert.equal(logs.length, 1);
  const log = join(path, logs[0] as string);
  assert.ok((await stat(log)).size > 600_000, 'the records are in the log');
  return { path, log };
}

test('a write-ahead log with bytes overwritten in its middle: what LevelDB dropped is said (GH_STORE_CORRUPT) and counted; the rest is read back', async (t) => {
  const { path, log } = await storeInItsLog(t);
  const fh = await open(log, 'r+');
  await fh.write(randomBytes(100), 0, 100, 300_000);
  await fh.close();
  const { deps, lines } = capture();
  const store = await openLocalStreams({ path }, deps);
  t.after(() => store.close());
  await store.defineStream(STREAM);
  const line = lines.find((l) => l.code === 'GH_STORE_CORRUPT');
  assert.ok(line, `a GH_STORE_CORRUPT line: ${lines.map((l) => l.msg).join(' | ')}`);
  assert.equal(line.level, 50);
  assert.match(
    String(line.msg),
    /^corrupt data in LevelDB's write-ahead log: \d+ bytes of it did not check and were dropped when the store opened \(.*\.log: dropping \d+ bytes; Corruption: checksum mismatch/,
  );
  const bytes = await metricValue(deps.registry, 'gatehouse_store_log_dropped_bytes_total');
  assert.ok(bytes >= 100, `bytes dropped counted: ${bytes}`);
  assert.equal(store.logDropped?.()?.bytes, bytes);
  const seqs = await readAll(store);
  assert.ok(seqs.length > 1000 && seqs.length < 2000, `the records outside the damaged block: ${seqs.length}`);
  assert.equal(store.info('archive').records, seqs.length, 'the counters are what is read back');
  assert.equal(store.repaired?.(), undefined, 'not a repair: LevelDB opened it');
});

test('a write-ahead log cut in the middle of a record (a torn tail): the records before the cut read back, no error (LevelDB takes it for a crash in a write)', async (t) => {
  const { path, log } = await storeInItsLog(t);
  await truncate(log, 300_000);
  const { deps, lines } = capture();
  const store = await openLocalStreams({ path }, deps);
  t.after(() => store.close());
  await store.defineStream(STREAM);
  const seqs = await readAll(store);
  assert.ok(seqs.length > 500 && seqs.length < 2000, `${seqs.length} records before the cut`);
  assert.deepEqual(seqs, range(1, seqs.length), 'the first ones, in order, without a gap');
  assert.equal(lines.filter((l) => l.code === 'GH_STORE_CORRUPT' || l.code === 'GH_STORE_REPAIRED').length, 0);
});
