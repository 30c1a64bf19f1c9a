// Control plane logic without a gateway: option validation (cron expressions), the signature
// policy, and the job scheduler (real node-cron timers, second-resolution schedules).
import { test } from 'node:test';
import pino from 'pino';
import assert from 'node:assert/strict';
import { jobsOptionsSchema, controlOptionsSchema, cronProblem, type JobOptions } from '../../gateway/control/options.js';
import { createUpdateVerifier } from '../../gateway/control/verify.js';
import { generateKeyPairSync } from 'node:crypto';
import { generateSigningKeys, makeEnvelope, signRuleSetBytes } from '../../gateway/control/signing.js';
import { JobScheduler, type JobRunEvent } from '../../gateway/control/jobs.js';
import { configSchema } from '../../gateway/config/full-schema.js';
import { validateConfig } from '../../gateway/config/index.js';
import { isGatehouseError } from '../../core/errors.js';
import { metricValue, testDeps, waitForEvent } from '../helpers/index.js';

test('cron expressions are validated at config load with a clear error', () => {
  assert.equal(cronProblem('*/5 * * * *'), undefined);
  assert.equal(cronProblem('*/1 * * * * *'), undefined, 'a seconds field is allowed');
  for (const bad of ['*/5 * * *', '61 * * * *', 'every minute', '* * * * * * *']) {
    const p = cronProblem(bad);
    assert.ok(p?.includes('invalid cron expression'), `${bad}: ${p}`);
  }
  assert.throws(
    () => validateConfig(configSchema, { jobs: [{ name: 'hb', schedule: '*/5 * * *', type: 'heartbeat' }] }, 'gatehouse.yaml'),
    (err: unknown) => isGatehouseError(err, 'GH_CONFIG_INVALID') && /jobs\.0\.schedule/.test(err.message) && /invalid cron expression/.test(err.message),
  );
});

test("a bad cron expression says which field, its value, the field's range and the form of a schedule, not node-cron's 'is a invalid expression'", () => {
  const cases: Array<[string, RegExp]> = [
    ['61 * * * *', /the minute field '61': 61 is outside 0-59/],
    ['0 25 * * *', /the hour field '25': 25 is outside 0-23/],
    ['0 0 0 * *', /the day field '0': 0 is outside 1-31/],
    ['0 0 * 13 *', /the month field '13': 13 is outside 1-12/],
    ['0 0 * * 8', /the weekday field '8': 8 is outside 0-7/],
    ['70 * * * * *', /the second field '70': 70 is outside 0-59/],
    ['5,61 * * * *', /the minute field '5,61': 61 is outside 0-59/],
    ['*/0 * * * *', /the minute field '\*\/0': a step of 0 never comes/],
    ['0 0 * smarch *', /the month field 'smarch': 'smarch' is not a number or a name \(jan-dec\)/],
    ['0 0 31 feb *', /the day field '31': no month of the month field 'feb' has that day/],
    ['*/5 * * *', /it has 4 fields/],
  ];
  for (const [bad, why] of cases) {
    const p = cronProblem(bad, 'hb') ?? '';
    assert.match(p, why, bad);
    assert.ok(p.startsWith(`job 'hb': invalid cron expression '${bad}': `), p);
    assert.match(p, /a schedule is five or six fields, \[second\] minute hour day month weekday: second and minute 0-59, hour 0-23, day 1-31/, p);
    assert.doesNotMatch(p, /is a invalid expression/, p);
  }
});

test('a bad schedule names the job also when another key of that job is wrong (zod skips the object checks then)', () => {
  assert.throws(
    () => validateConfig(configSchema, { jobs: [{ name: 'nightly', schedule: '0 24 * * *', type: 'bogus' }] }, 'gatehouse.yaml'),
    (err: unknown) =>
      isGatehouseError(err, 'GH_CONFIG_INVALID') &&
      /jobs\.0\.type: /.test(err.message) &&
      /jobs\.0\.schedule: job 'nightly': invalid cron expression '0 24 \* \* \*': the hour field '24': 24 is outside 0-23/.test(err.message),
  );
});

test("a heartbeat's topic is a topic name: a wildcard is a config error naming the key (it was published as is, and a broker upstream disconnects for it)", () => {
  for (const topic of ['hb/#', 'site7/+/hb', 'a\u0000b']) {
    assert.throws(
      () => validateConfig(configSchema, { jobs: [{ name: 'hb', schedule: '* * * * *', type: 'heartbeat', topic }] }, 'gatehouse.yaml'),
      (err: unknown) => isGatehouseError(err, 'GH_CONFIG_INVALID') && /jobs\.0\.topic: a topic name to publish on: no wildcards/.test(err.message),
      topic,
    );
  }
  for (const topic of ['site7/heartbeat', '$aws/things/site7/shadow/update'])
    assert.equal(jobsOptionsSchema.safeParse([{ name: 'hb', schedule: '* * * * *', type: 'heartbeat', topic }]).success, true, topic);
});

test('job options: enable/disable need a rule, names are unique, defaults apply', () => {
  assert.equal(jobsOptionsSchema.safeParse([{ name: 'off', schedule: '0 22 * * *', type: 'disable-rule' }]).success, false);
  assert.equal(
    jobsOptionsSchema.safeParse([
      { name: 'a', schedule: '* * * * *', type: 'sweep' },
      { name: 'a', schedule: '* * * * *', type: 'compact' },
    ]).success,
    false,
  );
  assert.equal(jobsOptionsSchema.safeParse([{ name: 'x', schedule: '* * * * *', type: 'reboot' }]).success, false);
  const c = controlOptionsSchema.parse({});
  assert.equal(c.prefix, 'gatehouse');
  assert.equal(c.allowUnsigned, false);
  assert.equal(c.requireSignedAdmin, false);
  assert.deepEqual(c.publicKeys, []);
  assert.equal(controlOptionsSchema.safeParse({ prefix: 'a/#' }).success, false, 'wildcards in the prefix are refused');
  assert.equal(controlOptionsSchema.safeParse({ upstream: { url: 'mqtt://h', cert: 'c.pem' } }).success, false, 'cert without key');
});

test('signature policy: remote needs a signature with keys, admin only when required', async () => {
  const { privateKeyPem, publicKeyPem } = generateSigningKeys();
  const other = generateSigningKeys();
  const deps = testDeps();
  const bytes = Buffer.from('version: 2\nrules: []\n');
  const good = Buffer.from(makeEnvelope(bytes, signRuleSetBytes(bytes, privateKeyPem)));
  const wrongKey = Buffer.from(makeEnvelope(bytes, signRuleSetBytes(bytes, other.privateKeyPem)));
  const tampered = Buffer.from(makeEnvelope(Buffer.from('version: 3\nrules: []\n'), signRuleSetBytes(bytes, privateKeyPem)));

  const v = createUpdateVerifier({ publicKeys: [publicKeyPem], allowUnsigned: false, requireSignedAdmin: false }, deps.registry);
  assert.deepEqual(v.unwrap(good, 'remote').bytes, bytes);
  assert.equal(v.unwrap(good, 'remote').signed, true);
  const sigErr = (err: unknown): boolean => isGatehouseError(err, 'GH_RULESET_SIGNATURE');
  // The catalogue's message of GH_RULESET_SIGNATURE (docs/errors.md): what was refused, then why.
  const says = (message: string) => (err: unknown) => sigErr(err) && (err as Error).message === message;
  assert.throws(() => v.unwrap(wrongKey, 'remote'), says('remote update refused: its signature does not verify against any of the 1 configured public key(s)'));
  assert.throws(() => v.unwrap(tampered, 'remote'), sigErr);
  assert.throws(
    () => v.unwrap(bytes, 'remote'),
    says('unsigned remote update refused: control.publicKeys are configured, so every remote update and rollback must be signed'),
  );
  assert.throws(
    () => v.unwrap(Buffer.from('{"ruleSet":"eA==","signature":42}'), 'remote'),
    says('envelope refused: its "signature" must be a base64 string (found number)'),
  );
  assert.deepEqual(v.unwrap(bytes, 'admin').bytes, bytes, 'admin may send unsigned sets unless requireSignedAdmin');
  assert.throws(() => v.unwrap(wrongKey, 'admin'), sigErr, 'a present signature must verify, also on the admin API');
  assert.equal(await metricValue(deps.registry, 'gatehouse_control_signature_failures_total'), 5);

  const strict = createUpdateVerifier({ publicKeys: [publicKeyPem], allowUnsigned: false, requireSignedAdmin: true }, testDeps().registry);
  assert.throws(() => strict.unwrap(bytes, 'admin'), says('unsigned update refused: control.requireSignedAdmin is set'));

  const none = createUpdateVerifier({ publicKeys: [], allowUnsigned: false, requireSignedAdmin: false }, testDeps().registry);
  assert.throws(
    () => none.unwrap(bytes, 'remote'),
    (err: unknown) =>
      says(
        'unsigned remote update refused: remote updates are disabled: no control.publicKeys are configured to verify a signature and control.allowUnsigned is false',
      )(err) && /allowUnsigned: true/.test((err as { hint?: string }).hint ?? ''),
  );
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  assert.throws(() => signRuleSetBytes(bytes, rsa), says('signing key refused: it is rsa, not ed25519'));
  const open = createUpdateVerifier({ publicKeys: [], allowUnsigned: true, requireSignedAdmin: false }, testDeps().registry);
  assert.deepEqual(open.unwrap(bytes, 'remote').bytes, bytes);

  assert.throws(
    () => createUpdateVerifier({ publicKeys: ['/nonexistent/key.pub'], allowUnsigned: false, requireSignedAdmin: false }, testDeps().registry),
    (err: unknown) => isGatehouseError(err, 'GH_CONFIG_INVALID'),
  );
});

function job(name: string): JobOptions {
  return { name, schedule: '*/1 * * * * *', type: 'sweep' };
}

function nextRun(s: JobScheduler, name: string, result?: JobRunEvent['result']): Promise<JobRunEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${result ?? ''} run of ${name} within 5 s`)), 5000);
    const on = (e: JobRunEvent): void => {
      if (e.job !== name || (result && e.result !== result)) return;
      clearTimeout(timer);
      s.off('run', on);
      resolve(e);
    };
    s.on('run', on);
  });
}

test('a scheduled job runs on its cron schedule', async (t) => {
  const deps = testDeps();
  let runs = 0;
  // The runner is a stand-in for the store maintenance call: this test is about the scheduling.
  const s = new JobScheduler([job('tick')], { ...deps, run: async () => void runs++ });
  s.start();
  t.after(() => s.stop());
  const [e] = await waitForEvent<[JobRunEvent]>(s, 'run', 3000);
  assert.equal(e.job, 'tick');
  assert.equal(e.result, 'ok');
  assert.equal(runs, 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_job_runs_total', { name: 'tick', result: 'ok' }), 1);
  assert.ok(s.status()[0]!.nextRun, 'next run is known');
});

test('a job never overlaps itself: ticks during a run are skipped and counted', async (t) => {
  const deps = testDeps();
  let release!: () => void;
  const blocked = new Promise<void>((r) => (release = r));
  let started = 0;
  // A blocking stand-in job: no real maintenance call can be held open on demand.
  const s = new JobScheduler([job('slow')], {
    ...deps,
    run: async () => {
      started++;
      await blocked;
    },
  });
  s.start();
  t.after(() => s.stop());
  await nextRun(s, 'slow', 'skipped');
  assert.equal(started, 1, 'the second tick did not start a second run');
  assert.equal(await metricValue(deps.registry, 'gatehouse_job_runs_total', { name: 'slow', result: 'skipped' }), 1);
  const ok = nextRun(s, 'slow', 'ok');
  release();
  assert.equal((await ok).result, 'ok');
  assert.equal(started, 1);
});

test('a failing job is logged and counted, and keeps its schedule', async (t) => {
  const deps = testDeps();
  let n = 0;
  const s = new JobScheduler([job('flaky')], {
    ...deps,
    run: async () => {
      n++;
      if (n === 1) throw new Error('disk on fire');
    },
  });
  s.start();
  t.after(() => s.stop());
  const failed = await nextRun(s, 'flaky', 'failed');
  assert.match(failed.error ?? '', /disk on fire/);
  await nextRun(s, 'flaky', 'ok');
  assert.equal(await metricValue(deps.registry, 'gatehouse_job_runs_total', { name: 'flaky', result: 'failed' }), 1);
  await assert.rejects(s.runNow('nope'), (err: unknown) => isGatehouseError(err, 'GH_ARG_INVALID'));
});

test('a job failing the same way at every run logs one error line, and one more when the error changes', async (t) => {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(JSON.parse(l) as { level: number; msg: string }) });
  const reasons = ['no rule named x', 'no rule named x', 'no rule named x', 'no rule named y'];
  let i = 0;
  // Once a year: the runs here are runNow's alone.
  const s = new JobScheduler([{ name: 'toggle', schedule: '0 0 1 1 *', type: 'sweep' }], {
    ...testDeps(),
    logger,
    run: async () => {
      throw new Error(reasons[i++] ?? 'no rule named y');
    },
  });
  s.start();
  t.after(() => s.stop());
  for (let k = 0; k < 4; k++) assert.equal((await s.runNow('toggle')).result, 'failed');
  const errors = lines.filter((l) => l.msg.startsWith('job failed') && l.level === 50);
  assert.equal(errors.length, 2, JSON.stringify(errors));
  assert.equal(lines.filter((l) => l.msg.startsWith('job failed')).length, 4, 'the repeats at debug');
});

test('after the wall clock is stepped back, scheduled jobs are planned again from the new time (node-cron keeps its old plan)', async (t) => {
  const deps = testDeps();
  // Injected clocks: the wall clock stepped back a year while 10 s pass on the monotonic one.
  // node-cron itself plans on the real Date; what is checked here is that the step is seen and
  // the tasks re-planned (their next run then comes from the real clock again).
  let wall = Date.parse('2027-06-01T00:00:00Z');
  let mono = 0;
  const s = new JobScheduler([job('tick')], { ...deps, now: () => wall, monotonic: () => mono, stepCheckMs: 20, run: async () => undefined });
  s.start();
  t.after(() => s.stop());
  const replanned = waitForEvent<[number]>(s, 'replanned', 3000);
  wall -= 365 * 86_400_000;
  mono += 10_000;
  const [behind] = await replanned;
  assert.ok(behind >= 365 * 86_400_000, `the step was measured: ${behind} ms`);
  assert.ok(s.status()[0]!.nextRun, 'the re-planned task has a next run');
  // A forward step or plain elapsed time is no backward step.
  let again = 0;
  s.on('replanned', () => again++);
  wall += 2 * 365 * 86_400_000;
  mono += 1000;
  await new Promise<void>((r) => setTimeout(r, 100)); // (several step checks of 20 ms pass: no event expected)
  assert.equal(again, 0);
});

test('status(): each job with its schedule, last run (wall-clock start, monotonic duration), last error, next run and counts', async (t) => {
  const deps = testDeps();
  // Injected clocks: during each run 250 ms pass on the monotonic clock while the wall clock is
  // stepped back an hour (NTP): the duration comes from the first, the `at` from the second.
  let wall = Date.parse('2027-03-01T12:00:00.000Z');
  let mono = 1000;
  let fail = false;
  let gate: Promise<void> | undefined;
  const jobs: JobOptions[] = [
    { name: 'nightly', schedule: '30 3 * * *', type: 'compact', timezone: 'Europe/Paris' },
    { name: 'off', schedule: '0 22 * * *', type: 'disable-rule', rule: 'verbose' },
  ];
  const s = new JobScheduler(jobs, {
    ...deps,
    now: () => wall,
    monotonic: () => mono,
    // A stand-in runner: this test is about what the scheduler keeps of each run.
    run: async () => {
      mono += 250;
      wall -= 3_600_000;
      await gate;
      if (fail) throw new Error('no rule named verbose');
    },
  });
  s.start();
  t.after(() => s.stop());

  const before = s.status();
  assert.deepEqual(
    before.map(({ nextRun: _, ...rest }) => rest),
    [
      {
        name: 'nightly',
        type: 'compact',
        schedule: '30 3 * * *',
        timezone: 'Europe/Paris',
        running: false,
        lastRun: null,
        lastError: null,
        runs: { ok: 0, failed: 0, skipped: 0 },
      },
      {
        name: 'off',
        type: 'disable-rule',
        schedule: '0 22 * * *',
        timezone: null,
        rule: 'verbose',
        running: false,
        lastRun: null,
        lastError: null,
        runs: { ok: 0, failed: 0, skipped: 0 },
      },
    ],
  );
  // The next run is planned in the job's zone: 03:30 in Paris.
  const next = new Date(before[0]!.nextRun!);
  assert.equal(next.toLocaleTimeString('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit' }), '03:30');

  await s.runNow('nightly');
  let st = s.status()[0]!;
  assert.deepEqual(st.lastRun, { at: '2027-03-01T12:00:00.000Z', result: 'ok', durationMs: 250 });
  assert.deepEqual(st.runs, { ok: 1, failed: 0, skipped: 0 });

  // A tick while the run is still going is skipped: kept as the last run until the run ends.
  let open!: () => void;
  gate = new Promise<void>((r) => (open = r));
  const slow = s.runNow('nightly');
  assert.equal(s.status()[0]!.running, true);
  const skipped = await s.runNow('nightly');
  assert.equal(skipped.result, 'skipped');
  assert.deepEqual(s.status()[0]!.lastRun, { at: '2027-03-01T10:00:00.000Z', result: 'skipped', durationMs: 0 });
  gate = undefined;
  open();
  await slow;
  st = s.status()[0]!;
  assert.equal(st.running, false);
  assert.deepEqual(st.lastRun, { at: '2027-03-01T11:00:00.000Z', result: 'ok', durationMs: 250 });
  assert.deepEqual(st.runs, { ok: 2, failed: 0, skipped: 1 });

  fail = true;
  await s.runNow('off');
  const failed = s.status()[1]!;
  assert.deepEqual(failed.lastRun, { at: '2027-03-01T10:00:00.000Z', result: 'failed', durationMs: 250, error: 'no rule named verbose' });
  assert.deepEqual(failed.lastError, { at: '2027-03-01T10:00:00.000Z', message: 'no rule named verbose' });
  assert.equal(failed.running, false);
  // A later successful run is the last run; the last error stays, so an intermittent failure is still seen.
  fail = false;
  await s.runNow('off');
  const recovered = s.status()[1]!;
  assert.deepEqual(recovered.lastRun, { at: '2027-03-01T09:00:00.000Z', result: 'ok', durationMs: 250 });
  assert.deepEqual(recovered.lastError, { at: '2027-03-01T10:00:00.000Z', message: 'no rule named verbose' });
  assert.deepEqual(recovered.runs, { ok: 1, failed: 1, skipped: 0 });
  assert.equal(await metricValue(deps.registry, 'gatehouse_job_runs_total', { name: 'off', result: 'failed' }), 1);
});
