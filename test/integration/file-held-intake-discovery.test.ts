// While the intake does not accept writes (a full store: it can last hours), the file source still
// looks: new files, renames and deletions are found while its reads wait. Before, a look (a tick)
// waited in its check of an open file for that file's read, which waited for the intake: every
// later look, the ones a rotation's watch events ask for included, waited behind it until the
// store took writes again (seen as a flaky test: file-rotation-order-glob.test.ts timed out under
// load when the hold came while the first look was still checking the file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitUntil } from '../helpers/index.js';
import { fileRig, fileStatuses, numbered, range, allThere } from '../helpers/file-rig.js';

test('a file created while the intake is held is found while a look waits for a held read, and read once the intake accepts', async (t) => {
  // No periodic look within the test: only the watch events make looks.
  const r = await fileRig(t, { paths: ['logs/*.log'], scanIntervalMs: 60_000 });
  const a = join(r.dir, 'logs', 'a.log');
  writeFileSync(a, numbered(0, 100, 'a'));
  await r.source.start(r.intake);
  await allThere(r, range(0, 100, 'a'), 'a.log read');
  r.accepting = false;
  // a.log's read now waits for the intake.
  appendFileSync(a, numbered(100, 200, 'a'));
  // b.log's look: it finds b.log, then checks every open file, a.log's held read included.
  writeFileSync(join(r.dir, 'logs', 'b.log'), numbered(0, 50, 'b'));
  const tracked = (name: string): boolean => fileStatuses(r).some((f) => f.path === join(r.dir, 'logs', name));
  await waitUntil(() => (tracked('b.log') ? true : undefined), 'b.log found', 10_000);
  // The look c.log's watch event asks for: before, it waited behind b.log's until the intake accepted.
  writeFileSync(join(r.dir, 'logs', 'c.log'), numbered(0, 50, 'c'));
  await waitUntil(() => (tracked('c.log') ? true : undefined), 'c.log found while the intake is held', 10_000);
  assert.equal(r.accepting, false);
  assert.deepEqual(
    (await r.lines()).filter((l) => !l.startsWith('a ')),
    [],
    'nothing of b.log or c.log was stored while the intake was held',
  );
  r.accepting = true;
  await allThere(r, [...range(0, 200, 'a'), ...range(0, 50, 'b'), ...range(0, 50, 'c')], 'every line once the intake accepts');
  const lines = await r.lines();
  assert.equal(new Set(lines).size, lines.length, 'no line twice');
});
