// Metrics of the sparkplug sources, labelled by source name (the connection's own are the mqtt
// source's: gatehouse_mqtt_source_*). Several sources share one registry (declared idempotently).
import type { Counter, Gauge, Registry } from 'prom-client';
import { counter, gauge } from '../../../../core/metrics.js';

export interface SparkplugMetrics {
  nodes: Gauge<'source' | 'state'>;
  devices: Gauge<'source' | 'state'>;
  messages: Counter<'source' | 'type'>;
  births: Counter<'source' | 'level'>;
  deaths: Counter<'source' | 'level'>;
  problems: Counter<'source' | 'problem'>;
  unresolved: Counter<'source'>;
  rebirths: Counter<'source' | 'result'>;
  untracked: Counter<'source' | 'bound'>;
}

export function sparkplugMetrics(registry: Registry): SparkplugMetrics {
  return {
    nodes: gauge(registry, 'gatehouse_sparkplug_nodes', 'Sparkplug edge nodes the host tracks, by state (online: NBIRTH seen and no NDEATH since)', [
      'source',
      'state',
    ]),
    devices: gauge(
      registry,
      'gatehouse_sparkplug_devices',
      'Sparkplug devices the host tracks, by state (online: DBIRTH seen in its node session and no DDEATH since)',
      ['source', 'state'],
    ),
    messages: counter(
      registry,
      'gatehouse_sparkplug_messages_total',
      'Sparkplug messages taken, by type (NBIRTH, NDATA, ...; STATE and commands are not stored)',
      ['source', 'type'],
    ),
    births: counter(registry, 'gatehouse_sparkplug_births_total', 'Births (NBIRTH: level node, DBIRTH: level device)', ['source', 'level']),
    deaths: counter(
      registry,
      'gatehouse_sparkplug_deaths_total',
      'Deaths (NDEATH: level node, DDEATH: level device); an NDEATH of an earlier session (bdSeq) is not one',
      ['source', 'level'],
    ),
    problems: counter(
      registry,
      'gatehouse_sparkplug_problems_total',
      'Faults seen in Sparkplug messages: seq-gap, before-birth (data with no birth seen), unknown-alias, bdseq-mismatch (an NDEATH of an earlier session, ignored), undecodable (kept as base64), late (a message of an earlier session delivered after the NBIRTH: QoS 1 the broker queued while the host was away)',
      ['source', 'problem'],
    ),
    unresolved: counter(registry, 'gatehouse_sparkplug_unresolved_metrics_total', 'Metrics stored with their alias only: no birth named it', ['source']),
    rebirths: counter(
      registry,
      'gatehouse_sparkplug_rebirths_total',
      'Rebirth requests (NCMD Node Control/Rebirth) by result: requested (sent), held (the per-node rate limit), failed (not connected)',
      ['source', 'result'],
    ),
    untracked: counter(
      registry,
      'gatehouse_sparkplug_untracked_total',
      'Births or nodes past a bound (max-nodes, max-devices, max-metrics): the message is kept, what it would add to the state is not',
      ['source', 'bound'],
    ),
  };
}
