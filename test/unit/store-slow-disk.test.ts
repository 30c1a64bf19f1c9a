// The store's watch of its commits' times (gateway/store/slow-disk.ts) on an injected monotonic
// clock: a commit in flight past the stall threshold is logged once (and its end), stall warnings
// are one a minute with the count of the others, a minute of slow commits is one warning and marks
// the state slow (healthz's warning), a minute of occasional spikes is not; and `gatehouse status`
// prints a healthy gateway's warning; the thresholds turned off (0), and the config's check of
// store.commitStallMs and store.slowCommitMeanMs. The real gateway on a stalled disk: test/integration/store-slow-disk.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { SlowDiskWatch } from '../../gateway/store/slow-disk.js';
import { describeStatus } from '../../gateway/cli/status.js';
import { loadConfig } from '../../gateway/config/index.js';
import { isGatehouseError } from '../../core/errors.js';
import { tempDir, waitUntil } from '../helpers/index.js';

function rig(stallMs = 30, slowMeanMs = 100) {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(c: Buffer, _e, cb) {
        lines.push(JSON.parse(c.toString()) as Record<string, unknown>);
        cb();
      },
    }),
  );
  const clock = { t: 0 };
  const registry = new Registry();
  // stallMs is real time for the stall timer; the clock says how long the commit has been in flight
  const watch = new SlowDiskWatch({ log, monotonic: () => clock.t, path: '/data/store', registry, stallMs, slowMeanMs, windowMs: 60_000 });
  const msgs = (prefix: string) => lines.filter((l) => String(l.msg).startsWith(prefix));
  /** A commit that takes `ms` on the clock. */
  const commit = (ms: number): void => {
    watch.started();
    clock.t += ms;
    watch.ended();
  };
  return { watch, clock, lines, msgs, commit, registry };
}

test('a commit in flight past the stall threshold: stalled, logged once with a hint, its end logged, the gauge says its age', async (t) => {
  const r = rig();
  t.after(() => r.watch.stop());
  r.commit(5);
  r.watch.started();
  assert.equal(r.watch.state().stalled, false);
  r.clock.t += 6_000;
  const stalled = await waitUntil(() => r.msgs('store commit stalled')[0], 'the stall warning', 2_000);
  assert.equal(stalled.inFlightMs, 6_000);
  assert.match(String(stalled.hint), /SD card.*nothing is lost.*dmesg/);
  const s = r.watch.state();
  assert.equal(s.stalled, true);
  assert.equal(s.inFlightMs, 6_000);
  assert.equal((await r.registry.getSingleMetric('gatehouse_store_commit_in_flight_seconds')!.get()).values[0]!.value, 6);
  r.clock.t += 1_000;
  r.watch.ended();
  assert.equal(r.msgs('store commit completed after a stall of 7.0 s').length, 1);
  assert.equal(r.watch.state().stalled, false);
  assert.equal(r.watch.state().inFlightMs, undefined);
  assert.equal((await r.registry.getSingleMetric('gatehouse_store_commit_in_flight_seconds')!.get()).values[0]!.value, 0);
  assert.equal(r.msgs('store commit stalled').length, 1, 'one line for one stall');
});

test('stall warnings: at most one a minute, the next with the count of those not logged', async (t) => {
  const r = rig();
  t.after(() => r.watch.stop());
  const stall = async (n: number): Promise<void> => {
    r.watch.started();
    r.clock.t += 6_000;
    // the timer saw it (a second stall within the minute is counted, not logged)
    await waitUntil(() => r.watch.stalls === n, `stall ${n} seen`, 2_000);
    r.watch.ended();
  };
  await stall(1);
  await stall(2);
  assert.equal(r.msgs('store commit stalled').length, 1);
  assert.equal(r.msgs('store commit completed after a stall').length, 1, 'the end of an unlogged stall is not logged either');
  r.clock.t += 60_000;
  await stall(3);
  assert.equal((await r.registry.getSingleMetric('gatehouse_store_commit_stalls_total')!.get()).values[0]!.value, 3);
  const second = r.msgs('store commit stalled')[1];
  assert.ok(second, 'the stall a minute later is logged');
  assert.ok(Number(second.suppressed) >= 1, JSON.stringify(second));
});

test('a minute of slow commits: one warning, state slow; a minute of fast commits with spikes: none', (t) => {
  const r = rig(60_000);
  t.after(() => r.watch.stop());
  // a card with 600 ms spikes on one flush in 50, 8 ms otherwise: ~20 ms on average
  for (let i = 0; i < 500; i++) r.commit(i % 50 === 0 ? 608 : 8);
  r.clock.t += 60_000;
  r.commit(8); // closes the window
  assert.equal(r.watch.state().slow, false);
  assert.equal(r.watch.state().lastMinute?.maxMs, 608);
  assert.equal(r.msgs('store commits are slow').length, 0);
  // a worn card: 250 ms a flush; the 240th ends the minute (which holds the 8 ms commit and 239 of them)
  for (let i = 0; i < 239; i++) r.commit(250);
  assert.equal(r.msgs('store commits are slow').length, 0, 'not before the minute is over');
  r.commit(250);
  const warned = r.msgs('store commits are slow');
  assert.equal(warned.length, 1);
  assert.match(String(warned[0]!.msg), /249 ms on average over the last minute \(slowest 250 ms\)/);
  const s = r.watch.state();
  assert.equal(s.slow, true);
  assert.deepEqual(s.lastMinute, { commits: 240, meanMs: 249, maxMs: 250 });
});

test('gatehouse status prints a healthy gateway warning and what to do', () => {
  const lines = describeStatus({
    gatewayId: 'gw',
    version: '1',
    health: { ok: true, status: 'ok', warning: 'store commits are slow: 250 ms on average', fix: 'put the data directory on a better card' },
  });
  assert.equal(lines[1], '  warning: store commits are slow: 250 ms on average');
  assert.equal(lines[2], '  what to do: put the data directory on a better card');
});

test('thresholds turned off (store.commitStallMs 0, slowCommitMeanMs 0): no stall timer, never stalled nor slow, nothing logged; the figures are kept', async (t) => {
  const r = rig(0, 0);
  t.after(() => r.watch.stop());
  r.watch.started();
  // No timer is armed for the stall watch (no wake-up per commit, nothing to count)
  assert.equal((r.watch as unknown as { timer: unknown }).timer, undefined);
  r.clock.t += 3_600_000;
  const s = r.watch.state();
  assert.equal(s.stalled, false);
  assert.equal(s.inFlightMs, 3_600_000, 'the age of the commit in flight is still said');
  assert.equal((await r.registry.getSingleMetric('gatehouse_store_commit_in_flight_seconds')!.get()).values[0]!.value, 3_600);
  r.watch.ended();
  for (let i = 0; i < 300; i++) r.commit(500);
  assert.equal(r.watch.state().slow, false);
  assert.ok((r.watch.state().lastMinute?.meanMs ?? 0) >= 500, JSON.stringify(r.watch.state().lastMinute));
  assert.equal(r.watch.stalls, 0);
  assert.match((await r.registry.getSingleMetric('gatehouse_store_commit_stalls_total')!.get()).help, /the stall watch is off/);
  assert.deepEqual(
    r.lines.map((l) => l.msg),
    [],
  );
});

test('a lower slow threshold (slowCommitMeanMs 20) says a minute averaging 25 ms that the default does not', (t) => {
  for (const [mean, said] of [
    [100, 0],
    [20, 1],
  ] as const) {
    const r = rig(60_000, mean);
    t.after(() => r.watch.stop());
    for (let i = 0; i < 2_401; i++) r.commit(25);
    assert.equal(r.msgs('store commits are slow: 25 ms on average').length, said, `slowCommitMeanMs ${mean}`);
    assert.equal(r.watch.state().slow, said === 1);
  }
});

test('store.commitStallMs and store.slowCommitMeanMs: defaults 5000 and 100, 0 turns each off, a stall threshold under 100 ms, a negative one or a mean at or above the stall threshold is refused', async (t) => {
  const dir = await tempDir(t);
  const load = async (store: string) => {
    const file = join(dir, 'g.yaml');
    await writeFile(file, `dataDir: data\nstore: ${store}\n`);
    return loadConfig(file);
  };
  const defaults = await load('{}');
  assert.equal(defaults.store.commitStallMs, 5_000);
  assert.equal(defaults.store.slowCommitMeanMs, 100);
  const off = await load('{ commitStallMs: 0, slowCommitMeanMs: 0 }');
  assert.equal(off.store.commitStallMs, 0);
  assert.equal(off.store.slowCommitMeanMs, 0);
  // with the stall watch off, any mean; a USB stick's thresholds
  assert.equal((await load('{ commitStallMs: 0, slowCommitMeanMs: 8000 }')).store.slowCommitMeanMs, 8_000);
  assert.equal((await load('{ commitStallMs: 20000, slowCommitMeanMs: 400 }')).store.commitStallMs, 20_000);
  const refused = async (store: string, where: string, message: RegExp): Promise<void> => {
    await assert.rejects(load(store), (err: unknown) => {
      assert.ok(isGatehouseError(err, 'GH_CONFIG_INVALID'), String(err));
      assert.match(err.message, new RegExp(`store\\.${where}`));
      assert.match(err.message, message);
      return true;
    });
  };
  await refused('{ commitStallMs: 50 }', 'commitStallMs', /0 \(off\) or 100 to 3600000 ms/);
  await refused('{ commitStallMs: -1 }', 'commitStallMs', /0 \(off\) or 100 to 3600000 ms/);
  await refused('{ commitStallMs: 1.5 }', 'commitStallMs', /expected int/);
  await refused('{ slowCommitMeanMs: -5 }', 'slowCommitMeanMs', />=0|too small/i);
  await refused('{ commitStallMs: 1000, slowCommitMeanMs: 1000 }', 'slowCommitMeanMs', /slowCommitMeanMs \(1000\) must be below commitStallMs \(1000\)/);
  await refused('{ slowCommitMeanMs: 6000 }', 'slowCommitMeanMs', /must be below commitStallMs \(5000\)/);
});
