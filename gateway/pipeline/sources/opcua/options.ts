// Options of a `type: opcua` source (zod only: loaded with the config; node-opcua is not).
import { z } from '../../../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../../../core/timer-delay.js';
import { sourceBaseSchema } from '../kind.js';
import { topicProblems } from '../topic-template.js';
import { ipv6UrlProblem } from '../../../../core/bind-host.js';
import { commandsSchema, replyTopicProblem } from '../command-channel.js';

export const OPCUA_TOPIC_PLACEHOLDERS = ['source', 'subscription', 'tag', 'nodeId'] as const;

/** The node id forms node-opcua resolves (resolveNodeId): ns=N;i|s|g|b=..., or a namespace-0 node's name. */
const NODE_ID =
  /^(?:(?:ns=\d+;)?(?:i=\d+|s=.+|g=[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|b=[A-Za-z0-9+/]+={0,2})|[A-Za-z][A-Za-z0-9_]*)$/s;

const itemSchema = z
  .strictObject({
    nodeId: z
      .string()
      .min(1)
      // What node-opcua can read: a malformed id ('Line1.Speed') passed check-config and then failed
      // every session of the source, every item of it unread, as "connect failed".
      .regex(
        NODE_ID,
        "not an OPC UA node id: write ns=<index>;s=<name>, ns=<index>;i=<number>, ns=<index>;g=<guid> or ns=<index>;b=<base64> (ns=0 may be left out), or a standard node's name such as Server_ServerStatus_CurrentTime; find them with gatehouse opcua browse",
      )
      .describe("Node id of the variable, e.g. 'ns=2;s=Line1.Speed' or 'i=2258' (find them with gatehouse opcua browse)"),
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'tag names: letters, digits, _ . - (max 64)')
      .describe('Tag name (in topics and payloads)'),
    samplingIntervalMs: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe("Server-side sampling interval (default: the subscription's publishing interval; 0: fastest)"),
    queueSize: z.number().int().min(1).max(10_000).default(10).describe('Server-side queue of samples between two publishes (oldest discarded)'),
    deadband: z
      .strictObject({
        type: z.enum(['absolute', 'percent']).describe("'absolute': change in engineering units; 'percent': of the variable's EURange"),
        value: z.number().nonnegative().describe('Changes smaller than this are not reported by the server'),
      })
      .strict()
      .optional()
      .describe('Data-change deadband filter (numeric variables)'),
    writable: z.boolean().default(false).describe('Allow writes to this node through the command topic'),
  })
  .strict();

const subscriptionSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/)
      .default('default')
      .describe('Subscription name (in topics, status)'),
    publishingIntervalMs: z.number().int().min(10).default(1000).describe('How often the server sends the changes it collected'),
    items: z.array(itemSchema).min(1).describe('Monitored items'),
  })
  .strict();

const authSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('anonymous') }).strict(),
  z.strictObject({ type: z.literal('username'), username: z.string().min(1), password: z.string() }).strict(),
  z
    .strictObject({
      type: z.literal('certificate'),
      certFile: z.string().min(1).describe('PEM user certificate'),
      keyFile: z.string().min(1).describe('PEM private key of the user certificate'),
    })
    .strict(),
]);

export const opcuaOptionsSchema = sourceBaseSchema
  .extend({
    type: z.literal('opcua').describe('opcua: an OPC UA server subscribed to by the gateway (docs/industrial.md)'),
    endpoint: z
      .string()
      .regex(/^opc\.tcp:\/\/.+/, "an endpoint URL like 'opc.tcp://host:4840'")
      // opc.tcp://fd00::10:4840 passed and failed at each connect ('Invalid endpoint url')
      .superRefine((url, ctx) => {
        const p = ipv6UrlProblem(url);
        if (p) ctx.addIssue({ code: 'custom', message: p });
      })
      .describe("Server endpoint URL (an IPv6 address in brackets: 'opc.tcp://[fd00::10]:4840')"),
    securityMode: z.enum(['None', 'Sign', 'SignAndEncrypt']).default('None').describe('Message security mode'),
    securityPolicy: z.enum(['None', 'Basic256Sha256']).default('None').describe('Security policy (Basic256Sha256 with Sign or SignAndEncrypt)'),
    auth: authSchema
      .default({ type: 'anonymous' })
      .describe('Login: { type: anonymous } | { type: username, username, password } | { type: certificate, certFile, keyFile }'),
    pkiDir: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Application certificate and trust list (default <dataDir>/opcua/pki; trust a server by moving its certificate from rejected/ to trusted/certs/)',
      ),
    trustUnknownServer: z
      .boolean()
      .default(false)
      .describe('Accept (and store as trusted) a server certificate seen for the first time: convenient on a closed network, unsafe elsewhere'),
    connectTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(MAX_TIMER_MS, TIMER_TOO_LONG)
      .default(10_000)
      .describe('Bound of each step of a connection: the connect, the session creation, each subscription creation and its monitored items creation'),
    sessionTimeoutMs: z.number().int().min(1000).default(60_000).describe('Requested session timeout'),
    backoff: z
      .strictObject({
        initialMs: z.number().int().min(10).max(MAX_TIMER_MS, TIMER_TOO_LONG).default(1000).describe('First reconnect delay'),
        maxMs: z.number().int().min(10).max(MAX_TIMER_MS, TIMER_TOO_LONG).default(30_000).describe('Largest reconnect delay (doubling)'),
      })
      .strict()
      .default({ initialMs: 1000, maxMs: 30_000 })
      .describe('Reconnect backoff after a lost connection or session'),
    topic: z.string().min(1).default('opcua/${source}/${tag}').describe('Topic template; placeholders ${source} ${subscription} ${tag} ${nodeId}'),
    maxInFlight: z.number().int().min(1).default(10_000).describe('Values submitted and not yet committed before new values are dropped (counted)'),
    maxValueBytes: z
      .number()
      .int()
      .min(1024)
      .default(262_144)
      .describe(
        'Largest message of one value (its JSON payload, bytes). A bigger one (a huge array or string node) is dropped, counted (gatehouse_industrial_dropped_total{reason="too_large"}), logged at a bounded rate and shown in tagErrors. Default 256 KiB, the broker\'s maxPayloadBytes (a rule can republish any value)',
      ),
    commands: commandsSchema('{"tag","value","id"}', 'nodes').optional().describe('Downlink writes to items marked writable'),
    subscriptions: z.array(subscriptionSchema).min(1).describe('Subscriptions and their monitored items'),
  })
  .strict()
  .superRefine((o, ctx) => {
    // Replies on the command topic itself would be taken for commands: each is ignored as our own reply.
    const replyProblem = replyTopicProblem(o.commands);
    if (replyProblem) ctx.addIssue({ code: 'custom', path: ['commands', 'replyTopic'], input: o.commands?.replyTopic, message: replyProblem });
    if ((o.securityMode === 'None') !== (o.securityPolicy === 'None')) {
      ctx.addIssue({
        code: 'custom',
        path: ['securityPolicy'],
        message: 'securityMode None goes with securityPolicy None; Sign and SignAndEncrypt need Basic256Sha256',
      });
    }
    for (const message of topicProblems(o.topic, OPCUA_TOPIC_PLACEHOLDERS)) ctx.addIssue({ code: 'custom', path: ['topic'], input: o.topic, message });
    const seen = new Set<string>();
    o.subscriptions.forEach((s, i) =>
      s.items.forEach((item, j) => {
        if (seen.has(item.name))
          ctx.addIssue({
            code: 'custom',
            path: ['subscriptions', i, 'items', j, 'name'],
            message: `source '${o.name}': tag name '${item.name}' is used twice`,
          });
        seen.add(item.name);
      }),
    );
  });

export type OpcuaOptions = z.output<typeof opcuaOptionsSchema>;
export type OpcuaItem = OpcuaOptions['subscriptions'][number]['items'][number];
