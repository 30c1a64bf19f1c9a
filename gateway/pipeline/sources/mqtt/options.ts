// Options of a `type: mqtt` source: subscribe to topics on another MQTT broker (the cloud's, a
// site broker) and take what arrives into the pipeline, acknowledged (PUBACK) only once committed.
// zod only: loaded with the config; mqtt.js loads when such a source starts.
import { z } from '../../../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../../../core/timer-delay.js';
import { validFilter } from '../../../../core/topic-filter.js';
import { sourceBaseSchema } from '../kind.js';
import { mqttBrokerUrlSchema } from '../../../../core/broker-url.js';
import { compileClientId } from './client-id.js';
import { destinationProxyOption } from '../../../upstream/proxy-options.js';

const topicSchema = z.strictObject({
  filter: z
    .string()
    .min(1)
    .refine(validFilter, { message: "not a valid MQTT topic filter ('#' only as the last level, '+' alone in its level)" })
    .describe('Topic filter subscribed to on the remote broker (+ and # allowed).'),
  qos: z
    // QoS 2 (Telegraf's, Node-RED's option) adds nothing here: a QoS 1 message is acknowledged only
    // once committed, and what a crash makes come twice is documented (at least once).
    .literal([0, 1], {
      error: 'the subscription QoS is 0 or 1: QoS 1 already acknowledges each message only once it is committed (at least once); QoS 2 is not supported',
    })
    .default(1)
    .describe(
      'Subscription QoS. 1: each message is acknowledged (PUBACK) only once committed, and redelivered by the broker if the gateway stops first. 0: at most once.',
    ),
  stripPrefix: z
    .string()
    .default('')
    .refine((p) => !p.includes('+') && !p.includes('#'), {
      message: "must not contain '+' or '#': it is removed from a topic name, which never holds them (a literal prefix such as \"cmd/site1/\")",
    })
    .describe('Removed from the start of the remote topic (e.g. "cloud/site1/").'),
  localPrefix: z
    .string()
    .default('')
    .refine((p) => !p.includes('+') && !p.includes('#') && !p.includes(String.fromCharCode(0)), {
      message: "must not contain '+', '#' or NUL (it starts a topic, not a filter)",
    })
    .describe('Prepended to the (stripped) topic: the topic rules see (e.g. "downlink/"), so they can tell these messages apart.'),
});

export const mqttSourceSchema = sourceBaseSchema.extend({
  type: z.literal('mqtt'),
  url: mqttBrokerUrlSchema('remote broker').describe('Remote broker URL: mqtt://, mqtts://, ws:// or wss://.'),
  clientId: z
    .string()
    .min(1)
    .max(128)
    .superRefine((v, ctx) => {
      const parts = compileClientId(v);
      if ('problem' in parts) ctx.addIssue({ code: 'custom', message: parts.problem });
    })
    .describe(
      "Stable client id: the persistent session (subscriptions and QoS 1 messages queued while the gateway is offline) is tied to it. ${gatewayId} (the config's gatewayId) and ${installationId} (the gateway's installation id, 16 hex digits kept in <dataDir>/installation-id, made anew on another machine or with a new store) are filled in: gateways flashed from one SD card image share the config and the host name, so give them e.g. src-${installationId}; with one client id they share one session, take it from each other at every connect, and the broker splits the messages between them.",
    ),
  username: z.string().optional().describe('User name.'),
  password: z.string().optional().describe('Password. Never logged or shown in status.'),
  caFile: z.string().optional().describe('CA bundle to verify the broker (mqtts/wss); relative to the config file.'),
  certFile: z.string().optional().describe('Client certificate file (mutual TLS, e.g. AWS IoT Core); read again before each reconnect.'),
  keyFile: z.string().optional().describe('Client private key file (mutual TLS).'),
  rejectUnauthorized: z.boolean().default(true).describe('Verify the broker certificate. Only turn off for testing.'),
  proxy: destinationProxyOption().describe(
    "This source's proxy to its broker (an HTTP CONNECT tunnel): false connects directly (whatever network.proxy and the environment say), a URL goes through that proxy (user:password@ allowed, no noProxy check). Default: the gateway's network.proxy, or the environment (HTTPS_PROXY for mqtts/wss, HTTP_PROXY for mqtt/ws, NO_PROXY).",
  ),
  protocolVersion: z
    .union([z.literal(4), z.literal(5)])
    .default(4)
    .describe('4 = MQTT 3.1.1, 5 = MQTT 5 (message properties reach the rules; session expiry below).'),
  sessionExpirySec: z
    .number()
    .int()
    .min(0)
    .max(0xffffffff)
    .optional()
    .describe(
      'MQTT 5 session expiry (default 7 days, 604800): how long the broker keeps the session (and queues QoS 1 messages) while the gateway is offline. MQTT 3.1.1 has no such field: with protocolVersion 4 it is not sent, the broker decides (check-config and start warn).',
    ),
  maxMessageBytes: z
    .number()
    .int()
    .min(1)
    .max(256 * 1024 * 1024)
    .default(256 * 1024)
    .describe(
      'Largest message payload taken (bytes; default 256 KiB, as broker.maxPayloadBytes: a republish of a bigger one would fail). A bigger message is dropped unread, acknowledged (so the broker does not send it again) and counted in gatehouse_mqtt_source_messages_dropped_total{reason="too-large"}; with protocolVersion 5 the CONNECT asks the broker not to send it at all (Maximum Packet Size: this plus 64 KiB for topic and properties).',
    ),
  keepaliveSec: z.number().int().min(0).max(65_535).default(30).describe('MQTT keepalive.'),
  connectTimeoutMs: z.number().int().positive().max(MAX_TIMER_MS, TIMER_TOO_LONG).default(10_000).describe('Time to wait for CONNACK.'),
  reconnectMinMs: z
    .number()
    .int()
    .positive()
    .max(MAX_TIMER_MS, TIMER_TOO_LONG)
    .default(500)
    .describe('First reconnect delay; doubles per failure (full jitter).'),
  reconnectMaxMs: z.number().int().positive().max(MAX_TIMER_MS, TIMER_TOO_LONG).default(30_000).describe('Cap of the reconnect delay.'),
  topics: z.array(topicSchema).min(1).describe('What to subscribe to, and the local topic each message gets.'),
});

export type MqttSourceOptions = z.output<typeof mqttSourceSchema>;

/** The session expiry an MQTT 5 source asks for when the config sets none. */
export const DEFAULT_SESSION_EXPIRY_SEC = 7 * 86_400;

/**
 * A sessionExpirySec that MQTT 3.1.1 cannot carry (check-config's warning, start's log line): the
 * user expects the broker to keep the session that long, and it keeps it as long as it likes.
 */
export function sessionExpiryIgnored(src: {
  name?: unknown;
  protocolVersion?: unknown;
  sessionExpirySec?: unknown;
}): { message: string; hint: string } | undefined {
  if (src.protocolVersion === 5 || src.sessionExpirySec === undefined) return undefined;
  return {
    message: `MQTT source '${String(src.name)}': sessionExpirySec ${String(src.sessionExpirySec)} is not sent with protocolVersion 4 (MQTT 3.1.1 has no session expiry): the broker keeps the session as long as it is configured to (mosquitto: persistent_client_expiration, forever by default; AWS IoT Core: 1 hour by default), and what is published while the gateway is down longer than that is lost`,
    hint: 'set protocolVersion: 5 for the broker to keep the session that long, or leave sessionExpirySec out and set the expiry on the broker',
  };
}
