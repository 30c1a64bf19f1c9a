// The chaos bench's PostgreSQL upstream (`--upstream postgres`, test/bench/chaos.ts): a private
// Debian postgres (test/helpers/postgres.ts, run as the `postgres` user when we are root; fsync off)
// with a database `chaos` and the default table gatehouse_records (createTableSql), written by the
// gateway's `postgres` destination through a TCP fault proxy (chaos-tcp-proxy.ts). The four modes:
//   ok     the server up, the proxy passing bytes;
//   flaky  every 1-4 s one fault, at random: the gateway's sessions terminated from the server
//          (pg_terminate_backend of pg_stat_activity's application_name = APP: 57P01 mid-query or
//          idle), the table locked by another session for 1-6 s (SHARE ROW EXCLUSIVE: the INSERT
//          waits; past the destination's 3 s statementTimeoutMs the server cancels it, 57014), every
//          proxied connection reset, or the next query's connection reset 0-40 ms after the query
//          went through (mid-query: committed or not);
//   stall  the proxy holds bytes until the mode changes: half the times only the answers (the
//          INSERT commits unheard: a resend the key drops), else both ways; then those connections are reset;
//   down   the server stopped: fast shutdown (pg_ctl stop -m fast: SIGINT) or immediate (-m
//          immediate: SIGQUIT, no checkpoint, crash recovery from the WAL at the next start), half each.
// What was received is read back from the table directly (not through the proxy): collect() reads
// the rows past the highest seq read of each stream, and the whole table again once nothing new
// came (a row committed late, behind a higher seq, is then found: counted as lateRows); each row's
// payload is tallied by its chaos id. The key (gateway, stream, seq, received_at) keeps one row per
// record, so the table shows no duplicates: resends are counted by a BEFORE INSERT trigger of the
// bench's (chaos_resent), which fires for every row an INSERT ... ON CONFLICT DO NOTHING proposes,
// before the conflict check, and notes those whose key is already in the table (its rows roll back
// with a statement that did not commit, so only resends that landed are counted).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Client as PgClient } from 'pg';
import { createTableSql } from '../../gateway/upstream/destinations/postgres-sql.js';
import { freePort } from '../helpers/index.js';
import { PG_PASSWORD, PG_USER, needPostgres, startPostgres, type PgServer } from '../helpers/postgres.js';
import { mulberry32 } from '../helpers/prng.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { ChaosTally, type ChaosKey, type ChaosSink, type UpstreamMode } from './chaos-upstream.js';
import type { UpstreamParts } from './chaos-upstreams.js';
import { TcpFaultProxy } from './chaos-tcp-proxy.js';

const DATABASE = 'chaos';
const TABLE = 'gatehouse_records';
/** The destination's application_name: what pg_terminate_backend picks. */
const APP = 'gatehouse-chaos';

/** The bench's resend counter: a row proposed whose key is in the table already (a resend that landed). */
const RESENT_SQL = `
CREATE TABLE chaos_resent (stream text, seq bigint, tx bigint, at timestamptz);
CREATE FUNCTION chaos_note_resent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM ${TABLE} WHERE gateway = NEW.gateway AND stream = NEW.stream AND seq = NEW.seq AND received_at = NEW.received_at) THEN
    INSERT INTO chaos_resent VALUES (NEW.stream, NEW.seq, txid_current(), clock_timestamp());
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER chaos_resent BEFORE INSERT ON ${TABLE} FOR EACH ROW EXECUTE FUNCTION chaos_note_resent();`;

export class ChaosPostgres implements ChaosSink {
  readonly kind = 'postgres';
  mode: UpstreamMode = 'ok';
  /** Faults by kind. */
  readonly faults = { stopFast: 0, stopImmediate: 0, terminateCalls: 0, terminated: 0, locks: 0, locksPastTimeout: 0, proxyResets: 0 };
  /** Reads: failed (retried at the next), whole-table rereads, rows found by a reread that the incremental reads had passed. */
  readErrors = 0;
  lastReadError = '';
  fullReads = 0;
  lateRows = 0;
  /** Flaky faults that failed themselves (a lock session or a pg_terminate_backend cut by a server stop), and the last one's error. */
  faultErrors = 0;
  lastFaultError = '';
  /** The resend counter at the end (down()): rows resent that were in the table, in how many INSERTs. */
  private resent: { rows: number; statements: number } | undefined;
  /** At the end: (stream, seq) pairs held by more than one row (another received_at: two records numbered alike), and a few of them. */
  private sameSeq: { pairs: number; rows: string[] } | undefined;
  private tally: ChaosTally;
  private readonly maxSeq = new Map<string, number>();
  /** Rows read of each stream (all at or below its maxSeq), to tell a late row from a new one at a whole-table reread. */
  private readonly rowsRead = new Map<string, number>();
  private newSinceFull = true;
  private lastFull = 0;
  private reader: PgClient | undefined;
  private collecting: Promise<void> | undefined;
  private readTimer: NodeJS.Timeout | undefined;
  private flakyTimer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private running = true;
  private closed = false;
  private readonly faultRnd: () => number;

  private constructor(
    private readonly server: PgServer,
    private readonly proxy: TcpFaultProxy,
    private readonly version: string,
    private readonly capacities: Partial<Record<ChaosKey, number>>,
    private readonly rnd: () => number,
    private readonly afters: Array<() => unknown>,
  ) {
    this.tally = new ChaosTally(capacities);
    this.faultRnd = mulberry32(Math.floor(rnd() * 2 ** 32));
  }

  /** Up and healthy with its table and proxy; or why not (postgresql not installed, a failed start). */
  static async create(parts: UpstreamParts): Promise<ChaosPostgres | string> {
    const skip = needPostgres();
    if (skip) return skip;
    // startPostgres is the tests' helper: its clean-up goes in after(), run here by down().
    const afters: Array<() => unknown> = [];
    const t = { after: (fn: () => unknown) => void afters.push(fn) } as unknown as TestContext;
    const run = async (): Promise<void> => {
      for (const f of afters.reverse()) await Promise.resolve(f()).catch(() => undefined);
    };
    try {
      const tls = join(parts.dir, 'tls');
      await mkdir(tls, { recursive: true });
      const server = await startPostgres(t, opensslSelfSigned(tls, 1, 'server'));
      await server.query(`CREATE DATABASE ${DATABASE}`);
      const cl = await server.client(DATABASE);
      try {
        await cl.query(createTableSql(TABLE));
        await cl.query(RESENT_SQL);
      } finally {
        await cl.end();
      }
      const version = (await server.query<{ server_version: string }>('SHOW server_version'))[0]!.server_version;
      const faultRnd = mulberry32(Math.floor(parts.rnd() * 2 ** 32));
      const proxy = new TcpFaultProxy(() => server.port, faultRnd);
      await proxy.listen(await freePort());
      const u = new ChaosPostgres(server, proxy, version, parts.capacities, parts.rnd, afters);
      u.readTimer = setInterval(() => {
        if (u.mode !== 'down') void u.collect();
      }, 10_000);
      return u;
    } catch (err) {
      await run();
      return `postgres did not start with its table: ${String(err)}`;
    }
  }

  get records(): number {
    return this.tally.records;
  }

  count(key: ChaosKey, id: number): number {
    return this.tally.count(key, id);
  }

  /** Always 0 in the table (its key): resends are counted by the trigger, in describe(). */
  duplicates(key: ChaosKey): number {
    return this.tally.duplicates(key);
  }

  destination(): Record<string, unknown> {
    // Through the proxy; timeouts short as the other legs' (2 s connect, 3 s statement: the gateway
    // gives up on a silent server 5 s later).
    return {
      type: 'postgres',
      host: '127.0.0.1',
      port: this.proxy.port,
      database: DATABASE,
      user: PG_USER,
      password: PG_PASSWORD,
      table: TABLE,
      applicationName: APP,
      connectTimeoutMs: 2000,
      statementTimeoutMs: 3000,
    };
  }

  describe(): string {
    const f = this.faults;
    const p = this.proxy;
    const r = this.resent;
    return (
      `upstream (PostgreSQL ${this.version}, table ${TABLE} through a TCP fault proxy): ${f.stopFast + f.stopImmediate} server stops (${f.stopFast} fast, ${f.stopImmediate} immediate); ` +
      `flaky: ${f.terminateCalls} pg_terminate_backend rounds (${f.terminated} sessions ended), ${f.locks} table locks (${f.locksPastTimeout} held past the 3 s statement timeout), ` +
      `${f.proxyResets} proxy reset rounds (${p.resets} connections), ${p.midQueryResets} mid-query resets; stall: ${p.holds.answers} answers held, ${p.holds.all} both ways held (${p.releasedResets} connections reset at release); ` +
      `${p.connections} proxied connections; ${this.faultErrors} faults that failed${this.lastFaultError ? ` (last: ${this.lastFaultError})` : ''}\n` +
      `  table: ${this.records} rows read back (${this.tally.unparsable} unparsable payloads), ${this.fullReads} whole-table rereads, ${this.lateRows} rows committed behind a higher seq; ${this.readErrors} failed reads${this.lastReadError ? ` (last: ${this.lastReadError})` : ''}\n` +
      `  resends that landed on rows already in the table (trigger): ${r ? `${r.rows} rows in ${r.statements} INSERTs` : 'not read'}\n` +
      `  (stream, seq) held by two or more rows (received_at differs: two records with one number): ${this.sameSeq ? `${this.sameSeq.pairs}${this.sameSeq.rows.map((x) => `\n    ${x}`).join('')}` : 'not read'}`
    );
  }

  setMode(mode: UpstreamMode): Promise<void> {
    return this.serially(async () => {
      if (this.closed) return;
      this.stopFlaky();
      this.proxy.release();
      if (mode === 'down') {
        if (this.running) {
          const immediate = this.rnd() < 0.5;
          this.running = false;
          await this.server.down(immediate ? 'immediate' : 'fast');
          if (immediate) this.faults.stopImmediate++;
          else this.faults.stopFast++;
        }
      } else await this.start();
      if (mode === 'stall') this.proxy.hold(this.rnd() < 0.5 ? 'answers' : 'all');
      this.mode = mode;
      if (mode === 'flaky') this.scheduleFault();
    });
  }

  up(): Promise<void> {
    return this.serially(() => this.start());
  }

  /** Stops everything for good: faults, reader (the resend count read first), proxy, server. */
  async down(): Promise<void> {
    this.closed = true;
    this.stopFlaky();
    if (this.readTimer) clearInterval(this.readTimer);
    await this.collecting;
    await this.serially(async () => {
      this.proxy.release();
      await this.proxy.close();
      try {
        await this.start();
        const rows = await this.server.query<{ rows: string; statements: string }>(
          'SELECT count(*) AS rows, count(DISTINCT tx) AS statements FROM chaos_resent',
          [],
          DATABASE,
        );
        this.resent = { rows: Number(rows[0]!.rows), statements: Number(rows[0]!.statements) };
        const twice = await this.server.query<{ pairs: string }>(
          `SELECT count(*) AS pairs FROM (SELECT 1 FROM ${TABLE} GROUP BY gateway, stream, seq HAVING count(*) > 1) d`,
          [],
          DATABASE,
        );
        const some = await this.server.query<{ stream: string; seq: string; at: string; p: string | null }>(
          `SELECT stream, seq, received_at::text AS at, left(payload::text, 60) AS p FROM ${TABLE} WHERE (gateway, stream, seq) IN (SELECT gateway, stream, seq FROM ${TABLE} GROUP BY 1, 2, 3 HAVING count(*) > 1 ORDER BY seq LIMIT 4) ORDER BY seq, received_at`,
          [],
          DATABASE,
        );
        this.sameSeq = { pairs: Number(twice[0]!.pairs), rows: some.map((r) => `${r.stream}:${r.seq} at ${r.at} ${r.p}`) };
      } catch (err) {
        this.lastReadError = `the resend count: ${String(err).slice(0, 200)}`;
      }
      await this.reader?.end().catch(() => undefined);
      this.reader = undefined;
      for (const f of this.afters.reverse()) await Promise.resolve(f()).catch(() => undefined);
    });
  }

  /** Reads what was committed since the last call (a failure: the next call goes on). */
  collect(): Promise<void> {
    this.collecting ??= this.readNew().finally(() => {
      this.collecting = undefined;
    });
    return this.collecting;
  }

  private async readNew(): Promise<void> {
    if (!this.running) return;
    try {
      this.reader ??= await this.connectReader();
      const cl = this.reader;
      const streams = (await cl.query<{ stream: string }>(`SELECT DISTINCT stream FROM ${TABLE}`)).rows.map((r) => r.stream);
      let got = 0;
      for (const stream of streams) {
        const from = this.maxSeq.get(stream) ?? 0;
        const { rows } = await cl.query<{ seq: string; p: string | null }>(
          `SELECT seq, payload::text AS p FROM ${TABLE} WHERE stream = $1 AND seq > $2 ORDER BY seq`,
          [stream, from],
        );
        for (const r of rows) this.tally.add(r.p ?? '');
        got += rows.length;
        this.rowsRead.set(stream, (this.rowsRead.get(stream) ?? 0) + rows.length);
        if (rows.length > 0) this.maxSeq.set(stream, Number(rows[rows.length - 1]!.seq));
      }
      if (got > 0) this.newSinceFull = true;
      else if (this.newSinceFull && Date.now() - this.lastFull > 5000) await this.readAll(cl);
    } catch (err) {
      this.readErrors++;
      this.lastReadError = String(err).slice(0, 200);
      await this.reader?.end().catch(() => undefined);
      this.reader = undefined;
    }
  }

  /**
   * The whole table again, into a new tally. A row at or below a stream's highest seq read that the
   * incremental reads did not see was committed behind a higher seq (a late row); rows above it
   * are only new since the last read.
   */
  private async readAll(cl: PgClient): Promise<void> {
    const tally = new ChaosTally(this.capacities);
    const max = new Map<string, number>();
    const below = new Map<string, number>();
    const { rows } = await cl.query<{ stream: string; seq: string; p: string | null }>(`SELECT stream, seq, payload::text AS p FROM ${TABLE}`);
    for (const r of rows) {
      tally.add(r.p ?? '');
      const s = Number(r.seq);
      if (s > (max.get(r.stream) ?? 0)) max.set(r.stream, s);
      if (s <= (this.maxSeq.get(r.stream) ?? 0)) below.set(r.stream, (below.get(r.stream) ?? 0) + 1);
    }
    for (const [stream, n] of below) this.lateRows += Math.max(0, n - (this.rowsRead.get(stream) ?? 0));
    this.tally = tally;
    this.maxSeq.clear();
    this.rowsRead.clear();
    for (const [k, v] of max) this.maxSeq.set(k, v);
    for (const r of rows) this.rowsRead.set(r.stream, (this.rowsRead.get(r.stream) ?? 0) + 1);
    this.fullReads++;
    this.lastFull = Date.now();
    this.newSinceFull = false;
  }

  private async connectReader(): Promise<PgClient> {
    const cl = await this.server.client(DATABASE);
    cl.on('error', () => {
      if (this.reader === cl) this.reader = undefined;
    });
    return cl;
  }

  private async start(): Promise<void> {
    if (this.running) return;
    await this.server.up();
    this.running = true;
  }

  private serially(f: () => Promise<void>): Promise<void> {
    const next = this.chain.then(f);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private stopFlaky(): void {
    if (this.flakyTimer) clearTimeout(this.flakyTimer);
    this.flakyTimer = undefined;
  }

  /** While flaky: one fault in 1-4 s, then the next. */
  private scheduleFault(): void {
    this.flakyTimer = setTimeout(
      () => {
        this.flakyTimer = undefined;
        if (this.mode !== 'flaky' || this.closed) return;
        void this.fault().catch((err: unknown) => {
          this.faultErrors++;
          this.lastFaultError = String(err).slice(0, 200);
        });
        this.scheduleFault();
      },
      1000 + this.faultRnd() * 3000,
    );
  }

  private async fault(): Promise<void> {
    const r = this.faultRnd();
    if (r < 0.3) {
      this.faults.terminateCalls++;
      const rows = await this.server.query<{ t: boolean }>('SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE application_name = $1', [APP]);
      this.faults.terminated += rows.filter((x) => x.t).length;
    } else if (r < 0.55) {
      const ms = 1000 + this.faultRnd() * 5000;
      this.faults.locks++;
      if (ms > 3000) this.faults.locksPastTimeout++;
      const cl = await this.server.client(DATABASE);
      cl.on('error', () => undefined);
      try {
        await cl.query('BEGIN');
        await cl.query(`LOCK TABLE ${TABLE} IN SHARE ROW EXCLUSIVE MODE`);
        await new Promise((res) => setTimeout(res, ms).unref());
        await cl.query('COMMIT');
      } finally {
        await cl.end().catch(() => undefined);
      }
    } else if (r < 0.8) {
      this.faults.proxyResets++;
      this.proxy.reset();
    } else this.proxy.armReset();
  }
}
