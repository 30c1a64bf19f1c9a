// What the rule holder (RuleHost) reports of itself: the status view read by the admin API
// (/api/rules), the CLI (`gatehouse rules list`), the runtime at start and the remote control's
// status document, and the errors a refused rule toggle (a scheduled job) returns. Read only: it
// changes no slot and no engine state.
import { GatehouseError } from '../../core/errors.js';
import type { RuleEngine } from '../../rules/index.js';
import type { RuleUpdateStatus } from '../control/rule-set-target.js';
import type { PersistedRuleSet } from './rule-host-store.js';
import { errorsOf } from './rule-set-bytes.js';

/** The holder's status: the active and last good sets, the last update attempt, and each rule of the active set with its counters. */
export function statusView(
  active: PersistedRuleSet | undefined,
  lastGood: PersistedRuleSet | undefined,
  lastUpdate: RuleUpdateStatus | undefined,
  engine: RuleEngine | undefined,
): Record<string, unknown> {
  const counters = engine?.counters() ?? new Map();
  const set = engine?.ruleSet();
  return {
    activeVersion: active?.definition.version ?? null,
    appliedAt: active ? new Date(active.appliedAt).toISOString() : null,
    source: active?.source ?? null,
    lastGoodVersion: lastGood?.definition.version ?? null,
    /** False while the active set is on probation (applied on probation, not confirmed yet). */
    activeConfirmed: active ? active.unconfirmed !== true : null,
    lastUpdate: lastUpdate ? { ...lastUpdate, at: new Date(lastUpdate.at).toISOString() } : null,
    rules: (set?.rules ?? []).map((r) => ({
      name: r.name,
      sql: r.definition.sql,
      enabled: r.enabled,
      actions: r.actions.map((a) => a.kind),
      ...(counters.get(r.name) ?? {}),
    })),
  };
}

/**
 * The errors of a refused toggle of rule `name` asked for by `source`: the plain message (the job's
 * own error, GH_JOB_FAILED, says where and what to do). A rule set refusal lists its issues
 * (details): each one, not the whole list as one message.
 */
export function toggleErrors(err: unknown, name: string, source: string): RuleUpdateStatus['errors'] {
  return err instanceof GatehouseError
    ? Array.isArray(err.details)
      ? errorsOf(err).map((e) => ({ rule: e.rule || name, where: e.where || source, message: e.message }))
      : [{ rule: name, where: source, message: err.message }]
    : errorsOf(err);
}
