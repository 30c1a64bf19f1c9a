// Scheduled jobs (real node-cron 4, the real JobScheduler) across daylight saving time changes of
// their time zone. Date and the timers are node:test's mock (the only way to move the wall clock of
// a test without touching the machine's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JobScheduler, type JobRunEvent } from '../../gateway/control/jobs.js';
import { testDeps } from '../helpers/index.js';

async function settle(): Promise<void> {
  await new Promise<void>((r) => setImmediate(r));
}

test('a nightly job set at a time the clocks skip (02:30, Europe/Paris, last Sunday of March) runs at the jump, once, then at 02:30 again', async (t) => {
  // 2026-03-29 01:50 CET; at 02:00 CET (01:00Z) the clocks go to 03:00 CEST.
  t.mock.timers.enable({ apis: ['Date', 'setTimeout', 'setInterval'], now: Date.parse('2026-03-29T00:50:00.000Z') });
  const runs: Array<JobRunEvent & { at: string }> = [];
  const s = new JobScheduler([{ name: 'night-off', schedule: '30 2 * * *', type: 'disable-rule', rule: 'verbose_debug', timezone: 'Europe/Paris' }], {
    ...testDeps(),
    run: async () => undefined,
  });
  s.on('run', (e: JobRunEvent) => runs.push({ ...e, at: new Date().toISOString() }));
  s.start();
  t.after(() => s.stop());
  // node-cron planned it for the next night: that night the rule was never disabled.
  assert.equal(s.status()[0]!.nextRun, '2026-03-29T01:00:00.000Z', 'planned at the jump (03:00 CEST)');
  for (let i = 0; i < 12; i++) {
    t.mock.timers.tick(60_000);
    await settle();
  }
  assert.equal(runs.length, 1, 'it ran once that night');
  assert.equal(runs[0]!.at, '2026-03-29T01:00:00.000Z');
  assert.equal(s.status()[0]!.nextRun, '2026-03-30T00:30:00.000Z', 'the next night at 02:30 CEST');
});

test('jobs at times the jump does not skip, and a job when the clocks go back, keep their plan', async (t) => {
  t.mock.timers.enable({ apis: ['Date', 'setTimeout', 'setInterval'], now: Date.parse('2026-03-29T00:50:00.000Z') });
  const s = new JobScheduler(
    [
      { name: 'compact', schedule: '30 3 * * *', type: 'compact', timezone: 'Europe/Paris' },
      { name: 'ttl', schedule: '*/10 * * * *', type: 'sweep', timezone: 'Europe/Paris' },
    ],
    { ...testDeps(), run: async () => undefined },
  );
  s.start();
  t.after(() => s.stop());
  const next = Object.fromEntries(s.status().map((j) => [j.name, j.nextRun]));
  assert.deepEqual(next, { compact: '2026-03-29T01:30:00.000Z', ttl: '2026-03-29T01:00:00.000Z' });
  t.mock.timers.setTime(Date.parse('2026-10-24T23:50:00.000Z'));
  const back = new JobScheduler([{ name: 'night-off', schedule: '30 2 * * *', type: 'sweep', timezone: 'Europe/Paris' }], {
    ...testDeps(),
    run: async () => undefined,
  });
  back.start();
  t.after(() => back.stop());
  // 02:30 comes twice that night (00:30Z CEST, 01:30Z CET): node-cron plans the second, once.
  assert.equal(back.status()[0]!.nextRun, '2026-10-25T01:30:00.000Z');
});

test('when the clocks go back (Europe/Paris, last Sunday of October), a job every 10 minutes runs at each real time through the hour that comes twice; a 02:30 job runs once', async (t) => {
  // 01:55 CEST; at 03:00 CEST (01:00Z) the clocks go back to 02:00 CET.
  t.mock.timers.enable({ apis: ['Date', 'setTimeout', 'setInterval'], now: Date.parse('2026-10-24T23:55:00.000Z') });
  const runs: Array<{ job: string; at: string }> = [];
  const s = new JobScheduler(
    [
      { name: 'hb', schedule: '*/10 * * * *', type: 'heartbeat', timezone: 'Europe/Paris' },
      { name: 'night', schedule: '30 2 * * *', type: 'sweep', timezone: 'Europe/Paris' },
    ],
    { ...testDeps(), run: async () => undefined },
  );
  s.on('run', (e: JobRunEvent) => runs.push({ job: e.job, at: new Date().toISOString() }));
  s.start();
  t.after(() => s.stop());
  for (let i = 0; i < 135; i++) {
    t.mock.timers.tick(60_000);
    await settle();
  }
  const hb = runs.filter((r) => r.job === 'hb').map((r) => r.at.slice(11, 16));
  // node-cron planned 01:00Z next: no heartbeat for an hour (00:00Z to 00:50Z, 02:00 to 02:50 CEST).
  assert.deepEqual(hb, ['00:00', '00:10', '00:20', '00:30', '00:40', '00:50', '01:00', '01:10', '01:20', '01:30', '01:40', '01:50', '02:00', '02:10']);
  assert.deepEqual(
    runs.filter((r) => r.job === 'night').map((r) => r.at),
    ['2026-10-25T01:30:00.000Z'],
  );
});
