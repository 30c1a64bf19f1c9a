// What the rule host (rule-host.ts) keeps in the store's meta area: its two rule set slots (the
// active set and the last good one, in their stored form), read at start (a slot that is not JSON
// is ignored, logged) and written together in one write with whatever must join it; and the first
// engine's state store and input log (window and detector checkpoints committed in the group
// commit after the inputs they cover, the inputs replayed at start). Apart from rule-host.ts,
// which decides what the slots hold and when (and sweeps the state of rules of neither set).
import type { Logger } from 'pino';
import type { RuntimeDeps } from '../../core/deps.js';
import { createRuleEngine, type CompiledRuleSet, type RuleEngine, type RuleSetDefinition, type StatefulOptions } from '../../rules/index.js';
import type { MetaWrites } from '../control/rule-set-target.js';
import type { LocalStreams } from '../store/types.js';
import { openRuleInputLog } from './rule-input-log.js';

export const META_ACTIVE = 'rules/active';
export const META_LAST_GOOD = 'rules/last-good';
/** Default bound of the stateful rules' input log (about one checkpoint interval of their inputs is held). */
const INPUT_LOG_MAX_BYTES = 256 * 1024 * 1024;

export interface PersistedRuleSet {
  definition: RuleSetDefinition;
  appliedAt: number;
  source: string;
  /** Applied on probation and not confirmed yet (never kept as the last good set). Absent: confirmed. */
  unconfirmed?: true;
}

export async function readRuleSetSlot(streams: LocalStreams, logger: Logger, key: string): Promise<PersistedRuleSet | undefined> {
  const buf = await streams.getMeta(key);
  if (!buf) return undefined;
  try {
    return JSON.parse(buf.toString('utf8')) as PersistedRuleSet;
  } catch {
    logger.warn({ key }, 'stored rule set is not valid JSON: ignored');
    return undefined;
  }
}

/**
 * The active set, with its rollback target when that changes too, in one write: a kill -9 between
 * two writes left the new active set without the set it replaced as the last good one (nothing to
 * roll back to), or the reverse (control audit, round 13). `extra` joins the same write: a signed
 * document's accepted version, stored separately before, was used up without its set after a
 * kill -9 between the two writes (control audit, round 18).
 */
export async function writeRuleSetSlots(
  streams: LocalStreams,
  entries: Array<[key: string, value: PersistedRuleSet] | undefined>,
  extra: MetaWrites,
): Promise<void> {
  const writes = entries.filter((e) => e !== undefined).map(([key, value]) => [key, Buffer.from(JSON.stringify(value))] as const);
  await streams.putMetas([...writes, ...extra]);
}

/** The config's ruleState: checkpoint interval, bounds, input log and its size. */
export type RuleStateOptions = Partial<StatefulOptions> & { inputLog?: boolean; inputLogMaxBytes?: number };

/**
 * The first engine, started: window and detector state lives in the store's meta area and is
 * restored before the first message, then the input log behind it is replayed. Checkpoints go
 * through commitMeta, in the group commit after the inputs and rows they cover (docs/windows.md
 * "Crash safety").
 */
export async function startRuleEngine(
  compiled: CompiledRuleSet,
  streams: LocalStreams,
  deps: Pick<RuntimeDeps, 'logger' | 'registry'>,
  ruleState: RuleStateOptions | undefined,
): Promise<RuleEngine> {
  const { inputLogMaxBytes, inputLog: logInputs = true, ...stateOptions } = ruleState ?? {};
  const inputLog = logInputs ? await openRuleInputLog(streams, inputLogMaxBytes ?? INPUT_LOG_MAX_BYTES) : undefined;
  const stateStore = {
    get: (k: string) => streams.getMeta(k),
    put: (k: string, v: Buffer) => (inputLog ? streams.commitMeta(k, v) : streams.putMeta(k, v)),
  };
  const engine = createRuleEngine(compiled, { logger: deps.logger, registry: deps.registry }, { ...stateOptions, stateStore, inputLog });
  // Published only once started: no message meets the rules while the input log is replayed.
  try {
    await engine.start();
  } catch (err) {
    // Its window timers and metrics go with it: the next engine (the configured set, when a
    // stored one could not start) declares the same metrics, and was refused for them
    // (GH_INTERNAL, 'declared twice'), failing the start instead of running that set.
    engine.close();
    throw err;
  }
  return engine;
}
