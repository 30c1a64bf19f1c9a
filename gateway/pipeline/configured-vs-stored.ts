// At start the stored active rule set wins over the configured one unless the configuration carries
// a higher version (an update outlives restarts: docs/remote-control.md). When the configured set
// lost and is not the same set, the start says so, or an edit of the config's rules without a
// higher version would silently change nothing. Apart from rule-host.ts: what to say, not when.
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import { parseRuleSet, type RuleSetDefinition } from '../../rules/index.js';
import type { RuleUpdateStatus } from '../control/rule-set-target.js';
import { codeOf, errorsOf } from './rule-set-bytes.js';

/** The stored active set: its definition and where it came from ('config', 'remote', 'admin', 'job:<name>', ...). */
export interface StoredRuleSet {
  definition: RuleSetDefinition;
  source: string;
}

/**
 * Log how the configured set (`def`, unparsed) differs from the stored set that won: nothing when
 * they are the same; at info, the rules a scheduled job toggled when that is all that differs (a
 * job's toggle of the configured set: raising the version would undo it until the job's next run);
 * otherwise a warning saying to raise the version, or, when the configured set does not compile
 * (`compileProblem`: why), that it does not (raising the version alone would not apply it).
 */
export async function reportConfiguredVsStored(
  logger: Logger,
  def: unknown,
  configuredVersion: number,
  stored: StoredRuleSet,
  compileProblem: () => Promise<string | undefined>,
): Promise<void> {
  let configured: RuleSetDefinition | undefined;
  try {
    configured = parseRuleSet(def);
  } catch {
    configured = undefined;
  }
  if (configured && JSON.stringify(configured) === JSON.stringify(stored.definition)) return;
  const toggled = configured && stored.source.startsWith('job:') ? toggledRules(configured, stored.definition) : undefined;
  if (toggled && toggled.length > 0) {
    for (const t of toggled) {
      logger.info(
        { rule: t.name, enabled: t.enabled, by: stored.source },
        `rule ${t.name} ${t.enabled ? 'enabled' : 'disabled'} by ${stored.source}, kept at restart`,
      );
    }
    return;
  }
  const active = stored.definition.version;
  // Compiled only here, when it differs: not at every restart of an unchanged configuration.
  const unusable = await compileProblem();
  if (unusable !== undefined) {
    logger.warn(
      { configuredVersion, activeVersion: active, activeSource: stored.source, error: unusable },
      `the configuration's rule set (version ${configuredVersion}) does not compile, and is not the one running: the stored active set (version ${active}, from ${stored.source}) runs; fix the configured rules (gatehouse check-config names the problem) and raise their version to ${active + 1} to apply them: ${unusable}`,
    );
    return;
  }
  logger.warn(
    { configuredVersion, activeVersion: active, activeSource: stored.source },
    `the configuration's rule set (version ${configuredVersion}) is not the one running: the stored active set (version ${active}, from ${stored.source}) wins at start until the configuration carries a higher version; raise version to ${active + 1} to apply the configured rules`,
  );
}

/**
 * The rules whose `enabled` differs between two sets that are otherwise the same (a job's toggles
 * of the configured set); undefined when anything else differs.
 */
function toggledRules(configured: RuleSetDefinition, active: RuleSetDefinition): Array<{ name: string; enabled: boolean }> | undefined {
  const plain = (d: RuleSetDefinition): string => JSON.stringify({ ...d, rules: d.rules.map((r) => ({ ...r, enabled: undefined })) });
  if (plain(configured) !== plain(active)) return undefined;
  return active.rules
    .filter((r, i) => (r.enabled !== false) !== (configured.rules[i]!.enabled !== false))
    .map((r) => ({ name: r.name, enabled: r.enabled !== false }));
}

/**
 * Whether `stored` is the built-in default set (the one a gateway runs when its config names no
 * rules) and `configured` a set of the same version that is not: then the configured set is the
 * user's first and replaces it (as at start, so for an update). False without a built-in default.
 */
export function builtInYields(stored: RuleSetDefinition, configured: unknown, builtInDefault: unknown): boolean {
  if (builtInDefault === undefined) return false;
  const json = (d: unknown): string | undefined => {
    try {
      return JSON.stringify(parseRuleSet(d));
    } catch {
      return undefined;
    }
  };
  const builtIn = json(builtInDefault);
  const mine = json(configured);
  return (
    builtIn !== undefined &&
    JSON.stringify(stored) === builtIn &&
    mine !== undefined &&
    mine !== builtIn &&
    (configured as { version?: unknown }).version === stored.version
  );
}

/**
 * Start-up: the stored active set (an update from the office, the admin API, a job, an earlier
 * config) is refused, after an upgrade to a version that checks more (a regular expression that may
 * backtrack, SQL another dialect wrote) or under a configuration without a stream it writes, and
 * the configured set runs instead. Logged with what to
 * do; returned as a rejected update (its errors and code), the start-up status the control plane
 * publishes, so the office sees that its set is not running, and why.
 */
export function reportStoredRefused(logger: Logger, stored: StoredRuleSet, configuredVersion: number, err: unknown): RuleUpdateStatus {
  const version = stored.definition.version;
  // two causes: an upgrade that checks more, or a configuration that lost what the set needs (a
  // stream: e.g. a data directory started with docs/examples/fleet.yaml, then with `npm start`)
  const fix =
    'fix the listed rules, or the configuration they need (a newer gateway version may check more than the one that accepted ' +
    `the set; a stream they write may be gone from the config), and send the set again with a version above ${version} ` +
    `(or raise the configured rules' version above it); the stored set is kept until then, so a start with the gateway ` +
    'version and configuration that accepted it runs it again';
  logger.error(
    { err: errorMessage(err), code: codeOf(err), storedVersion: version, storedSource: stored.source, configuredVersion },
    `the stored active rule set (version ${version}, from ${stored.source}) is refused by this gateway version and configuration: ` +
      `running the configured rule set (version ${configuredVersion}) instead. Fix: ${fix}`,
  );
  const errors = [...errorsOf(err), { rule: '', where: 'stored active rule set', message: `not running: ${fix}` }];
  return { state: 'rejected', version, source: `stored set from ${stored.source}`, at: Date.now(), errors, code: codeOf(err) };
}
