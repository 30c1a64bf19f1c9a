// InFlightCommits: the count the shutdown drain waits on (a pure in-memory part: no peer needed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InFlightCommits } from '../../gateway/pipeline/in-flight-commits.js';

function deferred(): { p: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const p = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { p, resolve, reject };
}

test('in-flight commits: drain waits for every tracked commit, a failed one counts as settled', async () => {
  const inflight = new InFlightCommits();
  assert.equal(await inflight.drain(10), true, 'nothing in flight drains at once');
  const a = deferred();
  const b = deferred();
  assert.equal(inflight.track(a.p), a.p, 'track hands the same promise back');
  inflight.track(b.p).catch(() => undefined);
  assert.equal(inflight.size, 2);
  let drained: boolean | undefined;
  const draining = inflight.drain(10_000).then((ok) => {
    drained = ok;
  });
  a.resolve();
  await a.p;
  await Promise.resolve();
  assert.equal(inflight.size, 1);
  assert.equal(drained, undefined, 'one commit is still in flight');
  b.reject(new Error('commit failed'));
  await draining;
  assert.equal(drained, true);
  assert.equal(inflight.size, 0);
});

test('in-flight commits: drain gives false after its timeout and leaves no waiter behind', async () => {
  const inflight = new InFlightCommits();
  const a = deferred();
  inflight.track(a.p);
  assert.equal(await inflight.drain(20), false);
  a.resolve();
  await a.p;
  await Promise.resolve();
  assert.equal(inflight.size, 0);
  assert.equal(await inflight.drain(20), true);
});
