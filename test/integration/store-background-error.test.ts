// A compaction that fails in LevelDB's own thread on a REAL full filesystem (a size-limited tmpfs;
// needs root, skipped otherwise with a message), with no write after it. LevelDB gives no status
// for it: the database refuses every later write, and deletes no obsolete table, until it is
// reopened. The store checks with a write after its compactions (gateway/store/write-check.ts), so
// it says unwritable at once, reopens once there is room, and gives the delivered backlog's space
// back. Before the check it said writable throughout, kept the backlog's space, and refused the
// first append after the disk had room again with "No space left on device".
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { openLocalStreams } from '../../gateway/store/index.js';
import { isGatehouseError } from '../../core/errors.js';
import { metricValue, testDeps, waitUntil } from '../helpers/index.js';
import { freeBytes, mountSmallFs, smallFsSkip, writeFiller } from '../helpers/small-fs.js';

const skip = smallFsSkip();
const MiB = 1024 * 1024;

/**
 * A store on a 40 MiB tmpfs (no reserve, no ballast: only the write check can notice) holding 12.5
 * MiB of incompressible records (LevelDB's tables hold them: three memtables flushed), delivered
 * (the checkpoint written with a few KiB of room, for its deletes in LevelDB's log), then a disk
 * with no room at all. No compaction ran before the checkpoint (nothing was deleted).
 */
async function deliveredOntoAFullDisk(t: TestContext, sweepIntervalMs: number) {
  const root = await mountSmallFs(t, 40);
  const deps = testDeps();
  const path = join(root, 'db');
  const streams = await openLocalStreams({ path, reserveBytes: 0, ballastBytes: 0, diskProbeMs: 50, durability: 'os', sweepIntervalMs }, deps);
  t.after(() => streams.close());
  await streams.defineStream({ name: 'a', maxBytes: 1024 * MiB, onFull: 'reject' });
  await streams.addConsumer('a', 'c');
  let last = 0;
  for (let i = 0; i < 200; i++) last = await streams.append('a', { topic: 't', payload: randomBytes(64 * 1024), receivedAt: Date.now() });
  await writeFiller(join(root, 'filler'), freeBytes(root) - 64 * 1024);
  await streams.setCheckpoint('a', 'c', last);
  await writeFiller(join(root, 'filler2'), freeBytes(root) + MiB).catch(() => undefined);
  assert.equal(freeBytes(root), 0, 'the disk is full');
  const held = async (): Promise<string> =>
    (await Promise.all((await readdir(path)).map(async (f) => `${f} ${(await stat(join(path, f)).catch(() => ({ size: -1 }))).size}`))).join(', ');
  const makeRoom = async (): Promise<void> => {
    await unlink(join(root, 'filler'));
    await unlink(join(root, 'filler2'));
  };
  return { root, deps, streams, last, held, makeRoom };
}

test('a compaction that fails on a full disk with no write after it: the store says unwritable, reopens once there is room, gives the backlog space back and takes appends', {
  skip,
  timeout: 60_000,
}, async (t) => {
  // sweepIntervalMs short: the delivered backlog is compacted within the test; the compaction (its
  // memtable flush first) fails in LevelDB's thread.
  const { root, deps, streams, last, held, makeRoom } = await deliveredOntoAFullDisk(t, 200);
  await waitUntil(async () => (await metricValue(deps.registry, 'gatehouse_store_compactions_total')) > 0, 'the delivered range compacted', 20_000);
  await waitUntil(
    () => streams.diskState!().condition === 'write-error',
    'the store says a write failed, with no write of its own after the compaction',
    10_000,
  ).catch(async (e: unknown) => {
    throw new Error(`${String(e)}: ${JSON.stringify(streams.diskState!())}, files ${await held()}`);
  });
  assert.equal(streams.diskState!().writable, false);
  assert.match(streams.diskState!().reason ?? '', /No space left on device/);
  // Room again: the store reopens by itself, and the backlog's tables go.
  await makeRoom();
  await waitUntil(() => streams.diskState!().writable, 'writable again (reopened)', 20_000);
  await waitUntil(() => freeBytes(root) > 36 * MiB, 'the delivered backlog given back (36 of 40 MiB free)', 20_000).catch(async (e: unknown) => {
    throw new Error(`${String(e)}: free ${freeBytes(root)}, files ${await held()}`);
  });
  const seq = await streams.append('a', { topic: 't', payload: Buffer.from('after'), receivedAt: Date.now() });
  assert.equal(seq, last + 1, 'the next append is taken');
  assert.deepEqual(
    (await streams.read('a', last + 1)).map((r) => r.payload.toString()),
    ['after'],
  );
});

test('the compact job on a full disk: fails with GH_STORE_DISK_FULL (before, it succeeded with nothing compacted), and the store reopens once there is room', {
  skip,
  timeout: 60_000,
}, async (t) => {
  // sweepIntervalMs long: only the job compacts.
  const { root, streams, last, makeRoom } = await deliveredOntoAFullDisk(t, 3_600_000);
  await assert.rejects(streams.compact(), (err: unknown) => isGatehouseError(err, 'GH_STORE_DISK_FULL'));
  assert.equal(streams.diskState!().condition, 'write-error');
  await makeRoom();
  await waitUntil(() => streams.diskState!().writable, 'writable again (reopened)', 20_000);
  await streams.compact();
  assert.ok(freeBytes(root) > 36 * MiB, `the delivered backlog given back by the job (free ${freeBytes(root)})`);
  assert.equal(await streams.append('a', { topic: 't', payload: Buffer.from('after'), receivedAt: Date.now() }), last + 1);
});
