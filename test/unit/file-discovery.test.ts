// Finding copytruncate's rotated copy of a truncated file while logrotate moves its copies on
// (app.log.1 to app.log.2, a new app.log.1) during the search. Real files in a temp folder; the
// rotation is made to happen between the folder's listing and the look at each name through the
// `exclude` callback, which the search calls once per listed name, in between.
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/index.js';
import { findRotatedCopy, openRotatedCopy } from '../../gateway/pipeline/sources/file/discovery.js';
import { fingerprintOf } from '../../gateway/pipeline/sources/file/identity.js';

function lines(prefix: string, n: number): string {
  return Array.from({ length: n }, (_, i) => `${prefix} ${i} ${'x'.repeat(60)}\n`).join('');
}

test('file discovery: a copy moved on to a name not listed yet while the folder was searched is found', async (t) => {
  const dir = await tempDir(t, 'gatehouse-discovery-');
  const copied = lines('a', 40);
  const fp = fingerprintOf(Buffer.from(copied).subarray(0, 1024));
  await writeFile(join(dir, 'app.log'), lines('b', 3));
  await writeFile(join(dir, 'app.log.1'), copied);
  let rotated = false;
  const rotateOnce = (): boolean => {
    if (!rotated) {
      // logrotate's next run, after the listing and before the names are looked at.
      rotated = true;
      renameSync(join(dir, 'app.log.1'), join(dir, 'app.log.2'));
      writeFileSync(join(dir, 'app.log.1'), lines('b', 3));
    }
    return false;
  };
  assert.equal(await findRotatedCopy(dir, 'app.log', fp, 700, rotateOnce), join(dir, 'app.log.2'));
  assert.equal(rotated, true, 'the rotation came between the listing and the look');
});

test('file discovery: the copy is returned open on the file that matched, whatever takes its name afterwards', async (t) => {
  const dir = await tempDir(t, 'gatehouse-discovery-');
  const copied = lines('a', 40);
  const fp = fingerprintOf(Buffer.from(copied).subarray(0, 1024));
  await writeFile(join(dir, 'app.log.1'), copied);
  const copy = await openRotatedCopy(dir, 'app.log', fp, 700, () => false);
  assert.ok(copy, 'found');
  t.after(() => copy.fh.close());
  renameSync(join(dir, 'app.log.1'), join(dir, 'app.log.2'));
  writeFileSync(join(dir, 'app.log.1'), lines('b', 40));
  assert.equal(copy.path, join(dir, 'app.log.1'));
  assert.equal((await copy.fh.readFile()).toString(), copied, 'the handle reads the copy that matched, now at app.log.2');
  assert.equal((await readFile(join(dir, 'app.log.2'))).toString(), copied);
});

test('file discovery: no copy in a folder that does not change is a miss', async (t) => {
  const dir = await tempDir(t, 'gatehouse-discovery-');
  const fp = fingerprintOf(Buffer.from(lines('a', 40)).subarray(0, 1024));
  await writeFile(join(dir, 'app.log.1'), lines('b', 40));
  await writeFile(join(dir, 'app.log.2'), lines('a', 5));
  let listings = 0;
  const count = (name: string): boolean => {
    if (name === 'app.log.1') listings++;
    return false;
  };
  assert.equal(await findRotatedCopy(dir, 'app.log', fp, 700, count), undefined, 'a file with other first bytes, and one too short, are no copy');
  assert.equal(listings, 2, 'listed again once to see that nothing moved, not more');
});
