// One tailed file's tracker when copytruncate comes again right after the look that found the file
// unchanged, before the read (two rotations in a row, the file written again from 0 meanwhile);
// and when it may give its open-file slot up. Real files in a temp folder; the tracker context is
// a test double that collects the records, and the rotation is made to happen at the one point
// between the look and the read where the tracker waits on its context (waitForRoom).
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/index.js';
import { fingerprintOf } from '../../gateway/pipeline/sources/file/identity.js';
import { LineSplitter, type SplitRecord } from '../../gateway/pipeline/sources/file/splitter.js';
import { FileTracker } from '../../gateway/pipeline/sources/file/tracker.js';
import type { TrackerContext } from '../../gateway/pipeline/sources/file/tracker-context.js';
import { checkTruncated } from '../../gateway/pipeline/sources/file/truncation.js';

function lines(prefix: string, n: number): string {
  return Array.from({ length: n }, (_, i) => `${prefix} ${i} ${'x'.repeat(60)}\n`).join('');
}

/** The tracker's context as these tests need it: records collected, no other source around it. */
function testContext(records: string[], overrides: Partial<TrackerContext<FileTracker>>): TrackerContext<FileTracker> {
  return {
    chunkBytes: 64 * 1024,
    fingerprintBytes: 1024,
    partialLineTimeoutMs: 0,
    rotateWaitMs: 1000,
    exclude: () => false,
    now: () => Date.now(),
    monotonic: () => performance.now(),
    stopping: () => false,
    waitForRoom: async () => false,
    submit: (_t, r: SplitRecord) => {
      records.push(r.payload.toString());
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
    heldBack: () => false,
    readEnded: () => undefined,
    ...overrides,
  };
}

test('file tracker: a truncation between the look and the read of the start is not taken for the old content', async (t) => {
  const dir = await tempDir(t, 'gatehouse-tracker-');
  const live = join(dir, 'app.log');
  const older = lines('old', 40);
  const newer = lines('new', 20);
  await writeFile(live, older);
  const records: string[] = [];
  let rotateBeforeRead = true;
  const ctx = testContext(records, {
    waitForRoom: async () => {
      if (rotateBeforeRead) {
        // copytruncate, after the look found the file as fingerprinted: copy, truncate, written again.
        rotateBeforeRead = false;
        copyFileSync(live, join(dir, 'app.log.1'));
        truncateSync(live, 0);
        appendFileSync(live, newer);
      }
      return false;
    },
  });
  const st = await stat(live, { bigint: true });
  // As after a truncation was handled: the file's first bytes taken, reading from 0.
  const tracker = new FileTracker(ctx, live, String(st.dev), String(st.ino), fingerprintOf(Buffer.from(older).subarray(0, 1024)), 0, undefined);
  await tracker.open();
  t.after(() => tracker.close());
  await tracker.pump();
  await tracker.pump();
  assert.equal(rotateBeforeRead, false, 'the rotation came between the look and the read');
  const want = [...older.split('\n'), ...newer.split('\n')].filter((l) => l.length > 0);
  assert.deepEqual(records, want, 'the old content from its copy, then the new content, each line once');
});

for (const inPlace of [false, true]) {
  test(`file tracker: a first chunk ${inPlace ? 'truncated in place (no copy holds it) while it was read is taken' : 'copied away by copytruncate while it was read is left to the copy'}`, async (t) => {
    // The file was empty at the last look; a chunk is read from 0, and before it is taken
    // copytruncate copies the file (the chunk's content) away and truncates it. The copy, found by
    // the look for content rotated away, is read from its start by its own tracker (the double
    // below says one was found), so this tracker must drop the chunk and read the new content.
    // inPlace: truncated in place instead, and the sibling found holds other content: the chunk
    // is the only place its lines are, so it is taken.
    const dir = await tempDir(t, 'gatehouse-tracker-');
    const live = join(dir, 'app.log');
    const older = lines('old', 40);
    const newer = lines('new', 20);
    await writeFile(live, '');
    const records: string[] = [];
    let armed = false;
    let rotated = false;
    let copyKey = '';
    const ctx = testContext(records, {
      // (Called just before the read: the rotation comes after it, before the chunk is taken.)
      waitForRoom: async () => {
        armed = true;
        return false;
      },
      isTracked: (key) => key === copyKey,
      rotatedAway: () => {
        if (!armed || rotated) return Promise.resolve([]);
        rotated = true;
        if (inPlace) {
          // Truncated in place (no copy holds the chunk); the sibling found holds other content.
          writeFileSync(join(dir, 'app.log.1'), lines('other', 5));
        } else copyFileSync(live, join(dir, 'app.log.1'));
        const st = statSync(join(dir, 'app.log.1'));
        copyKey = `${st.dev}:${st.ino}`;
        truncateSync(live, 0);
        appendFileSync(live, newer);
        return Promise.resolve([{ path: join(dir, 'app.log.1'), fp: { hash: '', len: 0 }, offset: 0 }]);
      },
    });
    const st = await stat(live, { bigint: true });
    const tracker = new FileTracker(ctx, live, String(st.dev), String(st.ino), { hash: '', len: 0 }, 0, undefined);
    await tracker.open();
    t.after(() => tracker.close());
    await writeFile(live, older);
    await tracker.pump();
    await tracker.pump();
    assert.equal(rotated, true, 'the rotation came after the read of the first chunk');
    const want = [...(inPlace ? older.split('\n') : []), ...newer.split('\n')].filter((l) => l.length > 0);
    assert.deepEqual(records, want, inPlace ? 'the chunk read, then the new content' : 'only the new content: the old one is for its copy to be read');
  });
}

test('file tracker: read to its end and committed, it can give its slot up at once, unless it grew while open (then after closeIdleMs)', async (t) => {
  const dir = await tempDir(t, 'gatehouse-tracker-');
  const file = join(dir, 'app.log.1');
  await writeFile(file, lines('old', 10));
  let now = 1_000_000;
  let onCaughtUp: (() => void) | undefined;
  const caughtUp = (): Promise<void> => new Promise((resolve) => (onCaughtUp = resolve));
  const records: string[] = [];
  const ctx = testContext(records, { now: () => now, monotonic: () => now, caughtUp: () => onCaughtUp?.() });
  const st = await stat(file, { bigint: true });
  const tracker = new FileTracker(ctx, file, String(st.dev), String(st.ino), { hash: '', len: 0 }, 0, undefined);
  await tracker.open();
  t.after(() => tracker.close());
  let settled = caughtUp();
  await tracker.pump();
  await settled;
  assert.equal(records.length, 10);
  assert.equal(tracker.canGiveUpSlot(60_000), true, 'not grown while open (a rotated file): done with, at once');
  appendFileSync(file, 'a last line without its newline');
  await tracker.pump();
  assert.equal(tracker.canGiveUpSlot(60_000), false, 'a held partial line keeps the slot');
  settled = caughtUp();
  appendFileSync(file, ', ended\n');
  await tracker.pump();
  await settled;
  assert.equal(records.at(-1), 'a last line without its newline, ended');
  assert.equal(tracker.canGiveUpSlot(60_000), false, 'grown while open (a live file): it keeps its slot');
  now += 60_000;
  assert.equal(tracker.canGiveUpSlot(60_000), true, 'until it has been quiet for closeIdleMs');
  assert.equal(tracker.opens, 1);
});

test('file tracker: idle close and the partial-line timeout count elapsed time when the wall clock steps a year back or forward', async (t) => {
  const YEAR = 365 * 24 * 3600 * 1000;
  const dir = await tempDir(t, 'gatehouse-tracker-');
  const file = join(dir, 'app.log');
  await writeFile(file, 'a\n');
  // The wall clock is stepped by NTP; the monotonic clock advances as time passes.
  const clock = { wall: Date.UTC(2030, 0, 1), mono: 1_000 };
  let onCaughtUp: (() => void) | undefined;
  const records: string[] = [];
  const ctx = testContext(records, {
    now: () => clock.wall,
    monotonic: () => clock.mono,
    partialLineTimeoutMs: 5_000,
    caughtUp: () => onCaughtUp?.(),
  });
  /** Append, read, and wait until it is committed (read to its end). */
  const grow = async (text: string): Promise<void> => {
    const settled = new Promise<void>((resolve) => (onCaughtUp = resolve));
    appendFileSync(file, text);
    await tracker.pump();
    await settled;
  };
  const st = await stat(file, { bigint: true });
  const tracker = new FileTracker(ctx, file, String(st.dev), String(st.ino), { hash: '', len: 0 }, 0, undefined);
  await tracker.open();
  t.after(() => tracker.close());
  await grow('b\n');
  assert.equal(tracker.canGiveUpSlot(60_000), false, 'a live file keeps its slot');
  clock.wall -= YEAR;
  clock.mono += 60_000;
  assert.equal(tracker.canGiveUpSlot(60_000), true, 'quiet for closeIdleMs after a step back: idle-closed, not held open for a year');
  await grow('c\n');
  clock.wall += 2 * YEAR;
  clock.mono += 1_000;
  assert.equal(tracker.canGiveUpSlot(60_000), false, 'a second quiet after a step forward: not idle yet');
  clock.mono += 59_000;
  assert.equal(tracker.canGiveUpSlot(60_000), true);

  appendFileSync(file, 'partial');
  await tracker.pump();
  clock.wall -= YEAR;
  clock.mono += 5_000;
  await tracker.check();
  assert.deepEqual(records, ['a', 'b', 'c', 'partial'], 'the partial line is flushed after partialLineTimeoutMs of quiet, across the step');
});

test('file tracker: a write seen while the file is being read (pump during a pump) is read by that pump, not left for the next event', async (t) => {
  const dir = await tempDir(t, 'gatehouse-tracker-');
  const live = join(dir, 'app.log');
  await writeFile(live, 'line 1\n');
  const records: string[] = [];
  let tracker: FileTracker | undefined;
  const ctx = testContext(records, {
    submit: (_t, r: SplitRecord) => {
      records.push(r.payload.toString());
      if (records.length <= 2) {
        // The writer appends after the read (the second one short: the loop's last) returned; its
        // change event asks for a read while this one runs.
        appendFileSync(live, `line ${records.length + 1}\n`);
        void tracker!.pump();
      }
      return Promise.resolve();
    },
  });
  const st = await stat(live, { bigint: true });
  tracker = new FileTracker(ctx, live, String(st.dev), String(st.ino), { hash: '', len: 0 }, 0, undefined);
  await tracker.open();
  t.after(() => tracker!.close());
  await tracker.pump();
  assert.deepEqual(records, ['line 1', 'line 2', 'line 3']);
});

const afterMicrotasks = (n: number, f: () => void): void => {
  if (n === 0) f();
  else queueMicrotask(() => afterMicrotasks(n - 1, f));
};

test('file tracker: a write seen any number of microtasks after the read that found the end is read, not left for the next event', async (t) => {
  const dir = await tempDir(t, 'gatehouse-tracker-');
  for (let n = 0; n <= 24; n++) {
    const live = join(dir, `app-${n}.log`);
    await writeFile(live, 'line 1\n');
    const records: string[] = [];
    const st = await stat(live, { bigint: true });
    const tracker = new FileTracker(testContext(records, {}), live, String(st.dev), String(st.ino), { hash: '', len: 0 }, 0, undefined);
    await tracker.open();
    // The read that finds the end (short, or none) ends the pump; its writer's change event comes
    // n microtasks after it returned, while the pump settles.
    const fh = tracker.fh!;
    const read = fh.read.bind(fh) as (buf: Buffer, off: number, len: number, pos: number) => Promise<{ bytesRead: number; buffer: Buffer }>;
    let poked: Promise<void> | undefined;
    let armed = true;
    (fh as unknown as { read: typeof read }).read = async (buf, off, len, pos) => {
      const r = await read(buf, off, len, pos);
      if (armed && r.bytesRead < len) {
        armed = false;
        afterMicrotasks(n, () => {
          appendFileSync(live, 'line 2\n');
          poked = tracker.pump();
        });
      }
      return r;
    };
    await tracker.pump();
    // (A large n comes after the pump settled: its pump() then starts a read of its own.)
    await new Promise<void>((r) => afterMicrotasks(n + 1, r));
    assert.ok(poked, `the write ${n} microtasks after the last read was made`);
    await poked;
    await tracker.close();
    assert.deepEqual(records, ['line 1', 'line 2'], `the write seen ${n} microtasks after the last read`);
  }
});
