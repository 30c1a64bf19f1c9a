// The gateway's rule set holder (the "rules engine" step of pipeline/index.ts): compiles and
// validates rule sets against the action registry it is handed (pipeline/actions), swaps them into the engine in one step, persists the active and last good sets in the store,
// rolls back, and reports status (for the admin API, CLI and remote control).
//
// Two slots, no history: the active set, and the last good set (the last CONFIRMED set before the
// active one: where a rollback goes). A set applied on probation is unconfirmed until its probation
// passes (confirm()); an update replacing an unconfirmed set leaves the last good set where it was,
// so a rollback never lands on a set that was never confirmed, however many updates were stacked.
// How the slots and the engine's state are kept in the store: rule-host-store.ts. What an update,
// a rollback or a toggle is turned down for before anything is swapped: rule-update-checks.ts. The
// order of updates, and their refusal once stopping: rule-update-queue.ts. The status view and a
// refused toggle's errors: rule-host-status.ts.
import { EventEmitter } from 'node:events';
import type { RuntimeDeps } from '../../core/deps.js';
import { errorMessage } from '../../core/errors.js';
import { rateLimitedLog, type RateLog } from '../../core/rate-log.js';
import { clocksOf } from '../../core/clock.js';
import type { LocalStreams } from '../store/types.js';
import type { Message } from '../../core/message.js';
import { compileRuleSet, loadRuleSetFile, validateRuleSet } from '../../rules/index.js';
import type {
  ActionRegistry,
  CompiledRuleSet,
  LookupTableSource,
  ProtoDescriptorSource,
  RuleCounters,
  RuleEngine,
  RuleSetDefinition,
  ShadowLookup,
} from '../../rules/index.js';
import { defaultVerifier, type UpdateVerifier } from '../control/verify.js';
import type { ApplyBytesOptions, MetaWrites, RollbackOptions, RuleSetTarget, RuleUpdateStatus } from '../control/rule-set-target.js';
import { codeOf, errorsOf, readRuleSetBytes, refusedLogs, type RefusedLogs } from './rule-set-bytes.js';
import { sweepRuleState } from './rule-state-sweep.js';
import { builtInYields, reportConfiguredVsStored, reportStoredRefused } from './configured-vs-stored.js';
import { declaredVersion, rollbackTarget, sameOrStale, toggledRuleSet } from './rule-update-checks.js';
import {
  META_ACTIVE,
  META_LAST_GOOD,
  readRuleSetSlot,
  startRuleEngine,
  writeRuleSetSlots,
  type PersistedRuleSet,
  type RuleStateOptions,
} from './rule-host-store.js';
import { UpdateQueue } from './rule-update-queue.js';
import { statusView, toggleErrors } from './rule-host-status.js';
import { upstreamKindsOf } from './actions/upstream.js';
import type { DestinationKinds } from '../upstream/destination-kind.js';

export type { PersistedRuleSet, RuleUpdateStatus };

export interface RuleHostDeps extends RuntimeDeps {
  /** Meta area of the store: active and last good rule sets, window/detector checkpoints. */
  streams: LocalStreams;
  /** Every action kind (pipeline/actions buildActionRegistry, live mode). */
  actions: ActionRegistry;
  /**
   * The destination kinds the upstream actions of `actions` build with, when they are loaded on
   * use (upstream/loaders.ts): the kinds a set's actions name are loaded before it is compiled.
   */
  destinations?: DestinationKinds;
  /** Signature policy for applyFromBytes (control.publicKeys ...). Default: unsigned admin updates only. */
  verifier?: UpdateVerifier;
  /** Config `ruleState`: checkpoint interval, bounds, input log size. */
  ruleState?: RuleStateOptions;
  /** Where decode(*, 'proto', ...) reads descriptors (protoDescriptorDir); read again at each compile. */
  protoDescriptors?: ProtoDescriptorSource;
  /** The local Device Shadows get_thing_shadow() reads (gateway/shadow/); none: the function is refused. */
  shadows?: ShadowLookup;
  /** The tables get_dynamodb() reads (`tables:`; swapped in place by a reload). */
  lookupTables?: LookupTableSource;
  /**
   * The set the gateway runs when the config names none (DEFAULT_RULE_SET). Nobody wrote it, so a
   * stored copy of it does not outrank a set a user wrote with the same version (at start, or as
   * an update): a user's first rule set, version 1 like every example, replaces it.
   */
  builtInDefault?: unknown;
  /**
   * Run before a set that passed validation is installed (the runtime's: the streams and exporters
   * of its upstream actions are created here, so a refused set creates none). Rejecting refuses it.
   */
  beforeInstall?(definition: RuleSetDefinition): Promise<void>;
}

export interface ApplyOptions {
  source: string;
  /** Accept a version lower than the active one. */
  force?: boolean;
  /**
   * Put it on probation once applied (the status says so; the control plane's probation monitor
   * acts on it). The set stays unconfirmed, and is never made the last good set, until confirm().
   * Only when a probation will run (control.probation.seconds above 0).
   */
  probation?: boolean;
  /** Committed in the same store write as the set, if it is stored (a signed document's accepted version). */
  meta?: MetaWrites;
}

export class RuleHost extends EventEmitter implements RuleSetTarget {
  private engine: RuleEngine | undefined;
  private active: PersistedRuleSet | undefined;
  private lastGood: PersistedRuleSet | undefined;
  private lastUpdate: RuleUpdateStatus | undefined;
  private readonly registry;
  /** Updates one at a time, refused once stop() began (rule-update-queue.ts). */
  private readonly updates = new UpdateQueue();
  /**
   * loadInitial() in progress, waited for by stop(): a stop during it found no engine, and the
   * load then started one (its window timers, checkpoints and metrics) that no stop ended.
   */
  private loading: Promise<void> | undefined;

  /**
   * 'rule set rejected', one line a minute per source with the count since (core/rate-log.ts): a
   * client publishing bad rule sets on the control topic made one line each (each refusal keeps its
   * status document, its metric, and the admin API's and CLI's answer).
   */
  private readonly rejectedLog: RateLog;
  private readonly refusedLogs: RefusedLogs;

  constructor(private readonly deps: RuleHostDeps) {
    super();
    this.registry = deps.actions;
    this.verifier = deps.verifier ?? defaultVerifier(deps.registry);
    this.rejectedLog = rateLimitedLog(deps.logger, 'warn', 60_000, clocksOf(deps).monotonic);
    this.refusedLogs = refusedLogs(deps.logger, clocksOf(deps).monotonic);
  }

  private readonly verifier: UpdateVerifier;

  handle(msg: Message): Promise<void> | undefined {
    return this.engine?.handle(msg);
  }

  /** Compile + validate without applying (check-config, dry runs). */
  async check(def: unknown, source: string): Promise<CompiledRuleSet> {
    // An upstream action takes its destination's schema at compile, synchronously: its kind first.
    await this.deps.destinations?.load(upstreamKindsOf(def));
    const compiled = compileRuleSet(def, this.registry, {
      source,
      protoDescriptors: this.deps.protoDescriptors,
      shadows: this.deps.shadows,
      lookupTables: this.deps.lookupTables,
    });
    await validateRuleSet(compiled, source);
    return compiled;
  }

  /**
   * Start-up: the configured set, unless the store holds an active set (from a remote or admin
   * update) with a version at least as high: an update outlives restarts until the config file
   * carries a higher version. A stop() while it runs waits for it, then stops the engine it started.
   */
  loadInitial(configured: unknown, isFile: boolean): Promise<void> {
    const load = this.load(configured, isFile);
    this.loading = load.catch(() => undefined);
    return load;
  }

  private async load(configured: unknown, isFile: boolean): Promise<void> {
    const def: unknown = isFile ? await loadRuleSetFile(configured as string) : configured;
    const persisted = await this.readMeta(META_ACTIVE);
    this.lastGood = await this.readMeta(META_LAST_GOOD);
    let refused = false;
    const configuredVersion = declaredVersion(def) ?? -1;
    if (persisted && persisted.definition.version >= configuredVersion && !builtInYields(persisted.definition, def, this.deps.builtInDefault)) {
      try {
        const compiled = await this.check(persisted.definition, 'stored active rule set');
        await this.install(compiled, persisted);
        this.deps.logger.info({ version: persisted.definition.version, source: persisted.source }, 'rule set restored from the store');
        // The configured set is not run, but a start must not pass over one that would not compile
        // in silence (check-config refuses it): 'raise the version' would not apply it either.
        await reportConfiguredVsStored(this.deps.logger, def, configuredVersion, persisted, () =>
          this.check(def, 'configured rule set').then(
            () => undefined,
            (e: unknown) => errorMessage(e),
          ),
        );
        return;
      } catch (err) {
        // Said in the log and as the last update, which the control plane publishes at start.
        this.lastUpdate = reportStoredRefused(this.deps.logger, persisted, configuredVersion, err);
        refused = true;
      }
    }
    const compiled = await this.check(def, isFile ? String(configured) : 'config rules');
    const entry = { definition: compiled.definition, appliedAt: Date.now(), source: isFile ? 'file' : 'config' };
    await this.install(compiled, entry);
    // A stored set this version refuses stays in the store, with the window and detector state of
    // its rules: the gateway it came from (a rollback of this upgrade) runs it again. The next
    // update, or a configured set with a higher version, replaces it.
    if (refused) return;
    // The configured set replaces the stored one (a higher version): as an update (a reload) does, a
    // confirmed set it replaces becomes the last good set, so a rollback returns to what ran until now.
    // (Not a stored set that no longer compiles: nothing to return to.)
    const replaced = persisted && !persisted.unconfirmed && persisted.definition.version < configuredVersion;
    if (replaced) this.lastGood = persisted;
    await this.writeMeta([[META_ACTIVE, entry], replaced ? [META_LAST_GOOD, persisted] : undefined]);
  }

  /** Apply a new rule set: compile and validate fully, then swap in one step. Never half-applies. */
  apply(def: unknown, opts: ApplyOptions): Promise<RuleUpdateStatus> {
    const run = async (): Promise<RuleUpdateStatus> => {
      const version = declaredVersion(def);
      try {
        if (sameOrStale(def, version, this.active?.definition, opts.force, this.deps.builtInDefault))
          return this.report({ state: 'unchanged', version, source: opts.source, at: Date.now(), errors: [] });
        const compiled = await this.check(def, `rule set from ${opts.source}`);
        const entry: PersistedRuleSet = { definition: compiled.definition, appliedAt: Date.now(), source: opts.source };
        if (opts.probation) entry.unconfirmed = true;
        const lastGood = this.active && !this.active.unconfirmed ? this.active : undefined;
        if (!lastGood && this.active) {
          this.deps.logger.info(
            { replaced: this.active.definition.version, lastGood: this.lastGood?.definition.version ?? null },
            'the replaced rule set was never confirmed: a rollback still returns to the last confirmed set',
          );
        }
        await this.installStored(compiled, entry, lastGood ?? this.lastGood, lastGood, opts.meta);
        this.deps.logger.info({ version: compiled.version, source: opts.source }, 'rule set applied');
        const applied: RuleUpdateStatus = { state: 'applied', version: compiled.version, source: opts.source, at: Date.now(), errors: [] };
        return this.report(opts.probation ? { ...applied, probation: true } : applied);
      } catch (err) {
        this.rejectedLog(opts.source, { err: errorMessage(err), source: opts.source }, 'rule set rejected');
        return this.report({ state: 'rejected', version, source: opts.source, at: Date.now(), errors: errorsOf(err), code: codeOf(err) });
      }
    };
    return this.updates.serial(run, opts.source, () => declaredVersion(def));
  }

  /**
   * Parse a request body (a rule set in JSON or YAML, or a signed envelope of one) and apply it.
   * The signature policy depends on the origin (remote MQTT or local admin/CLI). A top-level
   * `force: true` inside the (signed) document also forces an older version.
   */
  async applyFromBytes(body: Buffer, _contentType: string | undefined, source: string, opts: ApplyBytesOptions = {}): Promise<RuleUpdateStatus> {
    const read = readRuleSetBytes(body, this.verifier, opts.origin ?? 'admin', this.refusedLogs, source);
    if (!read.ok) return this.report({ state: 'rejected', version: undefined, source, at: Date.now(), errors: read.errors, code: read.code });
    return this.apply(read.def, { source, force: opts.force === true || read.force, probation: opts.probation === true });
  }

  /**
   * Swap back to the last good set (the last confirmed one). An operator rollback from a confirmed
   * set swaps the two (rolling back again returns to the set just left); an automatic one
   * (opts.failure), or any rollback from an unconfirmed set (on probation), drops the set it leaves:
   * known to fail, or never confirmed, it is not kept as a set to roll back to.
   */
  rollback(source: string, opts: RollbackOptions = {}): Promise<RuleUpdateStatus> {
    const run = async (): Promise<RuleUpdateStatus> => {
      const activeVersion = this.active?.definition.version;
      // The set the rollback was meant for was replaced meanwhile: nothing to do, nothing to report.
      if (opts.fromVersion !== undefined && activeVersion !== opts.fromVersion)
        return { state: 'unchanged', version: activeVersion, source, at: Date.now(), errors: [] };
      const cause = opts.failure;
      const where = rollbackTarget(this.lastGood, this.active, source, cause);
      if ('refused' in where) return this.report(where.refused);
      const target = where.to;
      try {
        const compiled = await this.check(target.definition, 'last good rule set');
        const previous = this.active;
        const drop = cause !== undefined || previous?.unconfirmed === true;
        const entry = { definition: target.definition, appliedAt: Date.now(), source: `rollback (${source})` };
        await this.installStored(compiled, entry, drop ? target : previous, drop ? undefined : previous, opts.meta);
        const done: RuleUpdateStatus = {
          state: 'rolled-back',
          version: compiled.version,
          ...(activeVersion === undefined ? {} : { fromVersion: activeVersion }),
          source,
          at: Date.now(),
          errors: cause?.errors ?? [],
        };
        return this.report(cause ? { ...done, code: cause.code } : done);
      } catch (err) {
        const errors = [...(cause?.errors ?? []), ...errorsOf(err)];
        return this.report({ state: 'rejected', version: target.definition.version, source, at: Date.now(), errors, code: codeOf(err) });
      }
    };
    return this.updates.serial(run, source, () => this.lastGood?.definition.version);
  }

  reportRefused(s: RuleUpdateStatus & { state: 'rejected' }): void {
    this.report(s);
  }

  status(): Record<string, unknown> {
    return statusView(this.active, this.lastGood, this.lastUpdate, this.engine);
  }

  /**
   * Enable or disable one rule of the active set (scheduled jobs): the same version with one flag
   * changed, swapped in like any update and persisted. The last good set is left as it is, so a
   * rollback still returns to the previous version.
   *
   * Only a toggle that changed the active set is reported (status event: the retained status topic,
   * lastUpdate, the events list). A refused one (no such rule) and one that changed nothing are
   * returned to the job only: a job repeats, and at each run it would replace the outcome of the
   * last real update (a signed remote update the office is waiting on) with its own.
   */
  setRuleEnabled(name: string, enabled: boolean, source: string): Promise<RuleUpdateStatus> {
    const run = async (): Promise<RuleUpdateStatus> => {
      const current = this.active?.definition;
      const version = current?.version;
      try {
        const def = toggledRuleSet(current, name, enabled, source);
        if (!def) return { state: 'unchanged', version, source, at: Date.now(), errors: [] };
        const compiled = await this.check(def, `rule set from ${source}`);
        const entry: PersistedRuleSet = { definition: compiled.definition, appliedAt: Date.now(), source };
        if (this.active?.unconfirmed) entry.unconfirmed = true; // still on probation
        await this.installStored(compiled, entry, this.lastGood, undefined);
        this.deps.logger.info({ version, rule: name, enabled, source }, enabled ? 'rule enabled' : 'rule disabled');
        return this.report({ state: 'applied', version, source, at: Date.now(), errors: [] });
      } catch (err) {
        // The job that asked logs it (once per change of error, jobs.ts), not this at every run.
        this.deps.logger.debug({ err: errorMessage(err), source }, 'rule toggle rejected');
        return { state: 'rejected', version, source, at: Date.now(), errors: toggleErrors(err, name, source), code: codeOf(err) };
      }
    };
    return this.updates.serial(run, source, () => this.active?.definition.version);
  }

  /**
   * `version` passed its probation: if it is still the active set, it is confirmed (the next update
   * keeps it as the last good set) and reported; else nothing is reported.
   */
  confirm(version: number, source: string): Promise<RuleUpdateStatus> {
    const run = async (): Promise<RuleUpdateStatus> => {
      const s: RuleUpdateStatus = { state: 'confirmed', version, source, at: Date.now(), errors: [] };
      const active = this.active;
      if (active?.definition.version !== version) return { ...s, state: 'unchanged' };
      if (active.unconfirmed) {
        const { unconfirmed: _, ...confirmed } = active;
        await this.writeMeta([[META_ACTIVE, confirmed]]);
        this.active = confirmed;
      }
      return this.report(s);
    };
    return this.updates.serial(run, source, () => version);
  }

  activeDefinition(): RuleSetDefinition | undefined {
    return this.active?.definition;
  }

  lastGoodDefinition(): RuleSetDefinition | undefined {
    return this.lastGood?.definition;
  }

  unconfirmedVersion(): number | undefined {
    return this.active?.unconfirmed ? this.active.definition.version : undefined;
  }

  ruleCounters(): ReadonlyMap<string, RuleCounters> {
    return this.engine?.counters() ?? new Map();
  }

  async stop(): Promise<void> {
    this.updates.close(); // no update is queued from here on (serial): the queue below is the last one
    await this.loading;
    await this.updates.drained();
    // Final checkpoint of window/detector state, then timers stop.
    await this.engine?.stop();
  }

  private async install(compiled: CompiledRuleSet, entry: PersistedRuleSet): Promise<void> {
    await this.deps.beforeInstall?.(compiled.definition);
    if (this.engine) {
      await this.engine.install(compiled);
    } else {
      // state restored and the input log replayed before the first message (rule-host-store.ts)
      this.engine = await startRuleEngine(compiled, this.deps.streams, this.deps, this.deps.ruleState);
    }
    this.active = entry;
  }

  /**
   * Install `compiled` as `entry` (`lastGood`: a rollback's target) and store it, with `goodSlot`
   * as the last good slot if given. If the store refuses the write (a full disk), the set that ran
   * before runs again: what runs is what a restart would run, and the caller reports the update
   * rejected (the new set used to go on running).
   */
  private async installStored(
    c: CompiledRuleSet,
    entry: PersistedRuleSet,
    lastGood?: PersistedRuleSet,
    goodSlot?: PersistedRuleSet,
    extra: MetaWrites = [],
  ): Promise<void> {
    const slots: Array<[string, PersistedRuleSet] | undefined> = [[META_ACTIVE, entry], goodSlot ? [META_LAST_GOOD, goodSlot] : undefined];
    const before = { active: this.active, lastGood: this.lastGood };
    await this.install(c, entry);
    this.lastGood = lastGood;
    try {
      await writeRuleSetSlots(this.deps.streams, slots, extra);
    } catch (err) {
      this.lastGood = before.lastGood;
      const back = before.active;
      if (back) {
        try {
          await this.install(await this.check(back.definition, 'the rule set running before a refused update'), back);
        } catch (again) {
          const versions = { running: entry.definition.version, stored: back.definition.version };
          this.deps.logger.error({ err: errorMessage(again), ...versions }, 'refused rule set write: the set before it could not run again');
        }
      }
      throw err;
    }
    await this.sweepState();
  }

  /**
   * The state of rules of neither the active nor the last good set deleted (rule-state-sweep.ts),
   * both compiled for their keys: the last good set's destination kinds loaded first (it may name
   * kinds the active set does not; a failed load makes the sweep skip, as a set that no longer compiles does).
   */
  private async sweepState(): Promise<void> {
    const keep = [this.active?.definition, this.lastGood?.definition];
    await this.deps.destinations?.load(keep.flatMap((d) => [...upstreamKindsOf(d)])).catch(() => undefined);
    await sweepRuleState(this.deps.streams, keep, this.registry, this.deps.logger);
  }

  /** Run `work` between two updates (rule-update-queue.ts): a stream drop (admin/stream-drop.ts). */
  whileNoUpdate<T>(work: () => Promise<T>): Promise<T> {
    return this.updates.whileNoUpdate(work);
  }

  private report(s: RuleUpdateStatus): RuleUpdateStatus {
    this.lastUpdate = s;
    this.emit('status', s);
    return s;
  }

  private readMeta(key: string): Promise<PersistedRuleSet | undefined> {
    return readRuleSetSlot(this.deps.streams, this.deps.logger, key);
  }

  /** The slots (and `extra`) in one write (rule-host-store.ts), then the state of rules of neither set swept. */
  private async writeMeta(entries: Array<[key: string, value: PersistedRuleSet] | undefined>, extra: MetaWrites = []): Promise<void> {
    await writeRuleSetSlots(this.deps.streams, entries, extra);
    await this.sweepState();
  }
}
