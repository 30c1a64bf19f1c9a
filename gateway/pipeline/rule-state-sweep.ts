// Rule state no rule set can use any more, deleted. Window and detector state is kept under
// rules/state/<rule>/<hash of its SQL> (rules/windows/state.ts stateKey), plus the rule's emission
// marker under that key + '/emitted'. A changed SQL gets a new key and the old one was never
// deleted: each edit of a detector rule left partitions x ~1.5 MB behind (windows audit, round 14).
// State is kept for the active set and the last good set (what a rollback returns to, whose
// detectors then restore what they had learnt); everything else under rules/state/ goes.
// Apart from the rule host because it is store housekeeping, not the rule set's life cycle.
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import { NO_SHADOWS, compileRuleSet, type ActionRegistry, type RuleSetDefinition } from '../../rules/index.js';
import { stateKey } from '../../rules/windows/index.js';
import type { LocalStreams } from '../store/types.js';

export const RULE_STATE_PREFIX = 'rules/state/';

/**
 * Delete the state of every rule of no set in `keep` (undefined entries are skipped). A set that no
 * longer compiles makes the sweep skip (its keys cannot be known; keeping too much is harmless).
 * Resolves with the number of keys deleted; never rejects (a failure is logged: the state stays).
 */
export async function sweepRuleState(
  streams: Pick<LocalStreams, 'metaKeys' | 'deleteMetas'>,
  keep: ReadonlyArray<RuleSetDefinition | undefined>,
  actions: ActionRegistry,
  log: Logger,
): Promise<number> {
  if (!streams.metaKeys || !streams.deleteMetas) return 0;
  try {
    const used = new Set<string>();
    for (const def of keep) {
      if (!def) continue;
      for (const rule of compileRuleSet(def, actions, { shadows: NO_SHADOWS }).rules) used.add(stateKey(rule.name, rule.query));
    }
    const stale = (await streams.metaKeys(RULE_STATE_PREFIX)).filter((k) => !used.has(k) && !used.has(k.replace(/\/emitted$/, '')));
    if (stale.length === 0) return 0;
    await streams.deleteMetas(stale);
    log.info({ keys: stale.length }, 'rule state of rules no longer in the active or last good rule set deleted');
    return stale.length;
  } catch (err) {
    log.warn({ err: errorMessage(err) }, 'unused rule state not deleted (it is retried at the next rule set change)');
    return 0;
  }
}
