// The MQTT bridge destination's options (destinations.mqtt in the config): the upstream broker,
// its credentials and TLS files, the topic mapping, neverForward, timeouts, reconnect backoff and
// batch limits, each with its .describe() (docs/configuration.md). Apart from mqtt.ts (the
// bridge's connection and sends): the schema is read by config validation and the docs generator.
import { z } from '../../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../../core/timer-delay.js';
import { mqttBrokerUrlSchema } from '../../../core/broker-url.js';
import { validFilter } from '../../../core/topic-filter.js';
import { isImageHostName } from '../../../core/image-host-names.js';
import { destinationProxyOption } from '../proxy-options.js';

const MiB = 1024 * 1024;

const noWildcard = (v: string): boolean => !v.includes('+') && !v.includes('#');

const topicMapSchema = z.lazy(() =>
  z.strictObject({
    local: z
      .string()
      .min(1)
      .default('#')
      .refine(validFilter, "not a valid MQTT filter: '#' only as the whole last level, '+' only as a whole level")
      .describe('MQTT filter (+ and # allowed) a record topic must match.'),
    stripPrefix: z
      .string()
      .default('')
      .refine(noWildcard, "a topic prefix, not a filter: no '+' or '#' (the local filter matches; this is cut off literally)")
      .describe('Removed from the start of the local topic before mapping (e.g. "fleet/").'),
    remotePrefix: z
      .string()
      .default('')
      .refine(noWildcard, "no '+' or '#': a topic published on the remote broker cannot hold wildcards (every publish would be refused)")
      .describe('Prepended to the (stripped) topic on the remote broker (e.g. "site1/").'),
  }),
);

// z.lazy: built on first use, so a gateway without this destination does not hold it (docs/benchmarks.md, "Idle footprint").
export const mqttBridgeOptionsSchema = z.lazy(() =>
  z
    .strictObject({
      url: mqttBrokerUrlSchema('remote broker').describe('Upstream broker URL: mqtt://, mqtts://, ws:// or wss://.'),
      clientId: z
        .string()
        .min(1)
        .max(128)
        .describe(
          "Stable client id: the persistent session (and queued QoS 1 messages) is tied to it. ${gatewayId} (the config's gatewayId) and ${installationId} (the gateway's installation id, 16 hex digits kept in <dataDir>/installation-id, made anew on another machine) are filled in, as mosquitto's bridge fills %h: gateways flashed from one SD card image share the config and the host name, so give them e.g. gw-${installationId}; with one client id they take the session from each other at every connect.",
        ),
      username: z.string().optional().describe('User name.'),
      password: z.string().optional().describe('Password. Never logged or shown in status.'),
      caFile: z.string().optional().describe('CA bundle to verify the broker (mqtts/wss).'),
      certFile: z.string().optional().describe('Client certificate file (mutual TLS, e.g. AWS IoT Core).'),
      keyFile: z.string().optional().describe('Client private key file (mutual TLS).'),
      rejectUnauthorized: z.boolean().default(true).describe('Verify the broker certificate. Only turn off for testing.'),
      proxy: destinationProxyOption(),
      protocolVersion: z
        .union([z.literal(4), z.literal(5)])
        .default(5)
        .describe(
          'MQTT 5 (default) carries the record id and the loop-prevention mark as user properties; with 4 (3.1.1) they are not sent, and loop prevention relies on neverForward filters / topic prefixes.',
        ),
      sessionExpirySec: z
        .number()
        .int()
        .min(0)
        .max(0xffffffff)
        .optional()
        .describe(
          'MQTT 5 session expiry (default 1 day, 86400): how long the broker keeps the session while the gateway is offline. MQTT 3.1.1 has no such field: with protocolVersion 4 it is not sent, the broker decides (check-config and start warn).',
        ),
      keepaliveSec: z.number().int().min(0).max(65_535).default(30).describe('MQTT keepalive.'),
      topics: z
        .array(topicMapSchema)
        .min(1)
        .default([{ local: '#', stripPrefix: '', remotePrefix: '' }])
        .describe(
          'Topic mapping, first match wins: remote topic = remotePrefix + (topic without stripPrefix). Records matching none are rejected as permanent (UNMAPPED).',
        ),
      neverForward: z
        .array(z.string().min(1))
        .default([])
        .describe('MQTT filters of topics never bridged up (e.g. the topics a down-bridge writes): acknowledged without sending.'),
      retain: z.boolean().default(false).describe('Publish with the retain flag.'),
      ackTimeoutMs: z
        .number()
        .int()
        .positive()
        .max(MAX_TIMER_MS, TIMER_TOO_LONG)
        .default(10_000)
        .describe(
          'How long a send waits without any PUBACK (the wait starts again at each PUBACK of the send, so a slow uplink delivering a batch for minutes is not cut off) before its records not yet acknowledged are reported retryable.',
        ),
      connectTimeoutMs: z.number().int().positive().max(MAX_TIMER_MS, TIMER_TOO_LONG).default(10_000).describe('Time to wait for CONNACK.'),
      reconnectMinMs: z
        .number()
        .int()
        .positive()
        .max(MAX_TIMER_MS, TIMER_TOO_LONG)
        .default(500)
        .describe('First reconnect delay; doubles per failure (full jitter).'),
      reconnectMaxMs: z.number().int().positive().max(MAX_TIMER_MS, TIMER_TOO_LONG).default(30_000).describe('Cap of the reconnect delay.'),
      maxRecords: z.number().int().min(1).max(65_000).default(200).describe('Records published concurrently per batch (QoS 1 in flight).'),
      maxRecordBytes: z
        .number()
        .int()
        .min(1)
        .max(256 * MiB)
        .default(128 * 1024)
        .describe('Max payload of one record (AWS IoT Core allows 128 KiB).'),
      maxBatchBytes: z
        .number()
        .int()
        .min(1)
        .max(256 * MiB)
        .default(4 * MiB)
        .describe('Max summed payload bytes per batch.'),
    })
    .describe('MQTT bridge to an upstream broker (QoS 1, persistent session).'),
);

export type MqttBridgeOptions = z.infer<typeof mqttBridgeOptionsSchema>;

/** The session expiry an MQTT 5 bridge asks for when the config sets none. */
export const DEFAULT_BRIDGE_SESSION_EXPIRY_SEC = 86_400;

/**
 * A sessionExpirySec that MQTT 3.1.1 cannot carry (check-config's warning, start's log line; as the
 * MQTT source's): the user expects the broker to keep the session that long, and it keeps it as long
 * as it likes. `subject` names the destination ("MQTT destination of exporter 'cloud'").
 */
export function bridgeSessionExpiryIgnored(
  subject: string,
  o: { protocolVersion?: unknown; sessionExpirySec?: unknown },
): { message: string; hint: string } | undefined {
  // The bridge's default protocolVersion is 5: only an explicit 4 drops the field.
  if (o.protocolVersion !== 4 || o.sessionExpirySec === undefined) return undefined;
  return {
    message: `${subject}: sessionExpirySec ${String(o.sessionExpirySec)} is not sent with protocolVersion 4 (MQTT 3.1.1 has no session expiry): the broker keeps the bridge's session as long as it is configured to (mosquitto: persistent_client_expiration, forever by default; AWS IoT Core: 1 hour by default); records are not lost for it (each stays in the stream until its PUBACK)`,
    hint: 'set protocolVersion: 5 for the broker to keep the session that long, or leave sessionExpirySec out and set the expiry on the broker',
  };
}

/**
 * The warning for an MQTT bridge (an exporter's destination, a rule's mqtt action) whose clientId
 * every board flashed from one image shares: a gatewayId such images give every board, and a
 * clientId without ${installationId} (${gatewayId} is that shared name there). Each board's
 * connect takes the session from the others. undefined otherwise.
 */
export function sharedBridgeClientIdWarning(subject: string, gatewayId: string, clientId: unknown): { message: string; hint: string } | undefined {
  if (!isImageHostName(gatewayId) || typeof clientId !== 'string' || clientId.includes('${installationId}')) return undefined;
  return {
    message: `${subject}: gatewayId '${gatewayId}' is the host name an OS image gives every board it is flashed on, and clientId '${clientId}' names no board: gateways made from one SD card image all connect with it, and each connect takes the session from the others (the broker closes their connections; delivery crawls)`,
    hint: "put ${installationId} in clientId (e.g. gw-${installationId}: each gateway's own, docs/destinations.md, A fleet from one image), or give each gateway its own clientId",
  };
}
