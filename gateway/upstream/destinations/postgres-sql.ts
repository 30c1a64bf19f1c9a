// The SQL of the postgres destination (postgres.ts): the default table, the one INSERT per batch,
// a record as one text value per column, and what an error from the server or the link means.
//
// Every value goes to the server as text in one text[] parameter per column and is cast there to
// the column's type (read from the table at connection): a value that does not fit (a word for a
// number, a number out of range) is the server's data error (SQLSTATE class 22), so the batch is
// split until that record is alone and dead-lettered with the server's reason. The number of
// parameters is the number of columns, whatever the batch size (a multi-row VALUES would take
// columns x records, up to the protocol's 65,535).
import type { StoredRecord } from '../../store/types.js';
import { COLUMN_SOURCE } from './postgres-options.js';

/** A name quoted for SQL ("a""b"): case kept, any character but NUL. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** table or schema.table, each part quoted. */
export function quoteTable(table: string): string {
  return table.split('.').map(quoteIdent).join('.');
}

/** The default layout: column -> source (docs/destinations.md, postgres). */
export const DEFAULT_COLUMNS: Readonly<Record<string, string>> = {
  gateway: 'gateway',
  stream: 'stream',
  seq: 'seq',
  topic: 'topic',
  received_at: 'receivedAt',
  payload: 'payload',
  payload_raw: 'payloadRaw',
};

/**
 * The default table. Its key holds received_at because TimescaleDB's create_hypertable wants the
 * time column in every unique index; a record resent keeps its received_at, so the key still says
 * "this record of this gateway's stream".
 */
export function createTableSql(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${quoteTable(table)} (
  gateway text NOT NULL,
  stream text NOT NULL,
  seq bigint NOT NULL,
  topic text NOT NULL,
  received_at timestamptz NOT NULL,
  payload jsonb,
  payload_raw bytea,
  PRIMARY KEY (gateway, stream, seq, received_at)
)`;
}

/** The columns of a table with their types: name, base type as SQL (no length or precision), pg_type name, category. */
export const TABLE_COLUMNS_SQL = `SELECT a.attname AS name, format_type(a.atttypid, NULL) AS type, t.typname AS typname, t.typcategory AS category
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`;

/** The table's unique keys (primary key, unique constraints and indexes; not partial, not on expressions), each as its column names. */
export const TABLE_UNIQUE_KEYS_SQL = `SELECT array_agg(a.attname::text ORDER BY a.attname) AS columns
FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
GROUP BY i.indexrelid`;

/**
 * Why a resent batch would land twice, or undefined when it is a no-op. ON CONFLICT DO NOTHING drops
 * a resent row only when a unique key says it is the same record: a key over columns the gateway
 * fills from the record, holding its stream and seq (a key with a column the gateway does not fill,
 * an id from a sequence, is new at each send; a TimescaleDB table keyed (device, time) has no seq).
 */
export function resendKeyProblem(table: string, columns: Readonly<Record<string, string>>, keys: readonly (readonly string[])[]): string | undefined {
  const holds = (source: string): boolean => Object.values(columns).includes(source);
  const identity = (key: readonly string[]): boolean =>
    key.every((c) => columns[c] !== undefined) && key.some((c) => columns[c] === 'stream') && key.some((c) => columns[c] === 'seq');
  if (keys.some(identity)) return undefined;
  const cols = Object.keys(columns);
  const want = ['gateway', 'stream', 'seq'].filter(holds).map((src) => cols.find((c) => columns[c] === src)!);
  const time = cols.find((c) => columns[c] === 'receivedAt');
  if (!holds('stream') || !holds('seq'))
    return `the table ${table} gets no stream and seq columns (columns: ... stream: stream, seq: seq), so no key can tell a resent record from a new one: a batch sent again (its answer lost, a restart before the checkpoint) lands twice`;
  const have =
    keys.length === 0
      ? 'no primary key or unique index'
      : `no unique key over columns the gateway fills holding its stream and seq (keys: ${keys.map((k) => `(${k.join(', ')})`).join(', ')})`;
  return `the table ${table} has ${have}: a batch sent again (its answer lost, a restart before the checkpoint) lands twice; ALTER TABLE ${quoteTable(table)} ADD UNIQUE (${[...want, ...(time ? [time] : [])].map(quoteIdent).join(', ')}) makes a resend a no-op (a hypertable's key needs its time column)`;
}

export interface TableColumn {
  name: string;
  type: string;
  typname: string;
  category: string;
}

/** How a value is written as text for its column's type. */
type ValueKind = 'json' | 'bytea' | 'time' | 'other';

/** What one column holds and how its text is made. */
interface ColumnPlan {
  name: string;
  /** The SQL type its text is cast to. */
  type: string;
  /** Its type's name (pg_type.typname: jsonb, int4, ...). */
  typname: string;
  kind: ValueKind;
  source: Source;
}

type Source =
  | { of: 'gateway' | 'gatewayId' | 'stream' | 'seq' | 'topic' | 'receivedAt' | 'payload' | 'payloadRaw' }
  | { of: 'level'; level: number }
  | { of: 'key'; path: string[] };

function parseSource(text: string): Source {
  const m = COLUMN_SOURCE.exec(text);
  if (m?.[2] !== undefined) return { of: 'level', level: Number(m[2]) };
  if (m?.[3] !== undefined) return { of: 'key', path: m[3].split('.') };
  return { of: text as 'gateway' };
}

function kindOf(c: TableColumn): ValueKind {
  if (c.typname === 'json' || c.typname === 'jsonb') return 'json';
  if (c.typname === 'bytea') return 'bytea';
  if (c.category === 'D') return 'time';
  return 'other';
}

/** The batch INSERT for the columns mapped, or the names of those the table lacks. */
export class InsertPlan {
  readonly sql: string;
  private readonly columns: ColumnPlan[];
  /** Some column takes a payload key: a payload that is not a JSON object is refused. */
  private readonly needsObject: boolean;

  private constructor(table: string, columns: ColumnPlan[]) {
    this.columns = columns;
    this.needsObject = columns.some((c) => c.source.of === 'key');
    const names = columns.map((c) => quoteIdent(c.name)).join(', ');
    const casts = columns.map((c, i) => `u.c${i}::${c.type}`).join(', ');
    const arrays = columns.map((_, i) => `$${i + 1}::text[]`).join(', ');
    const aliases = columns.map((_, i) => `c${i}`).join(', ');
    this.sql = `INSERT INTO ${quoteTable(table)} (${names}) SELECT ${casts} FROM unnest(${arrays}) AS u(${aliases}) ON CONFLICT DO NOTHING`;
  }

  /** The plan for `mapping` (column -> source) over the table's columns; `missing` lists mapped columns it lacks. */
  static make(table: string, mapping: Readonly<Record<string, string>>, have: readonly TableColumn[]): InsertPlan | { missing: string[] } {
    const byName = new Map(have.map((c) => [c.name, c]));
    const missing = Object.keys(mapping).filter((n) => !byName.has(n));
    if (missing.length > 0) return { missing };
    const plans = Object.entries(mapping).map(([name, source]) => {
      const c = byName.get(name)!;
      return { name, type: c.type, typname: c.typname, kind: kindOf(c), source: parseSource(source) };
    });
    return new InsertPlan(table, plans);
  }

  /**
   * The statement's parameters for `records` (one text[] per column, NULLs where a value is
   * missing), and the records refused before sending, by index, with why.
   */
  parameters(
    records: readonly StoredRecord[],
    ids: { gateway: string; gatewayId: string },
  ): { params: Array<Array<string | null>>; sent: number[]; refused: Map<number, string> } {
    const params: Array<Array<string | null>> = this.columns.map(() => []);
    const sent: number[] = [];
    const refused = new Map<number, string>();
    for (let i = 0; i < records.length; i++) {
      const row = this.row(records[i]!, ids);
      if (typeof row === 'string') {
        refused.set(i, row);
        continue;
      }
      sent.push(i);
      for (let c = 0; c < row.length; c++) params[c]!.push(row[c]!);
    }
    return { params, sent, refused };
  }

  /** One record's text per column, or why it cannot be written. */
  private row(r: StoredRecord, ids: { gateway: string; gatewayId: string }): Array<string | null> | string {
    const payload = new PayloadView(r.payload);
    if (this.needsObject && payload.object() === undefined) return 'the payload is not a JSON object, and a column takes one of its keys';
    const out: Array<string | null> = [];
    for (const c of this.columns) {
      const v = columnText(c, r, payload, ids);
      if (v?.includes('\0') && c.kind !== 'bytea')
        return `column ${c.name}: the value holds a NUL character, which PostgreSQL text cannot hold (map it to a bytea column)`;
      out.push(v);
    }
    return out;
  }
}

/** A payload read once: its UTF-8 text and its JSON, each when it has one. */
class PayloadView {
  private textValue: string | null | undefined;
  private jsonValue: { v: unknown } | null | undefined;

  constructor(readonly bytes: Buffer) {}

  text(): string | null {
    if (this.textValue === undefined) {
      try {
        this.textValue = new TextDecoder('utf-8', { fatal: true }).decode(this.bytes);
      } catch {
        this.textValue = null;
      }
    }
    return this.textValue;
  }

  json(): { v: unknown } | null {
    if (this.jsonValue === undefined) {
      const t = this.text();
      try {
        this.jsonValue = t === null ? null : { v: JSON.parse(t) };
      } catch {
        this.jsonValue = null;
      }
    }
    return this.jsonValue;
  }

  /**
   * Whether jsonb can hold this JSON: PostgreSQL's jsonb refuses a string or key holding U+0000
   * (`22P05 unsupported Unicode escape sequence`), which JSON writes as \u0000 and a syslog
   * message or a C program's string can carry. Such a payload goes to payload_raw instead.
   */
  jsonbCanHold(): boolean {
    const t = this.text();
    if (t === null || !/\\u0000/i.test(t)) return true;
    const j = this.json();
    return j === null || !holdsNul(j.v);
  }

  object(): Record<string, unknown> | undefined {
    const j = this.json();
    return j !== null && typeof j.v === 'object' && j.v !== null && !Array.isArray(j.v) ? (j.v as Record<string, unknown>) : undefined;
  }
}

const hex = (b: Buffer): string => `\\x${b.toString('hex')}`;

/** A U+0000 in a string or key of a JSON value. */
function holdsNul(v: unknown): boolean {
  if (typeof v === 'string') return v.includes('\0');
  if (Array.isArray(v)) return v.some(holdsNul);
  if (typeof v === 'object' && v !== null) return Object.entries(v).some(([k, x]) => k.includes('\0') || holdsNul(x));
  return false;
}

function columnText(c: ColumnPlan, r: StoredRecord, payload: PayloadView, ids: { gateway: string; gatewayId: string }): string | null {
  const s = c.source;
  switch (s.of) {
    case 'gateway':
      return ids.gateway;
    case 'gatewayId':
      return ids.gatewayId;
    case 'stream':
      return r.stream;
    case 'seq':
      return String(r.seq);
    case 'topic':
      return r.topic;
    case 'level':
      return r.topic.split('/')[s.level - 1] ?? null;
    case 'receivedAt':
      return c.kind === 'time' ? new Date(r.receivedAt).toISOString() : String(r.receivedAt);
    case 'payload':
      if (c.kind === 'bytea') return hex(payload.bytes);
      if (c.kind === 'json') return payload.json() === null || (c.typname === 'jsonb' && !payload.jsonbCanHold()) ? null : payload.text();
      return payload.text() ?? hex(payload.bytes);
    case 'payloadRaw':
      if (payload.json() !== null && payload.jsonbCanHold()) return null;
      return c.kind === 'bytea' ? hex(payload.bytes) : (payload.text() ?? hex(payload.bytes));
    case 'key':
      return valueText(c.kind, dig(payload.object()!, s.path));
  }
}

function dig(obj: Record<string, unknown>, path: readonly string[]): unknown {
  let v: unknown = obj;
  for (const k of path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/**
 * Below it, a number into a time column is epoch seconds, from it milliseconds: 1e11 s is the year
 * 5138 and 1e11 ms March 1973, so no time of telemetry is both. Fluent Bit's `date` and Telegraf's
 * `timestamp` are seconds (with a fraction), a JavaScript device's Date.now() milliseconds; read
 * as milliseconds, seconds were January 1970 without an error.
 */
const SECONDS_BELOW = 1e11;

/** A payload value as text for its column: a number into a time column is epoch seconds or milliseconds (SECONDS_BELOW). */
function valueText(kind: ValueKind, v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (kind === 'json') return JSON.stringify(v);
  if (typeof v === 'string') return kind === 'bytea' ? hex(Buffer.from(v, 'utf8')) : v;
  if (typeof v === 'number' && kind === 'time')
    return Number.isFinite(v) ? new Date(Math.abs(v) < SECONDS_BELOW ? Math.round(v * 1000) : v).toISOString() : String(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** What a failure means for the batch. */
export type FailureClass =
  /** The server or the link is down, busy or full: the whole send retried, nothing counted against the records. */
  | { kind: 'outage'; hint: string }
  /** The gateway's setup (credentials, database, table, rights, TLS): held, nothing dead-lettered, until someone fixes it. */
  | { kind: 'setup'; hint: string }
  /** The data of some record in the batch: split until it is alone, then dead-lettered. */
  | { kind: 'data' }
  /** None of these (an internal error): retried, and a record is blamed only with evidence (outcomes.ts). */
  | { kind: 'unknown' };

/** A server error: it carries a SQLSTATE (pg's DatabaseError has a severity; Node's errors do not). */
export function sqlState(err: unknown): string | undefined {
  const e = err as { code?: unknown; severity?: unknown } | undefined;
  return typeof e?.severity === 'string' && typeof e.code === 'string' ? e.code : undefined;
}

const WAITS = 'records wait in the local stream';

/** What a SQLSTATE, or a failure without one (the link, TLS), means for the batch. */
export function classify(err: unknown, o: { table: string; user: string; database: string }): FailureClass {
  const state = sqlState(err);
  const message = err instanceof Error ? err.message : String(err);
  if (state === undefined) return classifyLink(message);
  const cls = state.slice(0, 2);
  switch (state) {
    case '28P01':
    case '28000':
      return {
        kind: 'setup',
        hint: `the server refused the login of ${o.user}: check the destination's user and passwordFile (and the server's pg_hba.conf for this host); ${WAITS}`,
      };
    case '3D000':
      return { kind: 'setup', hint: `the database ${o.database} does not exist: create it (createdb) or fix the destination's database; ${WAITS}` };
    case '42501':
      return {
        kind: 'setup',
        hint: `${o.user} may not do this: GRANT INSERT ON ${o.table} TO ${o.user} (with createTable, also CREATE on its schema); ${WAITS}`,
      };
    case '42P01':
    case '3F000':
      return {
        kind: 'setup',
        hint: `the table ${o.table} does not exist: create it (docs/destinations.md, postgres, gives the statement), set createTable: true for the default layout, or fix the destination's table; ${WAITS}`,
      };
    case '42703':
      return { kind: 'setup', hint: `add the column to ${o.table} or fix the destination's columns; ${WAITS}` };
    case '25006':
      // 25006 also comes from a primary whose database or role has default_transaction_read_only on
      // (ALTER DATABASE ... SET, a maintenance switch): pointing at "the primary" would not help there.
      return {
        kind: 'setup',
        hint: `the server is a read-only standby (point the destination's host at the primary), or the database or role is read-only (SHOW default_transaction_read_only; ALTER DATABASE ... SET default_transaction_read_only = off); ${WAITS}`,
      };
    case '57014':
      return {
        kind: 'outage',
        hint: `the INSERT ran over statementTimeoutMs and the server cancelled it: a lock held by another session (a migration, VACUUM FULL, a long transaction), a slow trigger or a busy server; the batch is retried`,
      };
  }
  // Class 53 names its fix by state: a generic "unavailable, busy or out of room" sent a user with a
  // full disk on the server looking at the network.
  if (state === '53100')
    return {
      kind: 'outage',
      hint: `the server's disk is full (53100): free space where its data or the table's tablespace lives (df on the server); ${WAITS}`,
    };
  if (state === '53300')
    return { kind: 'outage', hint: `the server has no connection left (53300): raise max_connections or close idle sessions (pg_stat_activity); ${WAITS}` };
  if (cls === '08' || cls === '53' || cls === '40' || state === '57P01' || state === '57P02' || state === '57P03' || state === '55P03' || state === '58030')
    return { kind: 'outage', hint: `the server is unavailable, busy or out of room (${state}); ${WAITS}` };
  if (cls === '22' || cls === '23') return { kind: 'data' };
  if (cls === '42' || cls === '0A' || cls === '28' || cls === '3D')
    return { kind: 'setup', hint: `the table ${o.table} does not take the destination's INSERT (${state}): check its columns and their types; ${WAITS}` };
  return { kind: 'unknown' };
}

function classifyLink(message: string): FailureClass {
  if (/does not support SSL/i.test(message))
    return {
      kind: 'setup',
      hint: `the server takes no TLS: turn ssl on in its postgresql.conf, or set the destination's ssl: disable on a trusted network; ${WAITS}`,
    };
  if (/certificate|altnames|self.signed|unable to verify|SSL|TLS/i.test(message))
    return {
      kind: 'setup',
      hint: `TLS failed: with ssl: verify-full set caFile to the CA that signed the server's certificate, and host to a name the certificate holds; ${WAITS}`,
    };
  if (/password must be a string|SASL|SCRAM|password authentication/i.test(message))
    return { kind: 'setup', hint: `the server asks for a password: set the destination's passwordFile (or password); ${WAITS}` };
  if (/ENOTFOUND|EAI_AGAIN/.test(message))
    return { kind: 'outage', hint: `the host name does not resolve: check the destination's host and the gateway's DNS; ${WAITS}` };
  if (/ECONNREFUSED|ENOENT/.test(message))
    return {
      kind: 'outage',
      hint: `nothing takes connections there: check that the server runs and the destination's host and port (listen_addresses in postgresql.conf); ${WAITS}`,
    };
  return { kind: 'outage', hint: `the link to the server failed; ${WAITS}` };
}
