// Exporter status (for /api/streams) and Prometheus metrics (for /metrics).
// Metrics are registered once per registry and labelled by exporter, so several exporters share
// them; counters are bumped once per batch, never per record.
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counter, gauge, histogram } from '../../core/metrics.js';
import type { StreamInfo } from '../store/types.js';

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
  /**
   * The last error, `at` in ISO 8601 like the other times of /api/streams. `current`: no send has
   * gone through since (told by the order of events, not by comparing `at` with lastExportAt,
   * which an NTP step of the wall clock would reverse). `since`: when the run of errors it ends
   * began (the first error after the last send that went through): failing since, while current.
   */
  lastError: { message: string; at: string; since: string; current: boolean } | undefined;
  exportedRecords: number;
  exportedBytes: number;
  retries: number;
  deadLetters: number;
  /** Records held alone after failing a send by themselves (HTTP 500 with nothing else accepted):
   * resent after other records go through, dead-lettered after maxAttempts such failures. */
  parked: number;
  /** Records held now: throttled at a destination that rebatches (Kinesis, Firehose: one failing
   * shard), waiting in the window to join later batches beside new records (docs/upstream.md,
   * "One failing shard"). Nothing is counted against them. */
  held: number;
  /** The held records filled the window's bound (16 batches of them, two batches of their bytes,
   * or 64 batches read past the first undelivered record): nothing more is read and only they go;
   * the records behind them wait in the stream (the backlog grows) until the destination takes them. */
  heldBack: boolean;
  /** The last send failed with nothing accepted and nothing counted against its records (the
   * destination unreachable, or a 500 storm: docs/upstream.md item 7); false once a send goes through. */
  outage: boolean;
  /** The last send was refused for the gateway's setup, nothing counted against its records: the
   * credentials or access (a wrong key, region, url), or an ACL or permission refusing every record
   * of it (an MQTT PUBACK 0x87, a NATS permissions violation, no JetStream stream for the subject).
   * Retried at the normal pace (backoff.maxMs) until fixed; false once a send goes through. */
  setupFault: boolean;
  /** Exporter of a stream no rule action of the running rule set appends to any more (a removed or
   * changed upstream action): it drains what the stream holds, then stops and goes (docs/upstream.md). */
  retiring?: boolean;
  /** Records passed without sending (docs/upstream.md, "Gaps in a stream"): dropped by retention
   * before this exporter read them, or not returned by the store (corrupt; the store counts them). */
  skipped: { retention: number; unreadable: number };
  /** Reads that found no record where the store counts some: each held the position (never a skip). */
  inconsistentReads: number;
  /** Set while the exporter holds at `seq` because of such reads (retrying after its backoff). */
  readStall: { seq: number; firstSeq: number; lastSeq: number; since: string; reads: number } | undefined;
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
  skippedRecords: Counter<'exporter' | 'stream' | 'reason'>;
  inconsistentReads: Counter<'exporter' | 'stream'>;
  backlogRecords: Gauge<'exporter'>;
  backlogAge: Gauge<'exporter'>;
  failingSince: Gauge<'exporter'>;
  heldRecords: Gauge<'exporter'>;
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
    skippedRecords: counter(
      registry,
      'gatehouse_export_skipped_records_total',
      'Records an exporter passed without sending: reason retention (dropped before it read them) or unreadable (the store could not return them)',
      ['exporter', 'stream', 'reason'],
    ),
    inconsistentReads: counter(
      registry,
      'gatehouse_export_inconsistent_reads_total',
      'Reads that found no record where the store counts some: the exporter held its position and retried',
      ['exporter', 'stream'],
    ),
    backlogRecords: gauge(registry, 'gatehouse_export_backlog_records', 'Records in the stream not yet exported', ['exporter']),
    backlogAge: gauge(registry, 'gatehouse_export_backlog_age_seconds', 'Age of the oldest unexported record', ['exporter']),
    failingSince: gauge(
      registry,
      'gatehouse_export_failing_since_timestamp_seconds',
      'Unix time the current run of export errors began (no send went through since; lastError.since); 0 while the last send went through',
      ['exporter'],
    ),
    heldRecords: gauge(
      registry,
      'gatehouse_export_held_records',
      'Records held in the window: throttled at a destination that rebatches (one failing Kinesis shard), waiting to join later batches',
      ['exporter'],
    ),
    batchRecords: histogram(registry, 'gatehouse_export_batch_records', 'Records per send', [], { buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000] }),
    sendSeconds: histogram(registry, 'gatehouse_export_send_seconds', 'Duration of a destination send', [], {
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
  };
}

/** An exporter's backlog: what is still to export past `checkpoint` (headAt: receivedAt of the oldest undelivered record read). */
export function exporterBacklog(info: StreamInfo, checkpoint: number, headAt: number | undefined, now: number): ExporterStatus['backlog'] {
  // Records retention dropped (below firstSeq) are no longer to export: they are counted as
  // dropped by the stream, not as backlog.
  const records = Math.max(0, info.lastSeq - Math.max(checkpoint, info.firstSeq - 1));
  const bytes = info.records > 0 ? Math.round(info.bytes * Math.min(1, records / info.records)) : 0;
  const oldest = headAt ?? (records > 0 ? info.oldestAt : undefined);
  const ageSeconds = oldest === undefined ? 0 : Math.max(0, (now - oldest) / 1000);
  return { records, bytes, ageSeconds };
}
