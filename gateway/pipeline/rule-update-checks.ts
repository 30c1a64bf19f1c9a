// What the rule host turns down, or finds nothing to do for, before it compiles or swaps anything:
// an update whose version is not newer than the active set's (GH_RULESET_STALE, unless forced or the
// built-in default yields to it) or that is the active set itself (unchanged); a rollback with
// nowhere to go (GH_RULESET_NO_ROLLBACK, saying why); a toggle of a rule the active set does not
// have (GH_RULESET_INVALID, naming the rules it has) or that changes nothing. Apart from
// rule-host.ts, which installs, stores and reverts the sets: what is refused and in which words,
// not how an update is carried out.
import { ERRORS } from '../../core/errors.js';
import { parseRuleSet, rulesetError, type RuleSetDefinition } from '../../rules/index.js';
import type { RollbackOptions, RuleUpdateStatus } from '../control/rule-set-target.js';
import { builtInYields } from './configured-vs-stored.js';

/** The version a rule set document declares (undefined: none, or not a number). */
export function declaredVersion(def: unknown): number | undefined {
  return typeof (def as { version?: unknown })?.version === 'number' ? (def as { version: number }).version : undefined;
}

/**
 * An update (`def`, declaring `version`) against the active set `current`, unless forced: true when
 * it is the active set itself (same version, same rules: nothing to do); throws GH_RULESET_STALE
 * when its version is not newer (unless the built-in default yields to it).
 */
export function sameOrStale(
  def: unknown,
  version: number | undefined,
  current: RuleSetDefinition | undefined,
  force: boolean | undefined,
  builtInDefault: unknown,
): boolean {
  if (!current || version === undefined || force) return false;
  if (version === current.version && JSON.stringify(parseRuleSet(def)) === JSON.stringify(current)) return true;
  if (version <= current.version && !builtInYields(current, def, builtInDefault)) {
    throw ERRORS.GH_RULESET_STALE({ version, active: current.version });
  }
  return false;
}

/**
 * Where a rollback goes: the last good set `target`, or a refusal when it has nowhere to go (no
 * confirmed set before the running one, or the last good set is the one running). After an
 * automatic rollback the last good set is the one running (the failed set is dropped): an operator
 * rollback then has nowhere to go, and says so rather than reinstall the same set. `cause`'s errors
 * (an automatic rollback) come first in the refusal.
 */
export function rollbackTarget<T extends { definition: RuleSetDefinition }>(
  target: T | undefined,
  active: { definition: RuleSetDefinition } | undefined,
  source: string,
  cause: RollbackOptions['failure'],
): { to: T } | { refused: RuleUpdateStatus } {
  const sameAsActive = target !== undefined && active !== undefined && JSON.stringify(target.definition) === JSON.stringify(active.definition);
  if (target && !sameAsActive) return { to: target };
  const why = target
    ? `version ${target.definition.version}, the last confirmed set, is the one running (a set left by a rollback from its probation, or by a failed probation, is dropped, not kept)`
    : 'no rule set was confirmed before the running one';
  const refused = ERRORS.GH_RULESET_NO_ROLLBACK({ reason: why });
  return {
    refused: {
      state: 'rejected',
      version: undefined,
      source,
      at: Date.now(),
      errors: [...(cause?.errors ?? []), { rule: '', where: '', message: refused.describe() }],
      code: 'GH_RULESET_NO_ROLLBACK',
    },
  };
}

/**
 * The active set `current` with rule `name` enabled or disabled; undefined when the rule already is.
 * Throws GH_RULESET_INVALID (where: `source`) when the active set has no such rule.
 */
export function toggledRuleSet(current: RuleSetDefinition | undefined, name: string, enabled: boolean, source: string): RuleSetDefinition | undefined {
  const rule = current?.rules.find((r) => r.name === name);
  if (!current || !rule) {
    const names = current?.rules.map((r) => r.name).join(', ') || 'none';
    const message = `no rule named '${name}' in the active rule set (${current ? `version ${current.version}; ` : ''}its rules: ${names})`;
    throw rulesetError([{ rule: '', where: '', message }], `the rule toggle of ${source}`, { where: source, hint: 'name a rule of the active set' });
  }
  if ((rule.enabled !== false) === enabled) return undefined;
  return { ...current, rules: current.rules.map((r) => (r.name === name ? { ...r, enabled } : r)) };
}
