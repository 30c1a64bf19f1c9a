// When a rule set on probation has failed (probation.ts runs the clock, this decides).
//
// Judged: the enabled rules the update added or changed (a rule identical to the one it replaces
// cannot have been broken by the update, and rolling back would not cure it: a full disk, an
// upstream outage). Counted per rule since the probation started, from the engine's own counters
// (so the hot path pays nothing more): evaluations = messages that matched its FROM filter;
// failures = evaluation errors (GH_RULE_EVAL) + failed actions + failed error actions.
// A rule fails when failures >= minFailures AND failures >= failureRatio x evaluations:
// minFailures keeps one unlucky early message from rolling back an update, the ratio keeps a busy
// rule that meets the odd bad payload. A message whose two actions both fail counts two failures.
import type { RuleCounters, RuleDefinition, RuleSetDefinition } from '../../rules/index.js';

export interface FailureCriterion {
  minFailures: number;
  failureRatio: number;
}

/** Counters by rule name (RuleSetTarget.ruleCounters()). */
export type CounterSnapshot = ReadonlyMap<string, RuleCounters>;

export interface RuleTally {
  rule: string;
  evaluations: number;
  failures: number;
  lastError: string | undefined;
}

function sameRule(a: RuleDefinition, b: RuleDefinition | undefined): boolean {
  return b !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

/** Names of the enabled rules of `next` that are new or differ from the same-named rule of `previous`. */
export function watchedRules(next: RuleSetDefinition, previous: RuleSetDefinition | undefined): string[] {
  const before = new Map((previous?.rules ?? []).map((r) => [r.name, r]));
  return next.rules.filter((r) => r.enabled !== false && !sameRule(r, before.get(r.name))).map((r) => r.name);
}

/** How much a counter grew; a counter below its baseline was started again (the rule re-created). */
function growth(now: number, base: number): number {
  return now >= base ? now - base : now;
}

/** The counts of `rules` between two snapshots. */
export function tallySince(baseline: CounterSnapshot, current: CounterSnapshot, rules: readonly string[]): RuleTally[] {
  return rules.map((rule) => {
    const b = baseline.get(rule);
    const c = current.get(rule);
    if (!c) return { rule, evaluations: 0, failures: 0, lastError: undefined };
    const failures = growth(c.errors, b?.errors ?? 0) + growth(c.actionFailures, b?.actionFailures ?? 0);
    return { rule, evaluations: growth(c.matched, b?.matched ?? 0), failures, lastError: failures > 0 ? c.lastError : undefined };
  });
}

export function ruleFails(t: RuleTally, c: FailureCriterion): boolean {
  return t.failures >= c.minFailures && t.failures >= c.failureRatio * t.evaluations;
}

/** The failing rules, the most failures first. */
export function failingRules(tallies: readonly RuleTally[], c: FailureCriterion): RuleTally[] {
  return tallies.filter((t) => ruleFails(t, c)).sort((a, b) => b.failures - a.failures);
}
