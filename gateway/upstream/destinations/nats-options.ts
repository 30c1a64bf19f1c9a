// The NATS destination's options (destinations.nats in the config): servers (each URL checked as
// the nats client would read it), the subject template, the JetStream stream and createStream,
// credentials and TLS files, the proxy, timeouts and batch limits, each with its .describe()
// (docs/configuration.md); and the subjects they name (topicToSubject, streamSubjects: the schema
// checks what createStream would capture). Apart from nats.ts (the connection and the sends).
import { ipv6UrlProblem } from '../../../core/bind-host.js';
import { z } from '../../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../../core/timer-delay.js';
import { destinationProxyOption } from '../proxy-options.js';

const MiB = 1024 * 1024;

/**
 * Why the nats client could not connect to a server URL as meant, or undefined: it fails each
 * attempt on a port that is not a number from 1 to 65535 ('Invalid URL', forever) and ignores a
 * scheme it does not know (htp:// connected as nats://).
 */
function natsServerProblem(server: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(server);
  if (m && !['nats', 'tls', 'ws', 'wss'].includes(m[1]!.toLowerCase())) return `scheme '${m[1]}://' is not a NATS one: use nats://, tls://, ws:// or wss://`;
  let u: URL;
  const url = m ? server : `nats://${server}`;
  try {
    u = new URL(url);
  } catch {
    // nats://fd00::1:4222 (or fd00::1:4222 alone): an IPv6 address goes in brackets
    const v6 = ipv6UrlProblem(url);
    if (v6) return m ? v6 : v6.replaceAll("'nats://", "'");
    return 'not a valid URL: the port must be a number from 1 to 65535, and @ : / in a user name or password percent-encoded (%40 %3A %2F)';
  }
  if (u.port === '0') return 'port 0 cannot be connected to: give the port of the NATS server (4222)';
  return undefined;
}

/** (A function: built with the schema that uses it, on first use.) */
const natsServerSchema = (): z.ZodType<string> =>
  z
    .string()
    .min(1)
    .superRefine((server, ctx) => {
      const p = natsServerProblem(server);
      if (p) ctx.addIssue({ code: 'custom', message: p });
    });

// z.lazy: built on first use, so a gateway without this destination does not hold it (docs/benchmarks.md, "Idle footprint").
export const natsOptionsSchema = z.lazy(() =>
  z
    .strictObject({
      servers: z
        .union([natsServerSchema(), z.array(natsServerSchema()).min(1)])
        .default('nats://127.0.0.1:4222')
        .describe('NATS server URL(s), e.g. nats://host:4222 or tls://host:4222.'),
      subject: z
        .string()
        .min(1)
        .default('gatehouse.${stream}')
        .describe(
          "Subject template: ${stream}, ${key}, ${topic} ({stream} etc. still read, deprecated; the MQTT topic with '/' turned into '.', and '.', '*', '>', spaces or empty levels turned into '_').",
        ),
      stream: z.string().min(1).default('GATEHOUSE').describe('JetStream stream that must capture the subjects (checked on connect).'),
      createStream: z
        .boolean()
        .default(false)
        .describe(
          'Create the JetStream stream if it is missing (file storage, subjects derived from the subject template, e.g. gatehouse.>). Default: require it to exist.',
        ),
      duplicateWindowMs: z
        .number()
        .int()
        .positive()
        .default(120_000)
        .describe('Deduplication window of a stream created by createStream: resends within it are dropped by Nats-Msg-Id.'),
      credsFile: z.string().min(1).optional().describe('NATS .creds file (JWT + NKey seed) for decentralised auth.'),
      user: z.string().optional().describe('User name (with password).'),
      password: z.string().optional().describe('Password. Never logged or shown in status.'),
      token: z.string().optional().describe('Auth token. Never logged or shown in status.'),
      tls: z
        .strictObject({
          caFile: z.string().optional().describe('CA bundle to verify the server.'),
          certFile: z.string().optional().describe('Client certificate (mutual TLS).'),
          keyFile: z.string().optional().describe('Client key (mutual TLS).'),
        })
        .optional()
        .describe('TLS files; also implied by a tls:// server URL.'),
      name: z.string().default('gatehouse').describe('Connection name shown by the server.'),
      ackTimeoutMs: z
        .number()
        .int()
        .positive()
        .max(MAX_TIMER_MS, TIMER_TOO_LONG)
        .default(5000)
        .describe(
          'How long a send waits without any JetStream acknowledgement (each one starts the wait again, so a slow uplink delivering a batch for longer is not cut off) before its records not yet acknowledged are reported retryable; one publish waits at most 6 times as long.',
        ),
      reconnectWaitMs: z
        .number()
        .int()
        .positive()
        .max(MAX_TIMER_MS, TIMER_TOO_LONG)
        .default(2000)
        .describe('Wait between reconnect attempts (the client adds jitter).'),
      connectTimeoutMs: z
        .number()
        .int()
        .positive()
        .max(MAX_TIMER_MS, TIMER_TOO_LONG)
        .default(5000)
        .describe(
          "Bound of one connection attempt: the TCP connection (through the proxy: the CONNECT's answer too), the server's INFO, TLS and the server's answer to the client's CONNECT; a server or proxy that holds it longer is given up and tried again, its connection closed.",
        ),
      proxy: destinationProxyOption(),
      maxRecords: z.number().int().min(1).max(10_000).default(500).describe('Records published concurrently per batch.'),
      maxRecordBytes: z
        .number()
        .int()
        .min(1)
        .max(64 * MiB)
        .default(MiB)
        .describe("Max payload of one record; keep at or below the server's max_payload (default 1 MiB)."),
      maxBatchBytes: z
        .number()
        .int()
        .min(1)
        .max(256 * MiB)
        .default(8 * MiB)
        .describe('Max summed payload bytes per batch.'),
    })
    .superRefine((o, ctx) => {
      // The stream createStream makes captures the template's literal head + '>': without a head
      // ('${stream}'), that is '>', every subject, which the server refuses (upstream audit).
      if (o.createStream && streamSubjects(o.subject)[0] === '>')
        ctx.addIssue({
          code: 'custom',
          path: ['subject'],
          message: `with createStream, the subject template needs a literal head ending with '.' (e.g. gatehouse.\${stream}): the stream made for '${o.subject}' would capture '>', every subject, which the server refuses`,
        });
    })
    .describe('NATS JetStream destination (publish with acknowledgement and Nats-Msg-Id).'),
);

export type NatsOptions = z.infer<typeof natsOptionsSchema>;

/** MQTT topic -> NATS subject tokens: '/' -> '.', characters illegal in a token -> '_'. */
export function topicToSubject(topic: string): string {
  let s = '';
  let levelLen = 0;
  for (let i = 0; i < topic.length; i++) {
    const c = topic[i]!;
    if (c === '/') {
      s += levelLen === 0 ? '_.' : '.';
      levelLen = 0;
      continue;
    }
    s += c === '.' || c === '*' || c === '>' || c === ' ' || c === '\t' ? '_' : c;
    levelLen++;
  }
  return levelLen === 0 ? `${s}_` : s;
}

/** Subjects a created stream captures: the template's literal head + '>' (e.g. 'gatehouse.>'). */
export function streamSubjects(template: string): string[] {
  const open = template.indexOf('{');
  if (open < 0) return [template];
  const head = template.slice(0, open);
  const dot = head.lastIndexOf('.');
  return [dot < 0 ? '>' : `${head.slice(0, dot)}.>`];
}
