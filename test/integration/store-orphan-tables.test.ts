// The table files a failed LevelDB compaction leaves, on a REAL full filesystem (a size-limited
// tmpfs; needs root, skipped otherwise with a message). They hold the room LevelDB's open needs for
// its log replay, and LevelDB deletes them only after that replay: with no space ballast left to
// give up (it was given up at the first failure, or is off), the store could neither reopen after a
// write error nor open at a start, for good. The store now deletes them first (orphan-tables.ts).
// The orphan here is written by the test, a copy of a real table numbered past the MANIFEST's next
// file number as a compaction's output is: a compaction cannot be made to fail half-way on demand
// (test/integration/store-disk-space.test.ts met it only in some runs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { openLocalStreams } from '../../gateway/store/index.js';
import { readCurrentManifest } from '../../gateway/store/orphan-tables.js';
import type { LocalStreams } from '../../gateway/store/types.js';
import { testDeps, waitUntil } from '../helpers/index.js';
import { freeBytes, mountSmallFs, smallFsSkip, writeFiller } from '../helpers/small-fs.js';

const skip = smallFsSkip();
const MiB = 1024 * 1024;

/** Fill the disk with "failed compaction outputs": copies of a live table, numbered past the MANIFEST's next file number. */
async function orphansFillingTheDisk(path: string): Promise<string[]> {
  // The memtable the appends filled (LevelDB's 4 MiB write buffer) is written to a table by
  // LevelDB's background thread, which may still be at it when the appends have resolved (a CI run
  // under load found no table yet): wait for it.
  const table = await waitUntil(async () => (await readdir(path)).find((n) => n.endsWith('.ldb')), 'a table to copy (LevelDB flushed its memtable)', 20_000);
  const { nextFile } = await readCurrentManifest(path);
  const names: string[] = [];
  for (let n = nextFile + 100; freeBytes(path) > 0; n++) {
    const name = `${String(n).padStart(6, '0')}.ldb`;
    const ok = await copyFile(join(path, table), join(path, name)).then(
      () => true,
      () => false,
    );
    names.push(name);
    if (!ok) break;
  }
  // What a copy could not fit: the last bytes of the disk.
  await writeFiller(join(path, `${String(nextFile + 99).padStart(6, '0')}.ldb`), freeBytes(path) + MiB).catch(() => undefined);
  names.push(`${String(nextFile + 99).padStart(6, '0')}.ldb`);
  return names;
}

async function appendMiB(streams: LocalStreams, mib: number): Promise<number> {
  let last = 0;
  for (let i = 0; i < mib * 16; i++) last = await streams.append('a', { topic: 't', payload: randomBytes(64 * 1024), receivedAt: Date.now() });
  return last;
}

test('a write error on a disk full of a failed compaction’s tables, no ballast left: the store deletes them to reopen, with every record', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const root = await mountSmallFs(t, 40);
  const path = join(root, 'db');
  const streams = await openLocalStreams(
    { path, reserveBytes: 0, ballastBytes: 0, diskProbeMs: 50, durability: 'fsync', sweepIntervalMs: 3_600_000 },
    testDeps(),
  );
  t.after(() => streams.close());
  await streams.defineStream({ name: 'a', maxBytes: 1024 * MiB, onFull: 'reject' });
  const last = await appendMiB(streams, 6);
  const orphans = await orphansFillingTheDisk(path);
  assert.equal(freeBytes(root), 0, 'the disk is full');
  await assert.rejects(streams.append('a', { topic: 't', payload: randomBytes(64 * 1024), receivedAt: Date.now() }));
  assert.equal(streams.diskState!().condition, 'write-error');
  // Before: 0 bytes free, nothing to give up, no reopen: unwritable for good.
  await waitUntil(() => streams.diskState!().writable, `writable again (free ${freeBytes(root)})`, 20_000);
  const left = await readdir(path);
  assert.deepEqual(
    orphans.filter((n) => left.includes(n)),
    [],
    'the orphan tables are gone',
  );
  const seqs: number[] = [];
  for (let from = 1; ; ) {
    const recs = await streams.read('a', from, { limit: 500 });
    if (recs.length === 0) break;
    seqs.push(...recs.map((r) => r.seq));
    from = recs.at(-1)!.seq + 1;
  }
  assert.equal(seqs.length, last, 'every record acknowledged before is there');
  assert.equal(await streams.append('a', { topic: 't', payload: Buffer.from('after'), receivedAt: Date.now() }), last + 1);
});

test('a start on a disk full of a failed compaction’s tables, no ballast: the store deletes them to open (it refused with GH_STORE_DISK_FULL)', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const root = await mountSmallFs(t, 40);
  const path = join(root, 'db');
  const opts = { path, reserveBytes: 0, ballastBytes: 0, durability: 'fsync' as const };
  const first = await openLocalStreams(opts, testDeps());
  await first.defineStream({ name: 'a', maxBytes: 1024 * MiB, onFull: 'reject' });
  // Records still in LevelDB's log at the stop: the next open replays them into a table, which needs room.
  await appendMiB(first, 6);
  const last = await appendMiB(first, 2);
  await first.close();
  const logs = (await readdir(path)).filter((n) => n.endsWith('.log'));
  assert.ok(
    (await Promise.all(logs.map(async (n) => (await stat(join(path, n))).size))).some((s) => s > 0),
    'a log to replay',
  );
  await orphansFillingTheDisk(path);
  assert.equal(freeBytes(root), 0);
  const streams = await openLocalStreams(opts, testDeps());
  t.after(() => streams.close());
  await streams.defineStream({ name: 'a', maxBytes: 1024 * MiB, onFull: 'reject' });
  assert.equal(streams.info('a').lastSeq, last, 'every record there');
});
