// The file source's scanner with a glob that also matches rotated copies (app.log*): a copy of a
// file still being tailed waits for that file's truncation (its tracker reads the copy's tail)
// before it is tailed on its own. Real files in a temp folder, the scanner's clock injected; the
// tracker context is a test double (only its splitter factory and clock are used here: the scanner
// decides, nothing is read).
import assert from 'node:assert/strict';
import { copyFile, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import pino from 'pino';
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

async function keyOf(path: string): Promise<string> {
  const st = await stat(path, { bigint: true });
  return identityKey(st.dev, st.ino);
}

test('file scanner: a new copy at a rotated name does not inherit the wait of the copy that was there before', async (t) => {
  const dir = await tempDir(t, 'gatehouse-scanner-');
  const live = join(dir, 'app.log');
  const content = Array.from({ length: 50 }, (_, i) => `w ${i} ${'x'.repeat(60)}\n`).join('');
  await writeFile(live, content);
  let now = 0;
  const ctx = {
    now: () => now,
    monotonic: () => now,
    newSplitter: (offset: number, headersLeft?: number) => new LineSplitter({ maxLineBytes: 1 << 20, skipHeaderLines: 0 }, offset, headersLeft),
  } as unknown as TrackerContext<FileTracker>; // test double: the scanner never makes a tracker read
  const files = new FileSet({ name: 'app', topic: 'logs/app', logger: testDeps().logger, now: () => now, count: () => undefined, excluded: () => false }, ctx);
  const liveSt = await stat(live, { bigint: true });
  const buf = Buffer.from(content);
  const tracker = files.add(live, String(liveSt.dev), String(liveSt.ino), fingerprintOf(buf.subarray(0, 1024)), 1000, undefined);
  const scanner = new FileScanner(files, {
    globs: [compileGlob(join(dir, 'app.log*'))],
    fingerprintBytes: 1024,
    initialPosition: 'start_of_file',
    monotonic: () => now,
  });

  // copytruncate's copy of the live file: it waits for the truncation (the tracker reads its tail).
  await copyFile(live, join(dir, 'app.log.1'));
  const first = await keyOf(join(dir, 'app.log.1'));
  await scanner.discover(await scanner.scan(), false);
  assert.equal(files.trackers.has(first), false, 'a copy of a live file waits');

  // Much later (no truncation came: a plain cp), the next rotation moves it on and makes a new copy.
  now = 31_000;
  await rename(join(dir, 'app.log.1'), join(dir, 'app.log.2'));
  await copyFile(live, join(dir, 'app.log.1'));
  const second = await keyOf(join(dir, 'app.log.1'));
  await scanner.discover(await scanner.scan(), false);
  assert.equal(files.trackers.has(first), true, 'the first copy waited its 30 s, renamed or not: tailed on its own');
  assert.equal(files.trackers.get(first)?.splitter.safeOffset(), tracker.splitter.safeOffset(), 'from where the live tracker is');
  assert.equal(files.trackers.has(second), false, 'the new copy at app.log.1 waits for its own truncation');

  // Its own wait ends 30 s after it was first seen.
  now = 61_001;
  await scanner.discover(await scanner.scan(), false);
  assert.equal(files.trackers.has(second), true);
});

/** A FileSet and a scanner over `dir/app.log*`, on a clock that stays at 0 (nothing waits out). */
function scannerRig(dir: string): { files: FileSet; scanner: FileScanner } {
  const ctx = {
    now: () => 0,
    monotonic: () => 0,
    newSplitter: (offset: number, headersLeft?: number) => new LineSplitter({ maxLineBytes: 1 << 20, skipHeaderLines: 0 }, offset, headersLeft),
    // (A rename found by the scan is logged and saved.)
    onEvent: () => undefined,
    commitState: () => Promise.resolve(),
  } as unknown as TrackerContext<FileTracker>; // test double: the scanner never makes a tracker read
  const files = new FileSet({ name: 'app', topic: 'logs/app', logger: testDeps().logger, now: () => 0, count: () => undefined, excluded: () => false }, ctx);
  const scanner = new FileScanner(files, {
    globs: [compileGlob(join(dir, 'app.log*'))],
    fingerprintBytes: 1024,
    initialPosition: 'start_of_file',
    monotonic: () => 0,
  });
  return { files, scanner };
}

function lines(prefix: string, n: number): string {
  return Array.from({ length: n }, (_, i) => `${prefix} ${i} ${'x'.repeat(60)}\n`).join('');
}

test('file scanner: a rotated copy read to its end, retired, then renamed on is not read again from where the truncated original was left', async (t) => {
  const dir = await tempDir(t, 'gatehouse-scanner-');
  const { files, scanner } = scannerRig(dir);
  const content = lines('a', 50);
  const fp = fingerprintOf(Buffer.from(content).subarray(0, 1024));
  // The tailed file was truncated at 700: content known read up to 700, once with no file to tie it
  // to (its copy not found yet), once tied to its copy app.log.1 (tailed on its own from there).
  // The copy was then read to its end and retired.
  await writeFile(join(dir, 'app.log.1'), content);
  const copy = await keyOf(join(dir, 'app.log.1'));
  files.readUpTo(fp, 700);
  files.readUpTo(fp, 700, copy);
  files.readUpTo(fp, content.length, copy);
  // logrotate moves it on: the scanner finds it again under a new name, no longer tracked.
  await rename(join(dir, 'app.log.1'), join(dir, 'app.log.2'));
  await scanner.discover(await scanner.scan(), false);
  const tracker = files.trackers.get(copy);
  assert.ok(tracker, 'the renamed copy is tracked again');
  assert.equal(tracker.splitter.safeOffset(), content.length, 'from its end, where it was read up to: nothing of it read twice');
});

test('file scanner: a file replaced at its name between the scan and its opening is tracked with its own first bytes', async (t) => {
  const dir = await tempDir(t, 'gatehouse-scanner-');
  const { files, scanner } = scannerRig(dir);
  const older = lines('old', 40);
  const newer = lines('new', 30);
  await writeFile(join(dir, 'app.log.1'), older);
  const olderKey = await keyOf(join(dir, 'app.log.1'));
  const found = await scanner.scan();
  // logrotate runs between the scan and the look at what it found: app.log.1 moves on to
  // app.log.2, and a new copy is made at app.log.1.
  await rename(join(dir, 'app.log.1'), join(dir, 'app.log.2'));
  await writeFile(join(dir, 'app.log.1'), newer);
  const newerKey = await keyOf(join(dir, 'app.log.1'));
  await scanner.discover(found, false);
  const fpOf = (text: string): string => fingerprintOf(Buffer.from(text).subarray(0, 1024)).hash;
  // (Paired with the newer file's first bytes, the older file's tracker would see a truncation at
  // its first look and read the newer file as the rest of its content, then itself again from 0.)
  assert.notEqual(files.trackers.get(olderKey)?.fp.hash, fpOf(newer), "the older file's identity is never paired with the newer file's first bytes");
  await scanner.discover(await scanner.scan(), false);
  assert.equal(files.trackers.get(olderKey)?.path, join(dir, 'app.log.2'));
  assert.equal(files.trackers.get(olderKey)?.fp.hash, fpOf(older));
  assert.equal(files.trackers.get(newerKey)?.path, join(dir, 'app.log.1'));
  assert.equal(files.trackers.get(newerKey)?.fp.hash, fpOf(newer));
});

test('file scanner: a new file among thousands of tailed ones has its start read once, not once per tailed file', async (t) => {
  const dir = await tempDir(t, 'gatehouse-scanner-');
  const { files, scanner } = scannerRig(dir);
  // 500 tailed files (other folders' files: only their fingerprints matter here), and content read
  // before, which the new file is a copy of.
  for (let i = 0; i < 500; i++)
    files.add(join(dir, `other-${i}.log`), '1', String(1_000_000 + i), fingerprintOf(Buffer.from(lines(`f${i}`, 20)).subarray(0, 1024)), 10, undefined);
  const content = lines('a', 50);
  files.readUpTo(fingerprintOf(Buffer.from(content).subarray(0, 1024)), 700);
  await writeFile(join(dir, 'app.log.1'), content);
  const probe = await open(join(dir, 'app.log.1'), 'r');
  const handleProto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => unknown };
  await probe.close();
  const reads = t.mock.method(handleProto, 'read');
  await scanner.discover(await scanner.scan(), false);
  const tracker = files.trackers.get(await keyOf(join(dir, 'app.log.1')));
  assert.equal(tracker?.splitter.safeOffset(), 700, 'still recognised as content read before: read from where it was left');
  // Before: 501 reads of its first KiB (one per fingerprint compared); 200 new files in a folder
  // of 2,200 were read in 26 s instead of 3 s by a gateway on 2 cores.
  assert.ok(reads.mock.callCount() <= 4, `${reads.mock.callCount()} reads of the new file`);
});

test('file scanner: a pattern matching more files than a scan lists is warned about once, counted and shown, until it is under the limit again', async (t) => {
  const dir = await tempDir(t, 'gatehouse-scanner-');
  for (let i = 0; i < 7; i++) await writeFile(join(dir, `f${i}.log`), `line ${i}\n`);
  const warnings: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void warnings.push(JSON.parse(line) as Record<string, unknown>) });
  const counted: string[] = [];
  const ctx = {
    now: () => 0,
    monotonic: () => 0,
    newSplitter: (offset: number, headersLeft?: number) => new LineSplitter({ maxLineBytes: 1 << 20, skipHeaderLines: 0 }, offset, headersLeft),
  } as unknown as TrackerContext<FileTracker>; // test double: the scanner never makes a tracker read
  const files = new FileSet({ name: 'app', topic: 'logs/app', logger, now: () => 0, count: (c) => void counted.push(c), excluded: () => false }, ctx);
  const pattern = join(dir, '*.log');
  const scanner = new FileScanner(files, {
    globs: [compileGlob(pattern)],
    fingerprintBytes: 1024,
    initialPosition: 'start_of_file',
    monotonic: () => 0,
    maxGlobMatches: 5,
  });
  await scanner.discover(await scanner.scan(), true);
  await scanner.discover(await scanner.scan(), false);
  assert.equal(files.trackers.size, 5, 'the first 5 found are tailed');
  // Before: the other files were left out without a word.
  const limitWarnings = warnings.filter((w) => w.code === 'GH_FILE_GLOB_LIMIT');
  assert.equal(limitWarnings.length, 1, 'warned once, not at every scan');
  assert.match(String(limitWarnings[0]!.msg), /matches more than 5 files; only the first 5 found are tailed/);
  assert.deepEqual(counted, ['globLimits']);
  assert.deepEqual([...files.globLimited], [[pattern, 5]]);
  // Exactly at the limit is not over it.
  await rm(join(dir, 'f5.log'));
  await rm(join(dir, 'f6.log'));
  await scanner.scan();
  assert.equal(files.globLimited.size, 0);
});

// A write event names one file; the trackers at that path are found by an index, not by comparing
// every tracker (2,000 files written once a second: 4 million comparisons a second). The index
// must follow a tracker's path when the scan finds its file renamed, and forget a removed one.
test('file set: trackers by path follow a rename found by the scan and a removal', async (t) => {
  const dir = await tempDir(t, 'gatehouse-fileset-');
  const { files, scanner } = scannerRig(dir);
  const live = join(dir, 'app.log');
  await writeFile(live, 'a line\n');
  await scanner.discover(await scanner.scan(), false);
  const [tracker] = files.atPath(live);
  assert.ok(tracker, 'the tracker of app.log is found by its path');
  assert.equal(files.atPath(join(dir, 'app.log.1')).size, 0);
  // Renamed (rotation): the scan finds the same file at app.log.1.
  await rename(live, join(dir, 'app.log.1'));
  await scanner.discover(await scanner.scan(), false);
  assert.equal(files.atPath(live).size, 0, 'no longer at app.log');
  assert.deepEqual([...files.atPath(join(dir, 'app.log.1'))], [tracker]);
  // A rotated file of app.log (a file at app.log now is read after it: rotation-order.ts).
  assert.equal(tracker.from, live);
  assert.deepEqual([...files.writtenAt(live)], [tracker]);
  files.remove(tracker);
  assert.equal(files.atPath(join(dir, 'app.log.1')).size, 0);
  assert.equal(files.trackers.size, 0);
});
