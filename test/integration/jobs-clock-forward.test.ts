// Scheduled jobs (real node-cron 4, the real JobScheduler) when the wall clock is stepped forward:
// a Pi without a real-time clock boots on fake-hwclock's time (its last shutdown) and NTP steps the
// clock forward by the time it was off, hours or days, often after the gateway has started. node-cron
// then walked every tick planned between the old time and the new one, reporting each as missed:
// one log line per tick, and seconds of a held event loop. Date and the timers are node:test's mock (the only way to step the wall clock of a
// test without touching the machine's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { JobScheduler, type JobRunEvent } from '../../gateway/control/jobs.js';
import { testDeps } from '../helpers/index.js';

test('a wall clock stepped forward by a week logs one line about the ticks it skipped (not one per tick, without walking them) and the job runs on', async (t) => {
  t.mock.timers.enable({ apis: ['Date', 'setTimeout', 'setInterval'], now: Date.parse('2026-01-01T00:00:00.000Z') });
  const lines: Array<{ msg: string; level: number; from?: string; to?: string }> = [];
  const logger = pino({ level: 'warn' }, { write: (l: string) => lines.push(JSON.parse(l) as { msg: string; level: number; from?: string; to?: string }) });
  const runs: JobRunEvent[] = [];
  const s = new JobScheduler([{ name: 'ttl', schedule: '*/10 * * * * *', type: 'sweep' }], { ...testDeps(), logger, run: async () => undefined });
  s.on('run', (e: JobRunEvent) => runs.push(e));
  s.start();
  t.after(() => s.stop());
  t.mock.timers.tick(10_000);
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(runs.length, 1, 'the first tick ran');
  // NTP: a week forward (60,480 ticks of this job in between).
  t.mock.timers.setTime(Date.parse('2026-01-08T00:00:10.000Z'));
  const t0 = performance.now();
  t.mock.timers.tick(10_000);
  // node-cron's own runner walked the 60,480 slots in between, one by one: seconds of a held event loop.
  const heldMs = performance.now() - t0;
  await new Promise<void>((r) => setImmediate(r));
  t.mock.timers.tick(10_000);
  await new Promise<void>((r) => setImmediate(r));
  const missed = lines.filter((l) => /missed/i.test(l.msg));
  assert.equal(missed.length, 1, `${missed.length} lines about missed ticks, e.g. ${JSON.stringify(missed.slice(0, 2))}`);
  assert.equal(missed[0]!.from, '2026-01-01T00:00:20.000Z', JSON.stringify(missed[0]));
  assert.ok(heldMs < 1000, `the step held the event loop ${Math.round(heldMs)} ms`);
  assert.ok(runs.length >= 2, `the job ran again after the step (${runs.length} runs)`);
});

test('a tick that fires a few seconds late (the event loop was held) still runs, once', async (t) => {
  t.mock.timers.enable({ apis: ['Date', 'setTimeout', 'setInterval'], now: Date.parse('2026-01-01T21:59:50.000Z') });
  const runs: JobRunEvent[] = [];
  const s = new JobScheduler([{ name: 'night-off', schedule: '0 22 * * *', type: 'disable-rule', rule: 'verbose_debug' }], {
    ...testDeps(),
    run: async () => undefined,
  });
  s.on('run', (e: JobRunEvent) => runs.push(e));
  s.start();
  t.after(() => s.stop());
  // 22:00:00 passes while the process is held: its timer fires 3 s late.
  t.mock.timers.setTime(Date.parse('2026-01-01T22:00:03.000Z'));
  t.mock.timers.tick(0);
  await new Promise<void>((r) => setImmediate(r));
  t.mock.timers.tick(60_000);
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(runs.length, 1, 'the 22:00 run happened, late, and only once');
  assert.equal(runs[0]!.result, 'ok');
});
