// A file truncated in place (no rotated copy anywhere) while the store refuses the source's records
// (a full `reject` stream: appends wait for space, then fail with GH_STREAM_FULL). The lines read
// from the old content before the truncation and refused after the source saw it can no longer be
// read again from the file: they must still reach the stream (submitted again from memory), or,
// when the source stops before the store takes them, be reported lost with their size (status
// `vanished`, GH_FILE_VANISHED warning, gatehouse_file_vanished_total): never dropped silently.
// The same for the partial record of a line start held at a truncation (in place, or at the end of
// a copytruncate copy that stops mid-line): its rest is in no file. The refusals are let go only
// once the source has logged the truncation (the moment it handles it) or submitted the record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { metricValue, waitUntil } from '../helpers/index.js';
import { allThere, fileRig, fileStatuses, holdingIntake, numbered, range, waitLines, type FileRig } from '../helpers/file-rig.js';
import { committedState, committedText, restoreState } from '../helpers/file-state.js';

type Vanished = Array<{ path: string; unreadBytes: number | null }>;

const vanished = (r: FileRig): Vanished => ((r.source.status().details?.vanished ?? []) as Vanished).map((v) => ({ path: v.path, unreadBytes: v.unreadBytes }));

async function truncationLogged(r: FileRig): Promise<void> {
  await waitUntil(() => r.logs.some((l) => l.event === 'truncated') || undefined, 'the truncation seen (logged)', 10_000, 20);
}

/** 100 lines committed, then lines 100..149 read and submitted, their submits waiting in the full stream. */
async function heldLines(t: Parameters<typeof fileRig>[0]): Promise<{ r: FileRig; h: ReturnType<typeof holdingIntake>; file: string }> {
  const r = await fileRig(t, {});
  const file = join(r.dir, 'logs', 'app.log');
  const h = holdingIntake(r);
  writeFileSync(file, numbered(0, 100));
  await r.source.start(h.intake);
  await waitLines(r, 100, 'the first 100 lines');
  h.hold = true;
  appendFileSync(file, numbered(100, 150));
  await waitUntil(() => h.held >= 50 || undefined, 'lines 100..149 submitted (waiting in the full stream)', 10_000, 20);
  return { r, h, file };
}

/**
 * 100 lines committed, then a writer mid-line: the start of line 100 read and held (no
 * partial-line timeout: the held start is emitted only at a truncation); from here submits wait.
 */
async function heldLineStart(t: Parameters<typeof fileRig>[0]): Promise<{ r: FileRig; h: ReturnType<typeof holdingIntake>; file: string; start: string }> {
  const r = await fileRig(t, { partialLineTimeoutMs: 0 });
  const file = join(r.dir, 'logs', 'app.log');
  const h = holdingIntake(r);
  writeFileSync(file, numbered(0, 100));
  await r.source.start(h.intake);
  await waitLines(r, 100, 'the first 100 lines');
  const start = 'line 100 the start of a line whose rest never comes';
  appendFileSync(file, start);
  const size = statSync(file).size;
  await waitUntil(() => (fileStatuses(r)[0]?.bytesRead ?? 0) >= size || undefined, 'the held start read', 10_000, 20);
  h.hold = true;
  return { r, h, file, start };
}

test('truncated in place while submitted lines wait in a full stream, then refused: they are submitted again, none lost', async (t) => {
  const { r, h, file } = await heldLines(t);
  truncateSync(file, 0);
  appendFileSync(file, numbered(150, 160));
  await truncationLogged(r);
  h.hold = false;
  h.refuse();
  await allThere(r, range(0, 160), 'every line (the refused ones submitted again)');
  assert.deepEqual(vanished(r), [], 'nothing reported lost');
  assert.ok((await metricValue(r.registry, 'gatehouse_file_rewinds_total', { source: 'app' })) >= 1, 'the refusal counted as a rewind');
  // Killed now (every line committed, and the state saying so): the restart reports nothing lost.
  await waitUntil(async () => !committedText(await committedState(r.intake)).includes('inMemoryBytes') || undefined, 'a state without bytes held', 10_000, 20);
  await restartFromCommitted(r, h);
  await caughtUpAfterRestart(r);
  assert.deepEqual(vanished(r), [], 'nothing reported lost after a kill once the store took them');
});

/**
 * What a kill -9 leaves: the state committed so far. The source is stopped (its own report of the
 * loss at a stop is not what is tested), the killed run's state put back, and a new source started.
 */
async function restartFromCommitted(r: FileRig, h: ReturnType<typeof holdingIntake>): Promise<void> {
  const committed = await committedState(r.intake);
  assert.ok(committed, 'a state was committed');
  const stopped = r.source.stop();
  h.refuse();
  await stopped;
  h.hold = false;
  await restoreState(r.intake, committed);
  await r.restart();
}

async function caughtUpAfterRestart(r: FileRig): Promise<void> {
  await waitUntil(() => fileStatuses(r).some((f) => f.size > 0 && f.lagBytes === 0) || undefined, 'the restarted source caught up', 10_000, 20);
}

test('truncated in place while lines are refused, and the gateway killed before the store takes them: the restart reports the loss with its size', async (t) => {
  const { r, h, file } = await heldLines(t);
  truncateSync(file, 0);
  appendFileSync(file, numbered(150, 160));
  await truncationLogged(r);
  h.refuse();
  await waitUntil(() => h.held >= 50 || undefined, 'lines 100..149 submitted again from memory (waiting in the full stream)', 10_000, 20);
  // kill -9 here: lines 100..149 were only in memory. Before, the restart only logged a file
  // truncated while stopped: the loss was neither listed nor counted.
  await restartFromCommitted(r, h);
  await allThere(r, range(150, 160), 'the new content, read from its start');
  const lost = Buffer.byteLength(numbered(100, 150));
  assert.deepEqual(vanished(r), [{ path: file, unreadBytes: lost }]);
  const warn = r.logs.filter((l) => l.code === 'GH_FILE_VANISHED').at(-1);
  assert.ok(warn, 'a GH_FILE_VANISHED warning is logged');
  assert.equal(warn.unreadBytes, lost);
  assert.match(String(warn.msg), /truncation in place.*only in memory.*went down/);
});

test('truncated in place with a line start held: its partial record refused is submitted again, not lost', async (t) => {
  const { r, h, file, start } = await heldLineStart(t);
  truncateSync(file, 0);
  appendFileSync(file, numbered(101, 110, 'new'));
  await truncationLogged(r);
  await waitUntil(() => h.held >= 1 || undefined, 'the partial record submitted (waiting in the full stream)', 10_000, 20);
  h.hold = false;
  h.refuse();
  await allThere(r, [...range(0, 100), `${start} [partial]`, ...range(101, 110, 'new')], 'every line and the partial start');
  assert.deepEqual(vanished(r), [], 'nothing reported lost');
});

test('truncated in place while lines are refused, and the source stops before the store takes them: the loss is reported with its size', async (t) => {
  const { r, h, file } = await heldLines(t);
  truncateSync(file, 0);
  appendFileSync(file, numbered(150, 160));
  await truncationLogged(r);
  // Refused, and still refused when submitted again (the stream stays full)...
  h.refuse();
  await waitUntil(() => h.held >= 50 || undefined, 'lines 100..149 submitted again (waiting in the full stream)', 10_000, 20);
  // ... until the source stops: the last refusal comes while it stops.
  const stopped = r.source.stop();
  h.refuse();
  await stopped;
  const lost = Buffer.byteLength(numbered(100, 150));
  assert.deepEqual(vanished(r), [{ path: file, unreadBytes: lost }]);
  assert.equal(await metricValue(r.registry, 'gatehouse_file_vanished_total', { source: 'app' }), 1);
  const warn = r.logs.find((l) => l.code === 'GH_FILE_VANISHED');
  assert.ok(warn, 'a GH_FILE_VANISHED warning is logged');
  assert.equal(warn.level, 40);
  assert.equal(warn.unreadBytes, lost);
  assert.match(String(warn.msg), /truncated in place .*refused by the store .*stopped before the store took them/);
  const have = new Set(await r.lines());
  assert.deepEqual(
    range(0, 100).filter((l) => !have.has(l)),
    [],
    'the lines committed before are in the stream',
  );
});

test('a line start held at a truncation in place, its partial record refused until the source stops: the loss is reported with its size', async (t) => {
  const { r, h, file, start } = await heldLineStart(t);
  truncateSync(file, 0);
  appendFileSync(file, numbered(101, 110, 'new'));
  await waitUntil(() => h.held >= 1 || undefined, 'the partial record submitted (waiting in the full stream)', 10_000, 20);
  const refusedBefore = h.refused;
  h.refuse();
  await waitUntil(() => (h.refused > refusedBefore && h.held >= 1) || undefined, 'the partial record submitted again', 10_000, 20);
  const stopped = r.source.stop();
  h.refuse();
  await stopped;
  assert.deepEqual(vanished(r), [{ path: file, unreadBytes: Buffer.byteLength(start) }]);
  assert.equal(await metricValue(r.registry, 'gatehouse_file_vanished_total', { source: 'app' }), 1);
  const warn = r.logs.find((l) => l.code === 'GH_FILE_VANISHED');
  assert.ok(warn, 'a GH_FILE_VANISHED warning is logged');
  assert.equal(warn.unreadBytes, Buffer.byteLength(start));
});

test('refused and rewound, then truncated in place before the lines are read again: they are submitted again, none lost', async (t) => {
  const { r, h, file } = await heldLines(t);
  // Truncated in place at the moment of the rewind (its log line), before the pause after which
  // the lines would be read again from the file: they are in no file now.
  r.onLog = (rec) => {
    if (rec.event !== 'rewind') return;
    r.onLog = undefined;
    truncateSync(file, 0);
    appendFileSync(file, numbered(150, 160));
  };
  h.hold = false;
  h.refuse();
  await allThere(r, range(0, 160), 'every line (the refused ones submitted again)');
  assert.deepEqual(vanished(r), [], 'nothing reported lost');
  assert.ok(
    r.logs.some((l) => l.event === 'resubmit'),
    'submitted again from memory',
  );
});

test('copytruncate whose copy ends mid-line: the partial record of its end, refused, is submitted again, not lost', async (t) => {
  const r = await fileRig(t, { partialLineTimeoutMs: 0 });
  const file = join(r.dir, 'logs', 'app.log');
  const h = holdingIntake(r);
  writeFileSync(file, numbered(0, 100));
  await r.source.start(h.intake);
  await waitLines(r, 100, 'the first 100 lines');
  // logrotate copies while the writer is mid-line: the copy ends with the line's start, which the
  // source holds (read from the file before the truncation); the rest of the line is in no file.
  const start = 'line 100 the start of a line cut by the copy';
  appendFileSync(file, start);
  const size = statSync(file).size;
  await waitUntil(() => (fileStatuses(r)[0]?.bytesRead ?? 0) >= size || undefined, 'the held start read', 10_000, 20);
  h.hold = true;
  copyFileSync(file, join(r.dir, 'logs', 'app.log.1'));
  truncateSync(file, 0);
  appendFileSync(file, numbered(101, 110, 'new'));
  await waitUntil(() => r.logs.some((l) => l.event === 'copytruncate') || undefined, 'the copytruncate seen', 10_000, 20);
  await waitUntil(() => h.held >= 1 || undefined, 'the partial record submitted (waiting in the full stream)', 10_000, 20);
  h.hold = false;
  h.refuse();
  await allThere(r, [...range(0, 100), `${start} [partial]`, ...range(101, 110, 'new')], 'every line and the partial start');
  assert.deepEqual(vanished(r), [], 'nothing reported lost');
});
