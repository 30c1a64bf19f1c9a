// gateway/runtime/idle-memory.ts: the young generation given back once the start is over (Node 22+).
// The policy runs against injected figures (no GC); the real GC runs in a fresh node process, where
// it is asserted on the node running the suite: on V8 12+ (Node 22, 24) it shrinks the young
// generation, on V8 11 (Node 20) there is none and nothing is exposed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GROWN_NEW_SPACE_BYTES, IDLE_UTILIZATION, shouldRelease, startIdleMemoryRelease } from '../../gateway/runtime/idle-memory.js';
import { repoRoot } from '../helpers/index.js';

const MiB = 1024 * 1024;

test('the policy: the GC only when the main thread was idle and the young generation is grown', () => {
  assert.equal(shouldRelease(0.002, 9 * MiB), true);
  assert.equal(shouldRelease(0.5, 9 * MiB), false, 'busy: V8 manages its young generation under load');
  assert.equal(shouldRelease(IDLE_UTILIZATION, 9 * MiB), false);
  assert.equal(shouldRelease(0.002, 1 * MiB), false, 'not grown: nothing to give back');
  assert.equal(shouldRelease(0.002, GROWN_NEW_SPACE_BYTES), false);
});

/** Start the look with these figures; resolves once it was made, with whether the GC ran. */
async function look(utilization: number, newSpaceBytes: number): Promise<{ gcs: number; released: boolean }> {
  let gcs = 0;
  let looked!: () => void;
  const done = new Promise<void>((r) => {
    looked = r;
  });
  const release = startIdleMemoryRelease(
    {
      utilization: () => {
        looked(); // the decision follows synchronously, before this promise's continuation runs
        return utilization;
      },
      newSpaceBytes: () => newSpaceBytes,
      gc: () => {
        gcs++;
      },
    },
    1,
  );
  // The look's timer is unref'd (it must not keep a stopping gateway alive): hold the loop meanwhile.
  const keepAlive = setInterval(() => undefined, 1000);
  await done;
  clearInterval(keepAlive);
  release.stop();
  return { gcs, released: release.released };
}

test('one look after the start: the GC runs once when idle and grown, not when busy or small', async () => {
  assert.deepEqual(await look(0.001, 9 * MiB), { gcs: 1, released: true });
  assert.deepEqual(await look(0.3, 9 * MiB), { gcs: 0, released: false });
  assert.deepEqual(await look(0.001, MiB / 2), { gcs: 0, released: false });
});

test('stop() before the look: no GC', async () => {
  let gcs = 0;
  const release = startIdleMemoryRelease({ utilization: () => 0, newSpaceBytes: () => 9 * MiB, gc: () => gcs++ }, 5);
  release.stop();
  // A later timer than the look's: had stop() not cleared it, the look would have run first.
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(gcs, 0);
  assert.equal(release.released, false);
});

test('the real GC: V8 12+ shrinks a grown young generation; V8 11 (Node 20) has none; no global gc() either way', () => {
  const moduleUrl = pathToFileURL(join(repoRoot, 'dist/gateway/runtime/idle-memory.js')).href;
  const script = `
import v8 from 'node:v8';
import { memoryReducingGc } from '${moduleUrl}';
const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').physical_space_size;
// Grow the young generation: many objects that survive scavenges for a while.
let keep = [];
for (let i = 0; i < 400000; i++) { keep.push({ i, s: 'v' + i }); if (keep.length > 150000) keep = keep.slice(75000); }
keep = null;
const before = newSpace();
const gc = memoryReducingGc();
if (gc) gc();
console.log(JSON.stringify({ v8: process.versions.v8, has: gc !== undefined, before, after: newSpace(), globalGc: typeof globalThis.gc }));
`;
  const r = spawnSync(process.execPath, ['--max-semi-space-size=8', '--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim()) as { v8: string; has: boolean; before: number; after: number; globalGc: string };
  assert.equal(out.globalGc, 'undefined', 'gc() must not be left on the global object');
  const major = Number(out.v8.split('.')[0]);
  if (major >= 12) {
    assert.equal(out.has, true, `V8 ${out.v8} has the memory-reducing GC`);
    assert.ok(out.before > GROWN_NEW_SPACE_BYTES, `the script grew the young generation (${out.before} bytes)`);
    assert.ok(out.after < out.before / 4, `the young generation shrank: ${out.before} -> ${out.after} bytes`);
  } else {
    assert.equal(out.has, false, `V8 ${out.v8}: no memory-reducing GC (Node 20's reducer gives the young generation back)`);
  }
});
