// Options of a `type: http` source: devices and apps POST their readings (Shelly, ESPHome, a
// LoRaWAN network server's webhook, Telegraf's or Fluent Bit's http output, curl) to
// /topics/<topic>, as AWS IoT's HTTPS publish; a 2xx answer means the message is committed.
// zod only: loaded with the config; the server loads when such a source starts.
import { z } from '../../../../core/zod.js';
import { bindHostSchema } from '../../../../core/bind-host.js';
import { validFilter } from '../../../../core/topic-filter.js';
import { sourceBaseSchema } from '../kind.js';

/** Loopback addresses (as broker/options.ts isLoopback, which would load the broker's schemas here). */
export function loopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (h.startsWith('::ffff:')) return loopbackHost(h.slice(7));
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

const topicsSchema = z
  .array(z.string().refine(validFilter, { message: "not a valid MQTT topic filter ('#' only as the last level, '+' alone in its level)" }))
  .min(1)
  .default(['#'])
  .describe("Topics this credential may post to, as MQTT filters (e.g. ['shelly/#']); another topic is refused 403.");

const tokenSchema = z
  .strictObject({
    name: z.string().min(1).max(128).describe('Name of the credential: what principal() returns in a rule, and what logs and status show (never the token).'),
    tokenFile: z
      .string()
      .optional()
      .describe('File holding the bearer token (its first line; relative to the config file), read at start: the config holds no secret.'),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/i, 'the SHA-256 of the token in hex (64 digits): printf %s "$TOKEN" | sha256sum')
      .optional()
      .describe('SHA-256 of the token, in hex (`printf %s "$TOKEN" | sha256sum`): the config holds no secret.'),
    topics: topicsSchema,
  })
  .refine((t) => (t.tokenFile === undefined) !== (t.sha256 === undefined), { message: 'give a token exactly one of tokenFile or sha256' });

const userSchema = z.strictObject({
  username: z.string().min(1).max(128).describe('Basic user name: what principal() returns in a rule.'),
  password: z
    .string()
    .regex(/^scrypt\$/, 'a password hash made by `gatehouse passwd` (scrypt$...), never the password itself')
    .describe("scrypt hash of the password (`gatehouse passwd`), as the broker's users."),
  topics: topicsSchema,
});

export const httpSourceSchema = sourceBaseSchema
  .extend({
    type: z.literal('http'),
    host: bindHostSchema('127.0.0.1', "Address to listen on (IPv4 or IPv6; '::' or '0.0.0.0' for every address). Beyond loopback, auth is required."),
    port: z.number().int().min(0).max(65_535).describe('Port to listen on (0: any free port, said in the log and status).'),
    tls: z
      .strictObject({
        cert: z.string().describe('PEM certificate file (relative to the config file); reloaded on SIGHUP.'),
        key: z.string().describe('PEM private key file (relative to the config file); reloaded on SIGHUP.'),
      })
      .optional()
      .describe('Serve HTTPS with these files (plain HTTP on the port is answered 400). Without it, plain HTTP: credentials cross the network in clear.'),
    auth: z
      .strictObject({
        tokens: z.array(tokenSchema).default([]).describe('Bearer tokens (Authorization: Bearer <token>).'),
        users: z.array(userSchema).default([]).describe('Basic users (Authorization: Basic, e.g. curl -u user:password).'),
        maxFailures: z
          .number()
          .int()
          .min(1)
          .default(10)
          .describe(
            'Failed authentications from one address within a minute before the address is banned: 429 for 60 s, doubling with each further ban up to an hour.',
          ),
      })
      .default({ tokens: [], users: [], maxFailures: 10 })
      .describe('Credentials. None: anonymous requests, allowed only on a loopback host.'),
    maxBodyBytes: z
      .number()
      .int()
      .min(1)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024)
      .describe('Largest request body in bytes, as sent and once decoded (gzip, deflate): a larger one is answered 413 and not read nor decoded further.'),
    maxBatchMessages: z.number().int().min(1).default(1000).describe('Most lines of an NDJSON body (one message each); more is answered 413.'),
    maxInFlight: z
      .number()
      .int()
      .min(1)
      .default(64)
      .describe('Requests being read or waiting for their commit at once; one more is answered 503 with Retry-After (a slow or full disk holds commits).'),
    maxConnections: z.number().int().min(1).default(128).describe('Connections open at once; one more is closed as soon as accepted (counted).'),
    retryAfterSeconds: z.number().int().min(1).default(5).describe('Retry-After of a 503 (busy, store refusing, stopping).'),
    requestTimeoutMs: z
      .number()
      .int()
      .min(1000)
      .default(30_000)
      .describe('A request whose headers and body take longer to arrive is answered 408 and closed (slow clients).'),
    stopDrainMs: z
      .number()
      .int()
      .min(0)
      .default(5000)
      .describe(
        "At a stop, how long requests whose messages were submitted may wait for their commits and 200s; then their connections are closed unanswered (their clients send them again) and the gateway's own drain (shutdownTimeoutMs) waits for the commits.",
      ),
    publishLocal: z
      .boolean()
      .default(false)
      .describe(
        'Also publish each committed message on the embedded broker (QoS 0) for MQTT subscribers such as dashboards; retained when the request says ?retain=true (refused 400 without publishLocal).',
      ),
  })
  .superRefine((o, ctx) => {
    if (!loopbackHost(o.host) && o.auth.tokens.length === 0 && o.auth.users.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['auth'],
        message: `an http source on ${o.host} (beyond loopback) needs credentials: add auth.tokens or auth.users, or listen on 127.0.0.1`,
      });
  });

export type HttpSourceOptions = z.output<typeof httpSourceSchema>;
