// Life cycle of the stateful rules of an engine (windows, detectors): start their timers, keep
// their live state across engine.swap when name + SQL are unchanged, checkpoint them to the
// store periodically and on stop, restore them when a rule set is installed, and export metrics.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { z } from 'zod';
import { errorMessage } from '../../core/errors.js';
import type { CompiledQuery, WindowEmission } from '../sql/compile-types.js';
import type { CompiledRule, CompiledRuleSet } from '../ruleset.js';
import type { Timers } from './clock.js';
import { isStateful, restoreQuery, snapshotQuery, stateKey, type StateStore } from './state.js';

export const statefulOptionsSchema = z.object({
  checkpointIntervalMs: z.number().int().min(0).default(10_000).describe('How often window and detector state is checkpointed to the store (0 = only on stop)'),
  maxGroups: z.number().int().min(1).default(10_000).describe('Groups kept per windowed rule (per window for time windows); the oldest is evicted and counted'),
  maxRowsPerWindow: z.number().int().min(1).default(10_000).describe('Rows kept per group by sliding windows, collect() and percentile(); beyond that rows are dropped and counted'),
});
export type StatefulOptions = z.infer<typeof statefulOptionsSchema>;

export interface StatefulHostDeps {
  log: Logger;
  registry: Registry;
  timers: Timers;
  store: StateStore | undefined;
  options: StatefulOptions;
  /** Route rows emitted outside handle() (timers) to the rule's actions. */
  emit(rule: CompiledRule, rows: WindowEmission[]): void;
}

interface Live {
  rule: CompiledRule;
  key: string;
  query: CompiledQuery;
  dirty: boolean;
  lastMatched: number;
}

export class StatefulRules {
  private live = new Map<string, Live>();
  private timer: unknown;
  private checkpointing: Promise<void> | undefined;
  private stopped = false;
  private readonly metricNames: string[] = [];
  private checkpoints = { ok: 0, failed: 0 };
  private restores = { ok: 0, failed: 0 };

  constructor(private readonly deps: StatefulHostDeps) {
    this.registerMetrics();
  }

  /** Synchronously take over the stateful rules of `set` (the engine calls it on create/swap). */
  attach(set: CompiledRuleSet): void {
    const next = new Map<string, Live>();
    for (const rule of set.rules) {
      if (!rule.enabled || !isStateful(rule.query)) continue;
      const key = stateKey(rule.name, rule.query);
      const old = this.live.get(rule.name);
      if (old && old.key === key) {
        // Same name and SQL: keep the live state (and its timers) instead of resetting it.
        (rule as { query: CompiledQuery }).query = old.query;
        old.rule = rule;
        next.set(rule.name, old);
        this.live.delete(rule.name);
        continue;
      }
      const entry: Live = { rule, key, query: rule.query, dirty: false, lastMatched: rule.stats.matched };
      next.set(rule.name, entry);
      this.startQuery(entry);
    }
    for (const gone of this.live.values()) this.retire(gone);
    this.live = next;
  }

  private startQuery(entry: Live): void {
    const t = this.deps.timers;
    entry.query.windowed?.start({
      now: () => t.now(),
      setTimer: (fn, ms) => t.setTimeout(fn, ms),
      clearTimer: (h) => t.clearTimeout(h),
      emit: (rows) => {
        entry.dirty = true;
        this.deps.emit(entry.rule, rows);
      },
      maxGroups: this.deps.options.maxGroups,
      maxRowsPerWindow: this.deps.options.maxRowsPerWindow,
    });
  }

  /** A rule left the set (or changed its SQL): stop it and keep its last state in the store. */
  private retire(entry: Live): void {
    entry.query.windowed?.stop();
    if (this.deps.store) void this.save(entry);
  }

  /**
   * Restore, from the store, the state of the stateful rules of `set` that are not live yet
   * (start-up, or a rule set that adds rules). Corrupt or foreign state is logged and ignored.
   */
  async restore(set: CompiledRuleSet): Promise<void> {
    const store = this.deps.store;
    if (!store) return;
    for (const rule of set.rules) {
      if (!rule.enabled || !isStateful(rule.query)) continue;
      const key = stateKey(rule.name, rule.query);
      const live = this.live.get(rule.name);
      if (live && live.key === key && live.query !== rule.query) continue; // will keep its live state on swap
      let bytes: Buffer | undefined;
      try {
        bytes = await store.get(key);
        if (!bytes) continue;
        restoreQuery(rule.query, bytes);
        this.restores.ok++;
        this.deps.log.info({ rule: rule.name, bytes: bytes.length }, 'rule state restored');
      } catch (err) {
        this.restores.failed++;
        this.deps.log.warn({ rule: rule.name, err: errorMessage(err) }, 'rule state not restored: starting fresh');
      }
    }
  }

  /** Periodic checkpoints (no-op with interval 0 or no store). */
  start(): void {
    const ms = this.deps.options.checkpointIntervalMs;
    if (!this.deps.store || ms <= 0 || this.timer !== undefined || this.stopped) return;
    const tick = (): void => {
      this.timer = this.deps.timers.setTimeout(() => {
        void this.checkpoint().finally(() => {
          if (!this.stopped) tick();
        });
      }, ms);
    };
    tick();
  }

  /** Write the state of every rule that changed since its last checkpoint. */
  checkpoint(): Promise<void> {
    if (this.checkpointing) return this.checkpointing;
    const run = async (): Promise<void> => {
      for (const entry of [...this.live.values()]) {
        const matched = entry.rule.stats.matched;
        if (!entry.dirty && matched === entry.lastMatched) continue;
        entry.dirty = false;
        entry.lastMatched = matched;
        await this.save(entry);
      }
    };
    this.checkpointing = run().finally(() => {
      this.checkpointing = undefined;
    });
    return this.checkpointing;
  }

  private async save(entry: Live): Promise<void> {
    const store = this.deps.store;
    if (!store) return;
    try {
      await store.put(entry.key, snapshotQuery(entry.query));
      this.checkpoints.ok++;
    } catch (err) {
      entry.dirty = true;
      this.checkpoints.failed++;
      this.deps.log.warn({ rule: entry.rule.name, err: errorMessage(err) }, 'rule state checkpoint failed');
    }
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
    if (this.timer !== undefined) this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
    for (const e of this.live.values()) e.query.windowed?.stop();
    for (const n of this.metricNames) this.deps.registry.removeSingleMetric(n);
    this.metricNames.length = 0;
  }

  private registerMetrics(): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const host = this;
    const reg = this.deps.registry;
    const perRule = (name: string, help: string, pick: (q: CompiledQuery) => number, gauge = false): void => {
      this.metricNames.push(name);
      const collect = function (this: Counter | Gauge): void {
        this.reset();
        for (const [rule, e] of host.live) {
          const v = pick(e.query);
          if (v || gauge) this.inc({ rule }, v);
        }
      };
      if (gauge) new Gauge({ name, help, labelNames: ['rule'], registers: [reg], collect });
      else new Counter({ name, help, labelNames: ['rule'], registers: [reg], collect });
    };
    perRule('gatehouse_window_late_events_total', 'Event-time events older than the watermark (dropped)', (q) => q.windowed?.stats.late ?? 0);
    perRule('gatehouse_window_evicted_groups_total', 'Window groups evicted by the maxGroups bound', (q) => q.windowed?.stats.evicted ?? 0);
    perRule('gatehouse_window_dropped_rows_total', 'Rows dropped by the maxRowsPerWindow bound (sliding, collect, percentile)', (q) => q.windowed?.stats.droppedRows ?? 0);
    perRule('gatehouse_window_invalid_timestamps_total', 'Events whose TIMESTAMP BY value is not a time (dropped)', (q) => q.windowed?.stats.invalidTimestamps ?? 0);
    perRule('gatehouse_anomaly_partitions_evicted_total', 'Detector partitions evicted by the maxPartitions bound', (q) => (q.stateSites ?? []).reduce((n, s) => n + s.state.evicted(), 0));
    this.metricNames.push('gatehouse_rule_state_checkpoints_total', 'gatehouse_rule_state_restores_total');
    new Counter({
      name: 'gatehouse_rule_state_checkpoints_total',
      help: 'Rule state checkpoints written to the store, by result',
      labelNames: ['result'],
      registers: [reg],
      collect() {
        this.reset();
        this.inc({ result: 'ok' }, host.checkpoints.ok);
        this.inc({ result: 'failed' }, host.checkpoints.failed);
      },
    });
    new Counter({
      name: 'gatehouse_rule_state_restores_total',
      help: 'Rule states restored from the store at install, by result',
      labelNames: ['result'],
      registers: [reg],
      collect() {
        this.reset();
        this.inc({ result: 'ok' }, host.restores.ok);
        this.inc({ result: 'failed' }, host.restores.failed);
      },
    });
  }
}
