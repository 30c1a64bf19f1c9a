// An exporter's parts, built once and tied to each other (exporter.ts is the loop that drives
// them: read, batch, linger, send, advance): the batch limits (the exporter's within the
// destination's), the window over the stream and its read-gap watch (the window and the health
// hold it), the checkpoint written behind, the outcomes (results, retries, dead letters), the
// pacing (the exporter's own bandwidth bucket, the throttle pacer, the retry backoff), the health
// (last error, status, gauges) and the rate-limited logs. Nothing here is on the send path: the
// loop keeps each part in a field of its own. The parts' errors go to the health, built last:
// their callbacks read it when called (after the exporter is built), never while building.
import { clocksOf } from '../../core/clock.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { type GatehouseError, errorMessage } from '../../core/errors.js';
import { rateLimitedLog, type RateLog } from '../../core/rate-log.js';
import type { LocalStreams, StoredRecord } from '../store/types.js';
import { RetryBackoff, ThrottlePacer } from './backoff.js';
import type { BatchLimits } from './batcher.js';
import { CheckpointWriter } from './checkpoint.js';
import { ExporterHealth } from './exporter-health.js';
import type { ExporterOptions } from './options.js';
import { ExportOutcomes } from './outcomes.js';
import { TokenBucket, type BandwidthLimiter } from './rate-limit.js';
import { ReadGaps } from './read-gaps.js';
import { exporterMetrics, type ExporterMetrics } from './status.js';
import type { Destination } from './types.js';
import { StreamWindow } from './window.js';

/** A failing export logs its error at most this often (the first at once). */
const ERROR_LOG_MS = 60_000;

export interface ExporterDeps extends RuntimeDeps {
  streams: LocalStreams;
  destination: Destination;
  /** Replaces the default dead-letter stream append; must be durable when it resolves. */
  deadLetter?: (rec: StoredRecord, error: string) => Promise<void>;
  /** Shared uplink cap (priority between exporters); see rate-limit.ts. */
  uplink?: BandwidthLimiter;
  /** Random source for jitter (tests). */
  random?: () => number;
}

export interface ExporterParts {
  metrics: ExporterMetrics;
  limits: BatchLimits;
  dlqName: string;
  /** The exporter's own bandwidth cap (bandwidthKbps), if any. */
  ownBucket: TokenBucket | undefined;
  pacer: ThrottlePacer;
  retryBackoff: RetryBackoff;
  /** Checkpoint, written behind the sends (checkpoint.ts). */
  ckpt: CheckpointWriter;
  /** The records read and not yet behind the checkpoint (window.ts). */
  win: StreamWindow;
  /** Results, retries, dead letters and the counters status() reports. */
  out: ExportOutcomes;
  /** The last error, the status document and the gauges (exporter-health.ts). */
  health: ExporterHealth;
  /** 'export resumed', at most a line a minute. */
  upLog: RateLog;
}

/** The parts of exporter `options.name`; `now`: the wall clock its parts stamp with. */
export function buildExporterParts(options: ExporterOptions, deps: ExporterDeps, now: () => number): ExporterParts {
  const name = options.name;
  const stream = options.stream;
  const dest = deps.destination;
  const streams = deps.streams;
  const metrics = exporterMetrics(deps.registry);
  const errorLog = rateLimitedLog(deps.logger, 'warn', ERROR_LOG_MS, clocksOf(deps).monotonic);
  const upLog = rateLimitedLog(deps.logger, 'info', ERROR_LOG_MS, clocksOf(deps).monotonic);
  const l = dest.limits;
  const limits: BatchLimits = {
    maxRecords: Math.max(1, Math.min(options.batch.maxRecords, l.maxRecords)),
    maxBytes: Math.max(1, Math.min(options.batch.maxBytes, l.maxBatchBytes)),
  };
  // A run of reads the store cannot serve is logged by read-gaps.ts, once; here it is the last error.
  const onStall = (err: GatehouseError): void => health.noteError(err.describe(), false);
  const gaps = new ReadGaps({ ...deps, stream, exporter: name, metrics, now, onStall });
  const win = new StreamWindow({
    streams,
    stream,
    limits,
    maxAttempts: options.maxAttempts,
    maxRecordBytes: l.maxRecordBytes,
    destKind: dest.kind,
    onOversize: () => metrics.errors.inc({ exporter: name, kind: 'permanent' }),
    gaps,
    rebatch: dest.rebatch === true,
  });
  const dlqName = options.deadLetterStream ?? `${options.stream}-dlq`;
  // The bucket refills by elapsed time: on the monotonic clock, so an NTP step back does not stop it.
  const ownBucket = options.bandwidthKbps > 0 ? new TokenBucket(options.bandwidthKbps, clocksOf(deps).monotonic) : undefined;
  const pacer = new ThrottlePacer(options.backoff.initialMs, options.backoff.maxMs);
  const retryBackoff = new RetryBackoff(options.backoff, deps.random ?? Math.random);
  const ckpt = new CheckpointWriter(streams, stream, name, options.backoff.initialMs, (err) =>
    health.noteError(`checkpoint write failed: ${errorMessage(err)}`),
  );
  const out = new ExportOutcomes({
    name,
    options,
    metrics,
    pacer,
    logger: deps.logger,
    now,
    streams,
    dest,
    dlqName,
    sink: deps,
    noteError: (message) => health.noteError(message, true, true),
    rateLog: errorLog,
    random: deps.random ?? Math.random,
  });
  const health = new ExporterHealth(options, deps, { metrics, now, errorLog, out, win, gaps, ckpt });
  return { metrics, limits, dlqName, ownBucket, pacer, retryBackoff, ckpt, win, out, health, upLog };
}
