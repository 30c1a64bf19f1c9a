// Probation of rule set updates: a set applied on probation (every remote update, and PUT
// /api/rules?probation=1) is watched for control.probation.seconds. If a rule it added or changed
// fails at run time (probation-criterion.ts), the gateway rolls back to the last good set by
// itself, as an operator rollback does, and reports it (state rolled-back, code
// GH_RULESET_RUNTIME_FAILURE); if none fails, the set is confirmed (state confirmed).
//
// The last good set is the last CONFIRMED one (the rule host keeps a set applied on probation out
// of that slot until it is confirmed): an update stacked on one still on probation is judged
// against, and rolled back to, the set that ran before the first unconfirmed update.
//
// Cost: nothing per message. The engine's per-rule counters already exist; a probation snapshots
// them when it starts and compares once per CHECK_INTERVAL_MS while it runs. No timer otherwise.
//
// The probation is recorded in the store's meta area, and the rule host keeps the active set's
// unconfirmed mark with it, so a gateway restarted during one (power cut, redeploy) watches the set
// again for a whole period instead of taking it as confirmed, and rolls back to the same set.
import type { Counter } from 'prom-client';
import type { RuntimeDeps } from '../../core/deps.js';
import { createError, errorMessage } from '../../core/errors.js';
import { counter } from '../../core/metrics.js';
import type { Timers } from '../../rules/index.js';
import type { LocalStreams } from '../store/types.js';
import type { ProbationOptions } from './options.js';
import { failingRules, tallySince, watchedRules, type CounterSnapshot, type RuleTally } from './probation-criterion.js';
import type { RuleSetTarget, RuleUpdateStatus } from './rule-set-target.js';

const KEY = 'control/probation';
/** How often the counts are compared: a failing update is rolled back within about this long of failing. */
const CHECK_INTERVAL_MS = 1000;
/** The source of the rollback and confirmation statuses the monitor causes. */
export const PROBATION_SOURCE = 'probation';

type Outcome = 'running' | 'confirmed' | 'rolled-back' | 'superseded';

/** What the meta area keeps of the last probation. */
interface ProbationRecord {
  version: number;
  state: Outcome;
  source: string;
  startedAt: number;
}

interface Running {
  version: number;
  source: string;
  /** Wall time (epoch ms): shown, and persisted (a restart starts the probation again). */
  startedAt: number;
  endsAt: number;
  /** The same on the monotonic clock: what the deadline and the elapsed time are measured on. */
  startedMono: number;
  endsMono: number;
  /** The rules judged (added or changed by the update). */
  watched: string[];
  baseline: CounterSnapshot;
  timer: unknown;
}

/** For the status document: the probation running now. */
export interface ProbationInfo {
  version: number;
  startedAt: string;
  endsAt: string;
  rules: string[];
}

export interface ProbationDeps extends RuntimeDeps {
  rules: RuleSetTarget;
  /** Where the running probation is recorded (the store's meta area). */
  meta: Pick<LocalStreams, 'getMeta' | 'putMeta'>;
  /** Timers, and the wall clock the shown times come from. */
  timers: Timers;
  /**
   * Monotonic ms for the deadline (default timers.now): an NTP step of the wall clock must neither
   * end a probation at once nor make it last for the size of the step.
   */
  monotonic?: () => number;
}

export class ProbationMonitor {
  private running: Running | undefined;
  private started = false;
  /** Record writes, in order. */
  private persisted: Promise<void> = Promise.resolve();
  /** The rollback or confirmation asked for last (stop() waits for it). */
  private ending: Promise<void> = Promise.resolve();
  private readonly rollbacks: Counter;
  private readonly onStatus = (s: RuleUpdateStatus): void => this.statusSeen(s);

  constructor(
    private readonly opts: ProbationOptions,
    private readonly deps: ProbationDeps,
  ) {
    const help = 'Rule set updates rolled back automatically: a rule they added or changed failed during the probation (control.probation)';
    this.rollbacks = counter(deps.registry, 'gatehouse_ruleset_auto_rollbacks_total', help);
  }

  /**
   * Listen for updates put on probation; resume a probation a restart interrupted. A stop() while
   * it runs wins: it then resolves having resumed, confirmed or rolled back nothing.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.deps.rules.on('status', this.onStatus);
    const r = await this.readRecord();
    // Stopped while the record was read: no confirmation or rollback of the set after the stop.
    if (!this.started) return;
    const active = this.deps.rules.activeDefinition()?.version;
    const unconfirmed = this.deps.rules.unconfirmedVersion();
    const recorded = r?.version === active ? r : undefined;
    if (unconfirmed === undefined && recorded?.state !== 'running') return;
    // The set failed its probation and the gateway stopped (kill -9, power cut) before the rollback
    // was stored: it is known to fail, so it goes now, not after running on probation once more.
    if (recorded?.state === 'rolled-back' && unconfirmed === recorded.version) {
      this.rollBackAtStart(recorded);
      return;
    }
    // Unconfirmed, or recorded as running: the probation starts again, unless it had passed (the
    // gateway stopped before the confirmation was stored) or there is no probation any more.
    if (recorded?.state === 'confirmed' || this.opts.seconds === 0) {
      if (unconfirmed === undefined) return;
      this.deps.logger.info({ version: unconfirmed, seconds: this.opts.seconds }, 'rule set on probation at start taken as confirmed');
      this.settle(this.deps.rules.confirm(unconfirmed, PROBATION_SOURCE));
      return;
    }
    const version = (recorded?.version ?? unconfirmed) as number;
    const source = recorded?.source ?? 'restart';
    this.deps.logger.warn({ version, source }, 'the gateway restarted during a rule set probation: the probation starts again');
    this.begin(version, source);
  }

  /** Stop watching. A running probation stays recorded: the next start resumes it. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.deps.rules.off('status', this.onStatus);
    if (this.running) this.deps.timers.clearTimeout(this.running.timer);
    this.running = undefined;
    await this.ending;
    await this.persisted;
  }

  current(): ProbationInfo | undefined {
    const p = this.running;
    if (!p) return undefined;
    return { version: p.version, startedAt: new Date(p.startedAt).toISOString(), endsAt: new Date(p.endsAt).toISOString(), rules: p.watched };
  }

  private statusSeen(s: RuleUpdateStatus): void {
    if (s.state === 'applied' && s.probation && s.version !== undefined) {
      // No probation will run (control.probation.seconds 0): nothing will confirm the set, so it is
      // confirmed now rather than left out of the last good slot for good.
      if (this.opts.seconds === 0) this.settle(this.deps.rules.confirm(s.version, PROBATION_SOURCE));
      else this.begin(s.version, s.source);
      return;
    }
    // Counted here, before the status is published (this listener is registered first).
    if (s.state === 'rolled-back' && s.source === PROBATION_SOURCE) this.rollbacks.inc();
    const p = this.running;
    // Another set replaced the one on probation (an update without probation, an operator rollback):
    // its probation ends, judged neither way. A job toggling a rule keeps the version: still on.
    if (p && (s.state === 'rolled-back' || (s.state === 'applied' && this.deps.rules.activeDefinition()?.version !== p.version))) {
      this.end(p, 'superseded');
      this.deps.logger.info({ version: p.version, by: `${s.state} ${s.version ?? '?'} (${s.source})` }, 'rule set probation ended: the set was replaced');
    }
  }

  private begin(version: number, source: string): void {
    if (!this.started || this.opts.seconds === 0) return;
    const before = this.running;
    if (before) {
      this.end(before, 'superseded');
      this.deps.logger.info({ version: before.version, by: version }, 'rule set probation ended: the set was replaced');
    }
    const def = this.deps.rules.activeDefinition();
    if (def?.version !== version) return;
    const now = this.deps.timers.now();
    const mono = this.mono();
    const p: Running = {
      version,
      source,
      startedAt: now,
      endsAt: now + this.opts.seconds * 1000,
      startedMono: mono,
      endsMono: mono + this.opts.seconds * 1000,
      watched: watchedRules(def, this.deps.rules.lastGoodDefinition()),
      baseline: this.deps.rules.ruleCounters(),
      timer: undefined,
    };
    this.running = p;
    this.persist({ version, state: 'running', source, startedAt: now });
    this.arm(p);
    this.deps.logger.info({ version, seconds: this.opts.seconds, rules: p.watched }, 'rule set on probation');
  }

  private mono(): number {
    return this.deps.monotonic ? this.deps.monotonic() : this.deps.timers.now();
  }

  private arm(p: Running): void {
    const left = Math.max(0, p.endsMono - this.mono());
    p.timer = this.deps.timers.setTimeout(() => this.check(p), Math.min(CHECK_INTERVAL_MS, left));
  }

  private check(p: Running): void {
    if (this.running !== p) return;
    if (this.deps.rules.activeDefinition()?.version !== p.version) {
      this.end(p, 'superseded');
      return;
    }
    const tallies = tallySince(p.baseline, this.deps.rules.ruleCounters(), p.watched);
    const failing = failingRules(tallies, this.opts);
    if (failing.length > 0) this.fail(p, failing);
    else if (this.mono() >= p.endsMono) this.pass(p, tallies);
    else this.arm(p);
  }

  private end(p: Running, outcome: Exclude<Outcome, 'running'>): void {
    this.deps.timers.clearTimeout(p.timer);
    if (this.running === p) this.running = undefined;
    this.persist({ version: p.version, state: outcome, source: p.source, startedAt: p.startedAt });
  }

  private fail(p: Running, failing: RuleTally[]): void {
    this.end(p, 'rolled-back');
    const worst = failing[0]!;
    const seconds = Math.round((this.mono() - p.startedMono) / 1000);
    this.deps.logger.warn(
      {
        version: p.version,
        rule: worst.rule,
        error: worst.lastError,
        failures: worst.failures,
        evaluations: worst.evaluations,
        afterSeconds: seconds,
        failingRules: failing.map((t) => t.rule),
        criterion: { minFailures: this.opts.minFailures, failureRatio: this.opts.failureRatio },
        // The last confirmed set (never an update still on probation it was stacked on).
        rollbackTo: this.deps.rules.lastGoodDefinition()?.version ?? null,
      },
      'rule set failed its probation: rolling back to the last good set',
    );
    const errors = failing.map((t) => {
      const params = { rule: t.rule, version: p.version, failures: t.failures, evaluations: t.evaluations, reason: t.lastError ?? 'not recorded' };
      return { rule: t.rule, where: 'probation', message: errorMessage(createError('GH_RULESET_RUNTIME_FAILURE', params)) };
    });
    const log = this.deps.logger;
    this.ending = this.deps.rules
      .rollback(PROBATION_SOURCE, { fromVersion: p.version, failure: { code: 'GH_RULESET_RUNTIME_FAILURE', errors } })
      .then((r) => {
        if (r.state === 'rolled-back') log.warn({ from: p.version, to: r.version }, 'rule set rolled back after failing its probation');
        else if (r.state === 'unchanged') log.info({ version: p.version }, 'no automatic rollback: the failing set was replaced meanwhile');
        else log.error({ version: p.version, code: r.code, errors: r.errors.map((e) => e.message) }, 'automatic rollback failed: the set keeps running');
      })
      .catch((err: unknown) => log.error({ err: errorMessage(err) }, 'automatic rollback failed'));
  }

  private rollBackAtStart(r: ProbationRecord): void {
    const rollbackTo = this.deps.rules.lastGoodDefinition()?.version ?? null;
    this.deps.logger.warn(
      { version: r.version, rollbackTo },
      'rule set failed its probation before the gateway stopped, and the rollback was not stored: rolling back now',
    );
    const message =
      `GH_RULESET_RUNTIME_FAILURE: rule set ${r.version} failed its probation before the gateway stopped (its failing rules were logged then); ` +
      'rolled back at start. Fix: fix the rules for the payloads they meet and send them again as a new version';
    const errors = [{ rule: '', where: 'probation', message }];
    const log = this.deps.logger;
    this.ending = this.deps.rules
      .rollback(PROBATION_SOURCE, { fromVersion: r.version, failure: { code: 'GH_RULESET_RUNTIME_FAILURE', errors } })
      .then((s) => {
        if (s.state !== 'rolled-back')
          log.error({ version: r.version, code: s.code, errors: s.errors.map((e) => e.message) }, 'automatic rollback failed: the set keeps running');
      })
      .catch((err: unknown) => log.error({ err: errorMessage(err) }, 'automatic rollback failed'));
  }

  private pass(p: Running, tallies: RuleTally[]): void {
    this.end(p, 'confirmed');
    const counts = Object.fromEntries(tallies.map((t) => [t.rule, { evaluations: t.evaluations, failures: t.failures }]));
    this.deps.logger.info({ version: p.version, seconds: this.opts.seconds, rules: counts }, 'rule set passed its probation: confirmed');
    this.settle(this.deps.rules.confirm(p.version, PROBATION_SOURCE));
  }

  /** A confirmation asked for (stop() waits for it). */
  private settle(confirmation: Promise<RuleUpdateStatus>): void {
    this.ending = confirmation
      .then(() => undefined)
      .catch((err: unknown) => this.deps.logger.error({ err: errorMessage(err) }, 'rule set confirmation failed'));
  }

  private persist(r: ProbationRecord): void {
    const buf = Buffer.from(JSON.stringify(r));
    this.persisted = this.persisted
      .then(() => this.deps.meta.putMeta(KEY, buf))
      .catch((err: unknown) => this.deps.logger.warn({ err: errorMessage(err) }, 'could not record the rule set probation'));
  }

  private async readRecord(): Promise<ProbationRecord | undefined> {
    const buf = await this.deps.meta.getMeta(KEY);
    if (!buf) return undefined;
    try {
      const r = JSON.parse(buf.toString('utf8')) as Partial<ProbationRecord>;
      return typeof r.version === 'number' && typeof r.state === 'string' ? (r as ProbationRecord) : undefined;
    } catch {
      return undefined;
    }
  }
}
