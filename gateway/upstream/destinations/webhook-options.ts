// Options of the webhook destination (webhook.ts): the user's own HTTP endpoint (a webhook, a REST
// API, InfluxDB or VictoriaMetrics line protocol). Secrets come from files (tokenFile,
// passwordFile, headerFiles), as the proxy's passwordFile and the http source's tokenFile: kept out
// of the config file and of the process environment.
import { z } from '../../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../../core/timer-delay.js';
import { bracketedUrl } from '../../../core/bind-host.js';
import { destinationProxyOption } from '../proxy-options.js';

const MiB = 1024 * 1024;

/** An HTTP header name (RFC 9110 token). */
export const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not an HTTP header name (letters, digits, - and a few signs; no spaces or colons)');
/** A header value without line breaks (which would end the header and start another). */
export const headerValue = z.string().regex(/^[^\r\n]*$/, 'a header value holds no line break');

/** Headers the destination sets itself: a `headers` entry for them would be overwritten or would break the request. */
export const RESERVED_HEADERS = ['content-length', 'content-type', 'content-encoding', 'host', 'transfer-encoding', 'connection'];

const influxSchema = () =>
  z
    .strictObject({
      measurement: z
        .string()
        .min(1)
        .optional()
        .describe("The measurement of every line, as written. Default (none of measurement, measurementKey, measurementTopicLevel): the record's topic."),
      measurementKey: z.string().min(1).optional().describe('The payload key whose value is the measurement (a record without it is dead-lettered).'),
      measurementTopicLevel: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe("The topic level (1 = the first, as the rules' topic(1)) that is the measurement: 3 for fleet/truck7/engine is engine."),
      tags: z.array(z.string().min(1)).default([]).describe('Payload keys written as tags (a key missing in a record is left out of its line).'),
      topicTags: z
        .record(z.string().min(1), z.number().int().min(1))
        .default({})
        .describe('Tags from topic levels: { truck: 2 } tags fleet/truck7/engine with truck=truck7.'),
      fields: z
        .array(z.string().min(1))
        .optional()
        .describe(
          'Payload keys written as fields. Default: every key whose value is a number, boolean or string, except the tags, the time key and measurementKey (nested objects and arrays are left out). A record with no field is dead-lettered.',
        ),
      tagsObject: z
        .string()
        .min(1)
        .optional()
        .describe(
          'Payload key holding an object whose entries are tags, as Telegraf\'s JSON metric\'s `tags` ({"name":"cpu","tags":{"host":"a"},"fields":{...}}): tagsObject: tags.',
        ),
      fieldsObject: z
        .string()
        .min(1)
        .optional()
        .describe(
          "Payload key holding an object whose entries are the fields, as Telegraf's JSON metric's `fields`: fieldsObject: fields (then `fields` names keys of that object). A record without it is dead-lettered.",
        ),
      passLineProtocol: z
        .boolean()
        .default(false)
        .describe(
          'A payload that is not JSON is taken as line protocol already (Telegraf\'s data_format = "influx" into an http source, one flush a message) and sent as it is, its lines unchanged: InfluxDB\'s 400 for a bad line dead-letters the record with its reason. Off: such a payload is dead-lettered (not JSON).',
        ),
      time: z
        .string()
        .min(1)
        .optional()
        .describe(
          "Payload key holding the point's time: a number in timeUnit, or an ISO 8601 string. Default: when the gateway received the record, apart by its place in its stream within that millisecond (one point per record; needs precision ns or us).",
        ),
      timeUnit: z.enum(['s', 'ms', 'us', 'ns']).default('ms').describe('Unit of a numeric time key.'),
      precision: z
        .enum(['s', 'ms', 'us', 'ns'])
        .default('ns')
        .describe(
          "Precision of the lines' timestamps. ns is what InfluxDB and VictoriaMetrics read when the url gives no precision=; another needs the same precision= in the url (checked).",
        ),
    })
    .superRefine((o, ctx) => {
      const given = [o.measurement, o.measurementKey, o.measurementTopicLevel].filter((v) => v !== undefined).length;
      if (given > 1) ctx.addIssue({ code: 'custom', message: 'give at most one of measurement, measurementKey, measurementTopicLevel', path: ['measurement'] });
      // The receive time in ms or s would make every record of a series received in one
      // millisecond (second) the same point: InfluxDB keeps the last, the others are gone.
      if (o.time === undefined && (o.precision === 'ms' || o.precision === 's'))
        ctx.addIssue({
          code: 'custom',
          path: ['precision'],
          message: `precision ${o.precision} without a time key: records of one series received in the same ${o.precision === 'ms' ? 'millisecond' : 'second'} would be one point (InfluxDB keeps the last written); give time (a payload key), or precision ns or us (and the url's precision= the same)`,
        });
    })
    .describe('format influx: how a JSON payload becomes a line of InfluxDB line protocol.');

export const authSchema = () =>
  z
    .discriminatedUnion('type', [
      z.strictObject({
        type: z.literal('bearer'),
        token: z.string().min(1).optional().describe('The token, in the config file. Never logged or shown in status.'),
        tokenFile: z.string().min(1).optional().describe('File holding the token on its first line (relative to the config file; read at start).'),
      }),
      z.strictObject({
        type: z.literal('basic'),
        username: z
          .string()
          .min(1)
          .regex(/^[^:]*$/, 'a Basic user name holds no colon'),
        password: z.string().optional().describe('The password, in the config file. Never logged or shown in status.'),
        passwordFile: z.string().min(1).optional().describe('File holding the password on its first line (relative to the config file; read at start).'),
      }),
    ])
    .superRefine((a, ctx) => {
      const [inline, file, path] = a.type === 'bearer' ? [a.token, a.tokenFile, 'token'] : [a.password, a.passwordFile, 'password'];
      if ((inline === undefined) === (file === undefined))
        ctx.addIssue({ code: 'custom', message: `give exactly one of ${path} or ${path}File`, path: [path] });
    })
    .describe(
      'Authorization header: { type: bearer, tokenFile } (Authorization: Bearer <token>) or { type: basic, username, passwordFile } (HTTP Basic). Never logged or shown in status.',
    );

// z.lazy: built on first use, so a gateway without this destination does not hold it (docs/benchmarks.md, "Idle footprint").
/** The connection options of a destination POSTing to a user's HTTP endpoint (webhook, prometheus): TLS and proxy. */
export function httpClientTlsOptions() {
  return {
    rejectUnauthorized: z.boolean().default(true).describe('Verify the server certificate (https).'),
    caFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        "PEM file of the CA certificate(s) to verify an https url's certificate against, in place of the system's CAs (relative to the config file; read at start).",
      ),
    certFile: z.string().min(1).optional().describe('PEM client certificate for mutual TLS (with keyFile; relative to the config file; read at start).'),
    keyFile: z.string().min(1).optional().describe('PEM private key of certFile.'),
    proxy: destinationProxyOption(),
  };
}

export const webhookOptionsSchema = z.lazy(() =>
  z
    .strictObject({
      url: bracketedUrl(z.url({ protocol: /^https?$/ })).describe(
        'Endpoint URL (http or https), e.g. https://hooks.example.com/telemetry or http://influx:8086/write?db=plant.',
      ),
      method: z.enum(['POST', 'PUT']).default('POST').describe('HTTP method of each request.'),
      format: z
        .enum(['ndjson', 'json', 'influx'])
        .default('ndjson')
        .describe(
          'Body of a request: ndjson = one JSON line per record (application/x-ndjson); json = one JSON array per batch (application/json); influx = InfluxDB line protocol, one line per record (text/plain).',
        ),
      records: z
        .enum(['line', 'payload'])
        .default('line')
        .describe(
          'ndjson and json: what each record is: line = the NDJSON export line ({"id","stream","seq","topic","receivedAt","payload"}, docs/destinations.md); payload = the payload alone, as sent by the device (a payload that is not JSON is dead-lettered).',
        ),
      influx: influxSchema().prefault({}),
      headers: z
        .record(headerName, headerValue)
        .default({})
        .describe('Headers sent with every request, as written (not secrets: they show in the config file).'),
      headerFiles: z
        .record(headerName, z.string().min(1))
        .default({})
        .describe(
          "Headers whose value is a file's first line (an API key: X-Api-Key: /etc/gatehouse/api.key; relative to the config file, read at start). Never logged.",
        ),
      auth: authSchema().optional(),
      idempotencyHeader: headerName
        .default('Idempotency-Key')
        .describe(
          'Header carrying the batch id: a UUID made from the records of the batch (the same on a retry and after a restart), so the receiver can drop a batch it already took.',
        ),
      compression: z.enum(['none', 'gzip']).default('none').describe('gzip: request bodies gzipped (Content-Encoding: gzip).'),
      timeoutMs: z
        .number()
        .int()
        .min(100)
        .max(MAX_TIMER_MS, TIMER_TOO_LONG)
        .default(30_000)
        .describe(
          'Request timeout: of silence on the connection, and of the whole reply once the batch is sent; a timed-out request is retried with the same batch id.',
        ),
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
        .default(1 * MiB)
        .describe(
          "Max summed payload bytes per request (the body adds each line's id, topic and time): keep it under the receiver's body limit (nginx client_max_body_size: 1 MiB).",
        ),
      ...httpClientTlsOptions(),
    })
    .superRefine((o, ctx) => {
      for (const name of [...Object.keys(o.headers), ...Object.keys(o.headerFiles)]) {
        if (RESERVED_HEADERS.includes(name.toLowerCase()) || (o.auth !== undefined && name.toLowerCase() === 'authorization'))
          ctx.addIssue({ code: 'custom', message: `header '${name}' is set by the destination itself (format, compression, auth)`, path: ['headers', name] });
        if (name.toLowerCase() === o.idempotencyHeader.toLowerCase())
          ctx.addIssue({ code: 'custom', message: `header '${name}' is the idempotencyHeader: it carries the batch id`, path: ['headers', name] });
      }
      const precision = new URL(o.url).searchParams.get('precision');
      if (o.format === 'influx' && urlPrecision(precision) !== o.influx.precision)
        ctx.addIssue({
          code: 'custom',
          message: `the url says precision=${precision ?? '(none: ns)'} and influx.precision is ${o.influx.precision}: the timestamps would be read in the wrong unit; make them the same`,
          path: ['influx', 'precision'],
        });
    }),
);

/** The unit a url's precision= names (InfluxDB 1.x writes u and n, 2.x us and ns; none is ns). */
function urlPrecision(p: string | null): string {
  if (p === null || p === 'n') return 'ns';
  return p === 'u' ? 'us' : p;
}

export type WebhookOptions = z.output<typeof webhookOptionsSchema>;
export type InfluxOptions = WebhookOptions['influx'];
