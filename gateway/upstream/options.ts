// Exporter options (zod): one exporter = one loop from a local stream to one destination.
// The destination block is validated loosely here ({ type, ...rest }) and strictly by the
// destination's own schema when the factory in registry.ts builds it, so each destination module
// owns its options. The lead composes these pieces into the config file schema.
import { z } from '../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../core/timer-delay.js';
import { destinationProxyOption } from './proxy-options.js';
import { bracketedUrl } from '../../core/bind-host.js';

export const DESTINATION_TYPES = ['file', 'http', 'kinesis', 'firehose', 's3', 'mqtt', 'nats', 'webhook', 'postgres', 'prometheus'] as const;
export type DestinationType = (typeof DESTINATION_TYPES)[number];

const KiB = 1024;
const MiB = 1024 * KiB;

export const batchOptionsSchema = z
  .strictObject({
    maxRecords: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(500)
      .describe('Max records per send; also capped by the destination limit (whichever is smaller).'),
    maxBytes: z
      .number()
      .int()
      .min(1)
      .default(4 * MiB)
      .describe('Max summed payload bytes per send; also capped by the destination limit.'),
    lingerMs: z
      .number()
      .int()
      .min(0)
      .max(600_000)
      .default(1000)
      .describe('How long a partly filled batch waits for more records before it is sent (a full batch goes at once).'),
  })
  .describe('Batching: a batch is sent when it reaches maxRecords or maxBytes, or lingerMs after its first record, whichever comes first.');

export const backoffOptionsSchema = z
  .strictObject({
    initialMs: z
      .number()
      .int()
      .min(1)
      .max(MAX_TIMER_MS, TIMER_TOO_LONG)
      .default(200)
      .describe('Backoff cap of the first retry (full jitter: the wait is random in [0, cap]).'),
    maxMs: z
      .number()
      .int()
      .min(1)
      .max(MAX_TIMER_MS, TIMER_TOO_LONG)
      .default(30_000)
      .describe('Upper bound of the backoff cap; the cap doubles per consecutive failure up to this.'),
    outageMaxMs: z
      .number()
      .int()
      .min(1)
      .max(MAX_TIMER_MS, TIMER_TOO_LONG)
      .default(3000)
      .describe(
        'Upper bound of the backoff cap while the destination is unreachable (the whole send failed: connection refused, timeout, 502/503/504, disk full): low, so export resumes within seconds of its return; full jitter still spreads a fleet. The lower of this and maxMs applies.',
      ),
  })
  .describe('Retry backoff: exponential with full jitter, capped (lower cap during outages).');

export const exporterOptionsSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, _ . - (max 64, starting with a letter or digit)')
    .describe('Exporter name; also its consumer name (checkpoint) in the local stream and its metrics label.'),
  stream: z.string().min(1).describe('Local stream to export.'),
  destination: z
    .looseObject({
      type: z.enum(DESTINATION_TYPES).describe("Destination kind; the other keys are that destination's options."),
    })
    .describe('Where records go: { type, ...destination options }.'),
  batch: batchOptionsSchema.prefault({}),
  backoff: backoffOptionsSchema.prefault({}),
  maxAttempts: z
    .number()
    .int()
    .min(0)
    .default(10)
    .describe(
      'Failures per record before it is dead-lettered with its last error, counted only with evidence that the record is at fault (a per-record error or HTTP 500 while the destination accepts other records); outages, throttling and a 500 storm never count. 0 = retry forever.',
    ),
  deadLetterStream: z.string().min(1).optional().describe('Local stream receiving dead letters (default "<stream>-dlq"; created if missing).'),
  deadLetterMaxBytes: z
    .number()
    .int()
    .min(1)
    .default(64 * MiB)
    .describe('maxBytes of the dead-letter stream when the exporter creates it (onFull: drop-oldest, so dead letters never block export).'),
  priority: z
    .number()
    .int()
    .min(0)
    .max(100)
    .default(0)
    .describe('Priority on a shared uplink (higher takes bandwidth first); only matters with a shared uplink bandwidth cap.'),
  bandwidthKbps: z.number().min(0).default(0).describe('Bandwidth cap of this exporter in kbit/s of payload bytes sent (token bucket); 0 = unlimited.'),
  stopTimeoutMs: z
    .number()
    .int()
    .min(0)
    .max(MAX_TIMER_MS, TIMER_TOO_LONG)
    .default(5000)
    .describe('On stop, how long an in-flight send may finish before it is aborted (aborted records stay unexported).'),
  isolatePermanent: z
    .boolean()
    .default(true)
    .describe('When a whole multi-record batch fails permanently (e.g. HTTP 413), split it to find the bad records instead of dead-lettering all of them.'),
});

export type BatchOptions = z.infer<typeof batchOptionsSchema>;
export type BackoffOptions = z.infer<typeof backoffOptionsSchema>;
export type ExporterOptions = z.infer<typeof exporterOptionsSchema>;
/** What a config file may contain (defaults not yet applied). */
export type ExporterOptionsInput = z.input<typeof exporterOptionsSchema>;

export function parseExporterOptions(input: unknown): ExporterOptions {
  return exporterOptionsSchema.parse(input);
}

// ---- file destination -------------------------------------------------------------------------
export const fileDestinationSchema = z.strictObject({
  dir: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Output folder (default "<dataDir>/export"); files go under YYYY/MM/DD/HH/ (UTC) below it. A relative dir is resolved against the data dir (dir: out is <dataDir>/out), not the config file\'s folder (read-only under the systemd unit) nor the working directory; check-config names the folder.',
    ),
  gzip: z.boolean().default(false).describe('Gzip files (each batch is one gzip member, so a file is always readable up to its last batch).'),
  gzipLevel: z
    .number()
    .int()
    .min(1)
    .max(9)
    .default(1)
    .describe(
      'zlib level with gzip. 1 (default): on telemetry JSON 0.37 bytes per payload byte for 1.3 us of CPU per line; 6: 0.28 for 4.8 us (docs/benchmarks.md, round 3).',
    ),
  maxFileBytes: z
    .number()
    .int()
    .min(1024)
    .default(64 * MiB)
    .describe('Rotate to a new file once the current one reaches this size (bytes written, compressed if gzip).'),
  maxFileAgeMs: z.number().int().min(1000).default(3_600_000).describe('Rotate (and close) a file once it is this old.'),
  maxTotalBytes: z
    .number()
    .int()
    .min(1024)
    .optional()
    .describe(
      'Keep the export files under dir to this many bytes: at each file close (and at start) the oldest closed files are deleted until the rest fits (the file being written is never deleted, so it comes on top); counted in gatehouse_export_files_deleted_total. Default: none, files are kept for ever (a disk nobody empties fills up: then exports stop and the stream fills).',
    ),
  durability: z.enum(['fsync', 'os']).default('fsync').describe('fsync: each batch is fsynced before it counts as exported; os: left to the OS page cache.'),
  maxRecords: z.number().int().min(1).default(10_000).describe('Max records per write.'),
  maxRecordBytes: z
    .number()
    .int()
    .min(1)
    .default(16 * MiB)
    .describe('Larger records are dead-lettered.'),
  maxBatchBytes: z
    .number()
    .int()
    .min(1)
    .default(16 * MiB)
    .describe('Max payload bytes per write.'),
});
export type FileDestinationOptions = z.infer<typeof fileDestinationSchema>;

// ---- http destination (Firehose HTTP endpoint delivery protocol v1.0) --------------------------
export const httpDestinationSchema = z.strictObject({
  url: bracketedUrl(z.url({ protocol: /^https?$/ })).describe('Endpoint URL (http or https), e.g. https://ingest.example.com/firehose.'),
  accessKey: z.string().max(4096).optional().describe('Sent verbatim as X-Amz-Firehose-Access-Key; never logged or shown in status.'),
  commonAttributes: z.record(z.string(), z.string()).optional().describe('Sent as X-Amz-Firehose-Common-Attributes: {"commonAttributes": {...}}.'),
  gzip: z.boolean().default(false).describe('Gzip request bodies (Content-Encoding: gzip).'),
  timeoutMs: z
    .number()
    .int()
    .min(100)
    .max(MAX_TIMER_MS, TIMER_TOO_LONG)
    .default(30_000)
    .describe(
      'Request timeout: of silence on the connection, and of the whole reply once the batch is sent (a reply trickled byte by byte times out too); a timed-out request is retried with the same request id.',
    ),
  maxRecords: z.number().int().min(1).max(100_000).default(500).describe('Max records per request (Firehose-like default).'),
  maxRecordBytes: z
    .number()
    .int()
    .min(1)
    .default(1000 * KiB)
    .describe('Larger records are dead-lettered (Firehose: 1000 KiB).'),
  maxBatchBytes: z
    .number()
    .int()
    .min(1)
    .default(4 * MiB)
    .describe('Max summed payload bytes per request before base64 (Firehose: 4 MiB).'),
  rejectUnauthorized: z.boolean().default(true).describe('Verify the server certificate (https).'),
  caFile: z
    .string()
    .min(1)
    .optional()
    .describe(
      "PEM file of the CA certificate(s) to verify an https url's certificate against, in place of the system's CAs: a receiver whose certificate a private CA issued (relative to the config file; read at start).",
    ),
  proxy: destinationProxyOption(),
});
export type HttpDestinationOptions = z.infer<typeof httpDestinationSchema>;
