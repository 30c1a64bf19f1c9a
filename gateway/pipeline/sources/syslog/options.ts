// Options of a `type: syslog` source: routers, switches, UPSs, cameras and PLC gateways in the
// cabinet send their events by syslog (RFC 5424 or RFC 3164) over UDP, TCP or TLS (RFC 5425).
// zod only: loaded with the config; the listeners load when such a source is created.
import { isIP } from 'node:net';
import { z } from '../../../../core/zod.js';
import { bindHostSchema } from '../../../../core/bind-host.js';
import { sourceBaseSchema } from '../kind.js';
import { topicProblems } from '../topic-template.js';

/** The placeholders of the topic template: the message's own fields (sanitised) and the source's. */
export const SYSLOG_TOPIC_VOCABULARY = ['hostname', 'appName', 'procId', 'msgId', 'facility', 'severity', 'format', 'transport', 'source'] as const;

export const DEFAULT_SYSLOG_TOPIC = 'syslog/${hostname}/${appName}';

// Loopback by default, as the http source and the broker: syslog has no authentication, so
// opening it to the cabinet's network is a choice written in the file (host: 0.0.0.0), with `allow`.
const HOST_TEXT = "Address to listen on (IPv4 or IPv6; '0.0.0.0' or '::' for every address). Default loopback: syslog has no authentication.";

const portSchema = (port: number) =>
  z
    .number()
    .int()
    .min(0)
    .max(65_535)
    .default(port)
    .describe(`Port (0: any free port, said in the log and status). 514 (udp, tcp) and 6514 (tls) need root or CAP_NET_BIND_SERVICE.`);

export const syslogSourceSchema = sourceBaseSchema
  .extend({
    type: z.literal('syslog'),
    udp: z
      .strictObject({
        host: bindHostSchema('127.0.0.1', HOST_TEXT),
        port: portSchema(5514),
        receiveBufferBytes: z
          .number()
          .int()
          .min(65_536)
          .max(256 * 1024 * 1024)
          .optional()
          .describe(
            "The socket's receive buffer (SO_RCVBUF, rsyslog imudp's rcvbufSize): datagrams that come while it is full are dropped by the kernel (counted: dropped{reason=\"receive-buffer\"}). Unset: the system's (net.core.rmem_default, 208 KiB on Debian). The kernel caps it at net.core.rmem_max: the start logs a warning naming the sysctl when it did.",
          ),
      })
      .optional()
      .describe('Take datagrams (RFC 5426), one message each. No acknowledgement: see docs/syslog-source.md for what is promised.'),
    tcp: z
      .strictObject({ host: bindHostSchema('127.0.0.1', HOST_TEXT), port: portSchema(5514) })
      .optional()
      .describe('Take a stream (RFC 6587): octet-counted or LF-framed, detected per message.'),
    relp: z
      .strictObject({
        host: bindHostSchema('127.0.0.1', HOST_TEXT),
        port: portSchema(2514),
        tls: z
          .strictObject({
            cert: z.string().describe('PEM certificate file (relative to the config file); reloaded on SIGHUP.'),
            key: z.string().describe('PEM private key file (relative to the config file); reloaded on SIGHUP.'),
            ca: z
              .string()
              .optional()
              .describe(
                "PEM CA bundle (relative to the config file; reloaded on SIGHUP): given, a sender must present a certificate it signed (omrelp's tls.myCert), else its handshake fails (counted).",
              ),
          })
          .optional()
          .describe(
            'RELP over TLS from the first byte (omrelp tls="on"; librelp has no STARTTLS): the sender needs a certificate of its own (tls.myCert) or tls.tlslib="openssl", see docs/syslog-source.md.',
          ),
      })
      .optional()
      .describe(
        "Take RELP (rsyslog's omrelp): each message answered only once committed, so what the sender saw acknowledged is on disk and what it did not it sends again. Plain TCP unless `tls` is given.",
      ),
    tls: z
      .strictObject({
        host: bindHostSchema('127.0.0.1', HOST_TEXT),
        port: portSchema(6514),
        cert: z.string().describe('PEM certificate file (relative to the config file); reloaded on SIGHUP.'),
        key: z.string().describe('PEM private key file (relative to the config file); reloaded on SIGHUP.'),
      })
      .optional()
      .describe('Take a stream over TLS (RFC 5425), framed as on tcp.'),
    topic: z
      .string()
      .default(DEFAULT_SYSLOG_TOPIC)
      .superRefine((t, ctx) => {
        for (const message of topicProblems(t, SYSLOG_TOPIC_VOCABULARY)) ctx.addIssue({ code: 'custom', message });
      })
      .describe(
        `Topic of each message: \${${SYSLOG_TOPIC_VOCABULARY.join('} ${')}} (severity and facility by name; a field the message lacks is '-'; '/', '+', '#' in a value become '_').`,
      ),
    allow: z
      .array(z.string().refine((c) => cidr(c) !== undefined, { message: "an address or a CIDR range ('192.168.10.0/24', 'fd00::/8', '10.0.0.7')" }))
      .default([])
      .describe('Senders taken (addresses or CIDR ranges); empty: any. Others are dropped and counted. A UDP sender address can be forged.'),
    maxMessageBytes: z
      .number()
      .int()
      .min(480)
      .max(1024 * 1024)
      .default(8192)
      .describe("Longest message kept, in bytes (rsyslog's default maxMessageSize): a longer one is cut to this length, marked and counted, not refused."),
    maxConnections: z.number().int().min(1).default(64).describe('TCP and TLS connections open at once; one more is closed as soon as accepted (counted).'),
    idleTimeoutMs: z
      .number()
      .int()
      .min(1000)
      .default(600_000)
      .describe('A connection silent this long is closed (the sender reconnects when it has a message).'),
    messageTimeoutMs: z
      .number()
      .int()
      .min(1000)
      .default(30_000)
      .describe('A message begun must end within this long (slow senders holding a connection); else the connection is closed, what came kept.'),
    maxInFlight: z
      .number()
      .int()
      .min(1)
      .default(1000)
      .describe('Messages submitted and not yet committed: beyond, TCP and TLS stop reading (the sender queues) and datagrams are dropped (counted).'),
    stopDrainMs: z
      .number()
      .int()
      .min(0)
      .default(2000)
      .describe('At a stop, how long connections are read after the gateway said it closes them (senders see it and queue), and commits are waited for.'),
    publishLocal: z.boolean().default(false).describe('Also publish each committed message on the embedded broker (QoS 0), for dashboards.'),
  })
  .superRefine((o, ctx) => {
    if (!o.udp && !o.tcp && !o.tls && !o.relp)
      ctx.addIssue({ code: 'custom', path: ['udp'], message: 'a syslog source needs at least one of udp, tcp, tls or relp' });
    const ports = new Map<string, string>();
    for (const t of ['tcp', 'tls', 'relp'] as const) {
      const l = o[t];
      if (!l || l.port === 0) continue;
      const key = `${l.host}:${l.port}`;
      const other = ports.get(key);
      if (other) ctx.addIssue({ code: 'custom', path: [t, 'port'], message: `${t} and ${other} both on ${key}: give each its own port` });
      ports.set(key, t);
    }
  });

export type SyslogSourceOptions = z.output<typeof syslogSourceSchema>;

/** An address or CIDR range as [address, prefix, family], or undefined. */
export function cidr(text: string): [address: string, prefix: number, family: 'ipv4' | 'ipv6'] | undefined {
  const m = /^([^/]+?)(?:\/(\d{1,3}))?$/.exec(text.trim());
  if (!m) return undefined;
  const v = isIP(m[1]!);
  if (v === 0) return undefined;
  const max = v === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  return prefix > max ? undefined : [m[1]!, prefix, v === 4 ? 'ipv4' : 'ipv6'];
}
