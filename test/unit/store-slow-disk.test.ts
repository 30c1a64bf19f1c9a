// The store's watch of its commits' times (gateway/store/slow-disk.ts) on an injected monotonic
// clock: a commit in flight past the stall threshold is logged once (and its end), stall warnings
// are one a minute with the count of the others, a minute of slow commits is one warning and marks
// the state slow (healthz's warning), a minute of occasional spikes is not; and `gatehouse status`
// prints a healthy gateway's warning. The real gateway on a stalled disk: test/integration/store-slow-disk.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { SlowDiskWatch } from '../../gateway/store/slow-disk.js';
import { describeStatus } from '../../gateway/cli/status.js';
import { waitUntil } from '../helpers/index.js';

function rig(stallMs = 30) {
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
  const watch = new SlowDiskWatch({ log, monotonic: () => clock.t, path: '/data/store', registry, stallMs, slowMeanMs: 100, windowMs: 60_000 });
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
