// A file closed to give its slot up (maxOpenFiles) is looked up by identity before it is opened
// again; if the look-up misses it while it moves (logrotate renaming app.log.6 to app.log.8 after
// app.log.8 was looked at: 1 run in 12 of test/e2e/file-tail-kill9 with app.log*, 6,120 lines read
// twice), it is taken for deleted, and the scan that finds it under its new name must read it on
// from where it was committed, not from 0. The miss is made deterministic here: the file is moved
// out of its folder (no search can find it), then back under another name the pattern matches.
// Real files, a real store (through test/helpers/file-rig.ts).
import { test } from 'node:test';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitUntil } from '../helpers/index.js';
import { expectExactly, fileRig, fileStatuses, numbered, range, waitLines } from '../helpers/file-rig.js';

test('a file closed for its slot, missed by the look-up while it moves, is read on from its offset when found again, not from its start', async (t) => {
  const r = await fileRig(t, { paths: ['logs/*.log'], maxOpenFiles: 1 });
  const logs = join(r.dir, 'logs');
  await writeFile(join(logs, 'a.log'), numbered(0, 100));
  await writeFile(join(logs, 'b.log'), numbered(100, 200));
  await r.source.start(r.intake);
  await waitLines(r, 200, 'both files');
  const closed = await waitUntil(
    async () => fileStatuses(r).find((f) => f.state === 'idle-closed' && f.lagBytes === 0),
    'a file closed to give its slot up',
    10_000,
    10,
  );
  const deleted = new Promise<void>((resolve) => {
    r.onLog = (rec) => {
      if (rec.file === closed.path && rec.event === 'deleted') resolve();
    };
  });
  await rename(closed.path, join(r.dir, 'away.log'));
  await deleted;
  const back = join(logs, 'c.log');
  await rename(join(r.dir, 'away.log'), back);
  await waitUntil(
    async () => {
      const f = fileStatuses(r).find((x) => x.path === back);
      return f !== undefined && f.lagBytes === 0 && f.offset === f.size ? true : undefined;
    },
    'the file found again under its new name, read to its end',
    10_000,
    10,
  );
  // (Read again from 0, its 100 lines would be committed by now: its end was reached and committed.)
  expectExactly(await r.lines(), range(0, 200));
});
