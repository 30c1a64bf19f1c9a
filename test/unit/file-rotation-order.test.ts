// The order across a rotation (rotation-order.ts), with real files and real trackers; the trackers'
// context is a test double (records collected, a clock the test moves). An older file closed at its
// end (idle-closed) holds nothing.
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
  /** The clock (monotonic ms) the order and the trackers read. */
  clock: { now: number };
  /** Reads of held files started by the order (released): awaited by the test. */
  reads: Array<Promise<void>>;
}

/**
 * app.log (40 old lines) open (`beforeRename` then runs), renamed to app.log.1; a new app.log (10
 * new lines) open after it.
 */
async function rig(dir: string, beforeRename?: (older: FileTracker) => Promise<void>): Promise<Rig> {
  const path = join(dir, 'app.log');
  const records: string[] = [];
  const clock = { now: 0 };
  const reads: Array<Promise<void>> = [];
  const trackers = new Set<FileTracker>();
  const order: RotationOrder = new RotationOrder({
    writtenAt: () => trackers,
    holdNotOpenMs: ROTATE_WAIT_MS,
    roomToOpen: () => true,
    monotonic: () => clock.now,
    read: (t) => reads.push(t.pump().catch(() => undefined)),
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
  return { older, newer, records, clock, reads };
}

const newLines = Array.from({ length: 10 }, (_, i) => `new ${i}`);
const oldLines = Array.from({ length: 40 }, (_, i) => `old ${i}`);

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
