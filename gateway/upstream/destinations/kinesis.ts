// Kinesis Data Streams destination: PutRecords with @aws-sdk/client-kinesis.
// Per-record ErrorCodes map to per-record results; whole-call errors are classified in
// aws-common.ts. The partition key defaults to the record's key, else its topic, so each
// device's records land on one shard, in order.
import { createHash } from 'node:crypto';
import { KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { z } from 'zod';
import type { RuntimeDeps } from '../../deps.js';
import { GatehouseError } from '../../errors.js';
import type { StoredRecord } from '../../store/types.js';
import type { Destination, DestinationLimits, RecordResult } from '../types.js';
import { awsClientConfig, awsConnectionShape, checkCredentialPair, classifyAwsError } from './aws-common.js';
import { OK, chunkIndexes, compileTemplate, destinationMetrics, failAll, renderTemplate, type TemplatePart } from './common.js';

const MiB = 1024 * 1024;

export const kinesisOptionsSchema = z.object({
  streamName: z.string().min(1).max(128).describe('Name of the Kinesis data stream.'),
  ...awsConnectionShape,
  partitionKey: z.string().min(1).optional()
    .describe("Partition key template with {key}, {topic}, {stream}. Default: the record's key, else its topic, so each device's records stay on one shard in order. Keys over 256 characters are replaced by their MD5 hex."),
  maxRecords: z.number().int().min(1).max(500).default(500).describe('Records per PutRecords call (service limit 500).'),
  maxRecordBytes: z.number().int().min(1).max(10 * MiB).default(MiB)
    .describe('Max bytes of one record (data + partition key); service limit 1 MiB (10 MiB on streams configured for it). Larger records are rejected as permanent.'),
  maxBatchBytes: z.number().int().min(1).max(10 * MiB).default(5 * MiB)
    .describe('Max bytes per PutRecords call; service limit 5 MiB (10 MiB on newer streams).'),
}).superRefine(checkCredentialPair).describe('Kinesis Data Streams destination (PutRecords).');

export type KinesisOptions = z.infer<typeof kinesisOptionsSchema>;

const KEY_FIELDS = ['key', 'topic', 'stream'] as const;

/** Per-record ErrorCode -> result. Every documented per-record code is transient. */
function recordFailure(code: string, message: string | undefined): RecordResult {
  const error = `${code}: ${message ?? ''}`.slice(0, 300);
  if (code === 'ProvisionedThroughputExceededException' || code === 'KMSThrottlingException') {
    return { ok: false, retryable: true, error, code: 'THROTTLED' };
  }
  // InternalFailure and the KMS errors (key disabled, access denied...) heal when the service or
  // the key policy does; the loop's retry budget bounds them before they dead-letter.
  return { ok: false, retryable: true, error, code };
}

export function createKinesisDestination(options: KinesisOptions, deps: RuntimeDeps): Destination {
  const o = kinesisOptionsSchema.parse(options);
  const keyParts: TemplatePart[] | undefined = o.partitionKey === undefined
    ? undefined
    : compileTemplate(o.partitionKey, KEY_FIELDS, 'kinesis.partitionKey');
  const target = `kinesis:${o.region}/${o.streamName}${o.endpoint ? ` @ ${o.endpoint}` : ''}`;
  const limits: DestinationLimits = { maxRecords: o.maxRecords, maxRecordBytes: o.maxRecordBytes, maxBatchBytes: o.maxBatchBytes };
  const metrics = destinationMetrics(deps.registry);
  const log = deps.logger.child({ component: 'destination', kind: 'kinesis', target });
  let client: KinesisClient | undefined;

  function partitionKey(r: StoredRecord): string {
    let k: string;
    if (keyParts === undefined) k = r.key || r.topic;
    else k = renderTemplate(keyParts, (f) => (f === 'key' ? (r.key ?? '') : f === 'topic' ? r.topic : r.stream));
    if (k.length === 0) k = r.stream; // the service rejects empty keys
    // The service limit is 256 Unicode characters; the MD5 keeps distinct long keys apart and stable.
    return k.length <= 256 ? k : createHash('md5').update(k).digest('hex');
  }

  async function putChunk(records: readonly StoredRecord[], idx: readonly number[], keys: readonly string[], results: RecordResult[], signal: AbortSignal): Promise<void> {
    const entries: PutRecordsRequestEntry[] = new Array(idx.length);
    for (let j = 0; j < idx.length; j++) {
      const i = idx[j]!;
      entries[j] = { Data: records[i]!.payload, PartitionKey: keys[i]! };
    }
    let out;
    try {
      out = await client!.send(new PutRecordsCommand({ StreamName: o.streamName, Records: entries }), { abortSignal: signal });
    } catch (err) {
      const c = classifyAwsError(err);
      if (c.retryable) {
        metrics.calls.inc({ kind: 'kinesis', target, outcome: 'retryable' });
        throw new GatehouseError('GH_EXPORT_RETRYABLE', `Kinesis PutRecords failed: ${c.message}`, { where: target, cause: err, details: { code: c.code } });
      }
      metrics.calls.inc({ kind: 'kinesis', target, outcome: 'permanent' });
      metrics.recordFailures.inc({ kind: 'kinesis', target, code: c.code }, idx.length);
      log.warn({ code: c.code, err: c.message }, 'Kinesis rejected a whole PutRecords call');
      failAll(results, idx, { ok: false, retryable: false, error: `Kinesis PutRecords rejected: ${c.message}`, code: c.code });
      return;
    }
    const rs = out.Records ?? [];
    let failed = 0;
    for (let j = 0; j < idx.length; j++) {
      const r = rs[j];
      if (r && r.ErrorCode) {
        failed++;
        const res = recordFailure(r.ErrorCode, r.ErrorMessage);
        results[idx[j]!] = res;
        metrics.recordFailures.inc({ kind: 'kinesis', target, code: r.ErrorCode });
      } else if (r && r.SequenceNumber) {
        results[idx[j]!] = OK;
      } else {
        // A response shorter than the request should not happen; never claim success for it.
        failed++;
        results[idx[j]!] = { ok: false, retryable: true, error: 'Kinesis response had no result for this record', code: 'NO_RESULT' };
      }
    }
    metrics.calls.inc({ kind: 'kinesis', target, outcome: failed === 0 ? 'ok' : 'partial' });
  }

  return {
    kind: 'kinesis',
    target,
    limits,
    async start() {
      client ??= new KinesisClient(awsClientConfig(o));
    },
    async stop() {
      client?.destroy();
      client = undefined;
    },
    async send(records, signal) {
      if (!client) throw new GatehouseError('GH_EXPORT_RETRYABLE', 'Kinesis destination used before start()', { where: target, hint: 'call start() first' });
      const results: RecordResult[] = new Array(records.length);
      // Partition keys are computed once: they count toward the record and call size limits.
      const keys: string[] = new Array(records.length);
      for (let i = 0; i < records.length; i++) keys[i] = partitionKey(records[i]!);
      const oversized: number[] = [];
      const chunks = chunkIndexes(records, limits, (r, i) => r.payload.length + Buffer.byteLength(keys[i]!), oversized);
      for (const i of oversized) {
        metrics.recordFailures.inc({ kind: 'kinesis', target, code: 'TOO_LARGE' });
        results[i] = { ok: false, retryable: false, error: `record of ${records[i]!.payload.length} bytes exceeds the Kinesis limit of ${limits.maxRecordBytes} bytes (data + partition key)`, code: 'TOO_LARGE' };
      }
      for (const idx of chunks) await putChunk(records, idx, keys, results, signal);
      return results;
    },
  };
}
