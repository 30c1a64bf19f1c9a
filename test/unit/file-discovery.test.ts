// Finding copytruncate's rotated copy of a truncated file while logrotate moves its copies on
// (app.log.1 to app.log.2, a new app.log.1) during the search. Real files in a temp folder; the
// rotation is made to happen between the folder's listing and the look at each name through the
// `exclude` callback, which the search calls once per listed name, in between.
import assert from 'node:assert/strict';
import { renameSync, statSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/index.js';
import { findRotatedCopy, openRotatedCopy } from '../../gateway/pipeline/sources/file/discovery.js';
import { fingerprintOf } from '../../gateway/pipeline/sources/file/identity.js';
import { findRotatedAway } from '../../gateway/pipeline/sources/file/rotated-away.js';
import { DirListings, namesStartingWith } from '../../gateway/pipeline/sources/file/dir-listings.js';

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

test('file discovery: content rotated away is judged on the file it reads, with that file identity, when logrotate moves copies on between a look at a name and its opening', async (t) => {
  const dir = await tempDir(t, 'gatehouse-discovery-');
  const first = lines('a', 40); // the first copy: read whole from app.log before (known content)
  const next = lines('b', 3); // the next copy: content never read
  await writeFile(join(dir, 'app.log'), ''); // truncated by the next rotation
  await writeFile(join(dir, 'app.log.1'), first);
  const known = [{ fp: fingerprintOf(Buffer.from(first).subarray(0, 1024)), offset: first.length + 200 }];
  let rotated = false;
  // `skip` is asked after the name was looked at (stat) and before it is opened: logrotate's next run then.
  const rotateOnce = (): boolean => {
    if (!rotated) {
      rotated = true;
      renameSync(join(dir, 'app.log.1'), join(dir, 'app.log.2'));
      writeFileSync(join(dir, 'app.log.1'), next);
    }
    return false;
  };
  const found = await findRotatedAway({ dir, base: 'app.log', since: 0, exclude: () => false, skip: rotateOnce, read: () => known, fingerprintBytes: 1024 });
  assert.equal(rotated, true);
  const ino = (name: string): string => String(statSync(join(dir, name)).ino);
  // The next copy, by its own identity, from 0; the first (known content, now app.log.2) not taken
  // for it (before: the first copy's identity and size with the next copy's first bytes, read again from 0).
  assert.deepEqual(
    found.map((f) => [f.path, f.ino, f.offset, f.size]),
    [[join(dir, 'app.log.1'), ino('app.log.1'), 0, next.length]],
  );
  assert.notEqual(ino('app.log.1'), ino('app.log.2'));
});

test('file discovery: a listing already under way is not shared with a later sweep; the sweeps waiting for the next one share it', async () => {
  // A lister whose listings end when the test says (a double of readdir: the order of calls is the subject).
  const started: Array<{ dir: string; end: (names: string[]) => void }> = [];
  const listings = new DirListings(
    (dir) =>
      new Promise<string[]>((resolve) => {
        started.push({ dir, end: resolve });
      }),
  );
  const first = listings.names('/logs');
  assert.equal(started.length, 1);
  // Called while the first listing is under way: it may predate what these sweeps look for.
  const second = listings.names('/logs');
  const third = listings.names('/logs');
  const other = listings.names('/other');
  assert.equal(started.length, 2, 'one listing per folder in flight; the later calls wait');
  started[0]!.end(['b.log', 'a.log.1', 'a.log']);
  assert.deepEqual(await first, ['a.log', 'a.log.1', 'b.log']);
  await new Promise((r) => setImmediate(r));
  assert.equal(started.length, 3, 'the next listing starts when the one in flight ends');
  started[2]!.end(['a.log', 'a.log.2']);
  assert.deepEqual(await second, ['a.log', 'a.log.2']);
  assert.equal(await third, await second, 'the waiting sweeps share one listing');
  started[1]!.end([]);
  assert.deepEqual(await other, []);
  // Nothing in flight: a new call starts a listing of its own.
  const fourth = listings.names('/logs');
  assert.equal(started.length, 4);
  started[3]!.end(['x']);
  assert.deepEqual(await fourth, ['x']);
});

test('file discovery: a file siblings are the sorted names that start with it, itself excluded', () => {
  const sorted = ['app.log', 'app.log-20261205', 'app.log.1', 'app.log.2.gz', 'app.logger', 'app2.log', 'b.log'].sort();
  assert.deepEqual(namesStartingWith(sorted, 'app.log'), ['app.log-20261205', 'app.log.1', 'app.log.2.gz', 'app.logger']);
  assert.deepEqual(namesStartingWith(sorted, 'b.log'), []);
  assert.deepEqual(namesStartingWith(sorted, 'zz'), []);
  assert.deepEqual(namesStartingWith([], 'a'), []);
});
