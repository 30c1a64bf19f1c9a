// Options of a `type: sparkplug` source: a Sparkplug B host application on an MQTT broker (the
// gateway's own by default). The connection's options are the mqtt source's (the same client
// plumbing: TLS files, credentials, persistent session, proxy, limits, backoff); the rest is the
// host's. zod only: loaded with the config; protobufjs and mqtt.js load when such a source starts.
import { z } from '../../../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../../../core/timer-delay.js';
import { mqttSourceSchema } from '../mqtt/options.js';
import { sourceBaseSchema } from '../kind.js';
import { commandsSchema, replyTopicProblem } from '../command-channel.js';
import { topicProblems } from '../topic-template.js';
import { DEFAULT_TOPIC, NAMESPACE, TOPIC_VOCABULARY } from './topic.js';

// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what a topic level must not hold
const NOT_IN_ID = /[/+#\u0000]/;

/** A Sparkplug id (group, host): one topic level, no wildcard. */
const sparkplugId = (what: string) =>
  z
    .string()
    .min(1)
    .max(256)
    .refine((s) => !NOT_IN_ID.test(s), { message: `a ${what} is one topic level: no '/', '+', '#' or NUL` });

const connection = mqttSourceSchema.pick({
  username: true,
  password: true,
  caFile: true,
  certFile: true,
  keyFile: true,
  rejectUnauthorized: true,
  proxy: true,
  protocolVersion: true,
  sessionExpirySec: true,
  maxMessageBytes: true,
  keepaliveSec: true,
  connectTimeoutMs: true,
  reconnectMinMs: true,
  reconnectMaxMs: true,
}).shape;

const sparkplugFields = sourceBaseSchema.extend({
  type: z.literal('sparkplug'),
  url: mqttSourceSchema.shape.url
    .optional()
    .describe(
      "The broker the edge nodes publish on: mqtt://, mqtts://, ws:// or wss://. Default: the gateway's embedded broker (its first listener without TLS, on loopback when it listens on every address; with broker.allowAnonymous false give username and password of a broker user).",
    ),
  clientId: mqttSourceSchema.shape.clientId
    .default('gatehouse-spb-${installationId}')
    .describe(
      "Stable client id of the host's persistent session. ${gatewayId} and ${installationId} are filled in (as for the mqtt source): the default gives each gateway its own, also gateways flashed from one SD card image.",
    ),
  ...connection,
  groups: z
    .array(sparkplugId('group id'))
    .default([])
    .describe('Sparkplug group ids to follow (subscribes spBv1.0/<group>/#). Default: every group (spBv1.0/#).'),
  qos: z
    .literal([0, 1], { error: 'the subscription QoS is 0 or 1' })
    .default(1)
    .describe(
      'Subscription QoS. 1: a QoS 1 message (the NDEATH will, and data an edge node publishes at QoS 1) is acknowledged only once committed, and redelivered when the gateway stops first. Sparkplug publishes births and data at QoS 0: those are at most once whatever this says.',
    ),
  hostId: sparkplugId('host id')
    .optional()
    .describe(
      'Sparkplug 3.0 host application id: publishes spBv1.0/STATE/<hostId> retained at QoS 1, {"online":true,...} once subscribed and {"online":false,...} as its will and at stop, so edge nodes that have this host as their Primary Host publish only while it is online. Unset: no STATE (the edge nodes must not wait for this host).',
    ),
  rebirth: z
    .boolean()
    .default(true)
    .describe(
      'Ask an edge node for a rebirth (NCMD with Node Control/Rebirth = true) when its messages show a fault: a seq gap, data before its birth, an alias its birth did not name.',
    ),
  rebirthIntervalMs: z
    .number()
    .int()
    .min(0)
    .max(MAX_TIMER_MS, TIMER_TOO_LONG)
    .default(10_000)
    .describe('At most one rebirth request per edge node per this many ms (a node that is slow to answer is not flooded).'),
  topic: z
    .string()
    .min(1)
    .default(DEFAULT_TOPIC)
    .superRefine((v, ctx) => {
      for (const message of topicProblems(v, TOPIC_VOCABULARY)) ctx.addIssue({ code: 'custom', message });
      // JSON on a Sparkplug topic would reach Sparkplug hosts (this one too, through a bridge) as a payload they cannot decode.
      if (v === NAMESPACE || v.startsWith(`${NAMESPACE}/`))
        ctx.addIssue({
          code: 'custom',
          message: `must not start with ${NAMESPACE}/: the JSON messages would be taken for Sparkplug B payloads (e.g. sparkplug/\${group}/...)`,
        });
    })
    .describe(
      'Topic of the JSON messages handed to the rules; placeholders ${group} ${type} ${node} ${device} ${source}. A level that is ${device} alone is left out of node messages (NBIRTH, NDATA, NDEATH). Keep it apart from spBv1.0/: the embedded broker hands the raw Protobuf messages to the rules on those topics.',
    ),
  maxNodes: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(1000)
    .describe('Edge nodes whose state is held (an offline one is forgotten to make room); past it a new node is not tracked (its messages kept, counted).'),
  maxDevicesPerNode: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(1000)
    .describe('Devices held per edge node; past it a DBIRTH is kept but not tracked (counted).'),
  maxMetricsPerNode: z
    .number()
    .int()
    .min(1)
    .max(10_000_000)
    .default(10_000)
    .describe(
      'Metric definitions (name, alias, datatype) held per edge node and its devices; past it the rest of a birth is not tracked (counted, no rebirth asked for it).',
    ),
  commands: commandsSchema(
    '{"node","device","group","metrics":{"<name>":<value>,...},"id"} or {"node","device","metric","value","id"}',
    'edge node and device metrics (NCMD, DCMD)',
  )
    .optional()
    .describe(
      "Downlink writes: each command is checked against the node's or device's birth (online, metric names, datatypes) and published as an NCMD or DCMD, QoS 0, on this source's connection; the outcome goes to replyTopic (docs/sparkplug.md, Writes).",
    ),
});

export const sparkplugSourceSchema = sparkplugFields.superRefine((o, ctx) => {
  const problem = replyTopicProblem(o.commands);
  if (problem) ctx.addIssue({ code: 'custom', path: ['commands', 'replyTopic'], input: o.commands?.replyTopic, message: problem });
});

export type SparkplugSourceOptions = z.output<typeof sparkplugSourceSchema>;
