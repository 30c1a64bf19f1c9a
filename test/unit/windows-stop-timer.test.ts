// A window whose close comes while the gateway stops (its final checkpoint being written) closes
// once: after the restart, from the checkpoint. Before, with the input log off, its timer fired
// while the final checkpoint was written: the window closed and emitted its row at the stop, but
// the checkpoint, snapshotted before, still held it, and the restart restored it and closed it
// again (the row twice). Through the real compiler and engine; the input log and the state store
// are a test double (MemoryLog: the moment a real store commits a write cannot be chosen, and the
// timer must fire before it does); time is a ManualTimers clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryLog } from '../helpers/memory-input-log.js';
import { bootWindowEngine as boot, WINDOW_START as START, type WindowProc } from '../helpers/window-engine-rig.js';

/** Until every promise chain the test started has run out (the doubles never wait on I/O). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

/** The rows of a restart on what `store` holds, once its overdue window has closed. */
async function rowsAfterRestart(store: MemoryLog, durable: boolean, at: number): Promise<Array<Record<string, unknown>>> {
  const q = await boot(store, { durable, checkpointIntervalMs: 0, at });
  await settle();
  q.timers.advance(10_000);
  await settle();
  await q.engine.stop();
  return q.rows;
}

/** The held writes commit and the stop ends: nothing closed at the stop, and the restart closes the window once. */
async function closesOnceAfterRestart(store: MemoryLog, p: WindowProc, stopped: Promise<void>, durable: boolean): Promise<void> {
  store.commitHeld();
  await stopped;
  assert.deepEqual(p.rows, [], 'nothing closes once the stop began: the checkpoint holds the window');
  const after = await rowsAfterRestart(store, durable, p.timers.now());
  assert.deepEqual([...p.rows, ...after], [{ n: 1 }], 'the window closed once, with its input');
}

for (const durable of [false, true]) {
  const mode = durable ? 'input log on' : 'input log off';

  test(`${mode}: a window due while the final checkpoint is written closes once, after the restart`, async () => {
    const store = new MemoryLog();
    const p = await boot(store, { durable, checkpointIntervalMs: 0, at: START });
    p.send();
    await settle();
    store.hold = true;
    const stopped = p.engine.stop();
    await settle();
    assert.ok(store.heldWrites > 0, 'the final checkpoint is being written');
    p.timers.advance(10_000); // the window's close comes now
    await settle();
    await closesOnceAfterRestart(store, p, stopped, durable);
  });

  test(`${mode}: a window due while the stop waits for a periodic round closes once, after the restart`, async () => {
    const store = new MemoryLog();
    const p = await boot(store, { durable, checkpointIntervalMs: 1000, at: START });
    p.send();
    await settle();
    store.hold = true;
    p.timers.advance(1000); // a periodic round: its writes held
    await settle();
    assert.ok(store.heldWrites > 0, 'the periodic round is being written');
    const stopped = p.engine.stop(); // its final round waits for that one
    p.timers.advance(9000); // the window's close comes now
    await settle();
    await closesOnceAfterRestart(store, p, stopped, durable);
  });
}
