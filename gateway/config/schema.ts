// The configuration file schema: composed from each component's own options schema, so every
// default lives next to the code that uses it. docs/configuration.md is generated from it
// (`gatehouse config-docs`, through full-schema.ts).
//
// The entries of `serial:` and `sources:` (many kinds, large schemas) are stand-ins here:
// loadConfig (index.ts) puts the real ones in (withEntries) only when the file lists entries, so a
// gateway without serial links or extra sources never builds them (docs/benchmarks.md, "Idle
// footprint"); full-schema.ts has the complete schema, for docs and checks.
import { hostGatewayId } from '../../core/deps.js';
import { z } from '../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../core/timer-delay.js';
import { bindHostSchema } from '../../core/bind-host.js';
import { brokerOptionsSchema } from '../broker/options.js';
import { slowDiskThresholdsProblem, storeOptionsSchema, streamDefaultsSchema } from '../store/options.js';
import { exporterOptionsSchema } from '../upstream/options.js';
import type { SerialLinkOptionsSchema } from '../../firmware-bridge/options.js';
import { controlOptionsSchema, jobsOptionsSchema } from '../control/options.js';
import { statefulOptionsSchema } from '../../rules/index.js';
import { networkOptionsSchema } from '../upstream/proxy-options.js';
import { shadowOptionsSchema } from '../shadow/options.js';
import { tablesSchema } from './tables.js';

const KiB = 1024;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const adminOptionsSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Serve the admin HTTP API and status page.'),
    host: bindHostSchema(
      '127.0.0.1',
      "Address to bind: IPv4 or IPv6 ('::1'; '::' is every address of both families), or a host name. Beyond loopback, `token` is required.",
    ),
    port: z.number().int().min(0).max(65535).default(9883).describe('TCP port of the admin API (0 picks a free port).'),
    token: z.string().min(16).optional().describe('Bearer token required on every route but /healthz (required when host is not loopback).'),
    tls: z
      .strictObject({
        cert: z.string().min(1).describe('Path to the PEM certificate (chain) file the admin API serves.'),
        key: z.string().min(1).describe('Path to the PEM private key file of that certificate.'),
      })
      .optional()
      .describe(
        'Serve the admin API and status page over HTTPS only (the token never crosses the network in clear). Reloaded on SIGHUP. The CLI with --config trusts this certificate (docs/broker.md#admin-api-over-https).',
      ),
    maxBodyBytes: z
      .number()
      .int()
      .min(1024)
      .default(1024 * KiB)
      .describe('Largest accepted request body (PUT /api/rules).'),
    allowedHosts: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'With `host` on loopback: extra names accepted in the Host header (besides localhost, 127.0.0.1, [::1], `host` and the address a request arrived on); any other Host is refused with 421 (DNS rebinding).',
      ),
    maxConnections: z
      .number()
      .int()
      .min(1)
      .default(64)
      .describe(
        'Connections open to the admin API at once (status pages, scrapers, the CLI); one more is closed as soon as it is accepted, counted in gatehouse_admin_connections_dropped_total. Each open socket holds a file descriptor, which the broker and the store need too: a connection flood left unbounded could exhaust them (EMFILE).',
      ),
    maxResponseBytes: z
      .number()
      .int()
      .min(1024)
      .default(4096 * KiB)
      .describe('Cap of a records response (GET /api/streams/<name>/records, also `?maxBytes=`), streamed; a single larger record is sent alone.'),
    alertTopics: z
      .array(z.string().min(1))
      .default(['alerts/#'])
      .describe('Topic filters whose messages are shown as alerts on the status page (/api/events).'),
  })
  .describe('Admin HTTP API: /healthz, /metrics, /api/*, status page.');

export const logOptionsSchema = z
  .strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level (JSON lines on stdout).'),
  })
  .describe('Logging.');

/** The schemas of one `serial:` entry and of the `sources:` list (pipeline/sources/registry.ts sourcesSchema()). */
export interface EntrySchemas {
  serialLink: typeof SerialLinkOptionsSchema;
  sources: z.ZodType<unknown[]>;
}

/** Stand-ins: a list that is absent or empty never reaches its entry schema, so parse and output are those of the real ones. */
const NO_ENTRIES: EntrySchemas = { serialLink: z.never() as unknown as EntrySchemas['serialLink'], sources: z.array(z.never()) };

const serialSection = (e: EntrySchemas) => z.array(e.serialLink).default([]).describe('Serial links of the firmware bridge.');
const sourcesSection = (e: EntrySchemas) =>
  e.sources
    .default([])
    .describe(
      'More data sources, each { type, name, enabled, ...options of its type } (gateway/pipeline/sources). `name` is unique; it names the source in /api/sources, metrics and logs.',
    );

/**
 * Every section, with stand-ins for the `serial:` and `sources:` entries: validate with
 * withEntries(...) (loadConfig) or full-schema.ts's configSchema, never with this one alone.
 */
export const configBaseSchema = z
  .strictObject({
    gatewayId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - (max 64)')
      .default(hostGatewayId)
      .describe('Identity of this gateway in control topics, heartbeats and metrics (default: the host name).'),
    dataDir: z
      .string()
      .min(1)
      .default('./gatehouse-data')
      .describe(
        "Folder holding the store and default file exports. Relative paths in a config file (dataDir, rulesFile, TLS and credential files of listeners, control and destinations, public keys, file-source globs) are resolved against the config file's folder; --data-dir, and this default when the file names no dataDir, against the working directory; a file destination's dir against this folder (dir: out is <dataDir>/out).",
      ),
    log: logOptionsSchema.prefault({}),
    broker: brokerOptionsSchema.prefault({}),
    store: storeOptionsSchema
      .omit({ path: true })
      .superRefine((o, ctx) => {
        const problem = slowDiskThresholdsProblem(o);
        if (problem) ctx.addIssue({ code: 'custom', message: problem, path: ['slowCommitMeanMs'] });
      })
      .prefault({})
      .describe('The local stream store (LevelDB under <dataDir>/store).'),
    streams: z
      .record(z.string().regex(NAME, 'a stream name is 1 to 64 letters, digits, _ . - starting with a letter or digit'), streamDefaultsSchema.prefault({}))
      .default({ archive: { maxBytes: 256 * KiB * KiB, onFull: 'reject', localOnly: false } })
      .describe('Local streams by name, each { maxBytes, ttl, onFull, localOnly }. Default: one stream `archive`.'),
    rules: z
      .unknown()
      .optional()
      .describe('The rule set { version, rules: [...] } (validated by the rules engine). Default: one rule archiving every publish to `archive`.'),
    rulesFile: z.string().min(1).optional().describe('Read the rule set from this YAML/JSON file instead of `rules`.'),
    protoDescriptorDir: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Folder of the Protobuf descriptors of decode(*, 'proto', bucket, key, file, type) (AWS reads s3://bucket/key): the file <protoDescriptorDir>/<bucket>/<key>. Default <dataDir>/proto (docs/rules-sql.md#protobuf-payloads).",
      ),
    tables: tablesSchema,
    ruleState: statefulOptionsSchema
      .extend({
        inputLog: z
          .boolean()
          .default(true)
          .describe(
            'Log the inputs of windows and detectors in the commit that acknowledges them and replay them at start, so a crash loses none (docs/windows.md). false: after a crash their state is that of the last checkpoint (cheaper ingest).',
          ),
        inputLogMaxBytes: z
          .number()
          .int()
          .min(1024 * KiB)
          .default(256 * KiB * KiB)
          .describe(
            'Bound of the input log of windows and detectors (stream `$rule-inputs`, the inputs since the last checkpoint; a quarter of it logged since the last checkpoint starts the next at once). When full, acknowledgements wait (backpressure); nothing is dropped.',
          ),
      })
      .prefault({})
      .describe('State of windows and detectors: checkpoints, bounds, and the input log that rebuilds it after a crash (docs/windows.md).'),
    exporters: z
      .array(exporterOptionsSchema)
      .optional()
      .describe('Upstream exporters. Default: `archive` exported to gzipped NDJSON files (.ndjson.gz, read them with zcat) under <dataDir>/export.'),
    uplink: z
      .strictObject({
        bandwidthKbps: z
          .number()
          .min(0)
          .default(0)
          .describe(
            'One bandwidth cap (kbit/s of payload) shared by every exporter, for metered uplinks; higher `priority` exporters go first. 0 = no shared cap.',
          ),
      })
      .prefault({})
      .describe('The shared uplink.'),
    network: networkOptionsSchema.prefault({}),
    shadows: shadowOptionsSchema.prefault({}),
    serial: serialSection(NO_ENTRIES),
    sources: sourcesSection(NO_ENTRIES),
    admin: adminOptionsSchema.prefault({}),
    control: controlOptionsSchema.prefault({}),
    jobs: jobsOptionsSchema,
    shutdownTimeoutMs: z
      .number()
      .int()
      .min(0)
      .max(MAX_TIMER_MS, TIMER_TOO_LONG)
      .default(20_000)
      .describe('On SIGTERM/SIGINT, how long to wait for in-flight commits and exports before closing anyway.'),
  })
  .strict()
  .describe('Gatehouse configuration file (YAML or JSON).');

export type GatehouseConfig = z.output<typeof configBaseSchema>;

/** The config schema with the given entry schemas of `serial:` and `sources:` (others: stand-ins); same keys, same order. */
export function withEntries(entries: Partial<EntrySchemas>): typeof configBaseSchema {
  if (!entries.serialLink && !entries.sources) return configBaseSchema;
  const all = { ...NO_ENTRIES, ...entries };
  return configBaseSchema.extend({ serial: serialSection(all), sources: sourcesSection(all) }).describe(configBaseSchema.description ?? '');
}

/** The rule set used when the config names none: archive every publish. */
export const DEFAULT_RULE_SET = {
  version: 1,
  rules: [{ name: 'archive_all', sql: "SELECT * FROM '#'", actions: [{ stream: { name: 'archive' } }] }],
};

/**
 * The exporter used when the config names none and an `archive` stream exists: gzip'd NDJSON
 * (each batch one gzip member; `zcat` reads the files, also the one still being written). Plain
 * NDJSON wraps each payload in ~130 bytes of fields, which on an SD card cost more flash writes
 * than the payloads themselves (docs/decisions.md, "Round 3: efficiency").
 */
export function defaultExporters(): z.input<typeof exporterOptionsSchema>[] {
  return [{ name: 'archive-files', stream: 'archive', destination: { type: 'file', gzip: true } }];
}
