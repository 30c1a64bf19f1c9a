// Prometheus metrics of the stateful rules (host.ts): per-rule window bounds and detector
// evictions, checkpoints, restores, the input log and rows after a crash. Values are read at
// scrape time through the accessors.
import type { Counter, Gauge, Registry } from 'prom-client';
import { counter, gauge } from '../../core/metrics.js';
import type { CompiledQuery } from '../sql/compile-types.js';

export interface StatefulMetricsSource {
  queries(): ReadonlyArray<readonly [string, CompiledQuery]>;
  checkpoints(): { ok: number; failed: number };
  restores(): { ok: number; failed: number };
  inputLog(): Record<string, number> | undefined;
  rowsAfterCrash(): Record<string, number>;
}

/** Register the metrics on reg; their names are pushed to `names` (to unregister on close). */
export function registerStatefulMetrics(reg: Registry, names: string[], src: StatefulMetricsSource): void {
  const perRule = (name: string, help: string, pick: (q: CompiledQuery) => number, isGauge = false): void => {
    names.push(name);
    const collect = function (this: Counter | Gauge): void {
      this.reset();
      for (const [rule, q] of src.queries()) {
        const v = pick(q);
        if (v || isGauge) this.inc({ rule }, v);
      }
    };
    if (isGauge) gauge(reg, name, help, ['rule'], { collect });
    else counter(reg, name, help, ['rule'], { collect });
  };
  perRule('gatehouse_window_late_events_total', 'Event-time events older than the watermark (dropped)', (q) => q.windowed?.stats.late ?? 0);
  names.push('gatehouse_window_evicted_groups_total');
  counter(
    reg,
    'gatehouse_window_evicted_groups_total',
    'Window groups evicted, by reason: groups (the maxGroups or maxGroupStates bound), bytes (the maxGroupBytes budget)',
    ['rule', 'reason'],
    {
      collect() {
        this.reset();
        for (const [rule, q] of src.queries()) {
          const s = q.windowed?.stats;
          if (!s) continue;
          if (s.evicted > s.evictedBytes) this.inc({ rule, reason: 'groups' }, s.evicted - s.evictedBytes);
          if (s.evictedBytes) this.inc({ rule, reason: 'bytes' }, s.evictedBytes);
        }
      },
    },
  );
  perRule(
    'gatehouse_window_dropped_rows_total',
    'Rows dropped by the maxRowsPerWindow bound (sliding, collect, percentile)',
    (q) => q.windowed?.stats.droppedRows ?? 0,
  );
  perRule(
    'gatehouse_window_invalid_timestamps_total',
    'Events whose TIMESTAMP BY value is not a time (dropped)',
    (q) => q.windowed?.stats.invalidTimestamps ?? 0,
  );
  perRule('gatehouse_anomaly_partitions_evicted_total', 'Detector partitions evicted by the maxPartitions bound', (q) =>
    (q.stateSites ?? []).reduce((n, s) => n + s.state.evicted(), 0),
  );
  perRule(
    'gatehouse_anomaly_inputs_skipped_total',
    'Detector inputs that were not a finite number (missing, a string, an object): scored Undefined and not learnt',
    (q) => (q.stateSites ?? []).reduce((n, s) => n + (s.state.skipped?.() ?? 0), 0),
  );
  const byResult = (name: string, help: string, read: () => Record<string, number> | undefined): void => {
    names.push(name);
    counter(reg, name, help, ['result'], {
      collect() {
        this.reset();
        for (const [result, n] of Object.entries(read() ?? {})) this.inc({ result }, n);
      },
    });
  };
  byResult('gatehouse_rule_state_checkpoints_total', 'Rule state checkpoints written to the store, by result', src.checkpoints);
  byResult('gatehouse_rule_state_restores_total', 'Rule states restored from the store at install, by result', src.restores);
  byResult(
    'gatehouse_rule_input_log_total',
    'Inputs of stateful rules in the input log, by result: appended (submitted with the commit that acknowledges them), failed (append refused: not acknowledged), replayed at start, corrupt (skipped)',
    src.inputLog,
  );
  byResult(
    'gatehouse_window_rows_after_crash_total',
    'Window rows the replay after a restart produced again: reemitted (sent to the actions again: possible duplicates) or suppressed (known to be committed before the crash); marker_failed: emission markers that could not be written',
    src.rowsAfterCrash,
  );
}
