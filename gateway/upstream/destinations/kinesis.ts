// Kinesis Data Streams destination: PutRecords with @aws-sdk/client-kinesis.
// Per-record ErrorCodes map to per-record results; whole-call errors are classified in
// aws-common.ts. The partition key defaults to the record's key, else its topic, so each
// device's records land on one shard, in order.
import { createHash } from 'node:crypto';
import type { KinesisClient, PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
type KinesisSdk = typeof import('@aws-sdk/client-kinesis');
import { z } from '../../../core/zod.js';
import type { RuntimeDeps } from '../../../core/deps.js';
import { ERRORS } from '../../../core/errors.js';
import type { StoredRecord } from '../../store/types.js';
import type { Destination, DestinationLimits, RecordResult } from '../types.js';
import { awsCa, awsClientConfig, awsConnectionShape, awsRoute, checkCredentialPair } from './aws-common.js';
import { logRoute, type ProxySettings } from '../proxy.js';
import { sendAwsBatch, type AwsEntryOutcome, awsRejectLog } from './aws-batch.js';
import { aggregateBatch, DEFAULT_AGGREGATE_MAX_BYTES } from './kinesis-agg.js';
import { compileTemplate, destinationMetrics, renderTemplate, type TemplatePart } from './common.js';

const MiB = 1024 * 1024;

// z.lazy: built on first use, so a gateway without this destination does not hold it (docs/benchmarks.md, "Idle footprint").
export const kinesisOptionsSchema = z.lazy(() =>
  z
    .strictObject({
      streamName: z.string().min(1).max(128).describe('Name of the Kinesis data stream.'),
      ...awsConnectionShape(),
      partitionKey: z
        .string()
        .min(1)
        .optional()
        .describe(
          "Partition key template with ${key}, ${topic}, ${stream} ({key} etc. still read, deprecated). Default: the record's key, else its topic, so each device's records stay on one shard in order. Keys over 256 characters are replaced by their MD5 hex.",
        ),
      maxRecords: z.number().int().min(1).max(500).default(500).describe('Records per PutRecords call (service limit 500).'),
      maxRecordBytes: z
        .number()
        .int()
        .min(1)
        .max(10 * MiB)
        .default(MiB)
        .describe(
          'Max bytes of one record (data + partition key); service limit 1 MiB (10 MiB on streams configured for it). Larger records are rejected as permanent.',
        ),
      maxBatchBytes: z
        .number()
        .int()
        .min(1)
        .max(10 * MiB)
        .default(5 * MiB)
        .describe('Max bytes per PutRecords call; service limit 5 MiB (10 MiB on newer streams).'),
      aggregate: z
        .boolean()
        .default(false)
        .describe(
          "KPL-compatible aggregation: pack the records of a batch that share a partition key into KPL aggregated records (up to 50 KiB each), so a shard's 1,000 records/s limit stops being the bottleneck. Consumers must de-aggregate (KCL, aws-kinesis-agg). Raise the exporter's batch.maxRecords to benefit.",
        ),
    })
    .superRefine(checkCredentialPair)
    .describe('Kinesis Data Streams destination (PutRecords).'),
);

export type KinesisOptions = z.infer<typeof kinesisOptionsSchema>;

const KEY_FIELDS = ['key', 'topic', 'stream'] as const;
/** User records per send() when aggregating (the loop's batch.maxRecords still applies). */
const AGGREGATE_MAX_USER_RECORDS = 10_000;

/**
 * Per-record ErrorCode -> result. Every documented per-record code is transient. `keyAccepted`: a
 * record of the same partition key (so of the same shard) was accepted in the same call.
 */
function recordFailure(code: string, message: string | undefined, keyAccepted = false): RecordResult {
  const error = `${code}: ${message ?? ''}`.slice(0, 300);
  if (code === 'ProvisionedThroughputExceededException' || code === 'KMSThrottlingException') {
    return { ok: false, retryable: true, error, code: 'THROTTLED' };
  }
  // A shard in trouble fails every record it gets with InternalFailure while the other shards
  // accept theirs: those acceptances are no evidence against its records, which would otherwise be
  // dead-lettered after maxAttempts of a partial outage (acknowledged data leaving the upstream's
  // path). Without a record of its own shard accepted beside it, the failure is the shard's state:
  // resent without spending the budget, the loop slowing down, as for throttling.
  if (code === 'InternalFailure' && !keyAccepted) return { ok: false, retryable: true, error, code: 'THROTTLED' };
  // InternalFailure and the KMS errors (key disabled, access denied...) heal when the service or
  // the key policy does: record-level, so the loop counts them against a record's retry budget only
  // while the stream accepts other records (outcomes.ts); a call that fails them all counts nothing.
  return { ok: false, retryable: true, error, code };
}

export function createKinesisDestination(o: KinesisOptions, deps: RuntimeDeps & { network?: ProxySettings | undefined }): Destination {
  const target = `kinesis:${o.region}/${o.streamName}${o.endpoint ? ` @ ${o.endpoint}` : ''}`;
  const log = deps.logger.child({ component: 'destination', kind: 'kinesis', target });
  const rejectLog = awsRejectLog(log, deps.monotonic);
  const keyParts: TemplatePart[] | undefined =
    o.partitionKey === undefined ? undefined : compileTemplate(o.partitionKey, KEY_FIELDS, 'kinesis.partitionKey', (m) => log.warn(m));
  // Limits of one PutRecords call (in Kinesis records), and what the loop may hand to send():
  // with aggregation many user records fit in one Kinesis record, so a batch may hold more.
  const callLimits: DestinationLimits = { maxRecords: o.maxRecords, maxRecordBytes: o.maxRecordBytes, maxBatchBytes: o.maxBatchBytes };
  const limits: DestinationLimits = o.aggregate ? { ...callLimits, maxRecords: AGGREGATE_MAX_USER_RECORDS } : callLimits;
  const aggregateMaxBytes = Math.min(DEFAULT_AGGREGATE_MAX_BYTES, o.maxRecordBytes);
  const metrics = destinationMetrics(deps.registry);
  const ca = awsCa(o, 'Kinesis destination');
  // Direct or through the site's proxy (a proxy URL that is none, a password file unreadable: a config error here, at check-config too).
  const route = awsRoute(o, 'kinesis', deps.network);
  let client: KinesisClient | undefined;
  let sdk: KinesisSdk | undefined;

  function partitionKey(r: StoredRecord): string {
    let k: string;
    if (keyParts === undefined) k = r.key || r.topic;
    else k = renderTemplate(keyParts, (f) => (f === 'key' ? (r.key ?? '') : f === 'topic' ? r.topic : r.stream));
    if (k.length === 0) k = r.stream; // the service rejects empty keys
    // The service limit is 256 Unicode characters; the MD5 keeps distinct long keys apart and stable.
    return k.length <= 256 ? k : createHash('md5').update(k).digest('hex');
  }

  /**
   * Send Kinesis records data[i] with partition keys keys[i] through the shared AWS batch loop
   * (oversize, chunking within one PutRecords call's limits, error classification, metrics).
   */
  function putRecords(data: readonly Buffer[], keys: readonly string[], signal: AbortSignal): Promise<RecordResult[]> {
    return sendAwsBatch(
      {
        kind: 'kinesis',
        target,
        operation: 'Kinesis PutRecords',
        proxy: route.kind === 'proxy' ? route.safe : undefined,
        caFile: o.caFile,
        ca,
        timeoutMs: o.requestTimeoutMs,
        limits: callLimits,
        metrics,
        log,
        rejectLog,
        size: (i) => data[i]!.length + Buffer.byteLength(keys[i]!),
        tooLarge: (i) => `record of ${data[i]!.length} bytes exceeds the Kinesis limit of ${callLimits.maxRecordBytes} bytes (data + partition key)`,
        entryFailure: recordFailure,
        async put(idx, sig) {
          const entries: PutRecordsRequestEntry[] = new Array(idx.length);
          for (let j = 0; j < idx.length; j++) entries[j] = { Data: data[idx[j]!]!, PartitionKey: keys[idx[j]!]! };
          const out = await client!.send(new sdk!.PutRecordsCommand({ StreamName: o.streamName, Records: entries }), { abortSignal: sig });
          const rs = out.Records ?? [];
          // Partition keys with a record accepted in this call: their shard took records.
          const acceptedKeys = new Set<string>();
          for (let j = 0; j < idx.length; j++) if (!rs[j]?.ErrorCode && rs[j]?.SequenceNumber) acceptedKeys.add(keys[idx[j]!]!);
          const outcomes: AwsEntryOutcome[] = new Array(idx.length);
          for (let j = 0; j < idx.length; j++) {
            const r = rs[j];
            outcomes[j] = r?.ErrorCode
              ? { ok: false, errorCode: r.ErrorCode, errorMessage: r.ErrorMessage, peerAccepted: acceptedKeys.has(keys[idx[j]!]!) }
              : r?.SequenceNumber
                ? { ok: true }
                : undefined;
          }
          return outcomes;
        },
      },
      data.length,
      signal,
    );
  }

  /** Aggregated send: user records -> KPL aggregates per key; an aggregate's result is its members'. */
  async function sendAggregated(records: readonly StoredRecord[], keys: readonly string[], signal: AbortSignal): Promise<RecordResult[]> {
    const payloads: Buffer[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) payloads[i] = records[i]!.payload;
    const units = aggregateBatch(payloads, keys, aggregateMaxBytes);
    const unitData: Buffer[] = new Array(units.length);
    const unitKeys: string[] = new Array(units.length);
    for (let u = 0; u < units.length; u++) {
      unitData[u] = units[u]!.data;
      unitKeys[u] = units[u]!.key;
    }
    const unitResults = await putRecords(unitData, unitKeys, signal);
    const results: RecordResult[] = new Array(records.length);
    for (let u = 0; u < units.length; u++) {
      const r = unitResults[u]!;
      for (const i of units[u]!.members) results[i] = r;
    }
    return results;
  }

  return {
    kind: 'kinesis',
    target,
    limits,
    route,
    // PutRecords keeps no batch identity: a throttled record may go in any later call.
    rebatch: true,
    async start() {
      sdk ??= await import('@aws-sdk/client-kinesis');
      if (!client) {
        client = new sdk.KinesisClient(await awsClientConfig(o, ca, {}, route));
        logRoute(log, route);
      }
    },
    async stop() {
      client?.destroy();
      client = undefined;
    },
    async send(records, signal) {
      if (!client) throw ERRORS.GH_EXPORT_RETRYABLE({ reason: 'Kinesis destination used before start()' }, { where: target, hint: 'call start() first' });
      // Partition keys are computed once: they count toward the record and call size limits.
      const keys: string[] = new Array(records.length);
      for (let i = 0; i < records.length; i++) keys[i] = partitionKey(records[i]!);
      if (o.aggregate) return sendAggregated(records, keys, signal);
      const payloads: Buffer[] = new Array(records.length);
      for (let i = 0; i < records.length; i++) payloads[i] = records[i]!.payload;
      return putRecords(payloads, keys, signal);
    },
  };
}
