// S3 destination: one object per batch, NDJSON (one record per line, optionally gzip), written
// with PutObject from @aws-sdk/client-s3. The key is derived only from the batch's records (the
// first record's time, the stream, first and last sequence), so a retried batch overwrites the
// same object: retries are idempotent.
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
type S3Sdk = typeof import('@aws-sdk/client-s3');
import { z } from '../../../core/zod.js';
import { hostGatewayId, type RuntimeDeps } from '../../../core/deps.js';
import { ERRORS, isGatehouseError, type GatehouseError } from '../../../core/errors.js';
import type { ConfigProblem } from '../../../core/validation.js';
import { legacyNote } from '../../../core/template.js';
import type { StoredRecord } from '../../store/types.js';
import { recordId, type Destination, type DestinationLimits } from '../types.js';
import { awsCa, awsClientConfig, awsConnectionShape, awsRoute, checkCredentialPair } from './aws-common.js';
import { logRoute, type ProxySettings } from '../proxy.js';
import { sendAwsBatch, type AwsEntryOutcome, awsRejectLog } from './aws-batch.js';
import { destinationConfigError, destinationMetrics, scanDestinationTemplate, shortError } from './common.js';
import { INSTALLATION_ID_FILE, lazyInstallationId } from '../installation-id.js';

const gzip = promisify(gzipCb);
const MiB = 1024 * 1024;

// ${gatewayId}-${installationId}: gateways of a fleet writing to one bucket and prefix never meet
// (each counts its streams' sequences from 1: the same stream, seq range and hour is one key, and
// the later PutObject replaced the earlier gateway's object); installation-id.ts says why the
// gateway id alone is not enough.
export const S3_DEFAULT_KEY_TEMPLATE =
  '${timestamp:yyyy}/${timestamp:MM}/${timestamp:dd}/${timestamp:HH}/${gatewayId}-${installationId}-${stream}-${firstSeq}-${lastSeq}.ndjson';

// z.lazy: built on first use, so a gateway without this destination does not hold it (docs/benchmarks.md, "Idle footprint").
export const s3OptionsSchema = z.lazy(() =>
  z
    .strictObject({
      bucket: z.string().min(3).max(63).describe('Bucket name.'),
      ...awsConnectionShape(),
      prefix: z.string().default('gatehouse/').describe('Prepended to every object key.'),
      keyTemplate: z
        .string()
        .min(1)
        .default(S3_DEFAULT_KEY_TEMPLATE)
        .describe(
          "Object key after the prefix. ${timestamp:yyyy|MM|dd|HH|mm} are UTC parts of the first record's receivedAt (as Firehose partitions); ${stream}, ${firstSeq}, ${lastSeq}, ${records} come from the batch; ${gatewayId} is the config's gatewayId and ${installationId} the gateway's installation id, 16 hex digits kept in <dataDir>/installation-id (made anew when the store is made anew or the data dir is on another machine) (the Firehose-style !{timestamp:yyyy} and {stream} forms are still read, deprecated). \".gz\" is appended when gzip is on. Keep ${stream}, ${firstSeq} and ${lastSeq} in it so a retried batch overwrites its own object, and ${installationId} when other gateways write to the same bucket and prefix (gateway ids are often shared: raspberrypi).",
        ),
      gzip: z.boolean().default(false).describe('Gzip each object (Content-Encoding: gzip, key suffix .gz).'),
      payloadFormat: z
        .enum(['auto', 'base64', 'utf8'])
        .default('auto')
        .describe(
          'How the payload appears in each line: auto = as JSON ("payload") when it is valid JSON, else base64 ("payloadBase64"); base64 = always "payloadBase64"; utf8 = "payloadText" string.',
        ),
      forcePathStyle: z.boolean().default(false).describe('Path-style URLs (http://host/bucket/key): needed for s3rver, MinIO and most compatible stores.'),
      storageClass: z
        .enum(['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR'])
        .optional()
        .describe('S3 storage class of the objects. Default: the bucket default (STANDARD).'),
      maxRecords: z.number().int().min(1).max(100_000).default(10_000).describe('Records per object.'),
      maxRecordBytes: z
        .number()
        .int()
        .min(1)
        .max(64 * MiB)
        .default(4 * MiB)
        .describe('Max payload bytes of one record; larger records are rejected as permanent.'),
      maxBatchBytes: z
        .number()
        .int()
        .min(1)
        .max(256 * MiB)
        .default(8 * MiB)
        .describe('Max summed payload bytes per object (the object is built in memory: keep it small on a Raspberry Pi).'),
    })
    .superRefine(checkCredentialPair)
    .superRefine(checkKeyIsPerBatch)
    .describe('S3 destination: one NDJSON object per batch (PutObject).'),
);

export type S3Options = z.infer<typeof s3OptionsSchema>;

/**
 * The key must differ between batches: without ${firstSeq} or ${lastSeq}, every batch of the hour
 * (or day) gets the same key and each PutObject replaces the one before: all but the last batch
 * are lost while the exporter counts them delivered. (Either one is enough: a batch re-cut after a
 * restart starts or ends where the lost one did only if it holds all of its records.)
 */
function checkKeyIsPerBatch(o: { keyTemplate: string }, ctx: z.RefinementCtx): void {
  let parts: KeyPart[];
  try {
    parts = compileS3KeyTemplate(o.keyTemplate);
  } catch (err) {
    // The problem itself (the issue has its own path), not the whole 's3 destination is invalid' list.
    const problem = isGatehouseError(err, 'GH_DESTINATION_CONFIG') && Array.isArray(err.details) ? (err.details as ConfigProblem[])[0]?.message : undefined;
    ctx.addIssue({ code: 'custom', path: ['keyTemplate'], message: problem ?? (err instanceof Error ? err.message : String(err)) });
    return;
  }
  if (!parts.some((p) => typeof p === 'object' && 'field' in p && (p.field === 'firstSeq' || p.field === 'lastSeq'))) {
    ctx.addIssue({
      code: 'custom',
      path: ['keyTemplate'],
      message:
        'must hold ${firstSeq} or ${lastSeq}: without them every batch of the same time partition gets the same key and overwrites the previous object (those records would be lost)',
    });
  }
}

type KeyPart =
  | string
  | { field: 'stream' | 'firstSeq' | 'lastSeq' | 'records' | 'gatewayId' | 'installationId' }
  | { time: 'yyyy' | 'MM' | 'dd' | 'HH' | 'mm' };
const KEY_FIELDS = new Set(['stream', 'firstSeq', 'lastSeq', 'records', 'gatewayId', 'installationId']);

/** Who wrote the object: the key's ${gatewayId} and ${installationId}. */
export interface S3KeyIds {
  gatewayId: string;
  installationId: string;
}
const TIME_FIELDS = new Set(['yyyy', 'MM', 'dd', 'HH', 'mm']);

/**
 * Compile the key template once (core/template.ts syntax; the deprecated !{timestamp:X} and {field}
 * forms are still read); unknown fields fail at construction with the allowed list.
 */
export function compileS3KeyTemplate(template: string, warn?: (msg: string) => void): KeyPart[] {
  const where = 's3.keyTemplate';
  const pieces = scanDestinationTemplate(template, where);
  const bad = (what: string): GatehouseError =>
    destinationConfigError('s3 destination', [{ path: where, message: `${what} in the key template '${template}'` }], {
      where,
      hint: 'use ${timestamp:yyyy|MM|dd|HH|mm}, ${stream}, ${firstSeq}, ${lastSeq}, ${records}, ${gatewayId}, ${installationId}',
    });
  const parts: KeyPart[] = [];
  for (const p of pieces) {
    if (typeof p === 'string') parts.push(p);
    else if (p.body.startsWith('timestamp:')) {
      const fmt = p.body.slice('timestamp:'.length);
      if (!TIME_FIELDS.has(fmt)) throw bad(`unknown time partition '${template.slice(p.at, p.at + p.body.length + 3)}'`);
      parts.push({ time: fmt as 'yyyy' });
    } else {
      if (!KEY_FIELDS.has(p.body)) throw bad(`unknown field '${template.slice(p.at, p.at + p.body.length + (p.legacy ? 2 : 3))}'`);
      parts.push({ field: p.body as 'stream' });
    }
  }
  const note = legacyNote(template, pieces, where);
  if (note !== undefined) warn?.(note);
  return parts;
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

export function renderS3Key(parts: readonly KeyPart[], records: readonly StoredRecord[], ids: S3KeyIds): string {
  const first = records[0]!;
  const last = records[records.length - 1]!;
  const d = new Date(first.receivedAt);
  let s = '';
  for (const p of parts) {
    if (typeof p === 'string') s += p;
    else if ('field' in p) {
      const f = p.field;
      s +=
        f === 'stream'
          ? first.stream
          : f === 'firstSeq'
            ? String(first.seq)
            : f === 'lastSeq'
              ? String(last.seq)
              : f === 'records'
                ? String(records.length)
                : f === 'gatewayId'
                  ? ids.gatewayId
                  : ids.installationId;
    } else {
      s +=
        p.time === 'yyyy'
          ? String(d.getUTCFullYear())
          : p.time === 'MM'
            ? pad2(d.getUTCMonth() + 1)
            : p.time === 'dd'
              ? pad2(d.getUTCDate())
              : p.time === 'HH'
                ? pad2(d.getUTCHours())
                : pad2(d.getUTCMinutes());
    }
  }
  return s;
}

// First bytes a JSON text can start with (after optional whitespace): worth trying JSON.parse.
function maybeJson(b: Buffer): boolean {
  let i = 0;
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09)) i++;
  if (i >= b.length) return false;
  const c = b[i]!;
  return c === 0x7b || c === 0x5b || c === 0x22 || c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x74 || c === 0x66 || c === 0x6e;
}

/** One NDJSON line (without the newline) for a record. */
export function ndjsonLine(r: StoredRecord, format: 'auto' | 'base64' | 'utf8'): string {
  let head = `{"id":${JSON.stringify(recordId(r))},"stream":${JSON.stringify(r.stream)},"seq":${r.seq},"topic":${JSON.stringify(r.topic)},"receivedAt":${r.receivedAt}`;
  if (r.key !== undefined) head += `,"key":${JSON.stringify(r.key)}`;
  if (r.attrs !== undefined) head += `,"attrs":${JSON.stringify(r.attrs)}`;
  if (format === 'utf8') return `${head},"payloadText":${JSON.stringify(r.payload.toString('utf8'))}}`;
  if (format === 'auto' && maybeJson(r.payload)) {
    const text = r.payload.toString('utf8');
    try {
      const parsed: unknown = JSON.parse(text);
      // Embed the original text unless it spans lines (that would break NDJSON).
      const body = text.includes('\n') || text.includes('\r') ? JSON.stringify(parsed) : text.trim();
      return `${head},"payload":${body}}`;
    } catch {
      // not JSON: fall through to base64
    }
  }
  return `${head},"payloadBase64":"${r.payload.toString('base64')}"}`;
}

/**
 * `gatewayId` (default: the host name, as the config's) and `installationId` (a gateway's, bound to
 * its store and machine: installation-id.ts; else the one kept in `dataDir`, or without one, one per
 * process) fill the key's ${gatewayId} and ${installationId}.
 */
export function createS3Destination(
  o: S3Options,
  deps: RuntimeDeps & {
    network?: ProxySettings | undefined;
    dataDir?: string | undefined;
    gatewayId?: string | undefined;
    installationId?: (() => Promise<string>) | undefined;
  },
): Destination {
  const suffix = o.gzip ? '.gz' : '';
  const target = `s3://${o.bucket}/${o.prefix}${o.endpoint ? ` @ ${o.endpoint}` : ''}`;
  const keyParts = compileS3KeyTemplate(o.keyTemplate, (m) => deps.logger.warn({ component: 'destination', kind: 's3', target }, m));
  if (!keyParts.some((p) => typeof p === 'object' && 'field' in p && p.field === 'installationId'))
    deps.logger.warn(
      { component: 'destination', kind: 's3', target },
      `the key template '${o.keyTemplate}' has no \${installationId}: another gateway writing to the same bucket and prefix with the same template replaces this one's objects of the same stream, sequences and time partition (lost without a word) unless the rest of the key tells them apart (\${gatewayId} does only if every gateway id is unique: cloned Raspberry Pi images all say raspberrypi). Fix: add \${installationId} to keyTemplate (the default key has it), or give each gateway a prefix of its own`,
    );
  const installationId = deps.installationId ?? lazyInstallationId(deps.dataDir);
  const gatewayId = deps.gatewayId ?? hostGatewayId();
  const limits: DestinationLimits = { maxRecords: o.maxRecords, maxRecordBytes: o.maxRecordBytes, maxBatchBytes: o.maxBatchBytes };
  const metrics = destinationMetrics(deps.registry);
  const ca = awsCa(o, 'S3 destination');
  // Direct or through the site's proxy (a proxy URL that is none, a password file unreadable: a config error here, at check-config too).
  const route = awsRoute(o, 's3', deps.network);
  const log = deps.logger.child({ component: 'destination', kind: 's3', target });
  const rejectLog = awsRejectLog(log, deps.monotonic);
  let client: S3Client | undefined;
  let sdk: S3Sdk | undefined;

  return {
    kind: 's3',
    target,
    limits,
    route,
    async start() {
      sdk ??= await import('@aws-sdk/client-s3');
      if (!client) {
        client = new sdk.S3Client(await awsClientConfig(o, ca, { forcePathStyle: o.forcePathStyle }, route));
        logRoute(log, route);
      }
    },
    async stop() {
      client?.destroy();
      client = undefined;
    },
    async send(records, signal) {
      if (!client) throw ERRORS.GH_EXPORT_RETRYABLE({ reason: 'S3 destination used before start()' }, { where: target, hint: 'call start() first' });
      let ids: S3KeyIds;
      try {
        ids = { gatewayId, installationId: await installationId() };
      } catch (err) {
        metrics.calls.inc({ kind: 's3', target, outcome: 'retryable', reason: 'io' });
        throw ERRORS.GH_EXPORT_RETRYABLE(
          { reason: `cannot keep the installation id (the object keys' \${installationId}) in ${INSTALLATION_ID_FILE} of the data dir: ${shortError(err)}` },
          { where: target, cause: err, hint: 'check the data dir is writable and has space; the records wait in the local stream' },
        );
      }
      // Oversized records are rejected alone; the rest form the object (one per call: the loop
      // already batches within the limits, so a batch is normally one object).
      const keyOf = (idx: readonly number[]): string =>
        `${o.prefix}${renderS3Key(
          keyParts,
          idx.map((i) => records[i]!),
          ids,
        )}${suffix}`;
      return sendAwsBatch(
        {
          kind: 's3',
          target,
          operation: 'S3 PutObject',
          proxy: route.kind === 'proxy' ? route.safe : undefined,
          caFile: o.caFile,
          ca,
          timeoutMs: o.requestTimeoutMs,
          limits,
          metrics,
          log,
          rejectLog,
          size: (i) => records[i]!.payload.length,
          tooLarge: (i) => `record of ${records[i]!.payload.length} bytes exceeds s3.maxRecordBytes ${o.maxRecordBytes}`,
          // PutObject has no per-entry results: the object is stored whole or not at all.
          entryFailure: (code, message) => ({ ok: false, retryable: true, error: `${code}: ${message ?? ''}`, code }),
          describeCall: (idx) => `S3 PutObject ${keyOf(idx)}`,
          async put(idx, sig) {
            const keep = idx.map((i) => records[i]!);
            const lines = new Array<string>(keep.length);
            for (let i = 0; i < keep.length; i++) lines[i] = ndjsonLine(keep[i]!, o.payloadFormat);
            let body: Buffer = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
            if (o.gzip) body = await gzip(body);
            await client!.send(
              new sdk!.PutObjectCommand({
                Bucket: o.bucket,
                Key: keyOf(idx),
                Body: body,
                ContentType: 'application/x-ndjson',
                ContentEncoding: o.gzip ? 'gzip' : undefined,
                StorageClass: o.storageClass,
                Metadata: {
                  'gatehouse-stream': keep[0]!.stream,
                  'gatehouse-first-seq': String(keep[0]!.seq),
                  'gatehouse-last-seq': String(keep[keep.length - 1]!.seq),
                  'gatehouse-records': String(keep.length),
                  'gatehouse-gateway-id': ids.gatewayId,
                  'gatehouse-installation-id': ids.installationId,
                },
              }),
              { abortSignal: sig },
            );
            return idx.map((): AwsEntryOutcome => ({ ok: true }));
          },
        },
        records.length,
        signal,
      );
    },
  };
}
