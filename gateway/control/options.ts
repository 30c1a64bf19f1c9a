// Options of the control plane: the MQTT control channel for remote rule updates (`control`) and
// the scheduled jobs (`jobs`). The lead composes these into the config file schema.
import { z } from '../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../core/timer-delay.js';
import { cronProblem } from './cron-problem.js';
import { brokerUrlProblem } from '../../core/broker-url.js';
import { compileClientIdTemplate } from '../../core/client-id-template.js';
import { destinationProxyOption } from '../upstream/proxy-options.js';

const KiB = 1024;
const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** MQTT topic levels of the prefix: no wildcards, no empty levels at the ends. */
const TOPIC_PREFIX = /^[^#+/\0]+(\/[^#+/\0]+)*$/;

export const controlUpstreamSchema = z
  .strictObject({
    url: z
      .string()
      .regex(/^(mqtts?|wss?|tcp|ssl|tls):\/\//, 'an MQTT URL such as mqtts://broker.example.com:8883')
      .superRefine((url, ctx) => {
        const problem = brokerUrlProblem(url, 'control broker');
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .describe('Upstream MQTT broker carrying the control topics (mqtt://, mqtts://, ws://, wss://).'),
    username: z.string().optional().describe('MQTT user name on the upstream broker.'),
    password: z.string().optional().describe('MQTT password on the upstream broker.'),
    clientId: z
      .string()
      .min(1)
      .max(128)
      .superRefine((id, ctx) => {
        const parts = compileClientIdTemplate(id);
        if ('problem' in parts) ctx.addIssue({ code: 'custom', message: parts.problem });
      })
      .optional()
      .describe(
        'MQTT client id (default gatehouse-control-<gatewayId>); stable, so the persistent session keeps updates sent while offline. ${gatewayId} and ${installationId} are filled in: gatehouse-control-${installationId} gives each board flashed from one SD card image a session of its own (docs/remote-control.md#a-fleet-from-one-image).',
      ),
    ca: z.string().min(1).optional().describe('PEM file of the CA that signed the upstream broker certificate.'),
    cert: z.string().min(1).optional().describe('PEM client certificate file (mutual TLS).'),
    key: z.string().min(1).optional().describe('PEM client key file (mutual TLS).'),
    rejectUnauthorized: z.boolean().default(true).describe('Verify the upstream broker certificate (keep true outside tests).'),
    proxy: destinationProxyOption().describe(
      "The control channel's proxy to its broker (an HTTP CONNECT tunnel): false connects directly (whatever network.proxy and the environment say), a URL goes through that proxy (user:password@ allowed, no noProxy check). Default: the gateway's network.proxy, or the environment (HTTPS_PROXY for mqtts/wss, HTTP_PROXY for mqtt/ws, NO_PROXY).",
    ),
    keepaliveSeconds: z.number().int().min(5).max(3600).default(60).describe('MQTT keepalive.'),
    reconnectMinMs: z.number().int().min(100).max(MAX_TIMER_MS, TIMER_TOO_LONG).default(1000).describe('First reconnect delay; doubles per failed attempt.'),
    reconnectMaxMs: z.number().int().min(1000).max(MAX_TIMER_MS, TIMER_TOO_LONG).default(60_000).describe('Largest reconnect delay.'),
  })
  .strict()
  .refine((u) => (u.cert === undefined) === (u.key === undefined), { message: 'cert and key go together (mutual TLS needs both)', path: ['cert'] })
  .describe('Dedicated MQTT connection for the control topics (persistent session, QoS 1). Default: the local broker.');

export const probationOptionsSchema = z
  .strictObject({
    seconds: z
      .number()
      .int()
      .min(0)
      .max(86_400)
      .default(60)
      .describe(
        'How long a rule set applied by a remote update (or PUT /api/rules?probation=1) is watched before it is confirmed; 0 = no probation (no automatic rollback).',
      ),
    minFailures: z
      .number()
      .int()
      .min(1)
      .default(10)
      .describe('Failures (evaluation errors, failed actions) a rule added or changed by the update must reach before it can fail its probation.'),
    failureRatio: z
      .number()
      .gt(0)
      .max(1)
      .default(0.5)
      .describe(
        "Share of that rule's evaluations its failures must also reach (failures >= failureRatio x evaluations) for the rule to fail its probation and the update to be rolled back.",
      ),
  })
  .strict()
  .describe('Probation of remote rule updates: automatic rollback of an update whose new or changed rules fail at run time (docs/remote-control.md).');

export const controlOptionsSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Listen for remote rule updates and publish the retained rule status.'),
    prefix: z
      .string()
      .regex(TOPIC_PREFIX, 'topic levels without wildcards, e.g. gatehouse or acme/site1')
      .default('gatehouse')
      .describe('First topic levels of the control topics: <prefix>/<gatewayId>/rules/set, .../rules/rollback, .../rules/status, .../heartbeat.'),
    upstream: controlUpstreamSchema.optional(),
    publicKeys: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'ed25519 public keys (PEM text, or paths of PEM files) that may sign remote updates. With keys, every remote update must carry a valid signature. Reloaded on SIGHUP (key rotation, docs/remote-control.md#key-rotation).',
      ),
    allowUnsigned: z.boolean().default(false).describe('Accept unsigned remote updates when no publicKeys are configured (trusted networks only).'),
    requireSignedAdmin: z.boolean().default(false).describe('With publicKeys, also require a valid signature on PUT /api/rules and `gatehouse rules apply`.'),
    maxPayloadBytes: z
      .number()
      .int()
      .min(KiB)
      .default(1024 * KiB)
      .describe('Largest accepted control payload (a rule set or envelope); larger ones are rejected.'),
    maxPending: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(4)
      .describe(
        'Remote updates waiting behind the one being applied; beyond, the oldest waiting one is refused (status rejected, reason busy) so the newest are applied.',
      ),
    groups: z
      .array(z.string().min(1))
      .default([])
      .describe('Group names this gateway answers to in the `targets` of a signed update document, besides its gatewayId and "*" (e.g. [depot, eu-west]).'),
    publishers: z
      .array(z.string())
      .optional()
      .describe(
        'Local broker user names allowed to publish on the rules/set and rules/rollback topics; absent = any client (signatures decide). Nobody but the gateway may publish the rules/status topic.',
      ),
    probation: probationOptionsSchema.prefault({}),
  })
  .strict()
  .describe('Remote control over MQTT: signed rule set updates, rollback, retained status.');

export type ControlOptions = z.output<typeof controlOptionsSchema>;
export type ControlUpstreamOptions = z.output<typeof controlUpstreamSchema>;
export type ProbationOptions = z.output<typeof probationOptionsSchema>;

export const JOB_TYPES = ['heartbeat', 'compact', 'sweep', 'enable-rule', 'disable-rule'] as const;

export { cronProblem };

/** The zone names node-cron accepts: those Intl knows (it formats the schedule's times with it). */
function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const jobOptionsSchema = z
  .strictObject({
    name: z.string().regex(JOB_NAME, 'letters, digits, _ . - (max 64)').describe('Job name (metrics label, logs, rule update source job:<name>).'),
    schedule: z.string().min(1).describe("Cron expression; an optional sixth, first field gives seconds, e.g. '*/5 * * * *' or '*/10 * * * * *'."),
    type: z.enum(JOB_TYPES).describe('heartbeat (status report on <prefix>/<gatewayId>/heartbeat), compact, sweep (TTL), enable-rule, disable-rule.'),
    rule: z.string().min(1).optional().describe('Rule name for enable-rule / disable-rule.'),
    topic: z
      .string()
      .min(1)
      // A publish on 'hb/#' reached subscribers and the store as is; a broker upstream (the control
      // broker, the MQTT bridge) disconnects a client that publishes to a wildcard.
      .regex(/^[^#+\0]+$/, "a topic name to publish on: no wildcards ('+', '#') or NUL, e.g. 'site7/heartbeat'")
      .optional()
      .describe('heartbeat: topic instead of <prefix>/<gatewayId>/heartbeat.'),
    timezone: z
      .string()
      .min(1)
      .refine((tz) => validTimeZone(tz), { message: "not an IANA time zone known to this system (e.g. 'Europe/Paris', 'UTC')" })
      .optional()
      .describe('IANA time zone of the schedule (default: the system zone).'),
  })
  .strict()
  // The schedule is checked here, where the job's name is known (the problem names the job), and
  // also when another key of the job is wrong (`when`): zod skips an object's checks then.
  .check(
    z.superRefine(
      (j, ctx) => {
        const { name, schedule } = j as { name?: unknown; schedule?: unknown };
        if (typeof schedule !== 'string' || schedule === '') return;
        const p = cronProblem(schedule, typeof name === 'string' ? name : undefined);
        if (p) ctx.addIssue({ code: 'custom', message: p, path: ['schedule'], input: schedule });
      },
      { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
    ),
  )
  .superRefine((j, ctx) => {
    if ((j.type === 'enable-rule' || j.type === 'disable-rule') && !j.rule) {
      ctx.addIssue({ code: 'custom', message: `a ${j.type} job needs rule: <rule name>`, path: ['rule'], input: j.rule });
    }
  })
  .describe('A scheduled job (node-cron).');

export const jobsOptionsSchema = z
  .array(jobOptionsSchema)
  .default([])
  .superRefine((jobs, ctx) => {
    const seen = new Set<string>();
    jobs.forEach((j, i) => {
      if (seen.has(j.name)) ctx.addIssue({ code: 'custom', message: `duplicate job name '${j.name}'`, path: [i, 'name'], input: j.name });
      seen.add(j.name);
    });
  })
  .describe("Scheduled jobs, e.g. [{ name: hb, schedule: '*/1 * * * *', type: heartbeat }]. Jobs never overlap themselves; failures are logged and counted.");

export type JobOptions = z.output<typeof jobOptionsSchema>;
