// The probation criterion (gateway/control/probation-criterion.ts): which rules an update is judged
// on, the counts since it was applied, and when a rule fails (at least minFailures failures and
// failures >= failureRatio x evaluations).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failingRules, ruleFails, tallySince, watchedRules, type CounterSnapshot } from '../../gateway/control/probation-criterion.js';
import type { RuleCounters, RuleDefinition } from '../../rules/index.js';

const criterion = { minFailures: 10, failureRatio: 0.5 };

function counts(entries: Record<string, Partial<RuleCounters>>): CounterSnapshot {
  return new Map(Object.entries(entries).map(([k, v]) => [k, { matched: 0, emitted: 0, errors: 0, actionFailures: 0, ...v }]));
}

const rule = (name: string, sql = "SELECT * FROM 'a/#'", extra: Partial<RuleDefinition> = {}): RuleDefinition => ({
  name,
  sql,
  actions: [{ stream: { name: 'archive' } }],
  ...extra,
});

test('a rule fails only with at least minFailures failures and a failure ratio at or above failureRatio', () => {
  const t = (evaluations: number, failures: number) => ({ rule: 'r', evaluations, failures, lastError: undefined });
  assert.equal(ruleFails(t(9, 9), criterion), false, 'every evaluation failed, but fewer than minFailures');
  assert.equal(ruleFails(t(10, 10), criterion), true, 'minFailures reached, ratio 1');
  assert.equal(ruleFails(t(20, 10), criterion), true, 'ratio exactly failureRatio');
  assert.equal(ruleFails(t(21, 10), criterion), false, 'ratio just under failureRatio');
  assert.equal(ruleFails(t(1000, 400), criterion), false, 'many failures, but a busy rule failing 40% is kept');
  assert.equal(ruleFails(t(0, 12), criterion), true, 'failures without evaluations (window rows emitted by a timer)');
  assert.equal(ruleFails(t(5, 10), criterion), true, 'two failing actions per message count twice');
  assert.equal(ruleFails(t(0, 0), criterion), false, 'a rule that saw nothing is not judged');
  assert.equal(ruleFails(t(1, 1), { minFailures: 1, failureRatio: 1 }), true);
  assert.equal(ruleFails(t(3, 2), { minFailures: 1, failureRatio: 1 }), false, 'failureRatio 1: only a rule failing every evaluation');
});

test('counts are taken since the probation started; errors and action failures add up', () => {
  const baseline = counts({ kept: { matched: 100, errors: 7, actionFailures: 3 }, changed: { matched: 50, errors: 1 } });
  const now = counts({
    kept: { matched: 130, errors: 27, actionFailures: 3 },
    changed: { matched: 62, errors: 5, actionFailures: 4, lastError: 'GH_ACTION_FAILED: boom' },
    added: { matched: 4, actionFailures: 4 },
  });
  assert.deepEqual(tallySince(baseline, now, ['changed', 'added', 'gone']), [
    { rule: 'changed', evaluations: 12, failures: 8, lastError: 'GH_ACTION_FAILED: boom' },
    { rule: 'added', evaluations: 4, failures: 4, lastError: undefined },
    { rule: 'gone', evaluations: 0, failures: 0, lastError: undefined },
  ]);
  // Counters that went down were started again (the rule was removed and added back): counted from zero.
  assert.deepEqual(tallySince(counts({ r: { matched: 50, errors: 20 } }), counts({ r: { matched: 3, errors: 2 } }), ['r']), [
    { rule: 'r', evaluations: 3, failures: 2, lastError: undefined },
  ]);
});

test('failingRules lists the rules that fail, the most failures first', () => {
  const tallies = [
    { rule: 'ok', evaluations: 100, failures: 1, lastError: 'x' },
    { rule: 'bad', evaluations: 12, failures: 12, lastError: 'y' },
    { rule: 'worse', evaluations: 40, failures: 40, lastError: 'z' },
  ];
  assert.deepEqual(
    failingRules(tallies, criterion).map((t) => t.rule),
    ['worse', 'bad'],
  );
  assert.deepEqual(failingRules(tallies.slice(0, 1), criterion), []);
});

test('only the rules an update added or changed are judged (an unchanged rule failing is not the update)', () => {
  const previous = { version: 1, rules: [rule('same'), rule('edited'), rule('removed')] };
  const next = {
    version: 2,
    rules: [
      rule('same'),
      rule('edited', "SELECT * FROM 'a/#' WHERE x > 1"),
      rule('added'),
      rule('off', "SELECT * FROM 'a/#'", { enabled: false }),
      rule('same-sql-new-action', "SELECT * FROM 'a/#'", { actions: [{ republish: { topic: 'b' } }] }),
    ],
  };
  assert.deepEqual(watchedRules(next, previous), ['edited', 'added', 'same-sql-new-action']);
  assert.deepEqual(watchedRules(next, undefined), ['same', 'edited', 'added', 'same-sql-new-action'], 'no previous set: every enabled rule');
  assert.deepEqual(watchedRules(previous, previous), [], 'an identical set changes no rule');
});
