// Contract between the exporter loop (gateway/upstream/exporter.ts) and destinations.
// A destination only sends; batching, checkpoints, retries, backoff and dead letters are the loop's.
import type { StoredRecord } from '../store/types.js';
import type { Route } from './proxy.js';

export interface DestinationLimits {
  /** Max records per send() call. */
  maxRecords: number;
  /** Max bytes of one record's payload; larger records are dead-lettered as permanent errors. */
  maxRecordBytes: number;
  /** Max summed payload bytes per send() call. */
  maxBatchBytes: number;
}

/**
 * A record's verdict. `retryAfterMs`: the destination said when to try again (HTTP Retry-After on a
 * 429 or 503); the loop waits at least that long, up to backoff.maxMs, before the next send.
 * `setup`: the peer refused it for the gateway's setup, not for a state that passes (a broker ACL,
 * a NATS publish permission, no JetStream stream for the subject): a send whose every failure is
 * such a refusal, with nothing accepted, waits at the normal pace (backoff.maxMs) as a refused
 * credential does, not at the outage's (outageMaxMs).
 */
export type RecordResult = { ok: true } | { ok: false; retryable: boolean; error: string; code?: string; retryAfterMs?: number; setup?: boolean };

export interface Destination {
  /** 'file', 'http', 'kinesis', 'firehose', 's3', 'mqtt', 'nats', 'webhook', 'postgres', 'prometheus'. */
  readonly kind: string;
  /** Where it sends (endpoint, stream name, bucket): for status pages. Never contains secrets. */
  readonly target: string;
  readonly limits: DestinationLimits;
  /**
   * A record that failed may be resent in a later batch together with records never sent: the
   * destination keeps no batch identity across retries (Kinesis PutRecords, Firehose
   * PutRecordBatch). Then a record throttled (code THROTTLED) in a send is held in the window on a
   * backoff of its own and joins the next batches, so one failing Kinesis shard does not hold back
   * the others' records (outcomes.ts). Unset: a retry resends exactly the failed records of the
   * previous send (the HTTP destination keeps its request id across retries).
   */
  readonly rebatch?: boolean;
  /** HTTP-based destinations: direct, or through which proxy (proxy.ts; check-config prints it). */
  readonly route?: Route;
  /**
   * Never called beside stop(): the exporter's stop() waits for its start (Exporter.stop), so a
   * destination need not handle a stop during its start (the MQTT one does not).
   */
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Send a batch that respects limits. Returns one result per record, in order.
   * Throwing means the whole batch failed with a retryable error (network down, timeout).
   * A throttling signal (e.g. ProvisionedThroughputExceeded) should be returned as retryable
   * results with code 'THROTTLED' so the loop slows down. A record left without a verdict because
   * the link to the destination failed under the batch (a disconnect after some acks) is a retryable
   * result with code 'DISCONNECTED': an outage for that record, never counted against its budget.
   * A thrown GatehouseError whose details carry `retryAfterMs` asks the loop to wait that long too.
   */
  send(records: readonly StoredRecord[], signal: AbortSignal): Promise<RecordResult[]>;
}

/** Stable id for downstream deduplication: "<stream>:<seq>". */
export function recordId(record: Pick<StoredRecord, 'stream' | 'seq'>): string {
  return `${record.stream}:${record.seq}`;
}
