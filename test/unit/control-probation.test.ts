// The probation monitor (gateway/control/probation.ts) over the real RuleHost and rules engine
// (in-memory store, manual clock): rollback of a failing changed rule, confirmation, rules the
// update did not change, updates replacing a set on probation, updates stacked on one still on
// probation (rolled back to the last confirmed set), a restart during a probation.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ProbationMonitor } from '../../gateway/control/probation.js';
import type { ProbationOptions } from '../../gateway/control/options.js';
import type { RuleUpdateStatus } from '../../gateway/control/rule-set-target.js';
import { RuleHost } from '../../gateway/pipeline/rule-host.js';
import { ManualTimers, type Action, type ActionFactory, type RuleSetDefinition } from '../../rules/index.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { MemoryStreams } from '../helpers/memory-streams.js';
import { metricValue, testDeps, waitForEvent, withTimeout } from '../helpers/index.js';

const action =
  (kind: string, fails: boolean): ActionFactory =>
  (): Action => ({
    kind,
    resource: kind,
    durable: false,
    execute() {
      if (fails) throw new Error(`${kind} refused the output`);
    },
  });
const actions = createActionRegistry({ ok: action('ok', false), fail: action('fail', true) });

/** A rule on FROM 'in/<name>' whose one action is `ok` or `fail`. */
const rule = (name: string, kind: 'ok' | 'fail') => ({ name, sql: `SELECT * FROM 'in/${name}'`, actions: [{ [kind]: {} }] });
const set = (version: number, ...rules: ReturnType<typeof rule>[]): RuleSetDefinition => ({ version, rules });

const OPTS: ProbationOptions = { seconds: 60, minFailures: 3, failureRatio: 0.5 };

interface Rig {
  deps: RuntimeDeps;
  streams: MemoryStreams;
  rules: RuleHost;
  timers: ManualTimers;
  monitor: ProbationMonitor;
  statuses: RuleUpdateStatus[];
  /** n messages on in/<rule>. */
  send(ruleName: string, n: number): void;
  /** The next status the rule host reports (awaited with a timeout). */
  next(): Promise<RuleUpdateStatus>;
}

async function rig(t: TestContext, initial: RuleSetDefinition, opts: Partial<ProbationOptions> = {}, reuse?: Rig): Promise<Rig> {
  // A restarted gateway: the same store and clock, a new process (own metrics registry).
  const deps = testDeps();
  const streams = reuse?.streams ?? new MemoryStreams();
  const rules = new RuleHost({ ...deps, streams, actions, ruleState: { inputLog: false, checkpointIntervalMs: 0 } });
  await rules.loadInitial(initial, false);
  t.after(() => rules.stop());
  const timers = reuse?.timers ?? new ManualTimers(1_000_000);
  const monitor = new ProbationMonitor({ ...OPTS, ...opts }, { ...deps, rules, meta: streams, timers });
  const statuses: RuleUpdateStatus[] = [];
  rules.on('status', (s: RuleUpdateStatus) => statuses.push(s));
  await monitor.start();
  t.after(() => monitor.stop());
  return {
    deps,
    streams,
    rules,
    timers,
    monitor,
    statuses,
    send(name, n) {
      for (let i = 0; i < n; i++) {
        rules.handle({ topic: `in/${name}`, payload: Buffer.from(`{"i":${i}}`), qos: 0, source: { kind: 'mqtt', id: 'dev' }, receivedAt: 0 });
      }
    },
    async next() {
      const [s] = await waitForEvent<[RuleUpdateStatus]>(rules, 'status');
      return s;
    },
  };
}

test('a rule the update changed that fails at run time gets the update rolled back, with the code, rule, counts and error', async (t) => {
  const r = await rig(t, set(1, rule('route', 'ok')));
  const applied = await r.rules.apply(set(2, rule('route', 'fail')), { source: 'mqtt:local', probation: true });
  assert.equal(applied.probation, true);
  assert.deepEqual(r.monitor.current()?.rules, ['route']);
  assert.equal(r.monitor.current()?.version, 2);

  r.send('route', 2);
  r.timers.advance(1000);
  assert.equal(r.rules.activeDefinition()?.version, 2, 'below minFailures: kept');
  assert.equal(r.timers.size, 1, 'checked again later');

  r.send('route', 2);
  const next = r.next();
  r.timers.advance(1000);
  const s = await next;
  assert.equal(s.state, 'rolled-back');
  assert.equal(s.source, 'probation');
  assert.equal(s.code, 'GH_RULESET_RUNTIME_FAILURE');
  assert.equal(s.version, 1);
  assert.equal(s.errors[0]?.rule, 'route');
  assert.match(s.errors[0]!.message, /rule 'route' of rule set 2 failed 4 times in 4 evaluations during its probation \(last error: fail action: fail refused/);
  assert.equal(r.rules.activeDefinition()?.version, 1);
  assert.equal(r.monitor.current(), undefined);
  assert.equal(r.timers.size, 0, 'no timer once the probation ended');
  assert.equal(await metricValue(r.deps.registry, 'gatehouse_ruleset_auto_rollbacks_total'), 1);

  // The failed set is not kept as the rollback target: an operator rollback cannot bring it back,
  // and says there is nothing to go back to rather than reinstall the set already running.
  assert.equal(r.rules.lastGoodDefinition()?.version, 1);
  const again = await r.rules.rollback('admin');
  assert.equal(again.state, 'rejected');
  assert.equal(again.code, 'GH_RULESET_NO_ROLLBACK');
  // what (the code), why (the failed set was dropped, the last confirmed one runs) and the fix
  assert.match(
    again.errors.at(-1)!.message,
    /^GH_RULESET_NO_ROLLBACK: no previous rule set to roll back to: version 1, the last confirmed set, is the one running \(.*failed probation, is dropped, not kept\)\. Fix: .*apply it as a new version/,
  );
  assert.equal(r.rules.activeDefinition()?.version, 1);
});

test('a set whose changed rules do not fail is confirmed when the probation ends; an unchanged failing rule is not judged', async (t) => {
  const r = await rig(t, set(1, rule('broken', 'fail')));
  await r.rules.apply(set(2, rule('broken', 'fail'), rule('added', 'ok')), { source: 'mqtt:local', probation: true });
  assert.deepEqual(r.monitor.current()?.rules, ['added']);
  r.send('broken', 50);
  r.send('added', 5);
  r.timers.advance(59_000);
  assert.equal(r.rules.activeDefinition()?.version, 2);
  const next = r.next();
  r.timers.advance(1000);
  const s = await next;
  assert.equal(s.state, 'confirmed');
  assert.equal(s.version, 2);
  assert.equal(s.source, 'probation');
  assert.equal(r.rules.activeDefinition()?.version, 2);
  assert.equal(r.rules.lastGoodDefinition()?.version, 1, 'confirming does not move the rollback target');
  assert.equal(r.timers.size, 0);
  assert.equal(await metricValue(r.deps.registry, 'gatehouse_ruleset_auto_rollbacks_total'), 0);
});

test('a set replaced during its probation is not judged any more; the new one is, if it is on probation', async (t) => {
  const r = await rig(t, set(1, rule('route', 'ok')));
  await r.rules.apply(set(2, rule('route', 'fail')), { source: 'mqtt:local', probation: true });
  r.send('route', 10);
  await r.rules.apply(set(3, rule('route', 'ok')), { source: 'admin' });
  assert.equal(r.monitor.current(), undefined, 'an update without probation ends it');
  assert.equal(r.timers.size, 0);

  await r.rules.apply(set(4, rule('route', 'fail')), { source: 'mqtt:local', probation: true });
  assert.equal(r.monitor.current()?.version, 4);
  await r.rules.apply(set(5, rule('route', 'fail'), rule('x', 'ok')), { source: 'mqtt:local', probation: true });
  assert.equal(r.monitor.current()?.version, 5, 'a newer update on probation replaces it');
  assert.deepEqual(r.monitor.current()?.rules, ['route', 'x'], 'judged against the last confirmed set (3), not against 4, never confirmed');
  assert.equal(r.timers.size, 1);
  const rb = await r.rules.rollback('admin');
  assert.equal(rb.state, 'rolled-back');
  assert.equal(rb.version, 3, 'an operator rollback goes to the last confirmed set too');
  assert.equal(rb.fromVersion, 5);
  assert.equal(r.monitor.current(), undefined, 'an operator rollback ends it');
  assert.equal(r.timers.size, 0);
  const before = r.statuses.length;
  // An automatic rollback for a set that is no longer active does nothing.
  const stale = await r.rules.rollback('probation', { fromVersion: 5, failure: { code: 'GH_RULESET_RUNTIME_FAILURE', errors: [] } });
  assert.equal(stale.state, 'unchanged');
  assert.equal(r.statuses.length, before, 'not reported');
  assert.equal(r.rules.activeDefinition()?.version, 3);
});

test('an update stacked on one still on probation that fails rolls back to the last confirmed set, not to the unconfirmed one', async (t) => {
  const r = await rig(t, set(1, rule('route', 'ok'), rule('other', 'ok')));
  // A (2) changes `other` and is still on probation when B (3) arrives and breaks `route`.
  await r.rules.apply(set(2, rule('route', 'ok'), rule('other', 'fail')), { source: 'mqtt:local', probation: true });
  r.timers.advance(10_000);
  await r.rules.apply(set(3, rule('route', 'fail'), rule('other', 'fail')), { source: 'mqtt:local', probation: true });
  assert.equal(r.rules.lastGoodDefinition()?.version, 1, 'A was never confirmed: the rollback target stays 1');
  assert.deepEqual(r.monitor.current()?.rules, ['route', 'other'], "A's change is judged with B's: a rollback undoes both");
  assert.equal(r.rules.status().activeConfirmed, false);

  r.send('route', 3);
  const next = r.next();
  r.timers.advance(1000);
  const s = await next;
  assert.equal(s.state, 'rolled-back');
  assert.equal(s.code, 'GH_RULESET_RUNTIME_FAILURE');
  assert.equal(s.version, 1, 'back to the last confirmed set');
  assert.equal(s.fromVersion, 3);
  assert.equal(r.rules.activeDefinition()?.version, 1);
  assert.equal(r.rules.status().activeConfirmed, true);
  assert.equal(r.rules.status().lastGoodVersion, 1);
  assert.equal(r.monitor.current(), undefined, 'nothing left on probation: A is not running again');
  assert.equal(r.timers.size, 0);
  const again = await r.rules.rollback('admin');
  assert.equal(again.code, 'GH_RULESET_NO_ROLLBACK', 'neither A nor B can be rolled back to');
});

test('confirmed sets move the rollback target; an operator rollback from a confirmed set swaps, from one on probation drops it', async (t) => {
  const r = await rig(t, set(1, rule('route', 'ok')));
  await r.rules.apply(set(2, rule('route', 'ok'), rule('a', 'ok')), { source: 'mqtt:local', probation: true });
  const confirmed = r.next();
  r.timers.advance(60_000);
  assert.equal((await confirmed).state, 'confirmed');
  assert.equal(r.rules.status().activeConfirmed, true);
  // B (3) stacked on a confirmed A: the rollback target is A.
  await r.rules.apply(set(3, rule('route', 'ok'), rule('a', 'ok'), rule('b', 'ok')), { source: 'mqtt:local', probation: true });
  assert.equal(r.rules.lastGoodDefinition()?.version, 2);
  assert.deepEqual(r.monitor.current()?.rules, ['b']);
  // An update without probation replacing one on probation: confirmed at once, the target stays 2.
  await r.rules.apply(set(4, rule('route', 'ok')), { source: 'admin' });
  assert.equal(r.rules.lastGoodDefinition()?.version, 2, '3 was never confirmed');
  let rb = await r.rules.rollback('admin');
  assert.deepEqual([rb.state, rb.version, rb.fromVersion], ['rolled-back', 2, 4]);
  rb = await r.rules.rollback('admin');
  assert.deepEqual([rb.state, rb.version, rb.fromVersion], ['rolled-back', 4, 2], 'between confirmed sets a rollback swaps them');
});

test('a restart during a probation watches the set again for a whole period', async (t) => {
  const first = await rig(t, set(1, rule('route', 'ok')));
  await first.rules.apply(set(2, rule('route', 'fail')), { source: 'mqtt:local', probation: true });
  await first.monitor.stop();
  await first.rules.stop();

  const r = await rig(t, set(1, rule('route', 'ok')), {}, first);
  assert.equal(r.rules.activeDefinition()?.version, 2, 'the stored set is restored');
  assert.equal(r.monitor.current()?.version, 2, 'its probation started again');
  r.send('route', 3);
  const next = r.next();
  r.timers.advance(1000);
  const s = await next;
  assert.equal(s.state, 'rolled-back');
  assert.equal(r.rules.activeDefinition()?.version, 1);
  await r.monitor.stop();

  // Ended probations are not resumed.
  const later = await rig(t, set(1, rule('route', 'ok')), {}, r);
  assert.equal(later.monitor.current(), undefined);
});

test('a restart during the probation of an update stacked on an unconfirmed one keeps the rollback target', async (t) => {
  const first = await rig(t, set(1, rule('route', 'ok')));
  await first.rules.apply(set(2, rule('route', 'ok'), rule('a', 'ok')), { source: 'mqtt:local', probation: true });
  await first.rules.apply(set(3, rule('route', 'fail'), rule('a', 'ok')), { source: 'mqtt:local', probation: true });
  await first.monitor.stop();
  await first.rules.stop();

  const r = await rig(t, set(1, rule('route', 'ok')), {}, first);
  assert.equal(r.rules.activeDefinition()?.version, 3);
  assert.equal(r.rules.lastGoodDefinition()?.version, 1, 'the stored rollback target is still the last confirmed set');
  assert.equal(r.monitor.current()?.version, 3, 'its probation started again');
  assert.deepEqual(r.monitor.current()?.rules, ['route', 'a']);
  r.send('route', 3);
  const next = r.next();
  r.timers.advance(1000);
  const s = await next;
  assert.deepEqual([s.state, s.version, s.fromVersion], ['rolled-back', 1, 3]);
});

test('an unconfirmed set found at start is watched again even without a running record, and confirmed when it passes', async (t) => {
  const first = await rig(t, set(1, rule('route', 'ok')));
  await first.rules.apply(set(2, rule('route', 'ok'), rule('a', 'ok')), { source: 'mqtt:local', probation: true });
  await first.monitor.stop();
  await first.rules.stop();
  // The gateway stopped before the probation record was written (only the rule set was).
  await first.streams.putMeta('control/probation', Buffer.from('{}'));

  const r = await rig(t, set(1, rule('route', 'ok')), {}, first);
  assert.equal(r.monitor.current()?.version, 2);
  const next = r.next();
  r.timers.advance(60_000);
  assert.equal((await next).state, 'confirmed');
  await r.monitor.stop();
  await r.rules.stop();

  const later = await rig(t, set(1, rule('route', 'ok')), {}, r);
  assert.equal(later.monitor.current(), undefined, 'a confirmed set is not watched again');
  assert.equal(later.rules.status().activeConfirmed, true);
});

test('probation.seconds 0: no probation, no timer; a set applied with probation is confirmed at once', async (t) => {
  const r = await rig(t, set(1, rule('route', 'ok')), { seconds: 0 });
  const confirmed = withTimeout(
    new Promise<RuleUpdateStatus>((resolve) => r.rules.on('status', (s: RuleUpdateStatus) => s.state === 'confirmed' && resolve(s))),
    5000,
    'the confirmation',
  );
  await r.rules.apply(set(2, rule('route', 'fail')), { source: 'mqtt:local', probation: true });
  assert.equal(r.monitor.current(), undefined);
  assert.equal(r.timers.size, 0);
  assert.equal((await confirmed).version, 2);
  await r.rules.apply(set(3, rule('route', 'ok')), { source: 'mqtt:local', probation: true });
  assert.equal(r.rules.lastGoodDefinition()?.version, 2, 'nothing is left out of the rollback target for want of a probation');
});

test('an NTP step of the wall clock neither ends a probation at once nor stretches it: the deadline is on the monotonic clock', async (t) => {
  for (const step of [-365 * 86_400_000, 365 * 86_400_000]) {
    const deps = testDeps();
    const streams = new MemoryStreams();
    const rules = new RuleHost({ ...deps, streams, actions, ruleState: { inputLog: false, checkpointIntervalMs: 0 } });
    await rules.loadInitial(set(1, rule('a', 'ok')), false);
    t.after(() => rules.stop());
    // Timers run on the monotonic clock (as Node's do); the wall clock is stepped on its own.
    const mono = new ManualTimers(1_000_000);
    let wall = Date.parse('2026-12-03T10:00:00Z');
    const timers = { now: () => wall, setTimeout: (fn: () => void, ms: number) => mono.setTimeout(fn, ms), clearTimeout: (h: unknown) => mono.clearTimeout(h) };
    const monitor = new ProbationMonitor(OPTS, { ...deps, rules, meta: streams, timers, monotonic: () => mono.now() });
    await monitor.start();
    t.after(() => monitor.stop());
    await rules.apply(set(2, rule('a', 'ok'), rule('b', 'ok')), { source: 'mqtt:local', probation: true });
    assert.equal(monitor.current()?.version, 2);
    wall += step;
    mono.advance(30_000);
    assert.equal(monitor.current()?.version, 2, `still on probation 30 s in, after a step of ${step / 86_400_000} days`);
    const next = waitForEvent<[RuleUpdateStatus]>(rules, 'status');
    mono.advance(30_000);
    const [s] = await withTimeout(next, 5000, `confirmation 60 s in after a step of ${step / 86_400_000} days`);
    assert.equal(s.state, 'confirmed');
  }
});
