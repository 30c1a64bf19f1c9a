// When the state of the stateful rules (host.ts) is written and read back: the periodic checkpoint
// (its interval and write budget) and the final one at stop, the restore when a rule set is
// installed, and in durable mode (an input log, docs/windows.md "Crash safety") the replay at start
// of the inputs logged behind each rule's checkpoint, with the emission marker that suppresses the
// rows the replay re-emits that were committed before the crash. Separate from the host, which keeps
// the live rules (attach on create/swap), their timers and metrics; the store I/O itself is
// checkpoints.ts.
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import { monotonicNow } from '../../core/clock.js';
import type { WindowEmission } from '../sql/compile-types.js';
import { EvalContext } from '../sql/context.js';
import type { CompiledRule, CompiledRuleSet } from '../ruleset.js';
import type { Timers } from './clock.js';
import type { InputLog, LoggedInput } from './input-log.js';
import type { InputJournal } from './journal.js';
import { type Live, RuleCheckpoints } from './checkpoints.js';
import { parseMarker, stateStep, type Position } from './recovery.js';
import type { StatefulOptions } from './options.js';
import type { StateStore } from './state.js';
import { FollowUpRun } from '../../core/follow-up-run.js';

/** What the persistence needs of the host (a subset of StatefulHostDeps, and the live rules). */
export interface PersistenceDeps {
  log: Logger;
  timers: Timers;
  store: StateStore | undefined;
  options: StatefulOptions;
  emit(rule: CompiledRule, rows: WindowEmission[]): void;
  inputLog: InputLog | undefined;
  journal: InputJournal | undefined;
  /** The live stateful rules by name (the host replaces the map on attach). */
  live(): Map<string, Live>;
}

/** The write budget never stretches the checkpoint period beyond an hour (the start-up replay it implies). */
const MAX_BUDGET_WAIT_MS = 3_600_000;

export class StatePersistence {
  /** Writes the checkpoints and reads them back (the when is decided here). */
  readonly states: RuleCheckpoints;
  /** Positions restored for rules not attached yet (a rule set being installed). */
  readonly restored = new Map<string, Position>();
  /** While replaying: the processing time of the input being replayed. */
  replayAt: number | undefined;
  private replaying = false;
  /**
   * The window timers that fire meanwhile, by handle. Durable mode, from the start until the replay
   * has fed the logged inputs: they run after it (releaseTimers). A restored window overdue fires at
   * once, while the restore and the replay read the store: it closed with what its checkpoint held,
   * and the replay of the inputs logged after the checkpoint opened it again (two rows for one
   * window). From the stop on: never (close() drops them), so a window due during the final
   * checkpoint stays in it and closes after the restart, once. Closed then, it emitted its row while
   * the checkpoint, snapshotted before, still held it, and the restart closed it again.
   */
  heldTimers: Map<unknown, () => void> | undefined;
  readonly rowsAfterCrash = { reemitted: 0, suppressed: 0 };
  markerFailures = 0;
  private timer: unknown;
  /** The checkpoint rounds: one at a time, one queued behind it at most (checkpoint()). */
  private readonly rounds = new FollowUpRun(() =>
    this.states.round(this.deps.live().values()).then((bytes) => {
      this.bytesSinceTick += bytes;
    }),
  );
  /** State bytes the checkpoint rounds wrote since the periodic timer was last set (the write budget). */
  private bytesSinceTick = 0;
  private stopped = false;

  constructor(private readonly deps: PersistenceDeps) {
    const j = deps.journal;
    if (j) this.heldTimers = new Map();
    // The input log filling up: checkpoint now (after the handle() that appended), so it is reclaimed.
    if (j) j.onPressure = () => queueMicrotask(() => void (this.stopped ? undefined : this.checkpoint()));
    this.states = new RuleCheckpoints(deps.store, j, deps.log, () => deps.timers.monotonic?.() ?? deps.timers.now());
  }

  /**
   * Rows emitted outside handle() (a timer, the replay, the catch-up after it): during and after a
   * replay, rows the emission marker says are committed already are suppressed; the others are
   * re-emitted (at least once: possibly duplicates, counted).
   */
  emitRows(entry: Live, rows: WindowEmission[]): void {
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
  writeMarker(entry: Live): void {
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

  /**
   * Restore, from the store, the state of the stateful rules of `set` that are not live yet
   * (start-up, or a rule set that adds rules). Corrupt or foreign state is logged and ignored.
   */
  restore(set: CompiledRuleSet): Promise<void> {
    return this.states.restore(set, (name) => this.deps.live().get(name), this.restored);
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
    if (this.stopped) return; // held for good: the final checkpoint holds their windows
    const held = this.heldTimers;
    this.heldTimers = undefined;
    for (const fire of held?.values() ?? []) fire();
  }

  private async replayLogged(set: CompiledRuleSet): Promise<void> {
    const j = this.deps.journal;
    const log = this.deps.inputLog;
    if (!j || !log) return;
    await j.open();
    for (const e of this.deps.live().values()) {
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
      for (const e of this.deps.live().values()) {
        const rows = e.query.windowed?.tick();
        if (rows?.length) this.emitRows(e, rows);
      }
    } finally {
      this.replaying = false;
    }
    for (const e of this.deps.live().values()) {
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
      const e = this.deps.live().get(rule.name);
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
   * RuleCheckpoints.round). A call while a round is running gets one that starts after it (at most
   * one queued): the running round took its snapshots before the call, so it may not hold what
   * changed since, and its journal round began before the input that asked (onPressure: returning
   * the running round lost that request, and the log filled until the next periodic round).
   */
  checkpoint(): Promise<void> {
    return this.rounds.run();
  }

  /**
   * The final checkpoint: every rule is written as it is now (the periodic timer stops first; a
   * round running now gets one after it, checkpoint()). The window timers are held from now on
   * (heldTimers): a window due meanwhile is in the checkpoint and closes after the restart.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.heldTimers ??= new Map();
    this.clearTimer();
    for (const e of this.deps.live().values()) e.dirty = true;
    await this.checkpoint();
  }

  /** Stop now (no checkpoint): the periodic timer, the held window timers, the marker rewrites. */
  close(): void {
    this.stopped = true;
    this.heldTimers = undefined;
    this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
