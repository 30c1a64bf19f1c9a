// Configuration reload (SIGHUP, `systemctl reload gatehouse`): what a running gateway can take
// from an edited config file without a restart, and what it says about the rest.
//
// - The rule set (`rules:` or the file `rulesFile:` names) is applied like an update from the
//   office (source 'reload'): compiled and validated in full, then swapped in one step, or refused
//   with the old set still running; the same version rule as at start (not newer than the active
//   set: refused, GH_RULESET_STALE). Applied only when it differs from what the config held the
//   last time it was read: an unchanged file never undoes a newer remote update.
// - The signature policy of rule set updates (control.publicKeys, allowUnsigned,
//   requireSignedAdmin) is taken at once: a signing key is rotated in, or a retired or exposed
//   one dropped, on the whole fleet with `systemctl reload`, without a restart (which would start
//   a running probation again and drop every client). A key that does not load keeps the old policy.
// - The lookup tables (`tables:`, get_dynamodb() in rules) are read again, before the rule set:
//   each that loads is swapped in, one that does not keeps its old contents (gateway/tables/). A
//   gateway started without tables takes them at the next restart.
// - Every other changed top-level setting is named in the outcome: it takes effect at the next
//   restart (listeners, stores and exporters hold sockets, files and acknowledged data, so they
//   are not rebuilt under a running gateway).
// The caller reads and validates the new file first (an invalid file changes nothing).
import { DEFAULT_RULE_SET, type GatehouseConfig } from '../config/index.js';
import { loadRuleSetFile } from '../../rules/index.js';
import type { RuleUpdateStatus } from '../control/rule-set-target.js';
import type { UpdateVerifier } from '../control/verify.js';
import { errorMessage } from '../../core/errors.js';
import type { TablesReloadOutcome } from '../tables/index.js';

/** What the rule holder must offer a reload (RuleHost). */
export interface ReloadableRules {
  apply(def: unknown, opts: { source: string }): Promise<RuleUpdateStatus>;
}

export interface ReloadOutcome {
  /** The rule set's outcome; undefined when the config's rules did not change. */
  rules: RuleUpdateStatus | undefined;
  /** Changed top-level settings (other than the rules) that need a restart. */
  restartNeeded: string[];
  /**
   * Where in them (`broker.listeners.0.port`, `streams.archive.maxBytes`; a list whose length
   * changed by its own path), at most MAX_CHANGED_PATHS: 'broker' alone did not say which of its
   * forty keys an operator's edit was read as.
   */
  changed: string[];
  /** The signature policy (control.publicKeys ...): undefined when unchanged, else taken or why not. */
  keys: { publicKeys: number } | { error: string } | undefined;
  /** The lookup tables read again; undefined when the gateway runs none. */
  tables?: TablesReloadOutcome;
}

/** What the lookup tables must offer a reload (gateway/tables/ LookupTables). */
export interface ReloadableTables {
  reload(specs: GatehouseConfig['tables']): Promise<TablesReloadOutcome>;
}

/** How many changed paths a reload names (the rest is said as a count). */
export const MAX_CHANGED_PATHS = 20;

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The paths where `b` and `a` differ: into objects by key, into lists of one length by index. Names only, never values (secrets). */
export function changedPaths(b: unknown, a: unknown, path: string, out: string[]): void {
  if (out.length > MAX_CHANGED_PATHS || JSON.stringify(b) === JSON.stringify(a)) return;
  if (isPlain(b) && isPlain(a)) {
    for (const k of new Set([...Object.keys(b), ...Object.keys(a)])) changedPaths(b[k], a[k], `${path}.${k}`, out);
  } else if (Array.isArray(b) && Array.isArray(a) && b.length === a.length) {
    b.forEach((x, i) => changedPaths(x, a[i], `${path}.${i}`, out));
  } else out.push(path);
}

/** The control settings a reload takes: the signature policy of rule set updates. */
const POLICY_KEYS = ['publicKeys', 'allowUnsigned', 'requireSignedAdmin'] as const;

function policyOf(config: GatehouseConfig): Pick<GatehouseConfig['control'], (typeof POLICY_KEYS)[number]> {
  const c = config.control;
  return { publicKeys: c.publicKeys, allowUnsigned: c.allowUnsigned, requireSignedAdmin: c.requireSignedAdmin };
}

/** The control section without what a reload takes, for the restart comparison. */
function restartPartOfControl(control: GatehouseConfig['control']): Record<string, unknown> {
  const rest: Record<string, unknown> = { ...control };
  for (const k of POLICY_KEYS) delete rest[k];
  return rest;
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
  verifier?: Pick<UpdateVerifier, 'reconfigure'>,
  tables?: ReloadableTables,
): Promise<ReloadOutcome & { rulesJson: string }> {
  const wanted = await configuredRules(next);
  const restartNeeded: string[] = [];
  const changed: string[] = [];
  const before = previous as unknown as Record<string, unknown>;
  const after = next as unknown as Record<string, unknown>;
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (key === 'rules' || key === 'rulesFile' || (key === 'tables' && tables)) continue;
    const [b, a] = key === 'control' && verifier ? [restartPartOfControl(previous.control), restartPartOfControl(next.control)] : [before[key], after[key]];
    if (JSON.stringify(b) !== JSON.stringify(a)) {
      restartNeeded.push(key);
      changedPaths(b, a, key, changed);
    }
  }
  // Keys first: an update signed with a key this reload brings in is then verified with it.
  let keys: ReloadOutcome['keys'];
  if (verifier && JSON.stringify(policyOf(previous)) !== JSON.stringify(policyOf(next))) {
    try {
      verifier.reconfigure(policyOf(next));
      keys = { publicKeys: next.control.publicKeys.length };
    } catch (err) {
      keys = { error: errorMessage(err) };
    }
  }
  // The tables before the rule set: a set that reads a table added with it compiles against it.
  const tablesOutcome = tables ? await tables.reload(next.tables) : undefined;
  const status = wanted.json === previousRulesJson ? undefined : await rules.apply(wanted.def, { source: 'reload' });
  // A refused set is tried again (and its errors said again) at the next reload.
  if (changed.length > MAX_CHANGED_PATHS) changed.splice(MAX_CHANGED_PATHS, Infinity, `... (more)`);
  return {
    rules: status,
    restartNeeded,
    changed,
    keys,
    ...(tablesOutcome ? { tables: tablesOutcome } : {}),
    rulesJson: status?.state === 'rejected' ? previousRulesJson : wanted.json,
  };
}

/** The rules JSON of the config the gateway started with (the reload's first comparison). */
export async function rulesJsonOf(config: GatehouseConfig): Promise<string> {
  return (await configuredRules(config)).json;
}
