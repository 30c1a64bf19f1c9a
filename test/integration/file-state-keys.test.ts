// The file source's state as a key per file (state.ts, state-writer.ts), over real files and a
// real store: a commit writes the keys of the files read since the last one only; a file rotated
// away and read to its end has its key deleted, also when the commit deleting it fails (the next
// commit deletes it: the keys the store holds are listed again after a failed commit, and the
// source commits again at once when that finds keys of retired files).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { metaEntries } from '../../core/message.js';
import { fileRig, numbered, waitLines } from '../helpers/file-rig.js';
import { committedState, decodeCommitted } from '../helpers/file-state.js';
import { waitUntil } from '../helpers/index.js';

async function offsets(r: Parameters<typeof committedState>[0]): Promise<Map<string, number>> {
  const c = await committedState(r);
  const s = c ? decodeCommitted(c) : undefined;
  assert.ok(s && !(s instanceof Error), 'a state was committed');
  return new Map(s.files.map((f) => [f.path, f.offset]));
}

test('file state keys: a commit writes only the files read since the last one; a retired file is deleted, also after the commit deleting it failed', async (t) => {
  const r = await fileRig(t, { rotateWaitMs: 100 });
  const logs = join(r.dir, 'logs');
  await mkdir(logs, { recursive: true });
  const files = ['a', 'b', 'c'].map((n) => join(logs, `${n}.log`));
  for (const f of files) await writeFile(f, numbered(0, 10, f));
  // Every key each state put writes, as the store makes them when it cuts the batch; with
  // failDelete, the first put deleting a key fails (its store write failed: nothing written).
  const cuts: string[][] = [];
  let failDelete = false;
  let failed = 0;
  const commitMeta = r.intake.commitMeta.bind(r.intake);
  r.intake.commitMeta = (key, value) => {
    if (failDelete) {
      const entries = metaEntries(value);
      if (entries.some(([, v]) => v === null)) {
        failDelete = false;
        failed++;
        return Promise.reject(new Error('test: the store write failed'));
      }
      return commitMeta(key, () => entries);
    }
    return commitMeta(key, () => {
      const entries = metaEntries(value);
      cuts.push(entries.map(([n, v]) => `${v === null ? '-' : '+'}${n}`));
      return entries;
    });
  };
  await r.source.start(r.intake);
  await waitLines(r, 30, 'every first line');
  await waitUntil(async () => ((await offsets(r.intake)).size === 3 ? true : undefined), 'the three files committed');
  cuts.length = 0;
  await appendFile(files[1]!, numbered(10, 20, files[1]!));
  await waitLines(r, 40, 'the lines of b');
  await waitUntil(async () => ((await offsets(r.intake)).get(files[1]!) === (await stat(files[1]!)).size ? true : undefined), 'b committed');
  const written = cuts.flat().filter((k) => k !== '+/head');
  assert.ok(written.length > 0 && written.every((k) => k === written[0]), `only b's key written: ${JSON.stringify(cuts)}`);
  // Rotated away and read to its end: the commit deleting its key fails; the source then lists
  // the keys the store holds, and commits again to delete c's. That look is held here until a's
  // lines are committed (a commit cut before the look ended, as under load): c's key is deleted
  // all the same, without waiting for a file to change again.
  let releaseLook!: () => void;
  const lookHeld = new Promise<void>((res) => {
    releaseLook = res;
  });
  const readMetas = r.intake.readMetas!.bind(r.intake);
  // The first listing after the failure is the source's look (this test lists only later).
  let holdNext = true;
  r.intake.readMetas = async (prefix) => {
    if (holdNext) {
      holdNext = false;
      await lookHeld;
    }
    return readMetas(prefix);
  };
  failDelete = true;
  await rename(files[2]!, join(logs, 'c.old'));
  await waitUntil(() => (failed === 1 ? true : undefined), 'the commit deleting c failed');
  await appendFile(files[0]!, numbered(10, 20, files[0]!));
  await waitLines(r, 50, 'the lines of a');
  await waitUntil(async () => ((await offsets(r.intake)).get(files[0]!) === (await stat(files[0]!)).size ? true : undefined), 'a committed');
  assert.equal((await offsets(r.intake)).size, 3, "c's key is still there: the look at the store is held");
  releaseLook();
  await waitUntil(async () => {
    const o = await offsets(r.intake);
    return o.size === 2 && o.get(files[0]!) === (await stat(files[0]!)).size ? true : undefined;
  }, 'a committed, c deleted').catch(async (err: unknown) => {
    assert.fail(`${String(err)}: ${JSON.stringify([...(await offsets(r.intake))])}`);
  });
});
