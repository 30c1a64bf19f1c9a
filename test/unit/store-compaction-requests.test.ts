// The compactor serves every request, also one made in the few microtasks between its run's last
// look at the queue and the settling of that run (before, such a request waited for the next sweep
// tick, 60 s, or the next delete). The database is a test double: the moment a real LevelDB answers
// approximateSize cannot be chosen, and that moment is what this test steps through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Compactor } from '../../gateway/store/compaction.js';
import type { Db } from '../../gateway/store/database.js';
import type { StoreMetrics } from '../../gateway/store/metrics.js';
import { StreamState } from '../../gateway/store/state.js';

function rig() {
  const checked: string[] = [];
  let answer: ((bytes: number) => void) | undefined;
  const db = {
    // Each check asks for the size of the stream's deleted range; the first answer is held.
    approximateSize: (start: Buffer): Promise<number> => {
      checked.push(start.subarray(0, 4).toString('hex'));
      if (checked.length > 1) return Promise.resolve(0);
      return new Promise<number>((r) => {
        answer = r;
      });
    },
    compactRange: async (): Promise<void> => undefined,
  } as unknown as Db;
  const counter = { inc: () => undefined };
  const compactor = new Compactor(
    () => db,
    pino({ level: 'silent' }),
    () => true,
    { compactions: counter, compactedBytes: counter } as unknown as Pick<StoreMetrics, 'compactions' | 'compactedBytes'>,
  );
  return { compactor, checked, answer: (bytes: number) => answer?.(bytes) };
}

const afterMicrotasks = (n: number, f: () => void): void => {
  if (n === 0) f();
  else queueMicrotask(() => afterMicrotasks(n - 1, f));
};

test('a compaction request made any number of microtasks after the check in flight is answered is served', async () => {
  for (let n = 0; n <= 24; n++) {
    const r = rig();
    const a = new StreamState('a');
    const b = new StreamState('b');
    a.deletedSinceCompaction = 1;
    b.deletedSinceCompaction = 1;
    r.compactor.tick([a]);
    assert.equal(r.checked.length, 1, 'the check of a is in flight');
    r.answer(0); // under the threshold: a's check ends with no compaction
    afterMicrotasks(n, () => r.compactor.tick([b]));
    await r.compactor.idle();
    // idle() may return before the tick of b was made (small n): give it its microtasks, then wait again.
    await new Promise<void>((res) => afterMicrotasks(n + 1, res));
    await r.compactor.idle();
    assert.equal(r.checked.length, 2, `b checked when asked ${n} microtasks after a's answer`);
    assert.notEqual(r.checked[1], r.checked[0], 'the second check is of b');
    await r.compactor.stop();
  }
});

test('a request made while the store cannot write (the one at the end of a reopen) is served at the next tick; a run that compacted is followed by a write check', async () => {
  let canRun = false;
  const compacted: string[] = [];
  let checks = 0;
  const db = {
    approximateSize: async (): Promise<number> => 8 * 1024 * 1024,
    compactRange: async (start: Buffer): Promise<void> => {
      compacted.push(start.toString('hex'));
    },
  } as unknown as Db;
  const counter = { inc: () => undefined };
  const compactor = new Compactor(
    () => db,
    pino({ level: 'silent' }),
    () => canRun,
    { compactions: counter, compactedBytes: counter } as unknown as Pick<StoreMetrics, 'compactions' | 'compactedBytes'>,
    () => {
      checks++;
    },
  );
  const a = new StreamState('a');
  compactor.tick([a], true); // as reopen() does, before the disk guard says writable
  await compactor.idle();
  assert.equal(compacted.length, 0, 'not while the store cannot write');
  assert.equal(checks, 0, 'no check after a run that did nothing');
  canRun = true;
  compactor.tick([a]); // a has no deletes since: only the deferred request brings it back
  await compactor.idle();
  assert.ok(compacted.length >= 1, 'the deferred request served at the next tick');
  assert.ok(checks >= 1, 'a write check after the compaction');
  await compactor.stop();
});
