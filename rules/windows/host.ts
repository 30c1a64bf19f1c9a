// Life cycle of the stateful rules of an engine (windows, detectors): start their timers, keep
// their live state across engine.swap when name + SQL are unchanged, checkpoint them to the
// store periodically and on stop, restore them when a rule set is installed, and export metrics.
// With an input log (durable mode, docs/windows.md "Crash safety"): every checkpoint records the
// input number it covers, and at start the log behind it is replayed through each rule before the
// first new message; rows re-emitted by the replay that are known to be committed already (the
// per-rule emission marker, written in the group commit after their appends) are suppressed.
// This file decides when state is written and read; the store I/O itself (snapshot + position,
// a checkpoint round, reading checkpoints back) is in checkpoints.ts, the options in options.ts.
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import { monotonicNow } from '../../core/clock.js';
import { rateLimitedLog, type RateLog } from '../../core/rate-log.js';
import type { CompiledQuery, WindowEmission } from '../sql/compile-types.js';
import { EvalContext } from '../sql/context.js';
import type { CompiledRule, CompiledRuleSet } from '../ruleset.js';
import type { Timers } from './clock.js';
import type { InputLog, LoggedInput } from './input-log.js';
import { InputJournal } from './journal.js';
import { type Live, RuleCheckpoints } from './checkpoints.js';
import { newEpoch, parseMarker, stateStep, type Position } from './recovery.js';
import { registerStatefulMetrics } from './metrics.js';
import type { StatefulOptions } from './options.js';
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

/** The write budget never stretches the checkpoint period beyond an hour (the start-up replay it implies). */
const MAX_BUDGET_WAIT_MS = 3_600_000;

export class StatefulRules {
  private live = new Map<string, Live>();
  private timer: unknown;
  private checkpointing: Promise<void> | undefined;
  /** State bytes the checkpoint rounds wrote since the periodic timer was last set (the write budget). */
  private bytesSinceTick = 0;
  private stopped = false;
  private readonly metricNames: string[] = [];
  private rowsAfterCrash = { reemitted: 0, suppressed: 0 };
  private markerFailures = 0;
  /** Durable mode only. */
  readonly journal: InputJournal | undefined;
  /** Writes the checkpoints and reads them back (the when is decided here). */
  private readonly states: RuleCheckpoints;
  /** Positions restored for rules not attached yet (a rule set being installed). */
  private readonly restored = new Map<string, Position>();
  /** While replaying: the processing time of the input being replayed. */
  private replayAt: number | undefined;
  private replaying = false;
  /** attach() ran once (the engine's first rule set): later calls are swaps. */
  private attached = false;
  /** Per live stateful rule: log its inputs on a topic match (detectors) or on a window add only. */
  private logModes = new Map<CompiledRule, 'match' | 'add'>();
  /** maxGroupBytes evictions: one line per rule a minute at most (a flood evicts per event). */
  private readonly budgetLog: RateLog;
  /**
   * Durable mode, from the start until the replay has fed the logged inputs: the window timers that
   * fire meanwhile, by handle, run after it (releaseTimers). A restored window overdue fires at once,
   * while the restore and the replay read the store: it closed with what its checkpoint held, and
   * the replay of the inputs logged after the checkpoint opened it again (two rows for one window).
   */
  private heldTimers: Map<unknown, () => void> | undefined;

  constructor(private readonly deps: StatefulHostDeps) {
    this.journal = deps.inputLog ? new InputJournal(deps.inputLog) : undefined;
    if (this.journal) this.heldTimers = new Map();
    // The input log filling up: checkpoint now (after the handle() that appended), so it is reclaimed.
    if (this.journal) this.journal.onPressure = () => queueMicrotask(() => void (this.stopped ? undefined : this.checkpoint()));
    this.states = new RuleCheckpoints(deps.store, this.journal, deps.log);
    this.budgetLog = rateLimitedLog(deps.log, 'warn', 60_000);
    this.registerMetrics();
  }

  /** Processing time of the engine (the replayed time during a replay). */
  now(): number {
    return this.replayAt ?? this.deps.timers.now();
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
    this.writeMarker(e);
  }

  /** Synchronously take over the stateful rules of `set` (the engine calls it on create/swap). */
  attach(set: CompiledRuleSet): void {
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
      const pos = this.restored.get(rule.name);
      this.restored.delete(rule.name);
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
      if (this.journal && this.attached) void this.states.save(entry, entry.n);
    }
    this.attached = true;
    for (const gone of this.live.values()) this.retire(gone);
    this.live = next;
    this.logModes = modes;
  }

  private startQuery(entry: Live): void {
    const t = this.deps.timers;
    entry.query.windowed?.start({
      now: () => this.replayAt ?? t.now(),
      elapsed: () => t.monotonic?.() ?? t.now(),
      skew: () => t.now() - (t.monotonic?.() ?? t.now()),
      setTimer: (fn, ms) => {
        const h = t.setTimeout(() => (this.heldTimers ? this.heldTimers.set(h, fn) : fn()), ms);
        return h;
      },
      clearTimer: (h) => {
        t.clearTimeout(h);
        this.heldTimers?.delete(h);
      },
      emit: (rows) => this.emitRows(entry, rows),
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

  /**
   * Rows emitted outside handle() (a timer, the replay, the catch-up after it): during and after a
   * replay, rows the emission marker says are committed already are suppressed; the others are
   * re-emitted (at least once: possibly duplicates, counted).
   */
  private emitRows(entry: Live, rows: WindowEmission[]): void {
    entry.dirty = true;
    let out = rows;
    if (entry.committedRows > entry.r) {
      const skip = Math.min(rows.length, entry.committedRows - entry.r);
      this.rowsAfterCrash.suppressed += skip;
      out = rows.slice(skip);
    }
    if (this.replaying) this.rowsAfterCrash.reemitted += out.length;
    entry.r += rows.length;
    if (out.length) this.deps.emit(entry.rule, out);
    this.writeMarker(entry);
  }

  /**
   * The emission marker: after rows' actions were started, record how many rows the rule has
   * emitted, in the group commit after their appends (commitMeta). One write in flight per rule;
   * later emissions are covered by the next one.
   */
  private writeMarker(entry: Live): void {
    const log = this.deps.inputLog;
    if (!log) return;
    const m = entry.marker;
    if (m.inFlight) {
      m.wanted = true;
      return;
    }
    m.inFlight = true;
    const value = Buffer.from(JSON.stringify({ e: entry.e, r: entry.r }), 'utf8');
    log.commitMeta(`${entry.key}/emitted`, value).then(
      () => this.markerDone(entry),
      (err: unknown) => {
        this.markerFailures++;
        this.deps.log.warn({ rule: entry.rule.name, err: errorMessage(err) }, 'window emission marker not written (rows may be re-emitted after a crash)');
        this.markerDone(entry);
      },
    );
  }

  private markerDone(entry: Live): void {
    entry.marker.inFlight = false;
    if (entry.marker.wanted && !this.stopped) {
      entry.marker.wanted = false;
      this.writeMarker(entry);
    }
  }

  /** A rule left the set (or changed its SQL): stop it and keep its last state in the store. */
  private retire(entry: Live): void {
    entry.query.windowed?.stop();
    if (this.deps.store) void this.states.save(entry, this.journal?.inputNo ?? 0);
  }

  /**
   * Restore, from the store, the state of the stateful rules of `set` that are not live yet
   * (start-up, or a rule set that adds rules). Corrupt or foreign state is logged and ignored.
   */
  restore(set: CompiledRuleSet): Promise<void> {
    return this.states.restore(set, (name) => this.live.get(name), this.restored);
  }

  /**
   * Durable mode, at start (after restore, before the first message): replay the input log behind
   * each rule's checkpoint through the rule, then close the processing-time windows that came due
   * while the gateway was down. Rows the replay emits go to the rule's actions unless the emission
   * marker says they were committed before the crash.
   */
  async replay(set: CompiledRuleSet): Promise<void> {
    try {
      await this.replayLogged(set);
    } finally {
      this.releaseTimers(); // (a replay that failed holds no window back)
    }
  }

  /** The window timers held until the replay has run (heldTimers) fire now, in the order they fired. */
  private releaseTimers(): void {
    const held = this.heldTimers;
    this.heldTimers = undefined;
    for (const fire of held?.values() ?? []) fire();
  }

  private async replayLogged(set: CompiledRuleSet): Promise<void> {
    const j = this.journal;
    const log = this.deps.inputLog;
    if (!j || !log) return;
    await j.open();
    for (const e of this.live.values()) {
      if (Number.isFinite(e.n) && e.n > j.inputNo) j.inputNo = e.n;
      const m = await log.getMeta(`${e.key}/emitted`).catch(() => undefined);
      const marker = parseMarker(m);
      if (marker && marker.e === e.e && marker.r > e.r) e.committedRows = marker.r;
    }
    const t0 = monotonicNow();
    const before = { inputs: j.counts.replayed, ...this.rowsAfterCrash };
    this.replaying = true;
    try {
      for await (const input of j.replay((err) => this.deps.log.warn({ err: errorMessage(err) }, 'input log record skipped'))) this.replayOne(set, input);
    } finally {
      this.replayAt = undefined;
    }
    try {
      // Processing-time windows that should have closed while the gateway was down close now: those
      // whose timer fired during the restore or the replay, then any other due.
      this.releaseTimers();
      for (const e of this.live.values()) {
        const rows = e.query.windowed?.tick();
        if (rows?.length) this.emitRows(e, rows);
      }
    } finally {
      this.replaying = false;
    }
    for (const e of this.live.values()) {
      e.n = j.inputNo;
      e.committedRows = 0;
      e.dirty = true;
    }
    // Checkpoint now (submitted before any new input): the replayed state, and the first
    // checkpoint of rules new in this run, which fixes where their inputs start.
    void this.checkpoint();
    const inputs = j.counts.replayed - before.inputs;
    if (inputs > 0 || this.rowsAfterCrash.reemitted > before.reemitted) {
      this.deps.log.info(
        {
          inputs,
          reemittedRows: this.rowsAfterCrash.reemitted - before.reemitted,
          suppressedRows: this.rowsAfterCrash.suppressed - before.suppressed,
          ms: Math.round(monotonicNow() - t0),
        },
        'rule state rebuilt from the input log',
      );
    }
  }

  private replayOne(set: CompiledRuleSet, input: LoggedInput): void {
    const rules = set.index.match(input.message.topic);
    let c: EvalContext | undefined;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      const e = this.live.get(rule.name);
      if (!e || e.rule !== rule || e.n >= input.no) continue;
      this.replayAt = input.at;
      e.dirty = true;
      e.n = input.no;
      try {
        const due = e.query.windowed?.tick(); // what a timer closed before this input arrived
        if (due?.length) this.emitRows(e, due);
        const rows = stateStep(rule, (c ??= new EvalContext(input.message)));
        if (rows?.length) this.emitRows(e, rows);
      } catch (err) {
        rule.stats.errors++;
        this.deps.log.warn({ rule: rule.name, err: errorMessage(err) }, 'rule evaluation failed during the replay');
      }
    }
  }

  /**
   * Periodic checkpoints (no-op with interval 0 or no store), every checkpointIntervalMs or, when
   * the rounds since the last tick wrote more than checkpointMaxBytesPerSec allows, later: a
   * detector's state is ~1.5 MB per partition, and rewriting it every 10 s wears a flash card out
   * (20 trucks: 3.5 MB/s). Later is safe: the input log holds what came after, the replay runs it
   * at start, and the log's own bound still starts a round early (journal onPressure).
   */
  start(): void {
    const ms = this.deps.options.checkpointIntervalMs;
    if (!this.deps.store || ms <= 0 || this.timer !== undefined || this.stopped) return;
    const budget = this.deps.options.checkpointMaxBytesPerSec ?? 0;
    const tick = (): void => {
      const wait = budget > 0 ? Math.max(ms, Math.min(MAX_BUDGET_WAIT_MS, Math.ceil((this.bytesSinceTick * 1000) / budget))) : ms;
      this.bytesSinceTick = 0;
      this.timer = this.deps.timers.setTimeout(() => {
        void this.checkpoint().finally(() => {
          if (!this.stopped) tick();
        });
      }, wait);
    };
    tick();
  }

  /**
   * Write the state of every rule that changed since its last checkpoint (one round, see
   * RuleCheckpoints.round); a call while a round is running gets that round's promise.
   */
  checkpoint(): Promise<void> {
    if (this.checkpointing) return this.checkpointing;
    this.checkpointing = this.states
      .round(this.live.values())
      .then((bytes) => {
        this.bytesSinceTick += bytes;
      })
      .finally(() => {
        this.checkpointing = undefined;
      });
    return this.checkpointing;
  }

  /** Final checkpoint, then stop timers. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
    await this.checkpointing;
    for (const e of this.live.values()) e.dirty = true;
    await this.checkpoint();
    this.close();
  }

  /** Stop every timer now (no checkpoint) and unregister the metrics. */
  close(): void {
    this.stopped = true;
    this.heldTimers = undefined;
    if (this.timer !== undefined) this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
    for (const e of this.live.values()) e.query.windowed?.stop();
    for (const n of this.metricNames) this.deps.registry.removeSingleMetric(n);
    this.metricNames.length = 0;
  }

  private registerMetrics(): void {
    registerStatefulMetrics(this.deps.registry, this.metricNames, {
      queries: () => [...this.live].map(([rule, e]) => [rule, e.query] as const),
      checkpoints: () => this.states.checkpoints,
      restores: () => this.states.restores,
      inputLog: () => this.journal?.counts,
      rowsAfterCrash: () => ({ ...this.rowsAfterCrash, marker_failed: this.markerFailures }),
    });
  }
}
