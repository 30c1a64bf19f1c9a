// The engine's per-rule counters, kept per rule definition. A rule set swap keeps the counters of a
// rule whose definition (SQL and its dialect, actions, error action) is unchanged, and starts a
// rule whose definition changed from zero: after a rollback, the restored rule does not show the
// failures of the definition that was rolled back, and a probation judges the new definition only.
// Toggling `enabled` or editing `description` keeps them (the same rule).
//
// Prometheus (gatehouse_rule_*_total) must never see a counter go backwards, so the totals it is
// given add, per rule name, the counts of the definitions that name had before: the replaced
// definition itself (actions still in flight at the swap count on it, and are seen) and the sum of
// the older ones. A rule removed from the set is dropped with all of this (its series disappear),
// as before: remote updates cannot grow these maps without bound.
import { newStats, type CompiledRuleSet, type RuleStats } from './ruleset.js';
import type { RuleCounters, RuleDefinition } from './types.js';

/** What the Prometheus counters of one rule name show. */
export interface RuleTotals {
  matched: number;
  emitted: number;
  errors: number;
  failuresByAction: Map<string, number>;
}

interface Entry {
  /** definitionKey() of the running definition. */
  key: string;
  /** The running definition's counters (the engine's CompiledRule.stats). */
  stats: RuleStats;
  /** The definition replaced last: actions in flight at the swap still count on it. */
  previous: RuleStats | undefined;
  /** The definitions replaced before `previous`, summed (Prometheus only). */
  retired: RuleTotals | undefined;
}

/** Two rules of the same name count as one when this is equal. */
export function definitionKey(d: RuleDefinition): string {
  return JSON.stringify([d.sql, d.sqlVersion ?? '2016-03-23', d.actions, d.errorAction ?? null]);
}

function emptyTotals(): RuleTotals {
  return { matched: 0, emitted: 0, errors: 0, failuresByAction: new Map() };
}

function addInto(into: RuleTotals, s: RuleTotals): RuleTotals {
  into.matched += s.matched;
  into.emitted += s.emitted;
  into.errors += s.errors;
  for (const [action, n] of s.failuresByAction) into.failuresByAction.set(action, (into.failuresByAction.get(action) ?? 0) + n);
  return into;
}

export class RuleCounterBook {
  private readonly entries = new Map<string, Entry>();

  /** Give every rule of `set` its counters (kept or new), and drop those of rules it no longer has. */
  attach(set: CompiledRuleSet): void {
    const keep = new Set<string>();
    for (const rule of set.rules) {
      const key = definitionKey(rule.definition);
      let e = this.entries.get(rule.name);
      if (!e) {
        e = { key, stats: newStats(), previous: undefined, retired: undefined };
        this.entries.set(rule.name, e);
      } else if (e.key !== key) {
        if (e.previous) e.retired = addInto(e.retired ?? emptyTotals(), e.previous);
        e.previous = e.stats;
        e.stats = newStats();
        e.key = key;
      }
      rule.stats = e.stats;
      keep.add(rule.name);
    }
    for (const name of [...this.entries.keys()]) if (!keep.has(name)) this.entries.delete(name);
  }

  /** The running definitions' counters, by rule name (admin API, CLI, status page, probation). */
  counters(): Map<string, RuleCounters> {
    const out = new Map<string, RuleCounters>();
    for (const [name, { stats: s }] of this.entries) {
      const c: RuleCounters = { matched: s.matched, emitted: s.emitted, errors: s.errors, actionFailures: s.actionFailures };
      if (s.lastError !== undefined) c.lastError = s.lastError;
      out.set(name, c);
    }
    return out;
  }

  /** Monotonic totals by rule name, for Prometheus: every definition the name had since it joined the set. */
  *totals(): Generator<[string, RuleTotals]> {
    for (const [name, e] of this.entries) {
      if (!e.previous && !e.retired) {
        yield [name, e.stats];
        continue;
      }
      const t = addInto(emptyTotals(), e.stats);
      if (e.previous) addInto(t, e.previous);
      if (e.retired) addInto(t, e.retired);
      yield [name, t];
    }
  }
}
