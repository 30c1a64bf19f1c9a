// Commit pacing (store.commitDelayMs, issue 15) on a real LevelDB: a steady stream of concurrent
// appends is gathered into few commits; a lone writer awaiting each append is never delayed.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Registry } from 'prom-client';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { LocalStreams } from '../../gateway/store/types.js';
import { tempDir, testDeps } from '../helpers/index.js';

async function open(t: TestContext, extra: Record<string, unknown>): Promise<{ store: LocalStreams; registry: Registry }> {
  const deps = testDeps();
  const store = await openLocalStreams({ path: await tempDir(t), ...extra }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 's', maxBytes: 1 << 24, onFull: 'reject' });
  return { store, registry: deps.registry };
}

async function commitStats(registry: Registry): Promise<{ commits: number; records: number }> {
  const data = await registry.getSingleMetric('gatehouse_store_commit_batch_records')?.get();
  let commits = 0;
  let records = 0;
  for (const v of data?.values ?? []) {
    const m = (v as { metricName?: string }).metricName;
    if (m === 'gatehouse_store_commit_batch_records_count') commits += v.value;
    if (m === 'gatehouse_store_commit_batch_records_sum') records += v.value;
  }
  return { commits, records };
}

const rec = (i: number): { topic: string; payload: Buffer; receivedAt: number } => ({ topic: 't', payload: Buffer.from(`{"i":${i}}`), receivedAt: Date.now() });

/** Two "devices" append one record each every `everyMs` (one timer tick) for `ticks` ticks. */
function appendTwoEvery(store: LocalStreams, pending: Array<Promise<number>>, everyMs: number, ticks: number): Promise<void> {
  return new Promise<void>((done) => {
    let n = 0;
    const timer = setInterval(() => {
      pending.push(store.append('s', rec(pending.length)), store.append('s', rec(pending.length + 1)));
      if (++n === ticks) {
        clearInterval(timer);
        done();
      }
    }, everyMs);
  });
}

test('a steady stream of concurrent appends is paced into few full commits, in order', async (t) => {
  const { store, registry } = await open(t, { durability: 'os', commitDelayMs: 40 });
  const pending: Array<Promise<number>> = [];
  // Two "devices" appending every ~2 ms (one timer tick each) for 80 ticks: unpaced, every tick
  // would be its own commit (~80); paced at 40 ms, the ~160 ms+ run makes a handful.
  await appendTwoEvery(store, pending, 2, 80);
  const seqs = await Promise.all(pending);
  assert.deepEqual(
    seqs,
    pending.map((_, i) => i + 1),
  );
  const { commits, records } = await commitStats(registry);
  assert.equal(records, 160);
  assert.ok(commits < 40, `expected the 80 ticks paced into few commits, got ${commits}`);
  const back = await store.read('s', 1, { limit: 1000 });
  assert.deepEqual(
    back.map((r) => JSON.parse(r.payload.toString()).i),
    pending.map((_, i) => i),
  );
});

test('a steady stream makes at most about one commit per commitDelayMs', async (t) => {
  // A 5 ms window for ~300 ms of appends from two "devices" every 1 ms. Each window opens with the
  // first append after a commit started, so commits start ~5 ms apart; a timer counts from the
  // event loop's cached clock and may fire up to 1 ms early (docs/store.md): at most
  // 1 + elapsed / 4 commits. Unpaced, every tick would be a commit (~300).
  const delay = 5;
  const { store, registry } = await open(t, { durability: 'os', commitDelayMs: delay });
  const pending: Array<Promise<number>> = [];
  const t0 = performance.now();
  await appendTwoEvery(store, pending, 1, 300);
  await Promise.all(pending);
  const elapsed = performance.now() - t0;
  const { commits, records } = await commitStats(registry);
  assert.equal(records, 600);
  const bound = 1 + Math.floor(elapsed / (delay - 1));
  assert.ok(commits <= bound, `${commits} commits in ${elapsed.toFixed(0)} ms: more than one per ${delay - 1} ms (bound ${bound})`);
  assert.ok(commits > 1, 'the stream was never committed in more than one batch');
});

test('a lone writer awaiting each append commits at once (no pacing delay)', async (t) => {
  // A 2 s window: had any of the 20 awaited appends waited for it, this would take 40 s.
  const { store, registry } = await open(t, { durability: 'fsync', commitDelayMs: 1000 });
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) assert.equal(await store.append('s', rec(i)), i + 1);
  const elapsed = performance.now() - t0;
  const { commits, records } = await commitStats(registry);
  assert.equal(records, 20);
  assert.equal(commits, 20);
  assert.ok(elapsed < 10_000, `20 lone appends took ${elapsed.toFixed(0)} ms: they waited for the pacing window`);
});

test('close flushes a paced batch at once', async (t) => {
  const { store } = await open(t, { durability: 'os', commitDelayMs: 1000 });
  // Make the committer see company (a batch of 2), then leave a batch pending in its window.
  await Promise.all([store.append('s', rec(0)), store.append('s', rec(1))]);
  const late = [store.append('s', rec(2)), store.append('s', rec(3))];
  const t0 = performance.now();
  await store.close();
  assert.deepEqual(await Promise.all(late), [3, 4]);
  assert.ok(performance.now() - t0 < 900, 'close waited for the pacing window instead of hurrying it');
});

test('the default paces with durability fsync only', async (t) => {
  for (const durability of ['fsync', 'os'] as const) {
    const { store } = await open(t, { durability });
    // Bursts of two appends, each burst awaited: the second burst on finds company.
    for (let i = 0; i < 5; i++) await Promise.all([store.append('s', rec(2 * i)), store.append('s', rec(2 * i + 1))]);
    const paced = (store as unknown as { commits: { pacedCommits: number } }).commits.pacedCommits;
    if (durability === 'fsync') assert.ok(paced > 0, 'fsync: bursts with company should wait for the pacing window');
    else assert.equal(paced, 0, 'os: the default is no pacing (a commit costs no fsync)');
  }
});

test('afterCut: undefined with nothing pending; with appends in a window, it resolves when their batch is cut, before they are acknowledged', async (t) => {
  const { store } = await open(t, { durability: 'fsync', commitDelayMs: 30 });
  assert.equal(store.afterCut?.(), undefined, 'no window open: background work may run at once');
  const order: string[] = [];
  // The first append commits at once; one made while it is written waits for the next commit (and
  // the pacing window, unless the first write took longer than it). afterCut is asked right then,
  // while that append is pending: asked after the first append resolved, the second batch was
  // already cut whenever the first fsync took over 30 ms (3 runs in 15 under load).
  const first = store.append('s', rec(0));
  const [cut, secondDone] = await new Promise<[Promise<void> | undefined, Promise<number>]>((resolve) =>
    setImmediate(() => {
      const second = store.append('s', rec(1)).then((n) => {
        order.push('acknowledged');
        return n;
      });
      resolve([store.afterCut?.(), second]);
    }),
  );
  assert.ok(cut, 'an append is pending: afterCut waits for its cut');
  void cut.then(() => order.push('cut'));
  assert.equal(await first, 1);
  assert.equal(await secondDone, 2);
  assert.deepEqual(order, ['cut', 'acknowledged']);
  assert.equal(store.afterCut?.(), undefined, 'nothing pending once written');
});
