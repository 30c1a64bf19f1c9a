// A checkpoint asked for while a round is running gets a round that starts after it (at most one
// queued), through the real compiler and engine in durable mode. Before, the ask got the running
// round, whose snapshots and journal round were taken before it: an input-log pressure request
// (the log a quarter full since the round began) made while a round ran was dropped, and the log
// filled until the next periodic round. The input log and the state store are a test double (the
// moment a real store commits a write cannot be chosen, and that moment is what this test steps
// through); time is a ManualTimers clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryLog } from '../helpers/memory-input-log.js';
import { bootWindowEngine as boot } from '../helpers/window-engine-rig.js';

const afterMicrotasks = (n: number, f: () => void): void => {
  if (n === 0) f();
  else queueMicrotask(() => afterMicrotasks(n - 1, f));
};

/** Until every promise chain the test started has run out (the doubles never wait on I/O). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

test('an input-log pressure request made any number of microtasks after the running round commits gets a round of its own', async () => {
  for (let n = 0; n <= 24; n++) {
    // A bound of 4 bytes: every input is more than a quarter of it, so the first input after a
    // round begins asks for the next round (no periodic rounds: interval 0).
    const store = new MemoryLog(4);
    const p = await boot(store, { durable: true, checkpointIntervalMs: 0 });
    await settle(); // the start-up round
    store.hold = true;
    p.send(); // asks for a round: it runs, its writes held
    await settle();
    assert.ok(store.heldWrites > 0, 'the first pressure round is writing');
    store.commitHeld();
    afterMicrotasks(n, () => p.send()); // asks again, n microtasks after the round's writes commit
    await settle();
    assert.equal(
      store.releasedSeq,
      store.lastSeq,
      `the log is reclaimed through the second input (pressure asked ${n} microtasks after the first round committed)`,
    );
    await p.engine.stop();
  }
});

test('the final checkpoint holds every input handled before stop, any number of microtasks after a periodic round commits', async () => {
  for (let n = 0; n <= 24; n++) {
    const store = new MemoryLog();
    const p = await boot(store, { durable: false, checkpointIntervalMs: 1000 });
    p.send();
    store.hold = true;
    p.timers.advance(1000); // the periodic round: its writes held
    assert.ok(store.heldWrites > 0, 'the periodic round is writing');
    p.send(); // after the round's snapshot
    store.commitHeld();
    let stopped: Promise<void> | undefined;
    afterMicrotasks(n, () => {
      stopped = p.engine.stop();
    });
    await new Promise<void>((r) => afterMicrotasks(n + 1, r));
    await stopped;
    // What the store holds after the stop: restored into a new engine, the window closes with it.
    const q = await boot(store, { durable: false, checkpointIntervalMs: 0 });
    q.timers.advance(10_000);
    await settle();
    assert.deepEqual(q.rows, [{ n: 2 }], `both inputs in the final checkpoint (stop ${n} microtasks after the periodic round committed)`);
    await q.engine.stop();
  }
});
