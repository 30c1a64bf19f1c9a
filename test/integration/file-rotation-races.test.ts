// A tailed file rotated twice before the source looked again (within one scanIntervalMs, fs.watch
// events coalesced): the content that lived at the path in between must still be read exactly
// once, and content destroyed before any reader could see it must be reported, not silently lost.
// Each rotation runs as one synchronous block of fs calls: the source (same process) gets no turn
// in between, so it sees both rotations at once, every time. The source is idle before the block
// (scanIntervalMs 60 s: only the fs.watch events of the block make it look). One case rotates
// while the source is mid-file instead, held between two chunks (its state commits held).
import { metaEntries } from '../../core/message.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, renameSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { metricValue, waitUntil } from '../helpers/index.js';
import { copytruncateSync, expectExactly, fileRig, fileStatuses, logPath, numbered, range, waitLines, type FileRig } from '../helpers/file-rig.js';
import { encodeFile, fileName, HEAD_NAME, STATE_KEY, type SavedHead } from '../../gateway/pipeline/sources/file/state.js';
import { identityKey } from '../../gateway/pipeline/sources/file/identity.js';
import { committedState, decodeCommitted } from '../helpers/file-state.js';

/** Wait until every tracked file is open and read to its end with nothing in flight. */
async function caughtUp(r: FileRig, what: string): Promise<void> {
  await waitUntil(
    () => {
      const files = fileStatuses(r);
      const open = files.every((f) => (f.state === 'open' || f.state === 'draining') && f.offset === f.size && f.lagBytes === 0);
      return open && r.source.status().details?.inflightBytes === 0 ? true : undefined;
    },
    what,
    10_000,
    20,
  );
}

/** Waits for `want.length` lines (`what`) and every file read to its end, then checks the lines are exactly `want`, none twice. */
async function readExactly(r: FileRig, want: string[], what: string): Promise<void> {
  await waitLines(r, want.length, what);
  await caughtUp(r, 'every file read');
  expectExactly(await r.lines(), want);
}

async function idleRig(t: Parameters<typeof fileRig>[0], paths = ['logs/*.log']): Promise<{ r: FileRig; file: string; log: (n: string) => string }> {
  const r = await fileRig(t, { scanIntervalMs: 60_000, paths });
  const log = (n: string): string => logPath(r, n);
  const file = log('app.log');
  writeFileSync(file, numbered(0, 100));
  await r.source.start(r.intake);
  await waitLines(r, 100, 'the first 100 lines');
  await caughtUp(r, 'the source idle at the end of app.log');
  return { r, file, log };
}

test('rename and create twice within one scan: the file created and rotated away in between is read, nothing twice', async (t) => {
  const { r, file, log } = await idleRig(t);
  // logrotate (create) twice: app.log -> app.log.1, a new app.log, then app.log.1 -> app.log.2,
  // app.log -> app.log.1 and another new app.log. The writer writes to each file before the next
  // rotation (the first file also after its rename, before it reopened).
  appendFileSync(file, numbered(100, 110));
  renameSync(file, log('app.log.1'));
  appendFileSync(log('app.log.1'), numbered(110, 120));
  writeFileSync(file, numbered(120, 150));
  renameSync(log('app.log.1'), log('app.log.2'));
  renameSync(file, log('app.log.1'));
  writeFileSync(file, numbered(150, 200));
  await readExactly(r, range(0, 200), 'all 200 lines');
  assert.deepEqual(r.source.status().details?.vanished, []);
});

test('copytruncate twice within one scan: the content between the two truncations is read from the newer copy, nothing twice', async (t) => {
  const { r, file, log } = await idleRig(t);
  appendFileSync(file, numbered(100, 120));
  copytruncateSync(file, log('app.log.1'));
  appendFileSync(file, numbered(120, 150));
  renameSync(log('app.log.1'), log('app.log.2'));
  copytruncateSync(file, log('app.log.1'));
  appendFileSync(file, numbered(150, 170));
  await readExactly(r, range(0, 170), 'all 170 lines');
});

test('copytruncate twice, the second copy made but its truncation not yet done when the first is seen: nothing twice', async (t) => {
  const { r, file, log } = await idleRig(t);
  appendFileSync(file, numbered(100, 120));
  copytruncateSync(file, log('app.log.1'));
  appendFileSync(file, numbered(120, 150));
  renameSync(log('app.log.1'), log('app.log.2'));
  // logrotate's second run has copied the file, not truncated it yet: the copy is the live content.
  copyFileSync(file, log('app.log.1'));
  await waitUntil(() => (fileStatuses(r).some((f) => f.path === file && f.truncations === 1) ? true : undefined), 'the first truncation seen');
  await waitLines(r, 150, 'the first 150 lines');
  await caughtUp(r, 'every file read');
  // Now the truncate of the second run, and more lines.
  truncateSync(file, 0);
  appendFileSync(file, numbered(150, 170));
  await readExactly(r, range(0, 170), 'all 170 lines');
});

test('copytruncate again while the copy of the first one is being read: the second copy is read, nothing twice', async (t) => {
  const { r, file, log } = await idleRig(t);
  // The store stops taking writes: the source sees the first truncation, then waits before reading its copy.
  r.accepting = false;
  appendFileSync(file, numbered(100, 120));
  copytruncateSync(file, log('app.log.1'));
  appendFileSync(file, numbered(120, 150));
  await waitUntil(() => (fileStatuses(r).some((f) => f.path === file && f.truncations === 1) ? true : undefined), 'the first truncation seen');
  // The second copytruncate while the first copy waits to be read.
  appendFileSync(file, numbered(150, 160));
  renameSync(log('app.log.1'), log('app.log.2'));
  copytruncateSync(file, log('app.log.1'));
  appendFileSync(file, numbered(160, 170));
  r.accepting = true;
  await readExactly(r, range(0, 170), 'all 170 lines');
});

test('copytruncate of a file that was empty at the last look: the copied lines are read from the copy', async (t) => {
  const r = await fileRig(t, { scanIntervalMs: 60_000 });
  const log = (n: string): string => logPath(r, n);
  const file = log('app.log');
  writeFileSync(file, '');
  await r.source.start(r.intake);
  await waitUntil(() => (fileStatuses(r).some((f) => f.path === file && f.state === 'open') ? true : undefined), 'the empty file open');
  // Written, copied and truncated before the source read any of it: no first bytes to compare.
  appendFileSync(file, numbered(0, 50));
  copytruncateSync(file, log('app.log.1'));
  appendFileSync(file, numbered(50, 60));
  await waitLines(r, 60, 'all 60 lines').catch(async (err: unknown) => {
    t.diagnostic(JSON.stringify({ lines: (await r.lines()).length, status: fileStatuses(r), logs: r.logs.map((l) => l.msg) }));
    throw err;
  });
  await caughtUp(r, 'every file read');
  expectExactly(await r.lines(), range(0, 60));
});

test('rotated twice within one scan with a glob matching the rotated names: every copy is tailed once', async (t) => {
  const { r, file, log } = await idleRig(t, ['logs/app.log*']);
  // create twice, then copytruncate twice.
  renameSync(file, log('app.log.1'));
  writeFileSync(file, numbered(100, 150));
  renameSync(log('app.log.1'), log('app.log.2'));
  renameSync(file, log('app.log.1'));
  writeFileSync(file, numbered(150, 200));
  await waitLines(r, 200, '200 lines');
  await caughtUp(r, 'every file read');
  appendFileSync(file, numbered(200, 220));
  renameSync(log('app.log.2'), log('app.log.3'));
  renameSync(log('app.log.1'), log('app.log.2'));
  copytruncateSync(file, log('app.log.1'));
  appendFileSync(file, numbered(220, 250));
  for (const n of [3, 2, 1]) renameSync(log(`app.log.${n}`), log(`app.log.${n + 1}`));
  copytruncateSync(file, log('app.log.1'));
  appendFileSync(file, numbered(250, 270));
  await readExactly(r, range(0, 270), 'all 270 lines');
});

test('copytruncate twice while stopped, and a copy of the live content made while stopped: read once at restart', async (t) => {
  const { r, file, log } = await idleRig(t);
  await r.source.stop();
  appendFileSync(file, numbered(100, 120));
  copytruncateSync(file, log('app.log.1'));
  appendFileSync(file, numbered(120, 150));
  renameSync(log('app.log.1'), log('app.log.2'));
  copytruncateSync(file, log('app.log.1'));
  appendFileSync(file, numbered(150, 170));
  // A third run of logrotate copied the file and was stopped before its truncate.
  renameSync(log('app.log.2'), log('app.log.3'));
  renameSync(log('app.log.1'), log('app.log.2'));
  copyFileSync(file, log('app.log.1'));
  await r.restart();
  await readExactly(r, range(0, 170), 'all 170 lines');
  // Its truncate, later.
  truncateSync(file, 0);
  appendFileSync(file, numbered(170, 180));
  await readExactly(r, range(0, 180), 'all 180 lines');
});

test('two saved states for one copy (its own at 0, the truncated file it was copied from further on): the copy is read once, from the further offset', async (t) => {
  const { r, file, log } = await idleRig(t);
  await r.source.stop();
  // copytruncate while stopped: the copy holds the 100 lines read and committed from app.log.
  copytruncateSync(file, log('app.log.1'));
  appendFileSync(file, numbered(100, 130));
  // A run killed just after it began to track the copy on its own, from its start, left a second
  // state for it (at 0, nothing read yet); the state of app.log still says 100 lines were read.
  const raw = await committedState(r.intake);
  assert.ok(raw, 'a state was committed');
  const state = decodeCommitted(raw);
  assert.ok(state && !(state instanceof Error));
  const copy = statSync(log('app.log.1'));
  const second = { path: log('app.log.1'), dev: String(copy.dev), ino: String(copy.ino), fp: { hash: '', len: 0 }, offset: 0, headersLeft: 0 };
  await r.intake.commitMeta(STATE_KEY, () => [[fileName(identityKey(second.dev, second.ino)), encodeFile(second)]]);
  await r.restart();
  await readExactly(r, range(0, 130), 'all 130 lines');
});

test('the rotated copy of unread lines compressed before it was read (reader behind): the loss is reported with its size', async (t) => {
  const { r, file, log } = await idleRig(t);
  // The store stops taking writes (a full disk): the reader sees the file grow but cannot read on.
  r.accepting = false;
  appendFileSync(file, numbered(100, 120));
  const size = statSync(file).size;
  await waitUntil(() => (fileStatuses(r).some((f) => f.size === size) ? true : undefined), 'the source saw the file grow');
  // copytruncate with compress and no delaycompress: the copy is gone (app.log.1.gz is excluded).
  copytruncateSync(file, log('app.log.1'));
  appendFileSync(file, numbered(120, 150));
  renameSync(log('app.log.1'), log('app.log.1.gz'));
  r.accepting = true;
  await readExactly(r, [...range(0, 100), ...range(120, 150)], 'the lines after the rotation');
  const lost = Buffer.byteLength(numbered(100, 120));
  const vanished = r.source.status().details?.vanished as Array<{ path: string; unreadBytes: number | null }>;
  assert.deepEqual(
    vanished.map((v) => ({ path: v.path, unreadBytes: v.unreadBytes })),
    [{ path: file, unreadBytes: lost }],
  );
  assert.equal(await metricValue(r.registry, 'gatehouse_file_vanished_total', { source: 'app' }), 1);
  const warn = r.logs.find((l) => l.code === 'GH_FILE_VANISHED');
  assert.ok(warn, 'a GH_FILE_VANISHED warning is logged');
  assert.equal(warn.level, 40);
  assert.equal(warn.unreadBytes, lost);
});

test('copytruncate twice within one scan, the first copy deleted (rotate 1): the newer copy is read, the possible loss reported', async (t) => {
  const { r, file, log } = await idleRig(t);
  appendFileSync(file, numbered(100, 120));
  copytruncateSync(file, log('app.log.1'));
  appendFileSync(file, numbered(120, 150));
  unlinkSync(log('app.log.1'));
  copytruncateSync(file, log('app.log.1'));
  appendFileSync(file, numbered(150, 170));
  await waitLines(r, 150, 'the lines still on disk');
  await caughtUp(r, 'every file read');
  // Lines 100-119 were in the first copy only: destroyed before any reader could see them.
  expectExactly(await r.lines(), [...range(0, 100), ...range(120, 170)]);
  const vanished = r.source.status().details?.vanished as Array<{ path: string; unreadBytes: number | null }>;
  assert.deepEqual(
    vanished.map((v) => ({ path: v.path, unreadBytes: v.unreadBytes })),
    [{ path: file, unreadBytes: null }],
  );
  assert.equal(await metricValue(r.registry, 'gatehouse_file_vanished_total', { source: 'app' }), 1);
});

test('copytruncate whose copy appears only after the truncation was seen (a second rotation moving it on), the source holding the start of a line: the line is read whole from the copy, no fragment', async (t) => {
  const { r, file, log } = await idleRig(t);
  // The writer is mid-line: the source reads the line's start and holds it (no newline yet).
  appendFileSync(file, 'line 100 starts');
  const size = statSync(file).size;
  const read = (): number => {
    const files = (r.source.status().details?.files ?? []) as Array<{ path: string; bytesRead: number }>;
    return files.find((f) => f.path === file)?.bytesRead ?? 0;
  };
  await waitUntil(() => (read() >= size ? true : undefined), 'the line start read');
  // logrotate's copy lands (under the name the truncation's look had already searched) only once
  // the source saw the truncation: its log line of the event is that moment.
  r.onLog = (rec) => {
    if (rec.event !== 'truncated') return;
    r.onLog = undefined;
    writeFileSync(log('app.log.1'), `${numbered(0, 100)}line 100 starts and ends\n`);
  };
  truncateSync(file, 0);
  appendFileSync(file, numbered(101, 120));
  await waitLines(r, 120, 'all 120 lines');
  await caughtUp(r, 'every file read');
  const lines = await r.lines();
  expectExactly(lines, [...range(0, 100), 'line 100 starts and ends', ...range(101, 120)]);
  assert.equal(await metricValue(r.registry, 'gatehouse_file_partial_lines_total'), 0, 'no line emitted partial');
});

test('copytruncate whose copy appears only after the truncation was seen, with lines the source had not read yet: they are read from the copy, nothing twice', async (t) => {
  const { r, file, log } = await idleRig(t);
  // Lines written after the source's last read, copied away, then the file truncated: the copy
  // lands only once the source saw the truncation (as when logrotate moves copies on meanwhile).
  r.onLog = (rec) => {
    if (rec.event !== 'truncated') return;
    r.onLog = undefined;
    writeFileSync(log('app.log.1'), numbered(0, 110));
  };
  truncateSync(file, 0);
  appendFileSync(file, numbered(110, 120));
  await readExactly(r, range(0, 120), 'all 120 lines');
  assert.deepEqual(r.source.status().details?.vanished, [], 'nothing reported lost');
});

test('a line start held at a truncation with no copy: the state committed with its partial record already counts it read (a kill -9 right after cannot stream the line again)', async (t) => {
  const { r, file } = await idleRig(t);
  // A writer mid-line: its start is read and held (the rig's partial-line timeout is long).
  const start = 'line 100 the start of a line whose rest';
  appendFileSync(file, start);
  const oldSize = statSync(file).size;
  await waitUntil(() => (fileStatuses(r)[0]?.bytesRead ?? 0) >= oldSize || undefined, 'the held start read', 10_000, 20);
  // Every submit and meta commit from now on, in order (the intake is a plain object the source holds).
  const seen: Array<{ partial?: string; read?: Array<{ offset: number }> }> = [];
  const { submit, commitMeta } = r.intake;
  r.intake.submit = (m) => {
    const text = m.payload.toString();
    if (text.endsWith(' [partial]')) seen.push({ partial: text });
    return submit(m);
  };
  // (the state's head, with the content read before, as the store makes it when it cuts the batch)
  r.intake.commitMeta = (key, value) =>
    commitMeta(key, () => {
      const entries = metaEntries(value);
      const head = entries.find(([name]) => name === HEAD_NAME)?.[1];
      if (head) seen.push({ read: (JSON.parse(head.toString()) as SavedHead).read ?? [] });
      return entries;
    });
  // Truncated in place, no copy anywhere: the held start is emitted with the partial marker.
  truncateSync(file, 0);
  appendFileSync(file, numbered(101, 110, 'new'));
  await waitLines(r, 110, '100 lines, the partial start, 9 new lines');
  const at = seen.findIndex((s) => s.partial !== undefined);
  assert.ok(at >= 0, 'the held start was emitted as a partial record');
  assert.equal(seen[at]!.partial, `${start} [partial]`);
  // The meta committed in the same group commit as that record (the next one submitted).
  const withIt = seen.slice(at + 1).find((s) => s.read !== undefined);
  assert.ok(withIt, 'a state was committed with the partial record');
  assert.ok(
    withIt.read!.some((c) => c.offset === oldSize),
    `the old content is recorded read up to ${oldSize} (past the held start), not up to the line's start: offsets ${JSON.stringify(withIt.read!.map((c) => c.offset))}`,
  );
});

test('copytruncate while the source is mid-file between two chunks, and the new content written past its position before its next read: the rest of the old content read from the copy, the new content from 0, nothing twice', async (t) => {
  // 64 KiB chunks over 1 MiB of old content: the source stops between two chunks of it (the
  // window: it looks for a truncation only every 16 chunks, or after a wait for room).
  const r = await fileRig(t, { scanIntervalMs: 60_000, readChunkBytes: 64 * 1024 });
  const log = (n: string): string => logPath(r, n);
  const file = log('app.log');
  const old = numbered(0, 20_000, 'old');
  const oldBytes = Buffer.byteLength(old);
  writeFileSync(file, old);
  // The deterministic window: the state commits are held, so the read loop, once it has read its
  // second chunk, waits for the first chunk's state (stateWritten) before emitting it, and reads on
  // from its old position once they are released. (A real store taking its time to write the state.)
  const { commitMeta } = r.intake;
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  r.beforeStop.push(release);
  r.intake.commitMeta = (key, value) => released.then(() => commitMeta(key, value));
  await r.source.start(r.intake);
  await waitUntil(() => ((fileStatuses(r)[0]?.bytesRead ?? 0) >= 128 * 1024 ? true : undefined), 'two chunks read', 10_000, 5);
  // copytruncate, and the writer (faster than the source) writes new content past its position.
  copytruncateSync(file, log('app.log.1'));
  appendFileSync(file, numbered(0, 30_000, 'new'));
  const total = 20_000 + 30_000;
  release();
  await waitLines(r, total, `all ${total} lines`).catch(() => undefined);
  await caughtUp(r, 'every file read').catch(() => undefined);
  t.diagnostic(
    `old content ${oldBytes} bytes; ${JSON.stringify(fileStatuses(r).map((f) => ({ path: f.path, truncations: f.truncations, offset: f.offset })))}`,
  );
  expectExactly(await r.lines(), [...range(0, 20_000, 'old'), ...range(0, 30_000, 'new')]);
  assert.deepEqual(r.source.status().details?.vanished, [], 'nothing reported lost');
  assert.equal(fileStatuses(r)[0]?.truncations, 1);
});
