// A restart finds the tailed file's own inode renamed away holding content the state never saw:
// found by the chaos soak (test/bench/chaos.ts, seed 3, round 13), where 903 lines on disk were
// never read and nothing reported them. The file source saved app.log's identity (inode X) with its
// first bytes; while it could not look (stopped, or stuck re-reading a copy while the disk was
// full, then killed), app.log went through copytruncate twice (same inode, new content each time)
// and a create rotation renamed inode X, now holding the content written after the second
// truncate, to app.log.3. At the restart that file is not "the saved file" (its first bytes
// differ), but the look for files rotated while stopped skipped it as one, by its identity alone.
// Real files, a real store (through test/helpers/file-rig.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, copyFile, rename, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitUntil } from '../helpers/index.js';
import { expectExactly, fileRig, fileStatuses, numbered, range, waitLines } from '../helpers/file-rig.js';
import { committedState, decodeCommitted, restoreState } from '../helpers/file-state.js';

/**
 * More lines, copytruncate (app.log.1 holds lines 0-149), lines 150-199 written and copytruncated
 * again (app.log.2), lines 200-249 written, then app.log (inode X, holding 200-249 only) renamed to
 * app.log.3 and a new app.log with 250-299.
 */
async function rotateThrice(logs: string, file: string): Promise<void> {
  await appendFile(file, numbered(100, 150));
  await copyFile(file, join(logs, 'app.log.1'));
  await truncate(file, 0);
  await appendFile(file, numbered(150, 200));
  await copyFile(file, join(logs, 'app.log.2'));
  await truncate(file, 0);
  await appendFile(file, numbered(200, 250));
  await rename(file, join(logs, 'app.log.3'));
  await writeFile(file, numbered(250, 300));
}

test('restart: the saved inode renamed away with content written after two copytruncates is read, with every other piece, once', async (t) => {
  const r = await fileRig(t, { paths: ['logs/app.log'] });
  const logs = join(r.dir, 'logs');
  const file = join(logs, 'app.log');
  await writeFile(file, numbered(0, 100));
  await r.source.start(r.intake);
  await waitLines(r, 100, 'the first lines');
  await r.source.stop();
  // While stopped: the rotations the state never sees.
  await rotateThrice(logs, file);
  await r.restart();
  await waitLines(r, 300, 'every line: the rest of app.log.1, app.log.2, app.log.3 and the new app.log');
  expectExactly(await r.lines(), range(0, 300));
});

test('running, while the store takes no writes: the same rotations are all read once writes resume', async (t) => {
  const r = await fileRig(t, { paths: ['logs/app.log'] });
  const logs = join(r.dir, 'logs');
  const file = join(logs, 'app.log');
  await writeFile(file, numbered(0, 100));
  await r.source.start(r.intake);
  await waitLines(r, 100, 'the first lines');
  r.accepting = false;
  await rotateThrice(logs, file);
  r.accepting = true;
  await waitLines(r, 300, 'every line once writes resume');
  expectExactly(await r.lines(), range(0, 300));
});

test('restart: a rotated file read to its end and compressed away meanwhile is not reported lost (logrotate compress after a kill)', async (t) => {
  // Drained until quiet for rotateWaitMs: still tracked (and saved) when the gateway is killed.
  const r = await fileRig(t, { paths: ['logs/app.log'], rotateWaitMs: 60_000 });
  const logs = join(r.dir, 'logs');
  const file = join(logs, 'app.log');
  await writeFile(file, numbered(0, 50));
  await r.source.start(r.intake);
  await waitLines(r, 50, 'the first lines');
  await rename(file, join(logs, 'app.log.1'));
  await writeFile(file, numbered(50, 60));
  await waitLines(r, 60, 'the new file too');
  // kill -9 once the state committed says the rotated file was read to its end.
  const committed = await waitUntil(
    async () => {
      const raw = await committedState(r.intake);
      const state = raw ? decodeCommitted(raw) : undefined;
      const drained = state instanceof Error ? undefined : state?.files.find((f) => f.rotatedSize !== undefined && f.offset >= f.rotatedSize);
      return drained ? raw : undefined;
    },
    'a state with the rotated file read to its end',
    10_000,
    20,
  );
  await r.source.stop();
  await restoreState(r.intake, committed);
  // While stopped, the next logrotate run compresses it (app.log.1 -> app.log.2.gz, excluded).
  await rename(join(logs, 'app.log.1'), join(logs, 'app.log.2.gz'));
  await r.restart();
  await waitUntil(() => fileStatuses(r).some((f) => f.path === file) || undefined, 'app.log tracked again', 10_000, 20);
  // Before: `vanished: [{ path: .../app.log.1, unreadBytes: null }]` and a GH_FILE_VANISHED warning.
  assert.deepEqual(r.source.status().details?.vanished, []);
  assert.equal(
    r.logs.some((l) => l.code === 'GH_FILE_VANISHED'),
    false,
  );
  await appendFile(file, numbered(60, 70));
  await waitLines(r, 70, 'the lines after the restart');
  expectExactly(await r.lines(), range(0, 70));
});
