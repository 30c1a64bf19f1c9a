// Which of several rotated files of one path is the oldest (rotated-age.ts), and which new files
// the scan takes for rotated files of a tailed path it did not see there (scanner.ts:
// rotatedUnseen). Real files in a temp folder; the trackers' context is a test double (the
// scanner decides, nothing is read), its wall clock the test's.
import assert from 'node:assert/strict';
import { rename, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir, testDeps } from '../helpers/index.js';
import { FileSet } from '../../gateway/pipeline/sources/file/file-set.js';
import { compileGlob } from '../../gateway/pipeline/sources/file/glob.js';
import { fingerprintOf, identityKey } from '../../gateway/pipeline/sources/file/identity.js';
import { FileScanner } from '../../gateway/pipeline/sources/file/scanner.js';
import { LineSplitter } from '../../gateway/pipeline/sources/file/splitter.js';
import type { TrackerContext } from '../../gateway/pipeline/sources/file/tracker-context.js';
import type { FileTracker } from '../../gateway/pipeline/sources/file/tracker.js';
import { olderFirst, rotationSuffix, SAVED_AT_PATH, SAVED_ROTATED, UNKNOWN, type Aged } from '../../gateway/pipeline/sources/file/rotated-age.js';
import { precedes } from '../../gateway/pipeline/sources/file/rotation-order.js';
import { savedLooks } from '../../gateway/pipeline/sources/file/resume.js';

function aged(path: string, known: number, mtimeMs: number, seq: number): Aged {
  return { path: `/l/${path}`, writtenAt: '/l/app.log', known, mtimeMs, seq };
}

const order = (files: Aged[]): string[] => [...files].sort(olderFirst).map((a) => a.path.slice(3));

test('rotated age: the saved state first, then the modification time, then logrotate names (highest number oldest), dates as text', () => {
  assert.deepEqual(
    order([aged('app.log.1', SAVED_AT_PATH, 5, 1), aged('app.log.2', SAVED_ROTATED, 9, 2), aged('app.log.3', UNKNOWN, 1, 3)]),
    ['app.log.2', 'app.log.1', 'app.log.3'],
    'what the state knew comes first, whatever the times',
  );
  assert.deepEqual(order([aged('app.log.1', UNKNOWN, 20, 1), aged('app.log.2', UNKNOWN, 10, 2)]), ['app.log.2', 'app.log.1']);
  // Within one timestamp tick: the names tell.
  assert.deepEqual(order([aged('app.log.2', UNKNOWN, 10, 1), aged('app.log.10', UNKNOWN, 10, 2), aged('app.log.9', UNKNOWN, 10, 3)]), [
    'app.log.10',
    'app.log.9',
    'app.log.2',
  ]);
  assert.deepEqual(order([aged('app.log-20261207', UNKNOWN, 10, 1), aged('app.log-20261206', UNKNOWN, 10, 2)]), ['app.log-20261206', 'app.log-20261207']);
  // Nothing tells: the order found.
  assert.deepEqual(order([aged('other', UNKNOWN, Infinity, 2), aged('more', UNKNOWN, Infinity, 1)]), ['more', 'other']);
  assert.equal(rotationSuffix('app.log', 'app.log.1'), '.1');
  assert.equal(rotationSuffix('app.log', 'app.log-20261206'), '-20261206');
  assert.equal(rotationSuffix('app.log', 'app.log.lock'), undefined);
  assert.equal(rotationSuffix('app.log', 'app.log'), undefined);
});

function lines(prefix: string, n: number): string {
  return Array.from({ length: n }, (_, i) => `${prefix} ${i} ${'x'.repeat(60)}\n`).join('');
}

/** A FileSet and a scanner over `dir/app.log*` (not a first run), on a wall clock the test sets. */
function scannerRig(dir: string, clock: { now: number }): { files: FileSet; scanner: FileScanner } {
  const ctx = {
    now: () => clock.now,
    monotonic: () => 0,
    newSplitter: (offset: number, headersLeft?: number) => new LineSplitter({ maxLineBytes: 1 << 20, skipHeaderLines: 0 }, offset, headersLeft),
    onEvent: () => undefined,
    commitState: () => Promise.resolve(),
    // (A file the scan finds gone from its path is detached: it sweeps for content rotated away.)
    rotatedAway: () => Promise.resolve([]),
  } as unknown as TrackerContext<FileTracker>; // test double: the scanner never makes a tracker read
  const files = new FileSet(
    { name: 'app', topic: 'logs/{file}', logger: testDeps().logger, now: () => clock.now, count: () => undefined, excluded: () => false },
    ctx,
  );
  const scanner = new FileScanner(files, {
    globs: [compileGlob(join(dir, 'app.log*'))],
    fingerprintBytes: 1024,
    initialPosition: 'start_of_file',
    monotonic: () => 0,
  });
  return { files, scanner };
}

async function trackerOf(files: FileSet, path: string): Promise<FileTracker> {
  const st = await stat(path, { bigint: true });
  const t = files.trackers.get(identityKey(st.dev, st.ino));
  assert.ok(t, `${path} tracked`);
  return t;
}

test('file scanner: a file created at app.log and rotated away before the scan (app.log*) is a rotated file of app.log, between the renamed file and the new one', async (t) => {
  const dir = await tempDir(t, 'gatehouse-rotated-age-');
  const clock = { now: Date.now() };
  const { files, scanner } = scannerRig(dir, clock);
  const live = join(dir, 'app.log');
  await writeFile(live, lines('a', 20));
  await scanner.discover(await scanner.scan(), false);
  const a = await trackerOf(files, live);
  // Looked at before the rotations (the file's mtime may be a tick behind Date.now()).
  a.pathSeenAt = (await stat(live)).mtimeMs;
  // Two rotations before the next scan, and files that are not rotated ones of app.log.
  await rename(live, join(dir, 'app.log.1'));
  await writeFile(live, lines('b', 20));
  await rename(join(dir, 'app.log.1'), join(dir, 'app.log.2'));
  await rename(live, join(dir, 'app.log.1'));
  await writeFile(live, lines('c', 20));
  await writeFile(join(dir, 'app.log.lock'), 'pid 1\n');
  // Moved in from elsewhere, last written long before the look: not content of app.log since.
  await writeFile(join(dir, 'app.log.7'), lines('old', 20));
  await utimes(join(dir, 'app.log.7'), new Date(a.pathSeenAt - 3_600_000), new Date(a.pathSeenAt - 3_600_000));
  await scanner.discover(await scanner.scan(), false);
  const b = await trackerOf(files, join(dir, 'app.log.1'));
  const c = await trackerOf(files, live);
  assert.equal(a.path, join(dir, 'app.log.2'));
  assert.equal(b.from, live, 'app.log.1 holds lines written at app.log');
  assert.equal(b.topic, 'logs/app.log');
  assert.ok(precedes(a, b) && precedes(b, c) && precedes(a, c), `the order written: ${JSON.stringify([a.seq, b.seq, c.seq])}`);
  assert.deepEqual(new Set(files.writtenAt(live)), new Set([a, b, c]));
  for (const own of ['app.log.lock', 'app.log.7']) {
    const o = await trackerOf(files, join(dir, own));
    assert.equal(o.from, undefined, `${own} is a file of its own`);
  }
});

test('file scanner: with the file still at app.log (copytruncate, a cp), a new app.log.1 of unknown content is a file of its own', async (t) => {
  const dir = await tempDir(t, 'gatehouse-rotated-age-');
  const clock = { now: 0 };
  const { files, scanner } = scannerRig(dir, clock);
  const live = join(dir, 'app.log');
  await writeFile(live, lines('a', 20));
  const st = await stat(live, { bigint: true });
  files.add(live, String(st.dev), String(st.ino), fingerprintOf(Buffer.from(lines('a', 20)).subarray(0, 1024)), 0, undefined);
  await writeFile(join(dir, 'app.log.1'), lines('z', 20));
  await scanner.discover(await scanner.scan(), false);
  assert.equal((await trackerOf(files, join(dir, 'app.log.1'))).from, undefined);
});

// A scan that listed the folder before the rotations and looked at app.log after them found the new
// app.log (C) while the files rotated between were not listed yet; the next scan finds them,
// modified before C was found there (and before the looks at C since). They are still rotated
// files of app.log: modified after the earliest last look at app.log (the file that was there
// before, A), and app.log no longer holds A (seen by the scan before any look detached A, or
// detached since).
for (const detached of [false, true]) {
  test(`file scanner: the files rotated between are found by the scan after the one that found the new app.log (A ${detached ? 'detached since' : 'not looked at since'})`, async (t) => {
    const dir = await tempDir(t, 'gatehouse-rotated-age-');
    const hold = await tempDir(t, 'gatehouse-rotated-age-hold-');
    const clock = { now: Date.now() };
    const { files, scanner } = scannerRig(dir, clock);
    const live = join(dir, 'app.log');
    await writeFile(live, lines('a', 20));
    await scanner.discover(await scanner.scan(), false);
    const a = await trackerOf(files, live);
    // Rotated away (not under a name the glob lists yet) and a new app.log, found by a scan.
    await rename(live, join(hold, 'a'));
    await writeFile(live, lines('c', 20));
    await scanner.discover(await scanner.scan(), false);
    const c = await trackerOf(files, live);
    a.detached = detached; // (as its look at app.log does: FileTracker.check)
    // The files rotated between appear under their names; written after A's last look at app.log,
    // before the looks at C.
    await writeFile(join(dir, 'app.log.2'), lines('b1', 20));
    await writeFile(join(dir, 'app.log.1'), lines('b2', 20));
    const written = (await stat(join(dir, 'app.log.1'))).mtimeMs;
    a.pathSeenAt = written - 1000;
    c.pathSeenAt = written + 1000;
    await scanner.discover(await scanner.scan(), false);
    const b1 = await trackerOf(files, join(dir, 'app.log.2'));
    const b2 = await trackerOf(files, join(dir, 'app.log.1'));
    assert.deepEqual([b1.from, b2.from], [live, live], 'rotated files of app.log');
    assert.equal(a.detached, true, 'A is rotated too (no longer at app.log)');
    assert.ok(precedes(a, b1) && precedes(b1, b2) && precedes(b2, c), `the order written: ${JSON.stringify([a.seq, b1.seq, b2.seq, c.seq])}`);
  });
}

test('saved looks: the earliest last look at a path of the files saved there', () => {
  const fp = { hash: '', len: 0 };
  const looks = savedLooks(
    [
      { path: '/l/app.log', dev: '1', ino: '1', fp, offset: 0, headersLeft: 0, seen: 1000, rotatedSize: 50 },
      { path: '/l/app.log', dev: '1', ino: '2', fp, offset: 0, headersLeft: 0, seen: 5000 },
      { path: '/l/app.log.1', dev: '1', ino: '3', fp, offset: 0, headersLeft: 0, seen: 200, from: '/l/app.log' },
      { path: '/l/other.log', dev: '1', ino: '4', fp, offset: 0, headersLeft: 0 },
    ],
    3000,
  );
  assert.deepEqual(Object.fromEntries(looks), { '/l/app.log': 1000, '/l/other.log': 3000 });
});

// Read to its end and retired (quiet for rotateWaitMs) before the scan found the files rotated after
// it: no tracker of app.log is left to say when it was looked at, or that its file was renamed away.
test('file scanner: the file between is a rotated file of app.log also when the file before it was read and retired before the scan', async (t) => {
  const dir = await tempDir(t, 'gatehouse-rotated-age-');
  const hold = await tempDir(t, 'gatehouse-rotated-age-hold-');
  const clock = { now: Date.now() };
  const { files, scanner } = scannerRig(dir, clock);
  const live = join(dir, 'app.log');
  await writeFile(live, lines('a', 20));
  await scanner.discover(await scanner.scan(), false);
  const a = await trackerOf(files, live);
  a.pathSeenAt = (await stat(live)).mtimeMs;
  await rename(live, join(hold, 'a'));
  a.detached = true; // (its look at app.log: FileTracker.check)
  files.remove(a); // (retired: read to its end and quiet)
  await writeFile(join(dir, 'app.log.1'), lines('b', 20));
  await writeFile(live, lines('c', 20));
  await scanner.discover(await scanner.scan(), false);
  const b = await trackerOf(files, join(dir, 'app.log.1'));
  const c = await trackerOf(files, live);
  assert.equal(b.from, live);
  assert.ok(precedes(b, c));
});
