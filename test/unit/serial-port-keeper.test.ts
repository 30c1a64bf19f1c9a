// The port keeper alone (firmware-bridge/port-keeper.ts), on a device path that does not exist: no
// serial peer is needed, serialport's real binding fails the open (ENOENT) and the keeper's hooks say
// what it did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PortKeeper, type PortKeeperHooks } from '../../firmware-bridge/port-keeper.js';
import { SerialLinkOptionsSchema } from '../../firmware-bridge/options.js';
import type { GatehouseError } from '../../core/errors.js';

function keeperOnMissingPath(): { keeper: PortKeeper; failures: GatehouseError[] } {
  // Retries far off: every open failure the test sees comes from a start().
  const o = SerialLinkOptionsSchema.parse({ name: 'k', path: '/dev/gatehouse-no-such-port', reconnect: { initialMs: 600_000, maxMs: 600_000 } });
  const failures: GatehouseError[] = [];
  const hooks: PortKeeperHooks = {
    opened: () => assert.fail('a missing path opened'),
    openFailed: (err) => failures.push(err),
    lost: () => undefined,
    tick: () => undefined,
  };
  return { keeper: new PortKeeper(o, 50, hooks), failures };
}

/**
 * Counts the intervals set and not yet cleared while `fn` runs (a spy on the global functions, the
 * real timers underneath): the keeper's watch timer is unref'd, so Node's list of active resources
 * does not show it.
 */
async function liveIntervalsAfter(fn: () => Promise<void>): Promise<number> {
  const realSet = globalThis.setInterval;
  const realClear = globalThis.clearInterval;
  const live = new Set<unknown>();
  globalThis.setInterval = ((...args: Parameters<typeof realSet>) => {
    const timer = realSet(...args);
    live.add(timer);
    return timer;
  }) as typeof realSet;
  globalThis.clearInterval = ((timer: Parameters<typeof realClear>[0]) => {
    live.delete(timer);
    realClear(timer);
  }) as typeof realClear;
  try {
    await fn();
  } finally {
    globalThis.setInterval = realSet;
    globalThis.clearInterval = realClear;
    for (const timer of live) realClear(timer as NodeJS.Timeout);
  }
  return live.size;
}

test('port keeper: a start, a release and a start before serialport has loaded make one watch, cleared by the release', async () => {
  const { keeper, failures } = keeperOnMissingPath();
  // Before the fix both starts went on once serialport loaded, each setting a watch timer and
  // opening the port; the first timer was never cleared (it outlived every release).
  const left = await liveIntervalsAfter(async () => {
    const first = keeper.start();
    const released = keeper.release();
    const second = keeper.start();
    await Promise.all([first, released, second]);
    assert.equal(failures.length, 1, `open failures: ${failures.map((f) => f.message).join('; ')}`);
    assert.equal(failures[0]!.code, 'GH_SERIAL_OPEN');
    await keeper.release();
  });
  assert.equal(left, 0, 'watch timers left after the release');
});

test('port keeper: a release before serialport has loaded makes no open and leaves no watch', async () => {
  const { keeper, failures } = keeperOnMissingPath();
  const left = await liveIntervalsAfter(async () => {
    const started = keeper.start();
    await keeper.release();
    await started;
  });
  assert.equal(failures.length, 0);
  assert.equal(left, 0);
});
