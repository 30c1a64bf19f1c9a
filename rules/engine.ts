// The rules engine: topic index -> WHERE -> SELECT -> actions, per message. Hot path: one Map lookup
// for the matching rules, no allocation at all for messages that match nothing, one EvalContext per
// matched message (JSON parsed once, lazily, shared by the rules), output serialised once per rule
// and shared by its actions. Counters are plain numbers exposed to Prometheus through collect().
// Running an output's actions, and the error action of their failures, is action-runner.ts's.
import type { Counter } from 'prom-client';
import type { Logger } from 'pino';
import { rateLimitedLog, type RateLog } from '../core/rate-log.js';
import { GatehouseError, errorMessage } from '../core/errors.js';
import type { RuntimeDeps } from '../core/deps.js';
import { counter } from '../core/metrics.js';
import type { Message } from '../core/message.js';
import type { RuleCounters } from './types.js';
import { EvalContext, RuleActionContext } from './sql/context.js';
import { serializeOutput, type WindowEmission } from './sql/compiler.js';
import { StatefulRules, statefulOptionsSchema, type StatefulOptions } from './windows/host.js';
import { realTimers, type Timers } from './windows/clock.js';
import { clocksOf } from '../core/clock.js';
import type { StateStore } from './windows/state.js';
import type { InputLog } from './windows/input-log.js';
import { ActionRunner } from './action-runner.js';
import type { CompiledRule, CompiledRuleSet } from './ruleset.js';
import { RuleCounterBook, type RuleTotals } from './rule-counters.js';

/** AWS IoT Basic Ingest: a publish to `$aws/rules/<rule>/<topic>` runs that one rule on `<topic>`. */
const BASIC_INGEST = '$aws/rules/';

/**
 * At most one log line per rule and kind of failure in this long (rateLog). A minute, as the
 * exporters', sources' and broker's: a device sending what a rule cannot evaluate, or a full stream,
 * fails every message for hours, and 5 s was 720 lines an hour per rule in a journal on an SD card.
 */
export const FAILURE_LOG_INTERVAL_MS = 60_000;
/**
 * Why evaluating a rule threw. A RangeError for the call stack comes from a payload nested too
 * deep for a recursive step (serialising the output, a deep copy): say that, not V8's words.
 */
function evaluationFailure(err: unknown): string {
  if (err instanceof RangeError && /call stack/i.test(err.message)) return 'the payload is nested too deeply to evaluate (call stack exceeded)';
  // A function's own error (decode 'proto': GH_PROTO_DECODE, GH_PROTO_DESCRIPTOR) keeps its code in the reason.
  if (err instanceof GatehouseError) return `${err.code}: ${err.message}`;
  return errorMessage(err);
}

export interface RuleEngine {
  /**
   * Evaluate every enabled rule whose FROM filter matches msg.topic and run their actions.
   * Returns undefined when no durable action was started (ack at once), else a promise that
   * resolves when every durable action completed, and rejects if one failed (the source must
   * then not be acknowledged).
   */
  handle(msg: Message): Promise<void> | undefined;
  counters(): Map<string, RuleCounters>;
  /**
   * Replace the active rule set in one step. A rule keeps its counters when its definition (SQL,
   * actions, error action) is unchanged, and starts from zero when it changed (rule-counters.ts).
   */
  swap(next: CompiledRuleSet): void;
  /** The active rule set. */
  ruleSet(): CompiledRuleSet;
  /**
   * Restore window/detector state from the state store, replay the input log behind it (durable
   * mode), close what came due while stopped, and start periodic checkpoints.
   */
  start(): Promise<void>;
  /**
   * Restore the state of new stateful rules from the store, then swap (rules with the same name and
   * SQL keep their live state); resolves once the state of the rules it retired is written.
   */
  install(next: CompiledRuleSet): Promise<void>;
  /** Checkpoint changed window/detector state now. */
  checkpoint(): Promise<void>;
  /**
   * Final checkpoint, stop window timers, unregister metrics. For an engine whose start() ended:
   * not made to run beside it (the rule host's stop waits for its load, which starts the engine).
   */
  stop(): Promise<void>;
  /** Stop window timers and unregister the engine's metrics (no checkpoint). */
  close(): void;
}

const noop = (): void => undefined;

/** Engine options beyond RuntimeDeps: state checkpoints and window bounds. */
export interface RuleEngineOptions extends Partial<StatefulOptions> {
  /** Where window and detector state is checkpointed (LocalStreams meta via metaStateStore()). */
  stateStore?: StateStore;
  /** Clock and timers for windows and checkpoints (default: real timers over deps.now). */
  timers?: Timers;
  /**
   * Durable mode: the inputs of stateful rules are appended here in the commit that gates their
   * acknowledgement and replayed at start (stateStore.put must then be the store's commitMeta).
   */
  inputLog?: InputLog;
}

class Engine implements RuleEngine {
  private set: CompiledRuleSet;
  /** Per-rule counters, by rule definition (rule-counters.ts). */
  private readonly book = new RuleCounterBook();
  private messages = 0;
  private nonJson = 0;
  private ingestRefused = 0;
  /** The active set's rules by name (Basic Ingest), built on first use. */
  private byName: Map<string, CompiledRule> | undefined;
  private readonly log: Logger;
  /**
   * Per-message failures (an action or an evaluation), logged at most once per rule, action and
   * minute with the count suppressed: a full disk refusing every append, or a flood of bad payloads,
   * would otherwise write a log line per message to the disk that is already in trouble. On the
   * monotonic clock: the wall clock stepped back (NTP after a boot without RTC) muted it for the step.
   */
  private readonly rateLog: RateLog;
  /** Runs the actions of an output and the error action of their failures (action-runner.ts). */
  private readonly runner: ActionRunner;
  private readonly metricNames: string[] = [];

  private readonly stateful: StatefulRules;

  constructor(
    ruleSet: CompiledRuleSet,
    private readonly deps: RuntimeDeps,
    opts: RuleEngineOptions = {},
  ) {
    this.log = deps.logger.child({ component: 'rules' });
    this.rateLog = rateLimitedLog(this.log, 'warn', FAILURE_LOG_INTERVAL_MS, clocksOf(deps).monotonic);
    this.runner = new ActionRunner(this.rateLog);
    this.set = ruleSet;
    this.stateful = new StatefulRules({
      log: this.log,
      registry: deps.registry,
      timers: opts.timers ?? realTimers(deps.now),
      store: opts.stateStore,
      options: statefulOptionsSchema.parse({
        checkpointIntervalMs: opts.checkpointIntervalMs,
        checkpointMaxBytesPerSec: opts.checkpointMaxBytesPerSec,
        maxGroups: opts.maxGroups,
        maxGroupStates: opts.maxGroupStates,
        maxGroupBytes: opts.maxGroupBytes,
        maxRowsPerWindow: opts.maxRowsPerWindow,
      }),
      emit: (rule, rows) => this.emitLater(rule, rows),
      inputLog: opts.inputLog,
    });
    this.attach(ruleSet);
    this.registerMetrics();
  }

  async start(): Promise<void> {
    await this.stateful.restore(this.set);
    await this.stateful.replay(this.set);
    this.stateful.start();
  }

  async install(next: CompiledRuleSet): Promise<void> {
    await this.stateful.restore(next);
    this.swap(next); // durable mode: new stateful rules write their first checkpoint here
    // The last state of the rules it replaced, written as they left: stored before the caller
    // stores the set (the one left is where a rollback goes, with that state).
    await this.stateful.retired();
  }

  checkpoint(): Promise<void> {
    return this.stateful.checkpoint();
  }

  async stop(): Promise<void> {
    await this.stateful.stop();
    this.close();
  }

  /** Rows a window emitted from a timer: same actions as per-message output; nothing to acknowledge. */
  private emitLater(rule: CompiledRule, rows: WindowEmission[]): void {
    for (const row of rows) {
      let out: Buffer | undefined;
      try {
        out = serializeOutput(row.value, rule.query.sqlVersion);
      } catch (err) {
        rule.stats.errors++;
        rule.stats.lastError = `window output could not be serialised: ${errorMessage(err)}`;
        this.log.warn({ rule: rule.name, err: errorMessage(err) }, 'window output could not be serialised');
        continue;
      }
      if (out === undefined) continue;
      rule.stats.emitted++;
      // Failures were counted and routed to the error action by runActions; no PUBACK to gate.
      this.runner.runActions(rule, out, row.message, new EvalContext(row.message))?.catch(noop);
    }
  }

  private attach(set: CompiledRuleSet): void {
    // Counters first: the stateful rules read them (checkpoint rounds compare `matched`).
    this.book.attach(set);
    this.stateful.attach(set);
  }

  swap(next: CompiledRuleSet): void {
    this.attach(next);
    this.set = next; // one assignment: a message sees either the old or the new set, never a mix
    this.byName = undefined;
    this.log.info({ version: next.version, rules: next.rules.length }, 'rule set applied');
  }

  ruleSet(): CompiledRuleSet {
    return this.set;
  }

  counters(): Map<string, RuleCounters> {
    return this.book.counters();
  }

  handle(msg: Message): Promise<void> | undefined {
    this.messages++;
    if (msg.topic.startsWith(BASIC_INGEST)) return this.basicIngest(msg);
    const rules = this.set.index.match(msg.topic);
    if (rules.length === 0) return undefined;
    return this.run(msg, rules);
  }

  /**
   * `$aws/rules/<rule>/<topic>`: the named rule alone, on the message with topic `<topic>` (what
   * topic() sees), its FROM filter not consulted, as AWS IoT's Basic Ingest. A rule that does not
   * exist, is disabled or keeps state (windows, detectors: their input log is routed by topic) is
   * not run: logged and counted, as AWS logs RuleNotFound.
   */
  private basicIngest(msg: Message): Promise<void> | undefined {
    const rest = msg.topic.slice(BASIC_INGEST.length);
    const slash = rest.indexOf('/');
    const name = slash < 0 ? rest : rest.slice(0, slash);
    const topic = slash < 0 ? '' : rest.slice(slash + 1);
    this.byName ??= new Map(this.set.rules.map((r) => [r.name, r]));
    const rule = this.byName.get(name);
    const why =
      rule === undefined
        ? 'no rule has that name'
        : !rule.enabled
          ? 'the rule is disabled'
          : topic === ''
            ? 'no topic follows the rule name ($aws/rules/<rule>/<topic>)'
            : rule.query.windowed || this.stateful.logMode(rule) !== undefined
              ? 'the rule keeps state (a window or a detector): publish on its FROM topic instead'
              : undefined;
    if (why !== undefined) {
      this.ingestRefused++;
      const hint = 'publish to $aws/rules/<name of an enabled rule>/<topic>, or on the rule FROM topic';
      this.rateLog(`ingest\0${why}`, { rule: name, topic: msg.topic, code: 'GH_RULE_NOT_FOUND', err: why, hint }, 'Basic Ingest message not run');
      return undefined;
    }
    return this.run({ ...msg, topic }, [rule!]);
  }

  /** The matched rules of one message: WHERE, SELECT (or the window), actions; the ack's promise. */
  private run(msg: Message, rules: readonly CompiledRule[]): Promise<void> | undefined {
    const c = new EvalContext(msg);
    // The ack's promise: the first durable one alone (the common case), an array from the second on.
    let first: Promise<void> | undefined;
    let more: Promise<void>[] | undefined;
    let logInput = false;
    const stateful = this.stateful;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      const st = rule.stats;
      st.matched++;
      let out: Buffer | undefined;
      const logMode = stateful.logMode(rule);
      if (logMode === 'match') logInput = true; // detectors learn even when WHERE is false
      try {
        const q = rule.query;
        if (q.where) {
          if (q.whereUsesPayload && c.isNonJson()) {
            this.nonJson++;
            continue;
          }
          if (!q.where(c)) continue;
        }
        if (q.windowed) {
          if (logMode !== undefined) logInput = true;
          const rows = q.windowed.add(c);
          if (rows) {
            try {
              for (const row of rows) {
                const o = serializeOutput(row.value, q.sqlVersion);
                if (o === undefined) continue;
                st.emitted++;
                const p = this.runner.runActions(rule, o, row.message, c);
                if (p) {
                  if (first === undefined) first = p;
                  else (more ??= []).push(p);
                }
              }
            } finally {
              // Counted as the replay counts them (every row the window produced), after their appends.
              if (logMode !== undefined) stateful.noteRows(rule, rows.length);
            }
          }
          continue;
        }
        out = serializeOutput(q.select(c), q.sqlVersion);
      } catch (err) {
        st.errors++;
        const reason = evaluationFailure(err);
        st.lastError = `GH_RULE_EVAL: ${reason}`;
        this.rateLog(`eval\0${rule.name}`, { rule: rule.name, topic: msg.topic, code: 'GH_RULE_EVAL', err: reason }, 'rule evaluation failed');
        // The message is acknowledged (nothing about it failed to be stored): its error action,
        // when the rule has one, keeps it, as for a failed action.
        const p = rule.errorAction
          ? this.runner.fireErrorAction(rule, msg, new RuleActionContext(msg, rule.name, c), [
              { failedAction: 'RuleEvaluation', failedResource: rule.name, errorMessage: `GH_RULE_EVAL: ${reason}` },
            ])
          : undefined;
        if (p) {
          if (first === undefined) first = p;
          else (more ??= []).push(p);
        }
        continue;
      }
      if (out === undefined) continue;
      st.emitted++;
      const p = this.runner.runActions(rule, out, msg, c);
      if (p) {
        if (first === undefined) first = p;
        else (more ??= []).push(p);
      }
    }
    // Durable mode: the input of the stateful rules joins the group commit that gates the ack,
    // after the appends of the rows it produced.
    if (logInput) {
      const p = stateful.journal!.append(msg, stateful.now());
      if (first === undefined) first = p;
      else (more ??= []).push(p);
    }
    if (more === undefined) return first;
    return Promise.all([first!, ...more]).then(noop);
  }

  private registerMetrics(): void {
    const registry = this.deps.registry;
    const book = this.book;
    const declare = <L extends string>(name: string, help: string, labels: readonly L[], fill: (m: Counter<L>) => void): void => {
      this.metricNames.push(name);
      counter(registry, name, help, labels, {
        collect() {
          this.reset();
          fill(this);
        },
      });
    };
    // Monotonic: a rule's series adds the counts of the definitions it replaced (rule-counters.ts).
    const perRule = (name: string, help: string, pick: (s: RuleTotals) => number): void =>
      declare(name, help, ['rule'], (m) => {
        for (const [rule, s] of book.totals()) m.inc({ rule }, pick(s));
      });
    perRule('gatehouse_rule_matched_total', 'Messages whose topic matched the rule FROM filter', (s) => s.matched);
    perRule('gatehouse_rule_emitted_total', 'Messages for which the rule produced an output (WHERE true)', (s) => s.emitted);
    perRule('gatehouse_rule_errors_total', 'Rule evaluation errors (and failed error actions)', (s) => s.errors);
    declare('gatehouse_rule_action_failures_total', 'Failed rule actions, by rule and action kind', ['rule', 'action'], (m) => {
      for (const [rule, s] of book.totals()) for (const [action, n] of s.failuresByAction) m.inc({ rule, action }, n);
    });
    declare('gatehouse_rules_messages_total', 'Messages handed to the rules engine', [], (m) => m.inc(this.messages));
    const nonJsonHelp = 'Non-JSON payloads that reached a rule whose WHERE reads payload fields (WHERE counted false)';
    declare('gatehouse_rules_non_json_total', nonJsonHelp, [], (m) => m.inc(this.nonJson));
    const ingestHelp = 'Basic Ingest messages ($aws/rules/<rule>/...) not run: no such rule, disabled, stateful, or no topic';
    declare('gatehouse_rules_basic_ingest_refused_total', ingestHelp, [], (m) => m.inc(this.ingestRefused));
  }

  close(): void {
    this.stateful.close();
    for (const n of this.metricNames) this.deps.registry.removeSingleMetric(n);
    this.metricNames.length = 0;
  }
}

/** Create the engine over a compiled rule set; metrics go on deps.registry. */
export function createRuleEngine(ruleSet: CompiledRuleSet, deps: RuntimeDeps, opts: RuleEngineOptions = {}): RuleEngine {
  return new Engine(ruleSet, deps, opts);
}
