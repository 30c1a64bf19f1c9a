// The lines of one path in the order written when several rotated files of it hold unread lines at
// a start, or when a file was created at the path and rotated away again before the source looked
// (real files, real renames, a real store). Every line exactly once, and in order:
// - two rotated files known to the saved state (the source was behind: the first renamed file not
//   read to its end, the second not read at all when it stopped; rotated again while stopped): the
//   one saved as rotated first, whatever name or listing order they come in (app.log.1, the newer,
//   is listed before app.log.2; without a glob, the state's keys come by identity);
// - files unknown to the state (created at app.log and rotated away while stopped): after the known
//   ones, oldest first, also when `paths` matches their names (app.log*): before, such a file was
//   tailed as a file of its own, read at the same time as the files before and after it;
// - the same two (or three) rotations between two looks while the source runs (app.log*).
// The source is held behind by big files (300,000 lines) and stops (or rotates) as soon as a first
// line of its read is in the stream.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, writeFileSync, appendFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { waitUntil } from '../helpers/index.js';
import { fileRig, numbered, type FileRig } from '../helpers/file-rig.js';
import { committedState, decodeCommitted } from '../helpers/file-state.js';
import type { SavedFile } from '../../gateway/pipeline/sources/file/tracker-context.js';

const A = 300_000;
const B = 100_000;
const C = 100_000;

/** Every line 0..total-1 exactly once, in order. */
async function checkOrder(t: TestContext, r: FileRig, total: number): Promise<void> {
  await waitUntil(async () => ((await r.store.info('logs')).lastSeq >= total ? true : undefined), `all ${total} lines read`, 60_000, 20);
  // The last lines' state committed, and nothing more to come (a duplicate would come with them).
  await r.source.stop();
  const got = (await r.lines()).map((l) => Number(l.split(' ')[1]));
  const count = new Map<number, number>();
  for (const n of got) count.set(n, (count.get(n) ?? 0) + 1);
  const duplicates = [...count.values()].filter((c) => c > 1).length;
  const missing: number[] = [];
  for (let i = 0; i < total && missing.length < 5; i++) if (!count.has(i)) missing.push(i);
  let inversions = 0;
  let first: { record: number; n: number; after: number } | undefined;
  let prev = -1;
  got.forEach((n, at) => {
    if (n < prev) {
      inversions++;
      first ??= { record: at + 1, n, after: prev };
    }
    prev = Math.max(prev, n);
  });
  t.diagnostic(
    `${got.length} streamed of ${total}; ${inversions} out of order${first ? `, first: line ${first.n} as record ${first.record}, after line ${first.after}` : ''}`,
  );
  assert.deepEqual({ duplicates, missing, inversions, first }, { duplicates: 0, missing: [], inversions: 0, first: undefined });
}

/** Start (or start again) and stop once a line of this run is in the stream. */
async function runBriefly(r: FileRig, started: boolean): Promise<void> {
  const before = (await r.store.info('logs')).lastSeq;
  if (started) await r.restart();
  else await r.source.start(r.intake);
  await waitUntil(async () => ((await r.store.info('logs')).lastSeq > before ? true : undefined), 'a line read', 30_000, 2);
  await r.source.stop();
}

async function savedFiles(r: FileRig): Promise<SavedFile[]> {
  const c = await committedState(r.intake);
  const s = c && decodeCommitted(c);
  assert.ok(s && !(s instanceof Error), 'a committed state');
  return s.files;
}

/** The saved state of the file now at `path`. */
function savedOf(files: SavedFile[], path: string): SavedFile | undefined {
  const st = statSync(path, { bigint: true });
  return files.find((f) => f.dev === String(st.dev) && f.ino === String(st.ino));
}

for (const pattern of ['app.log', 'app.log*']) {
  test(`two rotated files known to the saved state, with unread lines, rotated again while stopped (${pattern}): read oldest first, then the new file`, async (t) => {
    const r = await fileRig(t, { paths: [`logs/${pattern}`] });
    const logs = join(r.dir, 'logs');
    const file = join(logs, 'app.log');
    // The second file's inode is made before the first's (a file made aside and renamed into
    // place): the state's keys (by identity) do not come in the order written either.
    writeFileSync(join(logs, 'next'), '');
    writeFileSync(file, numbered(0, A));
    await runBriefly(r, false);
    // Rotated while stopped: the saved file is now app.log.1, unread lines left in it.
    renameSync(file, join(logs, 'app.log.1'));
    renameSync(join(logs, 'next'), file);
    appendFileSync(file, numbered(A, A + B));
    await runBriefly(r, true);
    const saved = await savedFiles(r);
    const first = savedOf(saved, join(logs, 'app.log.1'));
    const second = savedOf(saved, file);
    assert.ok(first && first.offset < statSync(join(logs, 'app.log.1')).size, `app.log.1 saved, not read to its end: ${JSON.stringify(first)}`);
    assert.ok(second && second.offset === 0, `app.log saved, not read: ${JSON.stringify(second)}`);
    // Rotated again while stopped: app.log.1 -> app.log.2, app.log -> app.log.1, a new app.log.
    renameSync(join(logs, 'app.log.1'), join(logs, 'app.log.2'));
    renameSync(file, join(logs, 'app.log.1'));
    writeFileSync(file, numbered(A + B, A + B + C));
    await r.restart();
    await checkOrder(t, r, A + B + C);
  });

  test(`two rotations while stopped (${pattern}): the file created at app.log and rotated away unseen is read after the saved file and before the new one`, async (t) => {
    const r = await fileRig(t, { paths: [`logs/${pattern}`] });
    const logs = join(r.dir, 'logs');
    const file = join(logs, 'app.log');
    writeFileSync(file, numbered(0, A));
    await runBriefly(r, false);
    renameSync(file, join(logs, 'app.log.1'));
    writeFileSync(file, numbered(A, A + B));
    renameSync(join(logs, 'app.log.1'), join(logs, 'app.log.2'));
    renameSync(file, join(logs, 'app.log.1'));
    writeFileSync(file, numbered(A + B, A + B + C));
    await r.restart();
    await checkOrder(t, r, A + B + C);
  });
}

test('three rotations while stopped (app.log*): the two files unknown to the state are read oldest first, after the saved file and before the new one', async (t) => {
  const r = await fileRig(t, { paths: ['logs/app.log*'] });
  const logs = join(r.dir, 'logs');
  const file = join(logs, 'app.log');
  writeFileSync(file, numbered(0, A));
  await runBriefly(r, false);
  // logrotate's names: the oldest has the highest number.
  const parts = [A, A + B / 2, A + B, A + B + C];
  for (let i = 1; i < parts.length; i++) {
    for (let k = i; k >= 1; k--) renameSync(k === 1 ? file : join(logs, `app.log.${k - 1}`), join(logs, `app.log.${k}`));
    writeFileSync(file, numbered(parts[i - 1]!, parts[i]!));
  }
  await r.restart();
  await checkOrder(t, r, A + B + C);
});

// Three rotations: the two files created at app.log and rotated away unseen are found by one scan,
// listed newest first (app.log.1, app.log.2), and read oldest first.
for (const rotations of [2, 3]) {
  test(`${rotations === 2 ? 'two' : 'three'} rotations between two looks while the source reads (app.log*): the files created at app.log and rotated away before the look are read after the renamed file and before the new one`, async (t) => {
    const r = await fileRig(t, { paths: ['logs/app.log*'] });
    const logs = join(r.dir, 'logs');
    const file = join(logs, 'app.log');
    writeFileSync(file, numbered(0, A));
    await r.source.start(r.intake);
    await waitUntil(async () => ((await r.store.info('logs')).lastSeq > 0 ? true : undefined), 'a line read', 30_000, 2);
    // In one synchronous run: the source (same process) cannot look in between.
    const parts = rotations === 2 ? [A, A + B, A + B + C] : [A, A + B / 2, A + B, A + B + C];
    for (let i = 1; i < parts.length; i++) {
      for (let k = i; k >= 1; k--) renameSync(k === 1 ? file : join(logs, `app.log.${k - 1}`), join(logs, `app.log.${k}`));
      writeFileSync(file, numbered(parts[i - 1]!, parts[i]!));
    }
    await checkOrder(t, r, A + B + C);
  });
}
