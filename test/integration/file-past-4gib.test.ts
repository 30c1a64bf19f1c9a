// Months of uptime on a tailed file: a log written for a year passes 4 GiB (2^32 bytes), where an
// offset kept in 32 bits would wrap. A sparse file (truncate: no 4 GiB written to the disk) that
// ends 100 bytes before the mark, lines appended across it; the real file source and store
// (test/helpers/file-rig.ts): the lines across the mark, the committed offset past it and a
// restart resuming there (nothing read twice, nothing skipped), then a rename-and-create rotation
// (the old file read to its end) and, on a second such file, a truncation in place seen as one
// (size < offset), both with offsets past 2^32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, rename, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitUntil } from '../helpers/index.js';
import { expectExactly, fileRig as rig, fileStatuses, numbered, range, waitLines } from '../helpers/file-rig.js';

const MARK = 2 ** 32;

test('a tailed file past 4 GiB: lines across the mark, the offset past it resumed after a restart, rotation and truncation detected', async (t) => {
  const r = await rig(t, { initialPosition: 'end_of_file' });
  const file = join(r.dir, 'logs', 'app.log');
  const other = join(r.dir, 'logs', 'other.log');
  const statusOf = (path: string) => fileStatuses(r).find((f) => f.path === path);
  for (const f of [file, other]) {
    // Heads of their own: a file's identity across a rotation is the fingerprint of its first bytes.
    await writeFile(f, numbered(0, 3, `head of ${f}`));
    await truncate(f, MARK - 100); // sparse: its end is 100 bytes before the mark
  }
  await r.source.start(r.intake);
  await waitUntil(() => statusOf(file)?.offset === MARK - 100 || undefined, 'the tail at the end of the file', 10_000, 20);

  await appendFile(file, numbered(0, 50)); // 'line 0\n'..'line 49\n': 440 bytes, across the mark
  expectExactly(await waitLines(r, 50, 'the lines across the mark'), range(0, 50));
  const end1 = (await stat(file)).size;
  assert.ok(end1 > MARK);
  await waitUntil(() => statusOf(file)?.offset === end1 || undefined, 'the offset past the mark', 10_000, 20);

  // A restart resumes at the committed offset past 2^32 (a 32-bit one would read 4 GiB of zeros again or skip).
  await r.restart();
  await appendFile(file, numbered(50, 100));
  expectExactly(await waitLines(r, 100, 'after the restart'), range(0, 100));
  const st = statusOf(file)!;
  assert.equal(st.truncations, 0);

  // Rename-and-create rotation: the writer appends to the renamed file, then the new one.
  await rename(file, join(r.dir, 'logs', 'app.log.1'));
  await appendFile(join(r.dir, 'logs', 'app.log.1'), numbered(100, 120));
  await writeFile(file, numbered(120, 150));
  expectExactly(await waitLines(r, 150, 'after the rotation'), range(0, 150));
  await waitUntil(() => fileStatuses(r).length === 2 || undefined, 'the rotated file retired', 10_000, 20);

  // The other file, tailed past the mark too, is truncated in place: size < offset, read again from 0.
  await appendFile(other, numbered(0, 50, 'b'));
  await waitUntil(() => (statusOf(other)?.offset ?? 0) > MARK || undefined, "the other file's offset past the mark", 10_000, 20);
  await truncate(other, 0);
  await appendFile(other, numbered(50, 60, 'b'));
  expectExactly(await waitLines(r, 210, 'after the truncation'), [...range(0, 150), ...range(0, 60, 'b')]);
  assert.equal(statusOf(other)!.truncations, 1, 'the truncation counted');
});
