// Options of the postgres destination (postgres.ts): a PostgreSQL (or TimescaleDB) server on the
// site. The password comes from a file (passwordFile) or the config file (password), as the
// webhook destination's: kept out of status, logs and the process environment.
import { z } from '../../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../../core/timer-delay.js';

const MiB = 1024 * 1024;

/** A table or column name as the user writes it: unquoted in the SQL the destination writes (it quotes them). */
const identifier = z
  .string()
  .min(1)
  .max(63, 'PostgreSQL names are at most 63 bytes long')
  .regex(/^[^"\0]+$/, 'a name holds no double quote or NUL');

/**
 * What a mapped column takes from a record: gateway (the installation id), gatewayId, stream, seq,
 * topic, topic(N), receivedAt, payload, payloadRaw, payload.<key>[.<key>...].
 */
export const COLUMN_SOURCE = /^(gateway|gatewayId|stream|seq|topic|topic\((\d{1,3})\)|receivedAt|payload|payloadRaw|payload\.(.+))$/;

// z.lazy: built on first use, so a gateway without this destination does not hold it (docs/benchmarks.md, "Idle footprint").
export const postgresOptionsSchema = z.lazy(() =>
  z
    .strictObject({
      host: z
        .string()
        .min(1)
        .default('127.0.0.1')
        .describe("The server's host name or address, or the folder of its Unix socket (/var/run/postgresql: starts with /)."),
      port: z.number().int().min(1).max(65_535).default(5432).describe("The server's port (also the socket's: .s.PGSQL.<port>)."),
      database: z.string().min(1).describe('The database to write into.'),
      user: z.string().min(1).describe('The role the gateway logs in as (needs INSERT on the table; CREATE on its schema with createTable).'),
      password: z.string().optional().describe('The password, in the config file. Never logged or shown in status. Prefer passwordFile.'),
      passwordFile: z
        .string()
        .min(1)
        .optional()
        .describe(
          'File holding the password on its first line (relative to the config file; read at start). Neither password nor passwordFile: no password (peer or trust authentication).',
        ),
      ssl: z
        .enum(['disable', 'require', 'verify-full'])
        .optional()
        .describe(
          "TLS, as libpq's sslmode: disable = plain TCP; require = TLS, the server's certificate not checked; verify-full = TLS, the certificate verified against caFile (or the system's CAs) and the host name. Default: disable for a loopback host or a socket, verify-full for any other host.",
        ),
      caFile: z
        .string()
        .min(1)
        .optional()
        .describe(
          "PEM file of the CA certificate(s) the server's certificate is verified against (ssl: verify-full; relative to the config file; read at start).",
        ),
      certFile: z
        .string()
        .min(1)
        .optional()
        .describe('PEM client certificate (with keyFile), for a server that asks for one (pg_hba.conf cert or clientcert=verify-full).'),
      keyFile: z.string().min(1).optional().describe('PEM private key of certFile.'),
      applicationName: z.string().max(63).default('gatehouse').describe("application_name of the session: what pg_stat_activity and the server's log show."),
      connectTimeoutMs: z
        .number()
        .int()
        .min(100)
        .max(MAX_TIMER_MS, TIMER_TOO_LONG)
        .default(10_000)
        .describe('How long a connection (TCP, TLS, login) may take; then the send fails as an outage and is retried.'),
      statementTimeoutMs: z
        .number()
        .int()
        .min(100)
        .max(MAX_TIMER_MS, TIMER_TOO_LONG)
        .default(30_000)
        .describe(
          "The session's statement_timeout: a batch's INSERT running longer (a lock held by another session, a slow trigger) is cancelled by the server and retried. The gateway gives up on a server that does not answer at all 5 s after it.",
        ),
      table: z
        .string()
        .min(1)
        .regex(/^[^"\0]+$/, 'a name holds no double quote or NUL')
        .default('gatehouse_records')
        .describe(
          "The table, as table or schema.table (names as written: quoted in SQL, so case is kept). Its layout: the default's (docs/destinations.md) or columns'.",
        ),
      createTable: z
        .boolean()
        .default(false)
        .describe(
          'Create the table in the default layout if it is missing (not with columns). Off by default: the gateway then needs no CREATE right, and a misspelt table name is a held setup fault instead of a new table nobody reads.',
        ),
      columns: z
        .record(
          identifier,
          z
            .string()
            .regex(COLUMN_SOURCE, 'not a column source (gateway, gatewayId, stream, seq, topic, topic(N), receivedAt, payload, payloadRaw, payload.<key>)'),
        )
        .optional()
        .describe(
          "Your own table: column name -> what it holds, e.g. { truck: 'topic(2)', temp: payload.temp, at: receivedAt, gateway: gateway, stream: stream, seq: seq }. Each value is converted to the column's type by the server (read from the table at connection); a record whose value does not fit is dead-lettered alone with the server's reason. Default: the default layout.",
        ),
      maxRecords: z.number().int().min(1).max(100_000).default(1000).describe('Max records per INSERT (one statement, one transaction).'),
      maxRecordBytes: z
        .number()
        .int()
        .min(1)
        .max(256 * MiB)
        .default(1 * MiB)
        .describe('Larger records are dead-lettered.'),
      maxBatchBytes: z
        .number()
        .int()
        .min(1)
        .max(256 * MiB)
        .default(4 * MiB)
        .describe('Max summed payload bytes per INSERT.'),
    })
    .superRefine((o, ctx) => {
      // A libpq URL pasted into host (postgres://user:password@db/plant) would be tried as a host
      // name and its password shown in the target (status, logs, the metrics' label): refused
      // without echoing it.
      if (/:\/\/|@/.test(o.host))
        ctx.addIssue({
          code: 'custom',
          message:
            'a host name, address or socket folder, not a connection URL: give its parts as host, port, database, user and passwordFile (a password in host would be shown wherever the target is)',
          path: ['host'],
        });
      if (o.password !== undefined && o.passwordFile !== undefined)
        ctx.addIssue({ code: 'custom', message: 'give at most one of password or passwordFile', path: ['password'] });
      if ((o.certFile === undefined) !== (o.keyFile === undefined))
        ctx.addIssue({ code: 'custom', message: 'certFile and keyFile go together', path: [o.certFile === undefined ? 'certFile' : 'keyFile'] });
      if (o.createTable && o.columns !== undefined)
        ctx.addIssue({
          code: 'custom',
          message: 'createTable makes the default layout: with columns, create your table yourself (docs/destinations.md, postgres)',
          path: ['createTable'],
        });
      if (o.table.split('.').length > 2) ctx.addIssue({ code: 'custom', message: 'write the table as table or schema.table', path: ['table'] });
      if (o.columns !== undefined && Object.keys(o.columns).length === 0)
        ctx.addIssue({ code: 'custom', message: 'name at least one column (or leave columns out for the default layout)', path: ['columns'] });
      if (sslMode(o) === 'disable' && (o.caFile !== undefined || o.certFile !== undefined))
        ctx.addIssue({ code: 'custom', message: 'caFile, certFile and keyFile need ssl: require or verify-full', path: ['ssl'] });
    }),
);

export type PostgresOptions = z.output<typeof postgresOptionsSchema>;

/** A loopback address or a socket folder: where `ssl` defaults to disable. */
export function localHost(host: string): boolean {
  return host.startsWith('/') || host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The TLS mode in effect (the option, or its default for the host). */
export function sslMode(o: { ssl?: 'disable' | 'require' | 'verify-full' | undefined; host: string }): 'disable' | 'require' | 'verify-full' {
  return o.ssl ?? (localHost(o.host) ? 'disable' : 'verify-full');
}
