// PostgreSQL (and TimescaleDB) destination: each batch is one INSERT ... SELECT FROM unnest(...)
// ON CONFLICT DO NOTHING, one statement in one transaction, into the default table or the user's
// own (postgres-sql.ts), as Telegraf's outputs.postgresql, Fluent Bit's pgsql and Node-RED's
// postgres nodes write. The table's key holds the record's identity (installation id, stream,
// seq), so a batch sent twice (its answer lost) lands once: at least once from the gateway is
// exactly once in the table.
//
// One connection (the exporter sends one batch at a time), made at the first send and again after
// it drops; the table's columns are read at each connection, so a table fixed or altered is seen
// on the next try. What a failure means comes from its SQLSTATE (classify): an outage is retried,
// a setup fault held with a hint (nothing dead-lettered), a data error split until the record is
// alone and dead-lettered with the server's reason.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Client as PgClient } from 'pg';
import type { RuntimeDeps } from '../../../core/deps.js';
import { ERRORS, GatehouseError } from '../../../core/errors.js';
import { lazyPackage } from '../../../core/lazy-package.js';
import { readClientTlsFiles } from '../../../core/tls-files.js';
import { MAX_TIMER_MS } from '../../../core/timer-delay.js';
import type { StoredRecord } from '../../store/types.js';
import { INSTALLATION_ID_FILE, lazyInstallationId } from '../installation-id.js';
import type { Destination, DestinationLimits, RecordResult } from '../types.js';
import { destinationConfigError, destinationMetrics, shortError, type CallFailureReason, type DestinationMetrics } from './common.js';
import { sslMode, type PostgresOptions } from './postgres-options.js';
import {
  DEFAULT_COLUMNS,
  InsertPlan,
  TABLE_COLUMNS_SQL,
  TABLE_UNIQUE_KEYS_SQL,
  classify,
  createTableSql,
  quoteTable,
  resendKeyProblem,
  sqlState,
  type FailureClass,
  type TableColumn,
} from './postgres-sql.js';

/** How long past statementTimeoutMs the gateway waits for a server that does not answer at all. */
const SILENT_SERVER_GRACE_MS = 5000;

/** node-postgres, required on the first use (a gateway without this destination never loads it). */
const loadPg = lazyPackage<{ Client: typeof PgClient }>('pg', 'the postgres destination');

export interface PostgresDeps extends RuntimeDeps {
  dataDir?: string | undefined;
  installationId?: (() => Promise<string>) | undefined;
  gatewayId?: string | undefined;
}

/** The first line of the password file, or GH_DESTINATION_CONFIG naming its key (never its content). */
function readPasswordFile(path: string): string {
  const where = 'destination.passwordFile';
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw destinationConfigError(
      'postgres destination',
      [{ path: where, message: `${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }],
      { where, hint: "give a file the gateway's user can read, holding the password on its first line" },
    );
  }
  return text.split(/\r?\n/, 1)[0] ?? '';
}

interface Connection {
  client: PgClient;
  plan: InsertPlan;
}

export class PostgresDestination implements Destination {
  readonly kind = 'postgres';
  readonly target: string;
  readonly limits: DestinationLimits;
  private readonly metrics: DestinationMetrics;
  private readonly password: string | undefined;
  private readonly ssl: false | { rejectUnauthorized: boolean; ca?: Buffer; cert?: Buffer; key?: Buffer };
  private readonly installationId: () => Promise<string>;
  private readonly gatewayId: string;
  private conn: Connection | undefined;
  private stopped = false;

  constructor(
    private readonly o: PostgresOptions,
    private readonly deps: PostgresDeps,
  ) {
    const where = o.host.startsWith('/') ? `${o.host}/.s.PGSQL.${o.port}` : `${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}`;
    this.target = `postgres://${o.user}@${where}/${o.database}#${o.table}`;
    this.limits = { maxRecords: o.maxRecords, maxRecordBytes: o.maxRecordBytes, maxBatchBytes: o.maxBatchBytes };
    this.metrics = destinationMetrics(deps.registry);
    this.password = o.password ?? (o.passwordFile === undefined ? undefined : readPasswordFile(o.passwordFile));
    const mode = sslMode(o);
    if (mode === 'disable') this.ssl = false;
    else {
      const tls = readClientTlsFiles(
        { ca: o.caFile, cert: o.certFile, key: o.keyFile },
        {
          where: { ca: 'destination.caFile', cert: 'destination.certFile', key: 'destination.keyFile' },
          subject: 'postgres destination',
          code: 'GH_DESTINATION_CONFIG',
        },
      );
      this.ssl = { rejectUnauthorized: mode === 'verify-full', ...tls };
    }
    this.installationId = deps.installationId ?? lazyInstallationId(deps.dataDir);
    this.gatewayId = deps.gatewayId ?? hostname();
  }

  async start(): Promise<void> {
    this.stopped = false;
    loadPg();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const c = this.conn;
    this.conn = undefined;
    if (c) await c.client.end().catch(() => undefined);
  }

  async send(records: readonly StoredRecord[], signal: AbortSignal): Promise<RecordResult[]> {
    const lbl = { kind: 'postgres', target: this.target };
    let conn: Connection;
    let gateway: string;
    try {
      conn = await this.connection();
      gateway = await this.installation();
    } catch (err) {
      this.metrics.calls.inc({ ...lbl, outcome: 'retryable', reason: callReason(err) });
      throw err;
    }
    signal.throwIfAborted();
    const { params, sent, refused } = conn.plan.parameters(records, { gateway, gatewayId: this.gatewayId });
    const out: RecordResult[] = new Array(records.length);
    for (const [i, why] of refused)
      out[i] = { ok: false, retryable: false, code: 'UNENCODABLE', error: `GH_EXPORT_PERMANENT: record not written to ${this.o.table}: ${why}` };
    if (refused.size > 0) this.metrics.recordFailures.inc({ ...lbl, code: 'UNENCODABLE' }, refused.size);
    if (sent.length === 0) return out;

    // Stopping mid-INSERT: the connection goes (the INSERT committed or not: a resend lands once).
    const onAbort = (): void => this.drop(conn);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await conn.client.query(conn.plan.sql, params);
    } catch (err) {
      const failure = this.judge(err, conn);
      if (failure instanceof GatehouseError) {
        this.metrics.calls.inc({ ...lbl, outcome: 'retryable', reason: callReason(failure) });
        throw failure;
      }
      for (const i of sent) out[i] = failure;
      this.metrics.calls.inc({ ...lbl, outcome: failure.retryable ? 'retryable' : 'permanent', reason: failure.retryable ? 'server' : 'client' });
      this.metrics.recordFailures.inc({ ...lbl, code: failure.code ?? 'SQL' }, sent.length);
      return out;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    for (const i of sent) out[i] = { ok: true };
    this.metrics.calls.inc({ ...lbl, outcome: refused.size > 0 ? 'partial' : 'ok' });
    return out;
  }

  /**
   * A failed INSERT: thrown (the whole send, retried or held) for an outage or a setup fault; one
   * result for every record sent for a data error (permanent: the loop splits the batch until the
   * record is alone) or an error of no known class (retryable, blamed on a record only with evidence).
   */
  private judge(err: unknown, conn: Connection): GatehouseError | Extract<RecordResult, { ok: false }> {
    const c = classify(err, this.o);
    const why = describe(err);
    if (c.kind === 'data') return { ok: false, retryable: false, code: sqlState(err), error: `GH_EXPORT_PERMANENT: ${why}` };
    if (c.kind === 'unknown') return { ok: false, retryable: true, code: sqlState(err), error: `GH_EXPORT_RETRYABLE: ${why}` };
    // The table may be fixed, the server back: the next send connects and reads the table again.
    this.drop(conn);
    return this.fault(c, why, err);
  }

  private fault(c: FailureClass & { hint: string }, why: string, cause: unknown): GatehouseError {
    return ERRORS.GH_EXPORT_RETRYABLE(
      { reason: why },
      { where: this.target, cause, hint: c.hint, details: { sqlState: sqlState(cause), ...(c.kind === 'setup' ? { setup: true } : {}) } },
    );
  }

  private drop(conn: Connection): void {
    if (this.conn === conn) this.conn = undefined;
    conn.client.end().catch(() => undefined);
  }

  private async installation(): Promise<string> {
    try {
      return await this.installationId();
    } catch (err) {
      throw ERRORS.GH_EXPORT_RETRYABLE(
        { reason: `cannot keep the installation id (the gateway column) in ${INSTALLATION_ID_FILE} of the data dir: ${shortError(err)}` },
        { where: this.target, cause: err, hint: 'check the data dir is writable and has space; the records wait in the local stream' },
      );
    }
  }

  /** The open connection, or a new one with the table's columns read (created first with createTable). */
  private async connection(): Promise<Connection> {
    if (this.conn) return this.conn;
    const { Client } = loadPg();
    const o = this.o;
    const client = new Client({
      host: o.host,
      port: o.port,
      database: o.database,
      user: o.user,
      ...(this.password === undefined ? {} : { password: this.password }),
      ssl: this.ssl,
      application_name: o.applicationName,
      connectionTimeoutMillis: o.connectTimeoutMs,
      statement_timeout: o.statementTimeoutMs,
      query_timeout: Math.min(o.statementTimeoutMs + SILENT_SERVER_GRACE_MS, MAX_TIMER_MS),
      keepAlive: true,
    });
    const log = this.deps.logger.child({ component: 'destination', kind: 'postgres', target: this.target });
    // A connection that drops while idle (server restart, network): forgotten, the next send makes another.
    const forget = (): void => {
      if (this.conn?.client === client) this.conn = undefined;
    };
    client.on('error', (err) => {
      forget();
      log.warn({ err: shortError(err) }, 'connection to PostgreSQL lost: the next batch reconnects');
    });
    client.on('end', forget);
    const fail = (err: unknown, during: string): GatehouseError => {
      client.end().catch(() => undefined);
      const c = classify(err, o);
      const why = `${during}: ${describe(err)}`;
      if (c.kind === 'outage' || c.kind === 'setup') return this.fault(c, why, err);
      return ERRORS.GH_EXPORT_RETRYABLE({ reason: why }, { where: this.target, cause: err, hint: 'the records wait in the local stream' });
    };
    try {
      await client.connect();
    } catch (err) {
      throw fail(err, `cannot connect to ${this.target}`);
    }
    let plan: InsertPlan | { missing: string[] };
    try {
      if (o.createTable) await client.query(createTableSql(o.table));
      const { rows } = await client.query<TableColumn>(TABLE_COLUMNS_SQL, [quoteTable(o.table)]);
      plan = InsertPlan.make(o.table, o.columns ?? DEFAULT_COLUMNS, rows);
      if (!('missing' in plan)) {
        const keys = await client.query<{ columns: string[] }>(TABLE_UNIQUE_KEYS_SQL, [quoteTable(o.table)]);
        const problem = resendKeyProblem(
          o.table,
          o.columns ?? DEFAULT_COLUMNS,
          keys.rows.map((k) => k.columns),
        );
        // Said at each connection (rare), and the records still go: the table is the user's to key.
        if (problem) log.warn({ table: o.table }, `PostgreSQL: ${problem}`);
      }
    } catch (err) {
      throw fail(err, `cannot read the columns of ${o.table}`);
    }
    if ('missing' in plan) {
      client.end().catch(() => undefined);
      throw ERRORS.GH_EXPORT_RETRYABLE(
        { reason: `the table ${o.table} has no column ${plan.missing.join(', ')}` },
        {
          where: this.target,
          details: { setup: true, sqlState: '42703' },
          hint: `add the column${plan.missing.length > 1 ? 's' : ''} to ${o.table} (docs/destinations.md, postgres, gives the default layout) or fix the destination's columns; records wait in the local stream`,
        },
      );
    }
    if (this.stopped) {
      client.end().catch(() => undefined);
      throw ERRORS.GH_EXPORT_RETRYABLE({ reason: 'the destination stopped' }, { where: this.target });
    }
    this.conn = { client, plan };
    log.info({ columns: Object.keys(o.columns ?? DEFAULT_COLUMNS).length }, `connected to PostgreSQL, writing into ${o.table}`);
    return this.conn;
  }
}

/** A failure as one line: the SQLSTATE, the server's message and its detail. */
function describe(err: unknown): string {
  const state = sqlState(err);
  const e = err as { detail?: unknown; column?: unknown };
  const detail = typeof e?.detail === 'string' ? ` (${e.detail})` : '';
  const column = typeof e?.column === 'string' ? ` [column ${e.column}]` : '';
  return `${state === undefined ? '' : `PostgreSQL ${state}: `}${shortError(err)}${detail}${column}`;
}

/** The reason label of a whole call that failed (common.ts CallFailureReason). */
function callReason(err: unknown): CallFailureReason {
  const state = (err as { details?: { sqlState?: unknown } }).details?.sqlState;
  if (typeof state === 'string') {
    if (state.startsWith('28') || state === '42501') return 'auth';
    if (state === '57014') return 'timeout';
    if (state.startsWith('42') || state.startsWith('3D') || state.startsWith('3F') || state === '25006') return 'client';
    return 'server';
  }
  if ((err as { details?: { setup?: unknown } }).details?.setup === true) return 'auth';
  return /timeout|timed out/i.test(shortError(err)) ? 'timeout' : 'network';
}

/** Options arrive validated (registry.ts). */
export function createPostgresDestination(options: PostgresOptions, deps: PostgresDeps): PostgresDestination {
  return new PostgresDestination(options, deps);
}
