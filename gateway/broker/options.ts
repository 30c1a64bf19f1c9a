// Broker options (zod): listeners, authentication, ACL, limits. The lead composes this schema
// into the config file schema; defaults and .describe() texts feed the generated defaults doc.
import { z } from '../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../core/timer-delay.js';
import { ERRORS } from '../../core/errors.js';
import { validFilter } from '../../core/topic-filter.js';
import { urlHost } from '../../core/bind-host.js';
import { listenerSchema } from './listener-options.js';

export { listenerName, listenerSchema, type ListenerOptions } from './listener-options.js';

const aclTopic = z
  .string()
  .min(1)
  .refine((s) => validFilter(s), { message: "not a valid MQTT topic filter ('#' only as the last level, '+' alone in its level)" });

export const aclRuleSchema = z.strictObject({
  topic: aclTopic.describe('Topic filter; may contain %u (user name) and %c (client id) in pattern rules.'),
  access: z
    .enum(['read', 'write', 'readwrite', 'deny'])
    .default('readwrite')
    .describe('read = subscribe/receive, write = publish, deny = neither (wins over any allow).'),
});

export const aclSchema = z
  .strictObject({
    anonymous: z.array(aclRuleSchema).default([]).describe('Rules for clients without a user name.'),
    users: z.record(z.string(), z.array(aclRuleSchema)).default({}).describe('Rules per user name.'),
    patterns: z
      .array(aclRuleSchema)
      .default([])
      .describe('Rules for every client, with %u and %c substituted (a rule whose %u/%c value contains / + # is skipped).'),
  })
  .describe('Mosquitto-like topic ACL. When present, anything not allowed is denied; when absent, every topic is allowed.');

export const userSchema = z.strictObject({
  username: z.string().min(1).describe('MQTT user name.'),
  password: z
    .string()
    .regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/, {
      message: 'must be a scrypt hash as printed by `gatehouse passwd` (scrypt$N$r$p$salt$hash), never a plain password',
    })
    .describe('scrypt hash made by `gatehouse passwd`.'),
  maxPublishRatePerClient: z
    .number()
    .min(0)
    .optional()
    .describe("broker.maxPublishRatePerClient for this user's connections (0: no limit), e.g. a bridge publishing many devices' readings over one connection."),
  maxPublishBytesPerSecPerClient: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe("broker.maxPublishBytesPerSecPerClient for this user's connections (0: no limit)."),
});

export const mqtt5Schema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe('Serve MQTT 5 clients (protocol level 5) beside 3.1.1/3.1 on every listener; false refuses them with CONNACK 0x01 as before.'),
    maxSessionExpirySeconds: z
      .number()
      .int()
      .min(0)
      .max(0xffff_ffff)
      .optional()
      .describe(
        'Longest Session Expiry Interval granted, in seconds: a client asking for more (or 0xFFFFFFFF, never) gets this, told in its CONNACK (Session Expiry Interval), and a DISCONNECT asking for more gets this too; sessions kept from an earlier run are held to it at start. Default: none, as the client asks (sessions are still bounded by maxSessions). EMQX grants at most 2 hours by default, AWS IoT 1 hour (up to 7 days).',
      ),
    topicAliasMaximum: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(64)
      .describe('Topic aliases a v5 client may set per connection (CONNACK Topic Alias Maximum).'),
    maxKeepaliveSeconds: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(60)
      .describe(
        'Largest keep alive granted to a v5 client; a larger request, or keep alive 0 (none), is answered with Server Keep Alive (0 = grant any, keepaliveLimit still applies).',
      ),
    maxQueuedMessages: z
      .number()
      .int()
      .min(1)
      .default(1000)
      .describe(
        'Per v5 session: messages waiting for delivery (offline, or beyond the client Receive Maximum); their bytes (payloads and MQTT 5 properties) are bounded by outbound.maxQueueBytes. Further ones are dropped and counted.',
      ),
    maxSessions: z
      .number()
      .int()
      .min(1)
      .default(10_000)
      .describe(
        'v5 sessions held at once (connected or within their Session Expiry Interval). A CONNECT that would start one more removes the session disconnected longest ago (its queued messages dropped, counted in gatehouse_mqtt5_sessions_evicted_total); when every session is connected it gets CONNACK 0x97 (quota exceeded).',
      ),
  })
  .describe('MQTT 5 (see docs/broker.md). The Receive Maximum offered to clients is maxInflight.');

export const authBackoffSchema = z
  .strictObject({
    maxFailures: z.number().int().min(1).default(5).describe('Failed CONNECTs from one address (or for one user name) within windowMs before a ban.'),
    windowMs: z.number().int().min(1000).default(60_000).describe('Window in which failures are counted.'),
    banMs: z.number().int().min(0).default(10_000).describe('First ban; each further ban of the same address or user name doubles it (0 = never ban).'),
    maxBanMs: z.number().int().min(0).default(600_000).describe('Longest ban.'),
    maxConcurrentChecks: z
      .number()
      .int()
      .min(1)
      .default(2)
      .describe('Password checks (scrypt, on the libuv thread pool shared with the store) running at once; keeps store writes from queueing behind an attack.'),
    maxQueuedChecks: z
      .number()
      .int()
      .min(0)
      .default(64)
      .describe('Password checks waiting for a slot; beyond this CONNECT gets CONNACK 0x03 (server unavailable).'),
  })
  .describe(
    'Failed-authentication backoff: temporary bans per client address and per user name (a user name ban spares addresses that authenticated as it before). Banned CONNECTs get CONNACK 0x05 without a password check.',
  );

export const outboundSchema = z
  .strictObject({
    maxQueueMessages: z.number().int().min(2).default(1000).describe('Per subscriber: messages handed to its socket and not yet flushed.'),
    maxQueueBytes: z
      .number()
      .int()
      .min(1024)
      .default(4 * 1024 * 1024)
      .describe('Per subscriber: bytes handed to its socket and not yet flushed.'),
  })
  .describe(
    'Slow consumers. Over half of either limit QoS 0 deliveries to that subscriber are dropped; a QoS 1/2 delivery over the limit disconnects it (logged, counted). Publishers never wait on a subscriber socket.',
  );

export const brokerOptionsSchema = z
  .strictObject({
    maxPublishRatePerClient: z
      .number()
      .min(0)
      .default(1000)
      .describe(
        "PUBLISH packets per second one client may send, on average (0: no limit). Over it the broker stops reading that client's socket until its budget returns (TCP backpressure, as EMQX messages_rate): nothing is dropped or refused, QoS 0 included; the client is counted (gatehouse_mqtt_client_throttled_total) and logged at most once a minute. A device that buffered publishes while offline may send publishRateBurstSeconds' worth at once. AWS IoT allows 100 per connection; mosquitto has no limit.",
      ),
    maxPublishBytesPerSecPerClient: z
      .number()
      .int()
      .min(0)
      .default(1024 * 1024)
      .describe(
        'PUBLISH payload bytes per second one client may send, on average (0: no limit); enforced as maxPublishRatePerClient. One publish larger than the budget still passes, and the client then waits until its average is back under the limit. AWS IoT allows 512 KiB/s per connection.',
      ),
    publishRateBurstSeconds: z
      .number()
      .min(0.1)
      .max(3600)
      .default(3)
      .describe(
        'The burst a client may send at once before the two limits above hold it back, in seconds of its rate (default: 3,000 publishes and 3 MiB at the default rates).',
      ),
    listeners: z
      .array(listenerSchema)
      .min(1)
      // prefault (parsed like a written value), not default: the host's transform (core/bind-host.ts)
      // would keep a default out of docs/configuration.md
      .prefault([{ host: '127.0.0.1', port: 1883 }])
      .describe(
        'Where the broker listens. Each listener is plain TCP, or TLS when `tls` is set; MQTT over WebSockets (ws://, wss://) with protocol: websockets.',
      ),
    allowAnonymous: z
      .boolean()
      .default(true)
      .describe('Accept clients without a user name. Only allowed while every listener is on loopback (as mosquitto 2).'),
    users: z
      .array(userSchema)
      .default([])
      .refine((u) => new Set(u.map((x) => x.username)).size === u.length, { message: 'user names must be unique' })
      .describe('Users with scrypt-hashed passwords.'),
    acl: aclSchema.optional(),
    maxConnections: z.number().int().min(1).default(1000).describe('Connected clients beyond this get CONNACK 0x03 (MQTT 5: 0x88 Server unavailable).'),
    maxPayloadBytes: z
      .number()
      .int()
      .min(1)
      .max(256 * 1024 * 1024)
      .default(256 * 1024)
      .describe(
        "Largest PUBLISH payload accepted (bytes). Default 256 KiB: AWS IoT caps at 128 KiB, too small for some (images, batched readings). Bigger publishes disconnect the client. The gateway's own publishes (rule republish, downlinks) are held to it too: a bigger one fails its action (error action).",
      ),
    maxSubscriptionsPerClient: z
      .number()
      .int()
      .min(0)
      .default(1000)
      .describe(
        'Topic filters one client may hold at once (0: no limit). A filter beyond it is refused (SUBACK 0x80; MQTT 5: 0x97 Quota exceeded), counted (gatehouse_mqtt_subscriptions_refused_total) and logged at a bounded rate; subscribing again to a filter the client holds always passes. Each filter costs memory in the routing tables: one client made 20,000. AWS IoT allows 50 per connection; mosquitto has no limit.',
      ),
    maxTopicLength: z
      .number()
      .int()
      .min(64)
      .max(65_535)
      .default(1024)
      .describe(
        'Longest topic name (PUBLISH, a will) or topic filter (SUBSCRIBE) accepted, in UTF-8 bytes. A longer PUBLISH disconnects an MQTT 3.1.1 client (MQTT 5: PUBACK 0x90 Topic Name invalid), a longer filter is refused (SUBACK 0x80; MQTT 5: 0x8F), a longer will topic refuses the CONNECT (CONNACK 0x05; MQTT 5: 0x90); counted in gatehouse_mqtt_topic_too_long_total and logged at a bounded rate. MQTT allows 65,535: one client holding maxSubscriptionsPerClient filters of 60 KB took 66 MB of memory (four took 265 MB). AWS IoT allows 256; mosquitto 65,535.',
      ),
    maxClientIdLength: z
      .number()
      .int()
      .min(23)
      .max(65_535)
      .default(256)
      .describe(
        'Longest client id accepted, in UTF-8 bytes; a longer one gets CONNACK 0x02 (MQTT 5: 0x85 Client Identifier not valid), counted in gatehouse_mqtt_client_id_too_long_total. Sessions are kept by client id (maxPersistentSessions of them): 65,535-byte ids would make that table 640 MB. MQTT requires at least 23; AWS IoT allows 128.',
      ),
    maxQueuedMessages: z
      .number()
      .int()
      .min(1)
      .default(1000)
      .describe(
        'Per MQTT 3.1.1 persistent session (clean: false) whose client is offline: QoS 1/2 messages kept for it, their bytes (payloads and the MQTT 5 properties of their publishers) bounded by outbound.maxQueueBytes (as mosquitto max_queued_messages). Further ones are dropped and counted. MQTT 5 sessions: mqtt5.maxQueuedMessages.',
      ),
    maxRetainedMessages: z
      .number()
      .int()
      .min(0)
      .default(100_000)
      .describe(
        "Retained messages held for clients (topics). A retained publish to a new topic beyond it is delivered but not retained, counted (gatehouse_mqtt_retained_refused_total) and logged at a bounded rate; replacing or clearing a retained message always passes. aedes kept every one for ever, in memory and in the state file. 0: no client's message is retained. The gateway's own retained rule status (<prefix>/<gatewayId>/rules/status) is not counted here nor in maxRetainedBytes, and never refused.",
      ),
    maxRetainedBytes: z
      .number()
      .int()
      .min(0)
      .default(64 * 1024 * 1024)
      .describe(
        'Bytes of all retained messages together, each its topic, its payload and its MQTT 5 properties (user properties, correlation data, ...); a retained publish that would pass it is delivered but not retained (as maxRetainedMessages).',
      ),
    maxPersistentSessions: z
      .number()
      .int()
      .min(1)
      .default(10_000)
      .describe(
        'MQTT 3.1.1 persistent sessions (clean: false) held at once, connected or not. A session beyond it removes the one disconnected longest ago (its subscriptions and queued messages; counted in gatehouse_mqtt_sessions_evicted_total). aedes kept every such session for ever: a client making up a new id at each connect grew the heap without bound. MQTT 5: mqtt5.maxSessions.',
      ),
    maxInflight: z
      .number()
      .int()
      .min(1)
      .default(100)
      .describe(
        'Per client: publishes (any QoS) handed to the gateway and not yet committed. Further publishes wait (no ack, socket not read): backpressure instead of memory growth.',
      ),
    connectTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(MAX_TIMER_MS, TIMER_TOO_LONG)
      .default(5_000)
      .describe(
        'A connection must send CONNECT within this time, else it is closed and counted. On TLS and WebSocket listeners it runs from the TCP accept: the TLS handshake and the HTTP upgrade count against it.',
      ),
    sysIntervalSec: z
      .number()
      .int()
      .min(0)
      .max(86_400)
      .default(10)
      .describe(
        "Seconds between the broker's figures on $SYS/broker/... under mosquitto's names (clients/connected, messages/received, load/messages/received/1min, uptime, version...; its sys_interval, 10 by default too), published at QoS 0 and, for a 3.1.1 client that subscribes to $SYS, at once (not retained: the retained file would be rewritten at each round). 0: none. docs/broker.md, $SYS topics.",
      ),
    maxPendingConnections: z
      .number()
      .int()
      .min(1)
      .default(256)
      .describe('Sockets open without a CONNECT yet, overall. They do not count against maxConnections; one more closes the oldest of them (counted).'),
    maxPendingPerAddress: z
      .number()
      .int()
      .min(1)
      .default(32)
      .describe('Sockets without a CONNECT yet from one source address; one more closes the oldest from that address (counted).'),
    authBackoff: authBackoffSchema.prefault({}),
    outbound: outboundSchema.prefault({}),
    keepaliveLimit: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        'Largest keepalive (seconds) a client may ask for; 0 = no limit. Over it, or keepalive 0: a 3.1.1 client gets CONNACK 0x06 (aedes), a v5 client Server Keep Alive of at most this.',
      ),
    drainTimeoutMs: z
      .number()
      .int()
      .min(0)
      .max(MAX_TIMER_MS, TIMER_TOO_LONG)
      .default(30_000)
      .describe('A subscriber whose socket stays full this long is disconnected (0 = only the outbound limits apply). Publishers never wait for it.'),
    mqtt5: mqtt5Schema.prefault({}),
  })
  .describe('Embedded MQTT broker (aedes).');

export type BrokerOptions = z.infer<typeof brokerOptionsSchema>;
export type BrokerOptionsInput = z.input<typeof brokerOptionsSchema>;
export type AclOptions = z.infer<typeof aclSchema>;
export type AclRule = z.infer<typeof aclRuleSchema>;

/** True for addresses only reachable from this host. */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '[::1]' || h === '0:0:0:0:0:0:0:1') return true;
  if (h.startsWith('::ffff:')) return isLoopback(h.slice(7));
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Refuse a configuration that would let anyone on the network publish: anonymous access with a
 * listener beyond loopback (mosquitto 2 does the same). Mutual TLS (requestCert with a CA)
 * authenticates clients by certificate, so such a listener may stay open to anonymous users.
 */
export function checkBrokerSecurity(options: BrokerOptions): void {
  if (!options.allowAnonymous) return;
  options.listeners.forEach((l, i) => {
    if (isLoopback(l.host)) return;
    if (l.tls?.requestCert && l.tls.ca) return;
    throw ERRORS.GH_CONFIG_INSECURE(
      { what: `broker listener ${urlHost(l.host)}:${l.port}`, unprotected: 'while anonymous clients are allowed' },
      {
        where: `broker.listeners.${i}.host`,
        hint:
          options.users.length > 0
            ? 'set broker.allowAnonymous: false (users are configured), or bind the listener to 127.0.0.1'
            : 'add broker.users (hash passwords with `gatehouse passwd`) and set broker.allowAnonymous: false, use mutual TLS (tls.requestCert + tls.ca), or bind the listener to 127.0.0.1',
      },
    );
  });
}
