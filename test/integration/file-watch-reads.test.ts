// A change event in a watched folder reads the file it names, not every open file: each event read
// all of them, so 2,000 files written to once a second each queued 4 million reads a second (the
// gateway's heap ran out within a minute: test/bench/file-state.js steady). Real files, real store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileRig, waitLines } from '../helpers/file-rig.js';
import { FileTracker } from '../../gateway/pipeline/sources/file/tracker.js';

test('a file written to is read on its own: an event in the folder does not read every open file', async (t) => {
  const r = await fileRig(t, { scanIntervalMs: 60_000 });
  const logs = join(r.dir, 'logs');
  await mkdir(logs, { recursive: true });
  for (let f = 0; f < 40; f++) await writeFile(join(logs, `f${f}.log`), `f${f} line 0\n`);
  const reads = new Map<string, number>();
  const pump = FileTracker.prototype.pump;
  FileTracker.prototype.pump = function (this: FileTracker) {
    reads.set(this.path, (reads.get(this.path) ?? 0) + 1);
    return pump.call(this);
  };
  t.after(() => {
    FileTracker.prototype.pump = pump;
  });
  await r.source.start(r.intake);
  await waitLines(r, 40, 'the first line of each file');
  reads.clear();
  const written = join(logs, 'f0.log');
  for (let i = 1; i <= 20; i++) {
    await appendFile(written, `f0 line ${i}\n`);
    await waitLines(r, 40 + i, `line ${i} of f0`);
  }
  let others = 0;
  for (const [path, n] of reads) if (path !== written) others += n;
  assert.ok((reads.get(written) ?? 0) >= 20, `f0 read at each write: ${reads.get(written)}`);
  assert.ok(others <= 39, `the 39 other files were read ${others} times for 20 writes to f0`);
});
