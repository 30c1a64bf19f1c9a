// Counters of snmp sources beside the industrial ones (industrial-metrics.ts, kind 'snmp', device =
// target: values, read errors, poll latency, last good read, gaps, skipped polls): missing values,
// cut tables, and the trap listener's outcomes.
import type { Counter, Registry } from 'prom-client';
import { counter } from '../../../../core/metrics.js';

/**
 * What became of a datagram on the trap port: committed; denied (sender not in allow); busy
 * (maxInFlight traps waiting for commits, or the store refusing: an inform is left unanswered,
 * its sender retries); refused (its commit refused); invalid (not SNMP, or a PDU that is no
 * trap); unauthorised (unknown community or user, a wrong digest); stopped.
 */
export type TrapOutcome = 'committed' | 'denied' | 'busy' | 'refused' | 'invalid' | 'unauthorised' | 'stopped';

export interface SnmpMetrics {
  missing: Counter<'source' | 'target'>;
  truncated: Counter<'source' | 'target'>;
  traps: Counter<'source' | 'outcome'>;
}

export function snmpMetrics(registry: Registry): SnmpMetrics {
  return {
    missing: counter(
      registry,
      'gatehouse_snmp_source_missing_values_total',
      'Values an SNMP agent had none for (noSuchObject, noSuchInstance, endOfMibView, v1 noSuchName): null in the message',
      ['source', 'target'],
    ),
    truncated: counter(registry, 'gatehouse_snmp_source_tables_truncated_total', 'Table walks stopped at maxRows', ['source', 'target']),
    traps: counter(
      registry,
      'gatehouse_snmp_source_traps_total',
      'Datagrams on the trap port by outcome: committed, denied (allow), busy (maxInFlight or the store refusing; informs unanswered), refused (commit refused), invalid, unauthorised, stopped',
      ['source', 'outcome'],
    ),
  };
}
