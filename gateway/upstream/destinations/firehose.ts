// Amazon Data Firehose destination: PutRecordBatch with @aws-sdk/client-firehose.
// Per-record ErrorCodes map to per-record results; an optional separator (e.g. "\n") is appended
// to each record so that the objects Firehose writes to S3 split back into records.
import type { FirehoseClient, _Record as FirehoseRecord } from '@aws-sdk/client-firehose';
type FirehoseSdk = typeof import('@aws-sdk/client-firehose');
import { z } from '../../../core/zod.js';
import type { RuntimeDeps } from '../../../core/deps.js';
import { ERRORS } from '../../../core/errors.js';
import type { Destination, DestinationLimits, RecordResult } from '../types.js';
import { awsCa, awsClientConfig, awsConnectionShape, awsRoute, checkCredentialPair } from './aws-common.js';
import { logRoute, type ProxySettings } from '../proxy.js';
import { sendAwsBatch, type AwsEntryOutcome, awsRejectLog } from './aws-batch.js';
import { destinationMetrics } from './common.js';

const KiB = 1024;
const MiB = 1024 * KiB;

// z.lazy: built on first use, so a gateway without this destination does not hold it (docs/benchmarks.md, "Idle footprint").
export const firehoseOptionsSchema = z.lazy(() =>
  z
    .strictObject({
      deliveryStreamName: z.string().min(1).max(64).describe('Name of the Firehose delivery stream.'),
      ...awsConnectionShape(),
      recordSeparator: z
        .string()
        .max(16)
        .optional()
        .describe('Appended to every record (e.g. "\\n") so records stay apart in the S3 objects Firehose writes. Default: none.'),
      maxRecords: z.number().int().min(1).max(500).default(500).describe('Records per PutRecordBatch call (service limit 500).'),
      maxRecordBytes: z
        .number()
        .int()
        .min(1)
        .max(1000 * KiB)
        .default(1000 * KiB)
        .describe('Max bytes of one record including the separator (service limit 1,000 KiB); larger records are rejected as permanent.'),
      maxBatchBytes: z
        .number()
        .int()
        .min(1)
        .max(4 * MiB)
        .default(4 * MiB)
        .describe('Max bytes per PutRecordBatch call (service limit 4 MiB).'),
    })
    .superRefine(checkCredentialPair)
    .describe('Amazon Data Firehose destination (PutRecordBatch).'),
);

export type FirehoseOptions = z.infer<typeof firehoseOptionsSchema>;

function recordFailure(code: string, message: string | undefined): RecordResult {
  const error = `${code}: ${message ?? ''}`.slice(0, 300);
  // ServiceUnavailableException is Firehose's per-record throttling signal.
  if (code === 'ServiceUnavailableException' || code === 'ThrottlingException') return { ok: false, retryable: true, error, code: 'THROTTLED' };
  // InternalFailure and anything else the service reports per record is transient on its side:
  // record-level, counted against the budget only with evidence against the record (outcomes.ts).
  return { ok: false, retryable: true, error, code };
}

export function createFirehoseDestination(o: FirehoseOptions, deps: RuntimeDeps & { network?: ProxySettings | undefined }): Destination {
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
  const ca = awsCa(o, 'Firehose destination');
  // Direct or through the site's proxy (a proxy URL that is none, a password file unreadable: a config error here, at check-config too).
  const route = awsRoute(o, 'firehose', deps.network);
  const log = deps.logger.child({ component: 'destination', kind: 'firehose', target });
  const rejectLog = awsRejectLog(log, deps.monotonic);
  let client: FirehoseClient | undefined;
  let sdk: FirehoseSdk | undefined;

  return {
    kind: 'firehose',
    target,
    limits,
    route,
    // PutRecordBatch keeps no batch identity: a throttled record may go in any later call.
    rebatch: true,
    async start() {
      sdk ??= await import('@aws-sdk/client-firehose');
      if (!client) {
        client = new sdk.FirehoseClient(await awsClientConfig(o, ca, {}, route));
        logRoute(log, route);
      }
    },
    async stop() {
      client?.destroy();
      client = undefined;
    },
    async send(records, signal) {
      if (!client) throw ERRORS.GH_EXPORT_RETRYABLE({ reason: 'Firehose destination used before start()' }, { where: target, hint: 'call start() first' });
      return sendAwsBatch(
        {
          kind: 'firehose',
          target,
          operation: 'Firehose PutRecordBatch',
          proxy: route.kind === 'proxy' ? route.safe : undefined,
          caFile: o.caFile,
          ca,
          timeoutMs: o.requestTimeoutMs,
          limits: hard,
          metrics,
          log,
          rejectLog,
          size: (i) => records[i]!.payload.length + sepLen,
          tooLarge: (i) => `record of ${records[i]!.payload.length} bytes (+${sepLen} separator) exceeds the Firehose limit of ${hard.maxRecordBytes} bytes`,
          entryFailure: recordFailure,
          async put(idx, sig) {
            const entries: FirehoseRecord[] = new Array(idx.length);
            for (let j = 0; j < idx.length; j++) {
              const p = records[idx[j]!]!.payload;
              entries[j] = { Data: sep ? Buffer.concat([p, sep], p.length + sepLen) : p };
            }
            const out = await client!.send(new sdk!.PutRecordBatchCommand({ DeliveryStreamName: o.deliveryStreamName, Records: entries }), {
              abortSignal: sig,
            });
            const rs = out.RequestResponses ?? [];
            const outcomes: AwsEntryOutcome[] = new Array(idx.length);
            for (let j = 0; j < idx.length; j++) {
              const r = rs[j];
              outcomes[j] = r?.ErrorCode ? { ok: false, errorCode: r.ErrorCode, errorMessage: r.ErrorMessage } : r?.RecordId ? { ok: true } : undefined;
            }
            return outcomes;
          },
        },
        records.length,
        signal,
      );
    },
  };
}
