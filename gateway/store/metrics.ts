// Prometheus metrics of the store, on the registry passed in. Gauges are computed at scrape time
// (collect) from the in-memory stream state, so the append path touches no gauge.
import type { Registry } from 'prom-client';
import { Counter, Gauge, Histogram } from '../../core/prom-client.js';
import type { StreamCounters, StreamState } from './state.js';

export interface StoreMetrics {
  batchRecords: Histogram<string>;
  commitSeconds: Histogram<string>;
  corruptSegments: Counter<string>;
  /** Compactions of a stream's deleted range (compaction.ts) and the disk bytes they gave back. */
  compactions: Counter<string>;
  compactedBytes: Counter<string>;
  /** Damaged databases repaired at open (repair.ts): 1 for the run that repaired it. */
  repairs: Counter<string>;
  /** Bytes of a damaged write-ahead log LevelDB dropped at open (repair.ts logDroppedAtOpen). */
  logDroppedBytes: Counter<string>;
  countersFor(stream: string): StreamCounters;
  /** Remove a dropped stream's series (drop.ts); its gauges go with its state, at the next scrape. */
  forget(stream: string): void;
}

export function createStoreMetrics(registry: Registry, streams: () => Iterable<StreamState>): StoreMetrics {
  const names = [
    'gatehouse_store_commit_batch_records',
    'gatehouse_store_commit_seconds',
    'gatehouse_store_corrupt_segments_total',
    'gatehouse_stream_records',
    'gatehouse_stream_bytes',
    'gatehouse_stream_appended_total',
    'gatehouse_stream_dropped_total',
    'gatehouse_stream_rejected_total',
    'gatehouse_stream_backlog_records',
    'gatehouse_store_compactions_total',
    'gatehouse_store_compacted_bytes_total',
    'gatehouse_store_repairs_total',
    'gatehouse_store_log_dropped_bytes_total',
  ];
  // A store reopened on the same registry (restart in tests, reload) replaces its old metrics.
  for (const n of names) registry.removeSingleMetric(n);
  const registers = [registry];

  const batchRecords = new Histogram({
    name: 'gatehouse_store_commit_batch_records',
    help: 'Records written per group commit (one LevelDB batch, one fsync)',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000],
    registers,
  });
  const commitSeconds = new Histogram({
    name: 'gatehouse_store_commit_seconds',
    help: 'Latency of one group commit write (including fsync with durability fsync)',
    // 5 and 10 s: an SD card's stalls (docs/store.md, "A slow disk") are seconds, not +Inf
    buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const corruptSegments = new Counter({
    name: 'gatehouse_store_corrupt_segments_total',
    help: 'Segments that failed to decode on read and were skipped',
    labelNames: ['stream'],
    registers,
  });
  new Gauge({
    name: 'gatehouse_stream_records',
    help: 'Records held by a local stream',
    labelNames: ['stream'],
    registers,
    collect(): void {
      this.reset();
      for (const s of streams()) if (s.options) this.set({ stream: s.name }, s.records);
    },
  });
  new Gauge({
    name: 'gatehouse_stream_bytes',
    help: 'Record bytes (topic + payload + key + attrs) held by a local stream',
    labelNames: ['stream'],
    registers,
    collect(): void {
      this.reset();
      for (const s of streams()) if (s.options) this.set({ stream: s.name }, s.bytes);
    },
  });
  new Gauge({
    name: 'gatehouse_stream_backlog_records',
    help: 'Records appended but not yet delivered by a consumer (lastSeq - checkpoint)',
    labelNames: ['stream', 'consumer'],
    registers,
    collect(): void {
      this.reset();
      for (const s of streams()) {
        for (const [consumer, ck] of s.consumers) this.set({ stream: s.name, consumer }, Math.max(0, s.lastSeq - ck));
      }
    },
  });
  const appended = new Counter({
    name: 'gatehouse_stream_appended_total',
    help: 'Records appended (committed) to a local stream',
    labelNames: ['stream'],
    registers,
  });
  const dropped = new Counter({
    name: 'gatehouse_stream_dropped_total',
    help: 'Records dropped by retention before every consumer had them (reason full: drop-oldest, ttl: sweep)',
    labelNames: ['stream', 'reason'],
    registers,
  });
  const rejected = new Counter({
    name: 'gatehouse_stream_rejected_total',
    help: 'Appends that failed with GH_STREAM_FULL (onFull reject, no space within appendTimeoutMs)',
    labelNames: ['stream'],
    registers,
  });
  const compactions = new Counter({
    name: 'gatehouse_store_compactions_total',
    help: "Compactions of a stream's deleted records (their space given back to the filesystem)",
    registers,
  });
  const compactedBytes = new Counter({
    name: 'gatehouse_store_compacted_bytes_total',
    help: 'Disk bytes of deleted records given back by those compactions (LevelDB estimate)',
    registers,
  });
  const repairs = new Counter({
    name: 'gatehouse_store_repairs_total',
    help: "Damaged store databases repaired at start with LevelDB's RepairDB (GH_STORE_REPAIRED in the log; files set aside in <store>/lost/)",
    registers,
  });
  repairs.inc(0);
  const logDroppedBytes = new Counter({
    name: 'gatehouse_store_log_dropped_bytes_total',
    help: 'Bytes of a damaged LevelDB write-ahead log dropped when the store opened (GH_STORE_CORRUPT in the log): the records in them are lost',
    registers,
  });
  logDroppedBytes.inc(0);

  return {
    batchRecords,
    repairs,
    logDroppedBytes,
    commitSeconds,
    corruptSegments,
    compactions,
    compactedBytes,
    countersFor(stream: string): StreamCounters {
      // Children are resolved once per stream, so the hot path does no label lookup.
      const c: StreamCounters = {
        appended: appended.labels(stream),
        droppedFull: dropped.labels(stream, 'full'),
        droppedTtl: dropped.labels(stream, 'ttl'),
        rejected: rejected.labels(stream),
      };
      // Export the zero series so dashboards see the stream before its first event.
      c.appended.inc(0);
      c.droppedFull.inc(0);
      c.droppedTtl.inc(0);
      c.rejected.inc(0);
      return c;
    },
    forget(stream: string): void {
      appended.remove(stream);
      dropped.remove(stream, 'full');
      dropped.remove(stream, 'ttl');
      rejected.remove(stream);
      corruptSegments.remove(stream);
    },
  };
}
