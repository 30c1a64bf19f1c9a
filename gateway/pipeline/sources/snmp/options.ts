// Options of a `type: snmp` source: the UPSs, PDUs, switches and sensors of the cabinet that speak
// SNMP only. Polls (GET of scalars, walks of table columns) of targets, and a trap/inform listener.
// zod only: loaded with the config; net-snmp loads when such a source is created (index.ts).
//
// Shape, against Telegraf's inputs.snmp (one `agents` list sharing one set of credentials, fields
// and tables at the plugin's level): here each target carries its own credentials (the UPS speaks
// v1 with a community, the switch v3) and each poll names the targets it reads (default: all), at
// its own interval: a system group read hourly and interface counters every 10 s are two polls.
import { z } from '../../../../core/zod.js';
import { bindHostSchema, hostSchema } from '../../../../core/bind-host.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../../../core/timer-delay.js';
import { sourceBaseSchema } from '../kind.js';
import { topicProblems } from '../topic-template.js';
import { cidr } from '../syslog/options.js';
import { OID_HELP, resolveOid } from './oids.js';

export const SNMP_POLL_TOPIC_VOCABULARY = ['source', 'target', 'host', 'poll'] as const;
export const SNMP_TRAP_TOPIC_VOCABULARY = ['source', 'agent', 'trapOid', 'trapName', 'version'] as const;
export const DEFAULT_SNMP_POLL_TOPIC = 'snmp/${target}/${poll}';
export const DEFAULT_SNMP_TRAP_TOPIC = 'snmp/traps/${agent}/${trapName}';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const nameSchema = (what: string) => z.string().regex(NAME, `${what} names: letters, digits, _ . - (max 64)`);

/** A name a MIB file may define: `name` or `MODULE::name`, either with a numeric suffix. */
export const MIB_NAME = /^(?:[A-Za-z][A-Za-z0-9-]*::)?[A-Za-z][A-Za-z0-9-]*(?:\.\d+)*$/;

/**
 * An OID as written (numeric or a built-in name), numeric once parsed. Another name is kept as
 * written: the source's `mibs` may define it (resolved when the source is created, mibs.ts); without
 * `mibs` the source's check below refuses it.
 */
const oidSchema = z
  .string()
  .transform((text, ctx) => {
    const oid = resolveOid(text);
    if (oid !== undefined) return oid;
    if (MIB_NAME.test(text.trim())) return text.trim();
    ctx.addIssue({ code: 'custom', message: `not an OID: '${text}': ${OID_HELP}` });
    return z.NEVER;
  })
  .describe('OID: numeric (1.3.6.1.2.1.1.3.0), a built-in name (sysUpTime.0, ifDescr), or a name the `mibs` define (laLoad, UCD-SNMP-MIB::memTotalReal.0).');

/** Whether a parsed OID still is a name (left for the MIB files). */
export const isOidName = (oid: string): boolean => !/^\d/.test(oid);

/** Every OID a source's polls name, with its config path (fields and table columns). */
export function pollOids(polls: readonly SnmpPoll[]): Array<{ path: Array<string | number>; oid: string }> {
  const out: Array<{ path: Array<string | number>; oid: string }> = [];
  for (const [i, p] of polls.entries()) {
    for (const [k, oid] of Object.entries(p.fields ?? {})) out.push({ path: ['polls', i, 'fields', k], oid });
    for (const [j, t] of p.tables.entries()) for (const [k, oid] of Object.entries(t.columns)) out.push({ path: ['polls', i, 'tables', j, 'columns', k], oid });
  }
  return out;
}

const fieldsSchema = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/, 'field names: a letter or _, then letters, digits, _ -'), oidSchema)
  .refine((r) => Object.keys(r).length > 0, { message: 'name at least one field' });

const AUTH_PROTOCOLS = ['md5', 'sha', 'sha224', 'sha256', 'sha384', 'sha512'] as const;
const PRIV_PROTOCOLS = ['des', 'aes', 'aes256b', 'aes256r'] as const;

/** An SNMPv3 user (USM): its keys are passphrases read from files (secrets stay out of the config). */
export const snmpUserSchema = z
  .strictObject({
    name: z.string().min(1).max(32).describe('USM user name.'),
    level: z.enum(['noAuthNoPriv', 'authNoPriv', 'authPriv']).default('authPriv').describe('Security level.'),
    authProtocol: z.enum(AUTH_PROTOCOLS).default('sha').describe('Authentication protocol (authNoPriv, authPriv).'),
    authKeyFile: z.string().optional().describe('File whose first line is the authentication passphrase (8+ characters; relative to the config file).'),
    privProtocol: z.enum(PRIV_PROTOCOLS).default('aes').describe('Privacy protocol (authPriv): aes is AES-128-CFB (RFC 3826).'),
    privKeyFile: z.string().optional().describe('File whose first line is the privacy passphrase (8+ characters; relative to the config file).'),
  })
  .superRefine((u, ctx) => {
    if (u.level !== 'noAuthNoPriv' && !u.authKeyFile) ctx.addIssue({ code: 'custom', path: ['authKeyFile'], message: `level ${u.level} needs authKeyFile` });
    if (u.level === 'authPriv' && !u.privKeyFile) ctx.addIssue({ code: 'custom', path: ['privKeyFile'], message: 'level authPriv needs privKeyFile' });
  });

export const snmpTargetSchema = z
  .strictObject({
    name: nameSchema('target').describe('Name of the target (topics, status, metrics).'),
    host: hostSchema().describe('Address or name of the agent.'),
    port: z.number().int().min(1).max(65_535).default(161).describe('UDP port of the agent.'),
    version: z
      .union([z.literal('1'), z.literal('2c'), z.literal('3'), z.literal(1), z.literal(3)])
      .default('2c')
      .transform((v) => String(v) as '1' | '2c' | '3')
      .describe('SNMP version: 1, 2c or 3.'),
    community: z.string().min(1).optional().describe("Community (v1, v2c); default 'public' unless communityFile is given."),
    communityFile: z
      .string()
      .optional()
      .describe('File whose first line is the community (v1, v2c; relative to the config file): a secret kept out of the config.'),
    user: snmpUserSchema.optional().describe('SNMPv3 user (version 3).'),
    timeoutMs: z.number().int().min(100).max(60_000).default(2000).describe('Wait for an answer this long before a retry.'),
    retries: z
      .number()
      .int()
      .min(0)
      .max(10)
      .default(1)
      .describe('Requests sent again after a timeout (a poll waits at most timeoutMs x (retries+1) per request).'),
  })
  .superRefine((t, ctx) => {
    if (t.version === '3' && !t.user) ctx.addIssue({ code: 'custom', path: ['user'], message: 'version 3 needs a user' });
    if (t.version !== '3' && t.user)
      ctx.addIssue({ code: 'custom', path: ['user'], message: `a user is for version 3; version ${t.version} uses a community` });
    if (t.community && t.communityFile) ctx.addIssue({ code: 'custom', path: ['communityFile'], message: 'give community or communityFile, not both' });
  });

export const snmpTableSchema = z.strictObject({
  name: nameSchema('table').describe('Name of the table in the message (rows.<name>).'),
  columns: fieldsSchema.describe(
    'Columns to walk, by the name they get in each row: { descr: ifDescr, in: ifHCInOctets }. A row is keyed by its index (the OID after the column).',
  ),
  maxRows: z.number().int().min(1).max(100_000).default(1000).describe('Rows kept per poll: a walk stops there (counted, the message says `truncated`).'),
});

export const snmpPollSchema = z
  .strictObject({
    name: nameSchema('poll').describe('Name of the poll (topic, status).'),
    targets: z.array(z.string()).optional().describe('Targets this poll reads (names); default: every target.'),
    intervalMs: z.number().int().min(100).max(MAX_TIMER_MS, TIMER_TOO_LONG).default(60_000).describe('Poll interval.'),
    fields: fieldsSchema.optional().describe('Scalars to GET, by the name they get in the message: { uptime: sysUpTime.0, name: 1.3.6.1.2.1.1.5.0 }.'),
    tables: z.array(snmpTableSchema).default([]).describe('Tables to walk (GETNEXT on v1, GETBULK on v2c and v3).'),
  })
  .superRefine((p, ctx) => {
    if (!p.fields && p.tables.length === 0) ctx.addIssue({ code: 'custom', path: ['fields'], message: 'a poll needs fields, tables or both' });
  });

const listenHost = "Address to listen on ('0.0.0.0' or '::' for every address). Default loopback: v1/v2c traps carry no more than a community.";

export const snmpTrapsSchema = z
  .strictObject({
    host: bindHostSchema('127.0.0.1', listenHost),
    port: z
      .number()
      .int()
      .min(0)
      .max(65_535)
      .default(1162)
      .describe('UDP port (0: any free port). 162 needs root or CAP_NET_BIND_SERVICE (docs/snmp-source.md).'),
    communities: z.array(z.string().min(1)).default([]).describe('Communities taken from v1/v2c traps and informs; others are dropped and counted.'),
    communityFile: z.string().optional().describe('File of more communities, one per line (relative to the config file).'),
    users: z.array(snmpUserSchema).default([]).describe('SNMPv3 users whose traps and informs are taken.'),
    allow: z
      .array(z.string().refine((c) => cidr(c) !== undefined, { message: "an address or a CIDR range ('192.168.10.0/24', 'fd00::/8', '10.0.0.7')" }))
      .default([])
      .describe('Senders taken (addresses or CIDR ranges); empty: any. Others are dropped and counted. A UDP sender address can be forged.'),
    topic: z
      .string()
      .default(DEFAULT_SNMP_TRAP_TOPIC)
      .superRefine((t, ctx) => {
        for (const message of topicProblems(t, SNMP_TRAP_TOPIC_VOCABULARY)) ctx.addIssue({ code: 'custom', message });
      })
      .describe(`Topic of each trap: \${${SNMP_TRAP_TOPIC_VOCABULARY.join('} ${')}} (trapName: the built-in name or the OID).`),
    maxInFlight: z
      .number()
      .int()
      .min(1)
      .default(1000)
      .describe('Traps submitted and not yet committed: beyond, traps are dropped and informs left unanswered (the sender retries), counted.'),
  })
  .superRefine((t, ctx) => {
    if (t.communities.length === 0 && !t.communityFile && t.users.length === 0)
      ctx.addIssue({ code: 'custom', path: ['communities'], message: 'traps need communities, a communityFile or users: which senders to take' });
  });

export const snmpSourceSchema = sourceBaseSchema
  .extend({
    type: z.literal('snmp'),
    targets: z.array(snmpTargetSchema).default([]).describe('Agents polled.'),
    polls: z.array(snmpPollSchema).default([]).describe('What is read, and how often: one message per target per poll.'),
    topic: z
      .string()
      .default(DEFAULT_SNMP_POLL_TOPIC)
      .superRefine((t, ctx) => {
        for (const message of topicProblems(t, SNMP_POLL_TOPIC_VOCABULARY)) ctx.addIssue({ code: 'custom', message });
      })
      .describe(`Topic of each poll's message: \${${SNMP_POLL_TOPIC_VOCABULARY.join('} ${')}}.`),
    traps: snmpTrapsSchema.optional().describe('Listen for traps and informs (UDP).'),
    mibs: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'MIB files, or directories of them, whose names the polls may use and traps are named by (relative to the config file): parsed at start in a child process, the names cached in the data folder (docs/snmp-source.md#your-mib-files-mibs).',
      ),
  })
  .superRefine((o, ctx) => {
    if (o.polls.length === 0 && !o.traps)
      ctx.addIssue({ code: 'custom', path: ['polls'], message: 'an snmp source needs polls (with targets), traps or both' });
    if (o.polls.length > 0 && o.targets.length === 0) ctx.addIssue({ code: 'custom', path: ['targets'], message: 'polls need at least one target' });
    const names = new Set<string>();
    for (const [i, t] of o.targets.entries()) {
      if (names.has(t.name)) ctx.addIssue({ code: 'custom', path: ['targets', i, 'name'], message: `target '${t.name}' is named twice` });
      names.add(t.name);
    }
    if (o.mibs.length === 0)
      for (const { path, oid } of pollOids(o.polls))
        if (isOidName(oid))
          ctx.addIssue({
            code: 'custom',
            path,
            message: `not an OID: '${oid}': ${OID_HELP}; or name the MIB file that defines it in the source's mibs`,
          });
    const polls = new Set<string>();
    for (const [i, p] of o.polls.entries()) {
      if (polls.has(p.name)) ctx.addIssue({ code: 'custom', path: ['polls', i, 'name'], message: `poll '${p.name}' is named twice` });
      polls.add(p.name);
      for (const [j, t] of (p.targets ?? []).entries())
        if (!names.has(t))
          ctx.addIssue({ code: 'custom', path: ['polls', i, 'targets', j], message: `no target named '${t}': ${[...names].join(', ') || 'none'}` });
    }
  });

export type SnmpSourceOptions = z.output<typeof snmpSourceSchema>;
export type SnmpTarget = SnmpSourceOptions['targets'][number];
export type SnmpPoll = SnmpSourceOptions['polls'][number];
export type SnmpUser = z.output<typeof snmpUserSchema>;
export type SnmpTraps = NonNullable<SnmpSourceOptions['traps']>;
