// Exporter status (for /api/streams) and Prometheus metrics (for /metrics).
// Metrics are registered once per registry and labelled by exporter, so several exporters share
// them; counters are bumped once per batch, never per record.
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counter, gauge, histogram } from '../../core/metrics.js';

export type ExporterState = 'running' | 'backoff' | 'stopped';

export interface ExporterStatus {
  name: string;
  stream: string;
  destination: { kind: string; target: string };
  state: ExporterState;
  /** Checkpoint: every record at or below it is delivered or dead-lettered. */
  lastExportedSeq: number;
  /** Epoch ms of the last successful send, if any. */
  lastExportAt: number | undefined;
  lastError: { message: string; at: number } | undefined;
  exportedRecords: number;
  exportedBytes: number;
  retries: number;
  deadLetters: number;
  /** Records held alone after failing a send by themselves (HTTP 500 with nothing else accepted):
   * resent after other records go through, dead-lettered after maxAttempts such failures. */
  parked: number;
  /** The last send failed with nothing accepted and nothing counted against its records (the
   * destination unreachable, or a 500 storm: docs/upstream.md item 7); false once a send goes through. */
  outage: boolean;
  backlog: {
    records: number;
    /** Estimated from the stream's average record size when other consumers hold older data. */
    bytes: number;
    /** Seconds since receivedAt of the oldest unexported record (0 when none). */
    ageSeconds: number;
  };
}

export interface ExporterMetrics {
  records: Counter<'exporter'>;
  bytes: Counter<'exporter'>;
  retries: Counter<'exporter'>;
  deadLetters: Counter<'exporter'>;
  errors: Counter<'exporter' | 'kind'>;
  backlogRecords: Gauge<'exporter'>;
  backlogAge: Gauge<'exporter'>;
  batchRecords: Histogram<string>;
  sendSeconds: Histogram<string>;
}

/** Get (or create on first use) the exporter metrics of a registry. */
export function exporterMetrics(registry: Registry): ExporterMetrics {
  return {
    records: counter(registry, 'gatehouse_export_records_total', 'Records delivered to the destination', ['exporter']),
    bytes: counter(registry, 'gatehouse_export_bytes_total', 'Payload bytes delivered to the destination', ['exporter']),
    retries: counter(registry, 'gatehouse_export_retries_total', 'Record sends that failed retryably and will be retried', ['exporter']),
    deadLetters: counter(registry, 'gatehouse_export_dead_letters_total', 'Records moved to the dead-letter stream', ['exporter']),
    errors: counter(registry, 'gatehouse_export_errors_total', 'Record send failures by kind (retryable|permanent)', ['exporter', 'kind']),
    backlogRecords: gauge(registry, 'gatehouse_export_backlog_records', 'Records in the stream not yet exported', ['exporter']),
    backlogAge: gauge(registry, 'gatehouse_export_backlog_age_seconds', 'Age of the oldest unexported record', ['exporter']),
    batchRecords: histogram(registry, 'gatehouse_export_batch_records', 'Records per send', [], { buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000] }),
    sendSeconds: histogram(registry, 'gatehouse_export_send_seconds', 'Duration of a destination send', [], {
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
  };
}
