// gateway/runtime/idle-memory.ts: the young generation given back when the gateway goes idle (after
// its start, after a burst of traffic). The policy and the looks run against injected figures (no
// GC); the real GC runs in a fresh node process on the node running the suite: it shrinks a grown
// young generation at once on V8 12+ (Node 22, 24), on V8 11 (Node 20) once V8's allocation rate
// has dropped, which a look made after an idle period gives.
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

/**
 * Run looks (1 ms apart), one per entry: the main thread's utilization since the last look and the
 * young generation's size at it (what the traffic between looks left). Resolves with the GCs made.
 */
async function looks(figures: Array<{ utilization: number; newSpaceBytes: number }>): Promise<number> {
  let gcs = 0;
  let n = 0;
  let newSpace = 0;
  let finished!: () => void;
  const done = new Promise<void>((r) => {
    finished = r;
  });
  const release = startIdleMemoryRelease(
    {
      utilization: () => {
        const figure = figures[n++];
        if (!figure) {
          finished(); // one look past the figures, busy: the last figure's decision was made before it
          return 1;
        }
        newSpace = figure.newSpaceBytes;
        return figure.utilization;
      },
      newSpaceBytes: () => newSpace,
      gc: () => {
        gcs++;
        newSpace = MiB;
      },
    },
    1,
    1,
  );
  // The looks' timer is unref'd (it must not keep a stopping gateway alive): hold the loop meanwhile.
  const keepAlive = setInterval(() => undefined, 1000);
  await done;
  clearInterval(keepAlive);
  release.stop();
  assert.equal(release.releases, gcs);
  return gcs;
}

const idleGrown = { utilization: 0.001, newSpaceBytes: 9 * MiB };
const busyGrown = { utilization: 0.3, newSpaceBytes: 9 * MiB };
const idleSmall = { utilization: 0.001, newSpaceBytes: MiB / 2 };

test('the first look after the start: the GC runs when idle and grown, not when busy or small', async () => {
  assert.equal(await looks([idleGrown]), 1);
  assert.equal(await looks([busyGrown]), 0);
  assert.equal(await looks([idleSmall]), 0);
});

test('the looks go on after the first: a burst of traffic that grew the young generation gets one GC once it is over', async () => {
  // start idle (given back), traffic (busy), the burst over (idle, still grown), idle from then on
  assert.equal(await looks([idleGrown, busyGrown, busyGrown, idleGrown, idleSmall, idleSmall]), 2);
  // busy at every look: V8 manages its heap under load, no GC of ours
  assert.equal(await looks([busyGrown, busyGrown, busyGrown]), 0);
});

test('stop() before the look: no GC', async () => {
  let gcs = 0;
  const release = startIdleMemoryRelease({ utilization: () => 0, newSpaceBytes: () => 9 * MiB, gc: () => gcs++ }, 5);
  release.stop();
  // A later timer than the look's: had stop() not cleared it, the look would have run first.
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(gcs, 0);
  assert.equal(release.releases, 0);
});

test('the real GC shrinks a grown young generation (V8 12+ at once, V8 11 once its allocation rate has dropped); no global gc()', () => {
  const moduleUrl = pathToFileURL(join(repoRoot, 'dist/gateway/runtime/idle-memory.js')).href;
  // Looks 500 ms apart (the gateway's are 30 s apart) until the young generation is small, at most
  // 30 s: V8 11 shrinks it at a GC once its allocation rate of the last ~5 s is low, measured 6 s
  // after the allocation stopped; V8 12+ at the first GC.
  const script = `
import v8 from 'node:v8';
import { idleGc } from '${moduleUrl}';
const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').physical_space_size;
// Grow the young generation: many objects that survive scavenges for a while.
let keep = [];
for (let i = 0; i < 400000; i++) { keep.push({ i, s: 'v' + i }); if (keep.length > 150000) keep = keep.slice(75000); }
keep = null;
const before = newSpace();
const gc = idleGc();
const t0 = performance.now();
let gcs = 0;
const look = () => {
  gc();
  gcs++;
  if (newSpace() > ${GROWN_NEW_SPACE_BYTES} && performance.now() - t0 < 30000) return setTimeout(look, 500);
  console.log(JSON.stringify({ v8: process.versions.v8, before, after: newSpace(), gcs, globalGc: typeof globalThis.gc }));
};
look();
`;
  const r = spawnSync(process.execPath, ['--max-semi-space-size=8', '--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim()) as { v8: string; before: number; after: number; gcs: number; globalGc: string };
  assert.equal(out.globalGc, 'undefined', 'gc() must not be left on the global object');
  assert.ok(out.before > GROWN_NEW_SPACE_BYTES, `the script grew the young generation (${out.before} bytes)`);
  assert.ok(out.after < out.before / 4, `the young generation shrank: ${out.before} -> ${out.after} bytes after ${out.gcs} GCs (V8 ${out.v8})`);
  if (Number(out.v8.split('.')[0]) >= 12) assert.equal(out.gcs, 1, 'V8 12+: the memory-reducing GC shrinks it at once');
});
