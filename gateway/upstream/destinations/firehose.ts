// Amazon Data Firehose destination: PutRecordBatch with @aws-sdk/client-firehose.
// Per-record ErrorCodes map to per-record results; an optional separator (e.g. "\n") is appended
// to each record so that the objects Firehose writes to S3 split back into records.
import type { FirehoseClient, PutRecordBatchCommand, _Record as FirehoseRecord } from '@aws-sdk/client-firehose';
type FirehoseSdk = typeof import('@aws-sdk/client-firehose');
import { z } from 'zod';
import type { RuntimeDeps } from '../../../core/deps.js';
import { GatehouseError } from '../../../core/errors.js';
import type { StoredRecord } from '../../store/types.js';
import type { Destination, DestinationLimits, RecordResult } from '../types.js';
import { awsClientConfig, awsConnectionShape, checkCredentialPair, classifyAwsError } from './aws-common.js';
import { OK, chunkIndexes, destinationMetrics, failAll } from './common.js';

const KiB = 1024;
const MiB = 1024 * KiB;

export const firehoseOptionsSchema = z.object({
  deliveryStreamName: z.string().min(1).max(64).describe('Name of the Firehose delivery stream.'),
  ...awsConnectionShape,
  recordSeparator: z.string().max(16).optional()
    .describe('Appended to every record (e.g. "\\n") so records stay apart in the S3 objects Firehose writes. Default: none.'),
  maxRecords: z.number().int().min(1).max(500).default(500).describe('Records per PutRecordBatch call (service limit 500).'),
  maxRecordBytes: z.number().int().min(1).max(1000 * KiB).default(1000 * KiB)
    .describe('Max bytes of one record including the separator (service limit 1,000 KiB); larger records are rejected as permanent.'),
  maxBatchBytes: z.number().int().min(1).max(4 * MiB).default(4 * MiB).describe('Max bytes per PutRecordBatch call (service limit 4 MiB).'),
}).superRefine(checkCredentialPair).describe('Amazon Data Firehose destination (PutRecordBatch).');

export type FirehoseOptions = z.infer<typeof firehoseOptionsSchema>;

function recordFailure(code: string, message: string | undefined): RecordResult {
  const error = `${code}: ${message ?? ''}`.slice(0, 300);
  // ServiceUnavailableException is Firehose's per-record throttling signal.
  if (code === 'ServiceUnavailableException' || code === 'ThrottlingException') return { ok: false, retryable: true, error, code: 'THROTTLED' };
  // InternalFailure and anything else the service reports per record is transient on its side.
  return { ok: false, retryable: true, error, code };
}

export function createFirehoseDestination(options: FirehoseOptions, deps: RuntimeDeps): Destination {
  const o = firehoseOptionsSchema.parse(options);
  const sep = o.recordSeparator ? Buffer.from(o.recordSeparator, 'utf8') : undefined;
  const sepLen = sep?.length ?? 0;
  const target = `firehose:${o.region}/${o.deliveryStreamName}${o.endpoint ? ` @ ${o.endpoint}` : ''}`;
  // The loop sizes batches by payload bytes: leave room for the separators in the declared limits.
  const limits: DestinationLimits = {
    maxRecords: o.maxRecords,
    maxRecordBytes: o.maxRecordBytes - sepLen,
    maxBatchBytes: o.maxBatchBytes - o.maxRecords * sepLen,
  };
  const hard: DestinationLimits = { maxRecords: o.maxRecords, maxRecordBytes: o.maxRecordBytes, maxBatchBytes: o.maxBatchBytes };
  const metrics = destinationMetrics(deps.registry);
  const log = deps.logger.child({ component: 'destination', kind: 'firehose', target });
  let client: FirehoseClient | undefined;
  let sdk: FirehoseSdk | undefined;

  async function putChunk(records: readonly StoredRecord[], idx: readonly number[], results: RecordResult[], signal: AbortSignal): Promise<void> {
    const entries: FirehoseRecord[] = new Array(idx.length);
    for (let j = 0; j < idx.length; j++) {
      const p = records[idx[j]!]!.payload;
      entries[j] = { Data: sep ? Buffer.concat([p, sep], p.length + sepLen) : p };
    }
    let out;
    try {
      out = await client!.send(new sdk!.PutRecordBatchCommand({ DeliveryStreamName: o.deliveryStreamName, Records: entries }), { abortSignal: signal });
    } catch (err) {
      const c = classifyAwsError(err);
      if (c.retryable) {
        metrics.calls.inc({ kind: 'firehose', target, outcome: 'retryable' });
        throw new GatehouseError('GH_EXPORT_RETRYABLE', `Firehose PutRecordBatch failed: ${c.message}`, { where: target, cause: err, details: { code: c.code } });
      }
      metrics.calls.inc({ kind: 'firehose', target, outcome: 'permanent' });
      metrics.recordFailures.inc({ kind: 'firehose', target, code: c.code }, idx.length);
      log.warn({ code: c.code, err: c.message }, 'Firehose rejected a whole PutRecordBatch call');
      failAll(results, idx, { ok: false, retryable: false, error: `Firehose PutRecordBatch rejected: ${c.message}`, code: c.code });
      return;
    }
    const rs = out.RequestResponses ?? [];
    let failed = 0;
    for (let j = 0; j < idx.length; j++) {
      const r = rs[j];
      if (r && r.ErrorCode) {
        failed++;
        results[idx[j]!] = recordFailure(r.ErrorCode, r.ErrorMessage);
        metrics.recordFailures.inc({ kind: 'firehose', target, code: r.ErrorCode });
      } else if (r && r.RecordId) {
        results[idx[j]!] = OK;
      } else {
        failed++;
        results[idx[j]!] = { ok: false, retryable: true, error: 'Firehose response had no result for this record', code: 'NO_RESULT' };
      }
    }
    metrics.calls.inc({ kind: 'firehose', target, outcome: failed === 0 ? 'ok' : 'partial' });
  }

  return {
    kind: 'firehose',
    target,
    limits,
    async start() {
      sdk ??= await import('@aws-sdk/client-firehose');
      client ??= new sdk.FirehoseClient(await awsClientConfig(o));
    },
    async stop() {
      client?.destroy();
      client = undefined;
    },
    async send(records, signal) {
      if (!client) throw new GatehouseError('GH_EXPORT_RETRYABLE', 'Firehose destination used before start()', { where: target, hint: 'call start() first' });
      const results: RecordResult[] = new Array(records.length);
      const oversized: number[] = [];
      const chunks = chunkIndexes(records, hard, (r) => r.payload.length + sepLen, oversized);
      for (const i of oversized) {
        metrics.recordFailures.inc({ kind: 'firehose', target, code: 'TOO_LARGE' });
        results[i] = { ok: false, retryable: false, error: `record of ${records[i]!.payload.length} bytes (+${sepLen} separator) exceeds the Firehose limit of ${hard.maxRecordBytes} bytes`, code: 'TOO_LARGE' };
      }
      for (const idx of chunks) await putChunk(records, idx, results, signal);
      return results;
    },
  };
}
