// Configuration reload (SIGHUP, `systemctl reload gatehouse`): what a running gateway can take
// from an edited config file without a restart, and what it says about the rest.
//
// - The rule set (`rules:` or the file `rulesFile:` names) is applied like an update from the
//   office (source 'reload'): compiled and validated in full, then swapped in one step, or refused
//   with the old set still running; the same version rule as at start (not newer than the active
//   set: refused, GH_RULESET_STALE). Applied only when it differs from what the config held the
//   last time it was read: an unchanged file never undoes a newer remote update.
// - Every other changed top-level setting is named in the outcome: it takes effect at the next
//   restart (listeners, stores and exporters hold sockets, files and acknowledged data, so they
//   are not rebuilt under a running gateway).
// The caller reads and validates the new file first (an invalid file changes nothing).
import { DEFAULT_RULE_SET, type GatehouseConfig } from '../config/index.js';
import { loadRuleSetFile } from '../../rules/index.js';
import type { RuleUpdateStatus } from '../control/rule-set-target.js';

/** What the rule holder must offer a reload (RuleHost). */
export interface ReloadableRules {
  apply(def: unknown, opts: { source: string }): Promise<RuleUpdateStatus>;
}

export interface ReloadOutcome {
  /** The rule set's outcome; undefined when the config's rules did not change. */
  rules: RuleUpdateStatus | undefined;
  /** Changed top-level settings (other than the rules) that need a restart. */
  restartNeeded: string[];
}

/** The rule set a config stands for (its file read now), as JSON for comparison and the definition. */
async function configuredRules(config: GatehouseConfig): Promise<{ json: string; def: unknown }> {
  const def: unknown = config.rulesFile !== undefined ? await loadRuleSetFile(config.rulesFile) : (config.rules ?? DEFAULT_RULE_SET);
  return { json: JSON.stringify(def), def };
}

/**
 * Reload from `next` (the config file read again) against `previous` (as read last time; its
 * rules file as it was then: `previousRulesJson`). Resolves with the outcome and the rules JSON
 * to compare the next reload with (unchanged after a refused set, so the next reload retries it).
 */
export async function reloadConfig(
  rules: ReloadableRules,
  previous: GatehouseConfig,
  previousRulesJson: string,
  next: GatehouseConfig,
): Promise<ReloadOutcome & { rulesJson: string }> {
  const wanted = await configuredRules(next);
  const restartNeeded: string[] = [];
  const before = previous as unknown as Record<string, unknown>;
  const after = next as unknown as Record<string, unknown>;
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (key === 'rules' || key === 'rulesFile') continue;
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) restartNeeded.push(key);
  }
  const status = wanted.json === previousRulesJson ? undefined : await rules.apply(wanted.def, { source: 'reload' });
  // A refused set is tried again (and its errors said again) at the next reload.
  return { rules: status, restartNeeded, rulesJson: status?.state === 'rejected' ? previousRulesJson : wanted.json };
}

/** The rules JSON of the config the gateway started with (the reload's first comparison). */
export async function rulesJsonOf(config: GatehouseConfig): Promise<string> {
  return (await configuredRules(config)).json;
}
