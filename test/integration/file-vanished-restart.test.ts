// A file read to its end, then deleted while the gateway was stopped and created anew at its path
// (an application restarted during a maintenance window): at the restart the old file cannot be
// found. What was written to it after the last read is not known: perhaps nothing. Before, the
// warning said `disappeared with unread data (an unknown number of bytes) ... raise maxOpenFiles if
// it waited for a slot`, after a clean stop with every line read (found by a user trial, round 39).
// Real files and a real store (test/helpers/file-rig.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rename, rm, writeFile } from 'node:fs/promises';
import { fileRig as rig, logPath, numbered, range, waitLines } from '../helpers/file-rig.js';

test('a file gone at a restart is reported with the offset read to and that nothing may be lost; the new file is read from its start', async (t) => {
  const r = await rig(t, {});
  const file = logPath(r, 'app.log');
  await writeFile(file, numbered(0, 10));
  await r.source.start(r.intake);
  await waitLines(r, 10, 'the old file');
  await r.source.stop();
  // The new file made before the old one goes, so that it does not reuse the old one's inode.
  await writeFile(`${file}.new`, numbered(0, 3, 'new'));
  await rm(file);
  await rename(`${file}.new`, file);
  await r.restart();
  const lines = await waitLines(r, 13, 'the new file');
  assert.deepEqual(lines, [...range(0, 10), ...range(0, 3, 'new')]);
  const warn = r.logs.find((l) => l.code === 'GH_FILE_VANISHED');
  assert.ok(warn, 'still a warning: lines written after the stop would be lost');
  const msg = String(warn.msg);
  assert.doesNotMatch(msg, /disappeared with unread data|maxOpenFiles/);
  assert.match(
    msg,
    /not found at the restart .*after offset 70, where reading had got to, was not read \(nothing is lost if nothing was written to it after that/,
  );
});
