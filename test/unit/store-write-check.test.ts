// The store's write check (gateway/store/write-check.ts): when it writes, what it reports. The
// database is a test double (a `del` that counts, and fails or waits on demand): a LevelDB that
// refuses writes after a compaction failed in its own thread cannot be had on demand without a full
// filesystem; test/integration/store-background-error.test.ts does that with a real one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Db } from '../../gateway/store/database.js';
import { WriteCheck } from '../../gateway/store/write-check.js';

function rig() {
  const state = { writes: 0, dels: 0, canRun: true, fail: undefined as Error | undefined, gate: undefined as Promise<void> | undefined };
  const failures: unknown[] = [];
  const keys: Buffer[] = [];
  const db = {
    async del(key: Buffer, opts: { sync: boolean }) {
      assert.equal(opts.sync, false, 'a check is not synced');
      keys.push(key);
      state.dels++;
      await state.gate;
      if (state.fail) throw state.fail;
    },
  } as unknown as Db; // only del is used by the check
  const check = new WriteCheck({ db: () => db, canRun: () => state.canRun, writes: () => state.writes, failed: (err) => failures.push(err) });
  return { state, failures, keys, check };
}

test('after writes only: an idle store makes no check', async () => {
  const r = rig();
  assert.equal(await r.check.ifWritten(), true);
  assert.equal(r.state.dels, 1, 'the first check (nothing checked yet)');
  assert.equal(await r.check.ifWritten(), true);
  assert.equal(r.state.dels, 1, 'no write since: no check');
  r.state.writes += 3;
  assert.equal(await r.check.ifWritten(), true);
  assert.equal(r.state.dels, 2);
  assert.equal(await r.check.ifWritten(), true);
  assert.equal(r.state.dels, 2);
  assert.equal(await r.check.now(), true);
  assert.equal(r.state.dels, 3, 'now() checks whatever was written');
  assert.deepEqual(new Set(r.keys.map((k) => k.toString('hex'))), new Set(['57']), 'always the one key no stream, checkpoint or meta entry uses');
});

test('a failed check is reported once, as a failed write', async () => {
  const r = rig();
  r.state.fail = Object.assign(new Error('IO error: 000011.ldb: No space left on device'), { code: 'LEVEL_IO_ERROR' });
  assert.equal(await r.check.now(), false);
  assert.equal(r.failures.length, 1);
  assert.match(String(r.failures[0]), /No space left/);
  r.state.fail = undefined;
  assert.equal(await r.check.now(), true, 'the next check that goes through says so');
  assert.equal(r.failures.length, 1);
});

test('no check while the store cannot write (closed, reopening, failed); a failure after it stopped being able to is not reported', async () => {
  const r = rig();
  r.state.canRun = false;
  assert.equal(await r.check.now(), true);
  assert.equal(r.state.dels, 0);
  r.state.canRun = true;
  let release!: () => void;
  r.state.gate = new Promise<void>((res) => {
    release = res;
  });
  r.state.fail = new Error('Database is not open');
  const checking = r.check.now();
  r.state.canRun = false; // closed while the check was in flight
  release();
  assert.equal(await checking, true);
  assert.equal(r.failures.length, 0);
});

test('a check asked for during one gets its own after it (the one in flight may predate the failure)', async () => {
  const r = rig();
  let release!: () => void;
  r.state.gate = new Promise<void>((res) => {
    release = res;
  });
  const first = r.check.now();
  const second = r.check.now();
  const third = r.check.now();
  assert.equal(r.state.dels, 1, 'one check at a time');
  r.state.gate = undefined;
  release();
  assert.deepEqual(await Promise.all([first, second, third]), [true, true, true]);
  assert.equal(r.state.dels, 2, 'one more check after it, shared by the calls made meanwhile');
});
