// Options of the prometheus destination (prometheus.ts): Prometheus remote write 1.0 to a
// Prometheus started with --web.enable-remote-write-receiver, Mimir, VictoriaMetrics, Grafana Cloud
// or anything else taking /api/v1/write. The mapping of a record to samples has the words of the
// webhook's influx format (labels for tags, topicLabels for topicTags, time and timeUnit); the HTTP
// options (auth, headers, TLS, proxy) are the webhook's.
import { z } from '../../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../../core/timer-delay.js';
import { bracketedUrl } from '../../../core/bind-host.js';
import { RESERVED_HEADERS, authSchema, headerName, headerValue, httpClientTlsOptions } from './webhook-options.js';

const MiB = 1024 * 1024;

/** Prometheus's label names (also what a metric name is, less the colon). `__` starts its own (__name__). */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const labelName = z
  .string()
  .regex(LABEL_NAME, 'not a Prometheus label name: letters, digits and _, not starting with a digit')
  .refine((s) => !s.startsWith('__'), 'label names starting with __ are reserved to Prometheus');
/** A metric name prefix: written as given (a metric name is [a-zA-Z_:][a-zA-Z0-9_:]*). */
const metricPrefix = z
  .string()
  .regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'not the start of a Prometheus metric name: letters, digits, _ and :, not starting with a digit');

/** Headers the destination sets itself (remote write's own besides the webhook's). */
const OWN_HEADERS = [...RESERVED_HEADERS, 'x-prometheus-remote-write-version', 'user-agent'];

// z.lazy: built on first use, so a gateway without this destination does not hold it (docs/benchmarks.md, "Idle footprint").
export const prometheusOptionsSchema = z.lazy(() =>
  z
    .strictObject({
      url: bracketedUrl(z.url({ protocol: /^https?$/ })).describe(
        'Remote write URL (http or https): Prometheus http://prom:9090/api/v1/write (started with --web.enable-remote-write-receiver), VictoriaMetrics http://vm:8428/api/v1/write, Mimir http://mimir/api/v1/push.',
      ),
      prefix: metricPrefix
        .optional()
        .describe(
          'Start of every metric name: prefix plant gives plant_temp for the field temp. Default (none of prefix, metricKey, metricTopicLevel): the field key alone.',
        ),
      metricKey: z
        .string()
        .min(1)
        .optional()
        .describe(
          "The payload key whose value starts the metric names (as prefix, sanitised): {kind: 'engine', temp: 96} gives engine_temp. A record without it is dead-lettered.",
        ),
      metricTopicLevel: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe("The topic level (1 = the first, as the rules' topic(1)) that starts the metric names: 3 for fleet/truck7/engine gives engine_temp."),
      fields: z
        .array(z.string().min(1))
        .optional()
        .describe(
          'Payload keys written as samples. Default: every key whose value is a number or a boolean (1/0), except the labels, the time key and metricKey (strings, nested objects and arrays are left out). A record with no sample is dead-lettered.',
        ),
      labels: z
        .array(z.string().min(1))
        .default([])
        .describe(
          'Payload keys written as labels (a string, number or boolean; a key missing or empty in a record is left out of its series). The label is named as the key, sanitised as metric names are.',
        ),
      topicLabels: z
        .record(labelName, z.number().int().min(1))
        .default({})
        .describe('Labels from topic levels: { truck: 2 } labels fleet/truck7/engine with truck="truck7".'),
      topicLabel: z
        .union([labelName, z.literal(false)])
        .default('topic')
        .describe(
          "Label holding the record's whole topic (what tells apart two devices sending the same field when no other label does); false: none (give labels or topicLabels that tell the devices apart, or their samples are one series: interleaved, those at the same millisecond refused as duplicates; a warning names the topics).",
        ),
      gatewayLabel: z
        .union([labelName, z.literal(false)])
        .default('gateway')
        .describe(
          "Label holding the config's gatewayId (default the host name): the name the site is known by in a fleet's queries, kept across a reinstall (the installation id changes with a new SD card); false: none.",
        ),
      externalLabels: z
        .record(labelName, z.string().min(1))
        .default({})
        .describe("Labels written on every series, as Prometheus's own external_labels: { site: depot-7, env: prod }."),
      time: z
        .string()
        .min(1)
        .optional()
        .describe(
          "Payload key holding the sample's time: a number in timeUnit, or an ISO 8601 string (written in ms, Prometheus's unit). Default: when the gateway received the record.",
        ),
      timeUnit: z.enum(['s', 'ms', 'us', 'ns']).default('ms').describe('Unit of a numeric time key.'),
      maxFutureMs: z
        .number()
        .int()
        .min(0)
        .max(MAX_TIMER_MS, TIMER_TOO_LONG)
        .default(600_000)
        .describe(
          "With time: a sample further ahead of the gateway's clock than this is dead-lettered (code FUTURE) instead of sent: Prometheus would take it, then refuse every later sample of every series as out of bounds (more than about an hour behind its newest) until real time caught up with the device's clock. 10 min, as Mimir's creation_grace_period; 0: no limit (the server's own).",
        ),
      headers: z
        .record(headerName, headerValue)
        .default({})
        .describe('Headers sent with every request, as written (X-Scope-OrgID for a Mimir tenant; not secrets: they show in the config file).'),
      headerFiles: z
        .record(headerName, z.string().min(1))
        .default({})
        .describe("Headers whose value is a file's first line (relative to the config file, read at start). Never logged."),
      auth: authSchema().optional(),
      timeoutMs: z
        .number()
        .int()
        .min(100)
        .max(MAX_TIMER_MS, TIMER_TOO_LONG)
        .default(30_000)
        .describe('Request timeout: of silence on the connection, and of the whole reply once the batch is sent; a timed-out request is retried.'),
      maxRecords: z.number().int().min(1).max(100_000).default(500).describe('Max records per request.'),
      maxRecordBytes: z
        .number()
        .int()
        .min(1)
        .default(1 * MiB)
        .describe('Larger records are dead-lettered.'),
      maxBatchBytes: z
        .number()
        .int()
        .min(1)
        .default(4 * MiB)
        .describe(
          'Max summed payload bytes (JSON) per request; the request itself is its samples in protobuf, snappy-compressed: 0.3 to 0.8 bytes per payload byte (docs/destinations.md).',
        ),
      ...httpClientTlsOptions(),
    })
    .superRefine((o, ctx) => {
      const given = [o.prefix, o.metricKey, o.metricTopicLevel].filter((v) => v !== undefined).length;
      if (given > 1) ctx.addIssue({ code: 'custom', message: 'give at most one of prefix, metricKey, metricTopicLevel', path: ['prefix'] });
      for (const name of [...Object.keys(o.headers), ...Object.keys(o.headerFiles)]) {
        if (OWN_HEADERS.includes(name.toLowerCase()) || (o.auth !== undefined && name.toLowerCase() === 'authorization'))
          ctx.addIssue({ code: 'custom', message: `header '${name}' is set by the destination itself (remote write, auth)`, path: ['headers', name] });
      }
      // Two sources for one label name: one would silently win.
      const named = new Map<string, string>();
      const claim = (label: string, by: string, path: (string | number)[]): void => {
        const before = named.get(label);
        if (before !== undefined) ctx.addIssue({ code: 'custom', message: `label '${label}' is given twice (${before} and ${by})`, path });
        else named.set(label, by);
      };
      if (o.topicLabel !== false) claim(o.topicLabel, 'topicLabel', ['topicLabel']);
      if (o.gatewayLabel !== false) claim(o.gatewayLabel, 'gatewayLabel', ['gatewayLabel']);
      for (const k of Object.keys(o.topicLabels)) claim(k, 'topicLabels', ['topicLabels', k]);
      for (const k of Object.keys(o.externalLabels)) claim(k, 'externalLabels', ['externalLabels', k]);
      o.labels.forEach((k, i) => {
        claim(labelOf(k), 'labels', ['labels', i]);
      });
    }),
);

/**
 * A name as Prometheus takes it: each character outside [a-zA-Z0-9_] (and : in a metric name)
 * becomes _, and a name starting with a digit gets a leading _ (temp-C: temp_C, 2nd: _2nd), as
 * Telegraf's and the OpenTelemetry collector's Prometheus outputs write them.
 */
export function sanitiseName(name: string, colon: boolean): string {
  const out = name.replace(colon ? /[^a-zA-Z0-9_:]/g : /[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(out) || out === '' ? `_${out}` : out;
}

/** The label a payload key in `labels` becomes: sanitised, and a leading __ (Prometheus's own names) made one _. */
export function labelOf(key: string): string {
  const s = sanitiseName(key, false);
  return s.startsWith('__') ? s.replace(/^_+/, '_') : s;
}

export type PrometheusOptions = z.output<typeof prometheusOptionsSchema>;
