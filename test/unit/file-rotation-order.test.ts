// The order across a rotation (rotation-order.ts), with real files and real trackers; the trackers'
// context is a test double (records collected, a clock the test moves). An older file closed at its
// end (idle-closed) holds nothing. When the reads of the rotated file keep failing (EIO on a failing
// SD card), the new file at the path is held behind it at most rotateWaitMs from its first failure
// without progress, then read, with one warning naming both files: the open handle of the rotated
// file is a second test double, whose reads fail with EIO from a given offset on (a real file
// cannot be made to fail reads without root).
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/index.js';
import { LineSplitter, type SplitRecord } from '../../gateway/pipeline/sources/file/splitter.js';
import { FileTracker } from '../../gateway/pipeline/sources/file/tracker.js';
import type { TrackerContext } from '../../gateway/pipeline/sources/file/tracker-context.js';
import { checkTruncated } from '../../gateway/pipeline/sources/file/truncation.js';
import { RotationOrder } from '../../gateway/pipeline/sources/file/rotation-order.js';

const ROTATE_WAIT_MS = 1000;

function lines(prefix: string, n: number): string {
  return Array.from({ length: n }, (_, i) => `${prefix} ${i} ${'x'.repeat(60)}\n`).join('');
}

interface Rig {
  older: FileTracker;
  newer: FileTracker;
  records: string[];
  warnings: Array<{ newer: string; older: string; code: string }>;
  /** The clock (monotonic ms) the order and the trackers read. */
  clock: { now: number };
  /** Reads of the older file at this offset or past it fail with EIO (Infinity: none fail). */
  failFrom: { at: number };
  /** Reads of held files started by the order (released): awaited by the test. */
  reads: Array<Promise<void>>;
}

/**
 * app.log (40 old lines) open (`beforeRename` then runs), renamed to app.log.1; a new app.log (10
 * new lines) open after it. The old file's reads fail with EIO from `failFrom.at` on (0 at first).
 */
async function rig(dir: string, beforeRename?: (older: FileTracker) => Promise<void>): Promise<Rig> {
  const path = join(dir, 'app.log');
  const records: string[] = [];
  const warnings: Rig['warnings'] = [];
  const clock = { now: 0 };
  const reads: Array<Promise<void>> = [];
  const trackers = new Set<FileTracker>();
  const order: RotationOrder = new RotationOrder({
    writtenAt: () => trackers,
    holdNotOpenMs: ROTATE_WAIT_MS,
    roomToOpen: () => true,
    monotonic: () => clock.now,
    read: (t) => reads.push(t.pump().catch(() => undefined)),
    orderGivenUp: (newer, older, code) => warnings.push({ newer: newer.path, older: older.path, code }),
  });
  const ctx: TrackerContext<FileTracker> = {
    chunkBytes: 1024,
    fingerprintBytes: 1024,
    partialLineTimeoutMs: 0,
    rotateWaitMs: ROTATE_WAIT_MS,
    exclude: () => false,
    now: () => Date.now(),
    monotonic: () => clock.now,
    stopping: () => false,
    waitForRoom: async () => false,
    submit: (_t, r: SplitRecord) => {
      records.push(r.payload.toString().split(' ').slice(0, 2).join(' '));
      return Promise.resolve();
    },
    commitState: () => Promise.resolve(),
    headerSeen: () => undefined,
    stateWritten: () => undefined,
    track: () => undefined,
    newSplitter: (offset, headersLeft) => new LineSplitter({ maxLineBytes: 1 << 20, skipHeaderLines: 0 }, offset, headersLeft),
    onEvent: () => undefined,
    retire: () => undefined,
    checkTruncated,
    isTracked: () => false,
    readUpTo: () => undefined,
    rotatedAway: () => Promise.resolve([]),
    lost: (_t, bytes, why) => assert.fail(`reported lost: ${String(bytes)} bytes, ${why}`),
    caughtUp: () => undefined,
    heldBack: (t) => order.heldBack(t),
    readEnded: (t) => order.released(t),
  };
  const add = async (seq: number): Promise<FileTracker> => {
    const st = await stat(path, { bigint: true });
    const t = new FileTracker(ctx, path, String(st.dev), String(st.ino), { hash: '', len: 0 }, 0, undefined);
    t.seq = seq;
    await t.open();
    trackers.add(t);
    return t;
  };
  writeFileSync(path, lines('old', 40));
  const older = await add(1);
  await beforeRename?.(older);
  renameSync(path, join(dir, 'app.log.1'));
  writeFileSync(path, lines('new', 10));
  const newer = await add(2);
  const failFrom = { at: 0 };
  if (!older.fh) return { older, newer, records, warnings, clock, failFrom, reads }; // (closed: nothing to fail)
  const fh = older.fh!;
  const read = fh.read.bind(fh) as (buf: Buffer, off: number, len: number, pos: number) => Promise<{ bytesRead: number; buffer: Buffer }>;
  (fh as unknown as { read: typeof read }).read = (buf, off, len, pos) =>
    pos >= failFrom.at ? Promise.reject(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' })) : read(buf, off, len, pos);
  return { older, newer, records, warnings, clock, failFrom, reads };
}

/** A read of the older file (as each look retries it): it fails. */
async function failedRead(r: Rig): Promise<void> {
  await assert.rejects(r.older.pump(), { code: 'EIO' });
}

const newLines = Array.from({ length: 10 }, (_, i) => `new ${i}`);
const oldLines = Array.from({ length: 40 }, (_, i) => `old ${i}`);

/** The rig with the old file seen renamed from its path (FileTracker.check): drained through its handle, before the new file. */
async function detachedRig(dir: string): Promise<Rig> {
  const r = await rig(dir);
  r.older.detached = true;
  return r;
}

test('rotation order: an older file closed at its end (idle-closed), then found renamed by the scan, does not hold the new file', async (t) => {
  const dir = await tempDir(t, 'gatehouse-order-');
  const r = await rig(dir, async (older) => {
    await older.pump();
    // Its slot given to a waiting file (OpenBudget: read to its end and committed).
    await older.close();
    older.dormant = true;
  });
  t.after(() => Promise.all([r.older.close(), r.newer.close()]));
  assert.deepEqual(r.records, oldLines);
  // The scan finds it at app.log.1 (FileScanner.foundRenamed, then FileSet.movePath).
  r.older.foundRenamed(join(dir, 'app.log.1'), (await stat(join(dir, 'app.log.1'))).size);
  r.older.path = join(dir, 'app.log.1');
  await r.newer.pump();
  // (Before, it waited rotateWaitMs for the old file to be opened, though nothing was left in it.)
  assert.deepEqual(r.records, [...oldLines, ...newLines]);
});

test('rotation order: a rotated file whose reads keep failing holds the new file at most rotateWaitMs, then it is read, warned once', async (t) => {
  const r = await detachedRig(await tempDir(t, 'gatehouse-order-'));
  t.after(() => Promise.all([r.older.close(), r.newer.close()]));
  await failedRead(r);
  await r.newer.pump();
  assert.deepEqual(r.records, [], 'held while the older file is not read');
  r.clock.now = ROTATE_WAIT_MS - 1;
  await failedRead(r);
  await r.newer.pump();
  assert.deepEqual(r.records, [], 'held until rotateWaitMs after the first failure');
  // The next retry fails rotateWaitMs after the first: the new file is read (released), warned once.
  r.clock.now = ROTATE_WAIT_MS;
  await failedRead(r);
  await Promise.all(r.reads);
  assert.deepEqual(r.records, newLines);
  assert.deepEqual(r.warnings, [{ newer: r.newer.path, older: r.older.path, code: 'EIO' }]);
  // Retried as before; not warned again per retry or per read of the new file.
  for (let i = 0; i < 3; i++) {
    r.clock.now += 100;
    await failedRead(r);
    await r.newer.pump();
  }
  await Promise.all(r.reads);
  assert.equal(r.warnings.length, 1);
  // Its reads work again: it is read to its end.
  r.failFrom.at = Infinity;
  await r.older.pump();
  assert.deepEqual(r.records, [...newLines, ...oldLines]);
});

test('rotation order: a failing rotated file that made progress holds the new file rotateWaitMs from its last failure, not its first', async (t) => {
  const r = await detachedRig(await tempDir(t, 'gatehouse-order-'));
  t.after(() => Promise.all([r.older.close(), r.newer.close()]));
  await failedRead(r);
  // 800 ms later, one chunk (1 KiB: 15 lines) reads, the next fails.
  r.clock.now = 800;
  r.failFrom.at = 1024;
  await failedRead(r);
  assert.deepEqual(r.records, oldLines.slice(0, 15));
  r.clock.now = 1500;
  await failedRead(r);
  await r.newer.pump();
  await Promise.all(r.reads);
  assert.deepEqual(r.records, oldLines.slice(0, 15), 'held: 700 ms since the failure after progress');
  r.clock.now = 1800;
  await failedRead(r);
  await Promise.all(r.reads);
  assert.deepEqual(r.records, [...oldLines.slice(0, 15), ...newLines]);
  assert.equal(r.warnings.length, 1);
});
