// The MANIFEST reader that finds what a failed LevelDB compaction left (gateway/store/orphan-tables.ts),
// against a real LevelDB (classic-level) in a temp dir: after a clean close every table on disk is
// live and none is an orphan; a table numbered after the MANIFEST's last edit that it does not list
// is; anything the reader cannot check deletes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { newDb } from '../../gateway/store/database.js';
import { deleteOrphanTables, findOrphanTables, logRecords, readCurrentManifest, replayManifest } from '../../gateway/store/orphan-tables.js';
import { tempDir } from '../helpers/index.js';

async function filledDb(dir: string): Promise<void> {
  const db = newDb(dir);
  await db.open();
  // ~24 MiB in keys interleaved between rounds (tables overlap: compactions merge them), then a full compaction.
  for (let round = 0; round < 6; round++) {
    const ops = [];
    for (let i = 0; i < 250; i++) {
      const key = Buffer.alloc(8);
      key.writeUInt32BE(i * 7 + round, 4);
      ops.push({ type: 'put' as const, key, value: randomBytes(16 * 1024) });
    }
    await db.batch(ops);
  }
  await (db as unknown as { compactRange(a: Buffer, b: Buffer): Promise<void> }).compactRange(Buffer.alloc(8), Buffer.alloc(8, 0xff)); // classic-level's, untyped in level
  for (let i = 0; i < 100; i++) await db.put(Buffer.from(`k${i}`), randomBytes(16 * 1024));
  await db.close();
}

const tables = async (dir: string): Promise<number[]> =>
  (await readdir(dir))
    .map((n) => /^(\d+)\.ldb$/.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);

test('after a clean close the MANIFEST lists every table on disk, and none is an orphan', async (t) => {
  const dir = await tempDir(t);
  await filledDb(dir);
  const state = await readCurrentManifest(dir);
  const onDisk = await tables(dir);
  assert.ok(onDisk.length >= 2, `${onDisk.length} tables`);
  assert.deepEqual(
    [...state.live].sort((a, b) => a - b),
    onDisk,
  );
  assert.ok(onDisk.every((n) => n < state.nextFile));
  assert.deepEqual(await findOrphanTables(dir), []);
  assert.equal(await deleteOrphanTables(dir), 0);
  assert.deepEqual(await tables(dir), onDisk, 'nothing deleted');
});

test('a table numbered after the MANIFEST that it does not list (a failed compaction output) is found and deleted; the database opens with all its data', async (t) => {
  const dir = await tempDir(t);
  await filledDb(dir);
  const { nextFile } = await readCurrentManifest(dir);
  const [first] = await tables(dir);
  const name = (n: number): string => `${String(n).padStart(6, '0')}.ldb`;
  // The output of a failed compaction: a whole table, numbered from the next file number on.
  await copyFile(join(dir, name(first!)), join(dir, name(nextFile + 3)));
  // Not numbered after the last edit: left alone, even though the MANIFEST does not list it.
  await writeFile(join(dir, name(nextFile > 2 ? 1 : 0)), 'x');
  const found = await findOrphanTables(dir);
  assert.deepEqual(
    found.map((o) => o.path),
    [join(dir, name(nextFile + 3))],
  );
  assert.ok(found[0]!.bytes > 0);
  assert.equal(await deleteOrphanTables(dir), found[0]!.bytes);
  const db = newDb(dir);
  await db.open();
  t.after(() => db.close());
  let n = 0;
  for await (const _ of db.keys()) n++;
  assert.equal(n, 6 * 250 + 100, 'every key still there');
});

test('a MANIFEST that does not check deletes nothing (a bad checksum before its end, no CURRENT); a torn last record is ignored', async (t) => {
  const dir = await tempDir(t);
  await filledDb(dir);
  const current = (await readFile(join(dir, 'CURRENT'), 'utf8')).trim();
  const manifest = await readFile(join(dir, current));
  const { nextFile } = replayManifest(manifest);
  await writeFile(join(dir, `${String(nextFile + 5).padStart(6, '0')}.ldb`), 'orphan');
  assert.equal((await findOrphanTables(dir)).length, 1);
  assert.ok(logRecords(manifest).length >= 2, 'several edits');
  // A flipped byte in the first record's data: its checksum fails, and it is not the last record.
  const bad = Buffer.from(manifest);
  bad[10] = bad[10]! ^ 0xff;
  await writeFile(join(dir, current), bad);
  assert.deepEqual(await findOrphanTables(dir), []);
  // A torn LAST record (a power cut while LevelDB wrote it) is ignored, as LevelDB ignores it.
  await writeFile(join(dir, current), manifest.subarray(0, manifest.length - 3));
  assert.doesNotThrow(() => replayManifest(manifest.subarray(0, manifest.length - 3)));
  await writeFile(join(dir, 'CURRENT'), 'nonsense\n');
  assert.deepEqual(await findOrphanTables(dir), []);
});
