// The file source's offsets are committed with the records they cover: the state (every file's
// offset) is submitted in the same synchronous run as the records read before it, so no batch of
// the store can be cut between them. The store cuts a batch in a microtask once an earlier write
// ends (the flush loop's continuation), so a state built in a later microtask could miss the batch
// of its records: a kill -9 between the two commits then read those lines again (256 duplicates in
// the logrotate kill -9 test, round 14). Real files, real store; the intake records the order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileRig, numbered, range, allThere } from '../helpers/file-rig.js';

test('every run of submitted records is followed by its state commit before any microtask runs (the store cuts batches in microtasks)', async (t) => {
  const r = await fileRig(t, {});
  let lastOp: 'record' | 'state' = 'state';
  let checkQueued = false;
  let violations = 0;
  let records = 0;
  const submit = r.intake.submit.bind(r.intake);
  r.intake.submit = (m) => {
    lastOp = 'record';
    records++;
    if (!checkQueued) {
      checkQueued = true;
      // the earliest a batch could be cut after these records: the state must be queued by then
      queueMicrotask(() => {
        checkQueued = false;
        if (lastOp !== 'state') violations++;
      });
    }
    return submit(m);
  };
  const commitMeta = r.intake.commitMeta.bind(r.intake);
  r.intake.commitMeta = (k, v) => {
    lastOp = 'state';
    return commitMeta(k, v);
  };
  await r.source.start(r.intake);
  // many short lines: chunks are emitted in slices, several per read
  await appendFile(join(r.dir, 'logs', 'a.log'), numbered(0, 3000));
  await allThere(r, range(0, 3000), 'every line');
  assert.ok(records >= 3000);
  assert.equal(violations, 0, `${violations} runs of records had no state commit queued behind them when a microtask ran`);
});
