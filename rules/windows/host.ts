// Life cycle of the stateful rules of an engine (windows, detectors): start their timers, keep
// their live state across engine.swap when name + SQL are unchanged, checkpoint them to the
// store periodically and on stop, restore them when a rule set is installed, and export metrics.
// With an input log (durable mode, docs/windows.md "Crash safety"): every checkpoint records the
// input number it covers, and at start the log behind it is replayed through each rule before the
// first new message; rows re-emitted by the replay that are known to be committed already (the
// per-rule emission marker, written in the group commit after their appends) are suppressed.
// This file keeps the live rules and their timers; when state is written and read (the checkpoint
// schedule, restore, replay, emission marker) is persistence.ts, the store I/O itself (snapshot +
// position, a checkpoint round, reading checkpoints back) checkpoints.ts, the options options.ts.
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { rateLimitedLog, type RateLog } from '../../core/rate-log.js';
import type { CompiledQuery, WindowEmission } from '../sql/compile-types.js';
import type { CompiledRule, CompiledRuleSet } from '../ruleset.js';
import type { Timers } from './clock.js';
import type { InputLog } from './input-log.js';
import { InputJournal } from './journal.js';
import type { Live } from './checkpoints.js';
import { newEpoch } from './recovery.js';
import { registerStatefulMetrics } from './metrics.js';
import type { StatefulOptions } from './options.js';
import { StatePersistence } from './persistence.js';
import { isStateful, stateKey, type StateStore } from './state.js';

// The options schema lives in options.ts; engine.ts imports it from here.
export { statefulOptionsSchema, type StatefulOptions } from './options.js';

export interface StatefulHostDeps {
  log: Logger;
  registry: Registry;
  timers: Timers;
  store: StateStore | undefined;
  options: StatefulOptions;
  /** Route rows emitted outside handle() (timers, replay) to the rule's actions. */
  emit(rule: CompiledRule, rows: WindowEmission[]): void;
  /**
   * Durable mode: the inputs of stateful rules are logged and replayed at start. `store.put`
   * must then be the store's commitMeta (FIFO with the appends), which the gateway provides.
   */
  inputLog?: InputLog;
}

export class StatefulRules {
  private live = new Map<string, Live>();
  private readonly metricNames: string[] = [];
  /** Durable mode only. */
  readonly journal: InputJournal | undefined;
  /** Checkpoints, restore, replay and the emission marker: when state is written and read. */
  private readonly persistence: StatePersistence;
  /** attach() ran once (the engine's first rule set): later calls are swaps. */
  private attached = false;
  /** Per live stateful rule: log its inputs on a topic match (detectors) or on a window add only. */
  private logModes = new Map<CompiledRule, 'match' | 'add'>();
  /** maxGroupBytes evictions: one line per rule a minute at most (a flood evicts per event). */
  private readonly budgetLog: RateLog;
  /** The state writes of the rules the last attach retired (retired() waits for them). */
  private retiring: Array<Promise<boolean>> = [];

  constructor(private readonly deps: StatefulHostDeps) {
    this.journal = deps.inputLog ? new InputJournal(deps.inputLog) : undefined;
    this.persistence = new StatePersistence({
      log: deps.log,
      timers: deps.timers,
      store: deps.store,
      options: deps.options,
      emit: (rule, rows) => deps.emit(rule, rows),
      inputLog: deps.inputLog,
      journal: this.journal,
      live: () => this.live,
    });
    this.budgetLog = rateLimitedLog(deps.log, 'warn', 60_000);
    this.registerMetrics();
  }

  /** Processing time of the engine (the replayed time during a replay). */
  now(): number {
    return this.persistence.replayAt ?? this.deps.timers.now();
  }

  /** Durable mode: when a matched rule's inputs go to the input log (undefined: never). */
  logMode(rule: CompiledRule): 'match' | 'add' | undefined {
    return this.logModes.get(rule);
  }

  /** Rows a rule emitted inside handle() (their actions were started): count them, mark them. */
  noteRows(rule: CompiledRule, n: number): void {
    const e = this.live.get(rule.name);
    if (!e || e.rule !== rule) return;
    e.r += n;
    e.dirty = true;
    this.persistence.writeMarker(e);
  }

  /** Synchronously take over the stateful rules of `set` (the engine calls it on create/swap). */
  attach(set: CompiledRuleSet): void {
    this.retiring = [];
    const next = new Map<string, Live>();
    const modes = new Map<CompiledRule, 'match' | 'add'>();
    for (const rule of set.rules) {
      if (!rule.enabled || !isStateful(rule.query)) continue;
      const key = stateKey(rule.name, rule.query);
      const old = this.live.get(rule.name);
      if (this.journal) modes.set(rule, (rule.query.stateSites?.length ?? 0) > 0 ? 'match' : 'add');
      if (old && old.key === key) {
        // Same name and SQL: keep the live state (and its timers) instead of resetting it.
        (rule as { query: CompiledQuery }).query = old.query;
        // Its actions changed: its counters started again (rules/rule-counters.ts), so `matched`
        // no longer tells whether the state moved since the last checkpoint: write the next one.
        if (old.rule.stats !== rule.stats) old.dirty = true;
        old.rule = rule;
        next.set(rule.name, old);
        this.live.delete(rule.name);
        continue;
      }
      // A rule joining a running set covers every input so far: the inputs logged before it was
      // installed never matched it. (At start, restore() sets the position of its checkpoint.)
      const pos = this.persistence.restored.get(rule.name);
      this.persistence.restored.delete(rule.name);
      const entry: Live = {
        rule,
        key,
        query: rule.query,
        dirty: true,
        lastMatched: rule.stats.matched,
        n: this.journal?.inputNo ?? 0,
        r: pos?.r ?? 0,
        e: pos?.e ?? newEpoch(),
        committedRows: 0,
        marker: { inFlight: false, wanted: false },
      };
      next.set(rule.name, entry);
      this.startQuery(entry);
      // Durable mode, a rule joining a running set: its first checkpoint is submitted now, before
      // any input reaches it, so after a crash its inputs are replayed into it and only those.
      // (At start the stored checkpoints are read first: restore() and replay() handle them.)
      if (this.journal && this.attached) void this.persistence.states.save(entry, entry.n);
    }
    this.attached = true;
    for (const gone of this.live.values()) this.retire(gone);
    this.live = next;
    this.logModes = modes;
  }

  private startQuery(entry: Live): void {
    const t = this.deps.timers;
    const p = this.persistence;
    entry.query.windowed?.start({
      now: () => p.replayAt ?? t.now(),
      elapsed: () => t.monotonic?.() ?? t.now(),
      skew: () => t.now() - (t.monotonic?.() ?? t.now()),
      setTimer: (fn, ms) => {
        const h = t.setTimeout(() => (p.heldTimers ? p.heldTimers.set(h, fn) : fn()), ms);
        return h;
      },
      clearTimer: (h) => {
        t.clearTimeout(h);
        p.heldTimers?.delete(h);
      },
      emit: (rows) => p.emitRows(entry, rows),
      maxGroups: this.deps.options.maxGroups,
      maxGroupStates: this.deps.options.maxGroupStates,
      maxRowsPerWindow: this.deps.options.maxRowsPerWindow,
      maxGroupBytes: this.deps.options.maxGroupBytes,
      onBudgetEvict: (info) =>
        this.budgetLog(
          entry.rule.name,
          { rule: entry.rule.name, ...info },
          'window groups evicted: the groups of this windowed rule held more than ruleState.maxGroupBytes (large payloads on many group keys); the oldest groups were dropped (gatehouse_window_evicted_groups_total{reason="bytes"}). Raise ruleState.maxGroupBytes if the gateway has the memory, or group by fewer keys',
        ),
    });
  }

  /** A rule left the set (or changed its SQL): stop it and keep its last state in the store. */
  private retire(entry: Live): void {
    entry.query.windowed?.stop();
    if (this.deps.store) this.retiring.push(this.persistence.states.save(entry, this.journal?.inputNo ?? 0));
  }

  /**
   * Resolves once the state of the rules the last attach retired is written (a failed write is
   * logged and counted by the save): an install waits for it, so the rule set stored after it (the
   * set left, kept as the one to roll back to) never comes before its state, and a rollback or a
   * stop right after does not overtake the write.
   */
  async retired(): Promise<void> {
    await Promise.all(this.retiring);
  }

  /**
   * Restore, from the store, the state of the stateful rules of `set` that are not live yet
   * (start-up, or a rule set that adds rules). Corrupt or foreign state is logged and ignored.
   */
  restore(set: CompiledRuleSet): Promise<void> {
    return this.persistence.restore(set);
  }

  /** Durable mode, at start (after restore, before the first message): see StatePersistence.replay. */
  replay(set: CompiledRuleSet): Promise<void> {
    return this.persistence.replay(set);
  }

  /** Periodic checkpoints (no-op with interval 0 or no store): see StatePersistence.start. */
  start(): void {
    this.persistence.start();
  }

  /** Write the state of every rule that changed since its last checkpoint (one round at a time). */
  checkpoint(): Promise<void> {
    return this.persistence.checkpoint();
  }

  /** Final checkpoint (the window timers held from its start: StatePersistence.stop), then stop timers. */
  async stop(): Promise<void> {
    await this.persistence.stop();
    this.close();
  }

  /** Stop every timer now (no checkpoint) and unregister the metrics. */
  close(): void {
    this.persistence.close();
    for (const e of this.live.values()) e.query.windowed?.stop();
    for (const n of this.metricNames) this.deps.registry.removeSingleMetric(n);
    this.metricNames.length = 0;
  }

  private registerMetrics(): void {
    registerStatefulMetrics(this.deps.registry, this.metricNames, {
      queries: () => [...this.live].map(([rule, e]) => [rule, e.query] as const),
      checkpoints: () => this.persistence.states.checkpoints,
      restores: () => this.persistence.states.restores,
      inputLog: () => this.journal?.counts,
      rowsAfterCrash: () => ({ ...this.persistence.rowsAfterCrash, marker_failed: this.persistence.markerFailures }),
    });
  }
}
