// The postgres destination against a real PostgreSQL (Debian `postgresql`, one private server for
// this file: test/helpers/postgres.ts), through a real exporter over a real store (exporter-rig.ts).
// Each test writes into a database of its own; rows are read back with pg.
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needBinary, removeTempDir, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { append, assertHeld, openStreams, passwordFile, startExporter } from '../helpers/exporter-rig.js';
import { readAll } from '../helpers/store-intake.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { PG_PASSWORD, PG_USER, needPostgres, startPostgres, type PgServer } from '../helpers/postgres.js';
import { createDestination } from '../../gateway/upstream/registry.js';
import type { RuntimeDeps } from '../../core/deps.js';
import type { StoredRecord } from '../../gateway/store/types.js';

const skip = needPostgres() ?? needBinary('openssl', 'openssl');

const INSTALLATION = 'a1b2c3d4e5f60718';

let server: PgServer | undefined;
let tlsDir = '';
let serverCert = '';
let dbCount = 0;

/** The file's server, started by the first test that needs it (stopped by that test's after()). */
async function pgServer(t: TestContext): Promise<PgServer> {
  return (server ??= await startPostgres(
    t,
    (() => {
      tlsDir = mkdtempSync(join(tmpdir(), 'gatehouse-pg-tls-'));
      const cert = opensslSelfSigned(tlsDir, 2, 'server');
      serverCert = cert.cert;
      return cert;
    })(),
  ));
}

/** A database of the test's own. */
async function database(s: PgServer): Promise<string> {
  const name = `t${++dbCount}`;
  await s.query(`CREATE DATABASE ${name}`);
  return name;
}

function deps(): RuntimeDeps & { installationId: () => Promise<string> } {
  return { ...testDeps(), installationId: async () => INSTALLATION };
}

function pgDestination(s: PgServer, db: string, more: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'postgres', port: s.port, database: db, user: PG_USER, password: PG_PASSWORD, ...more };
}

async function count(s: PgServer, db: string, table = 'gatehouse_records'): Promise<number> {
  const [row] = await s.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`, [], db);
  return Number(row!.n);
}

// One test holds the server for the file: node:test runs a file's top-level tests in order, and
// the server's after() runs at the end of the first; so every case is a subtest of one test.
test('postgres destination', { skip, timeout: 240_000 }, async (t) => {
  const s = await pgServer(t);
  t.after(() => removeTempDir(tlsDir));

  await t.test('records land once in the default table (createTable), a batch sent twice lands once', async (t) => {
    const db = await database(s);
    const streams = await openStreams(t);
    const exporter = await startExporter(t, streams, pgDestination(s, db, { createTable: true }), deps());
    await append(streams, 12);
    await streams.append('up', { topic: 'dev/d1/text', payload: Buffer.from('temp=96.5'), receivedAt: 1_700_000_000_000 });
    await waitUntil(() => exporter.status().lastExportedSeq === 13, 'all 13 exported', 15_000);
    const rows = await s.query<{
      gateway: string;
      stream: string;
      seq: string;
      topic: string;
      received_at: Date;
      payload: unknown;
      payload_raw: Buffer | null;
    }>('SELECT * FROM gatehouse_records ORDER BY seq', [], db);
    assert.equal(rows.length, 13);
    assert.deepEqual(
      rows.map((r) => Number(r.seq)),
      [...Array(13).keys()].map((i) => i + 1),
    );
    assert.equal(rows[0]!.gateway, INSTALLATION, 'the gateway column holds the installation id');
    assert.equal(rows[0]!.stream, 'up');
    assert.equal(rows[0]!.topic, 'dev/d1/data');
    assert.deepEqual(rows[4]!.payload, { d: 'd1', i: 4 }, 'a JSON payload is jsonb');
    assert.equal(rows[4]!.payload_raw, null);
    assert.equal(rows[12]!.payload, null, 'a payload that is not JSON goes to payload_raw');
    assert.equal(rows[12]!.payload_raw?.toString(), 'temp=96.5');
    assert.equal(rows[12]!.received_at.getTime(), 1_700_000_000_000);

    // The same batch again (its answer lost, say): ON CONFLICT DO NOTHING on the key.
    const dest = createDestination({ type: 'postgres', ...pgDestination(s, db) } as { type: 'postgres' }, deps());
    await dest.start();
    t.after(() => dest.stop());
    // Records 1-3 as the exporter sent them (the store reclaimed them once exported), and a new one.
    const again: StoredRecord[] = [1, 2, 3, 14].map((seq) => ({
      stream: 'up',
      seq,
      topic: 'dev/d1/data',
      payload: Buffer.from('{}'),
      receivedAt: rows[seq - 1]?.received_at.getTime() ?? Date.now(),
    }));
    const r1 = await dest.send(again, new AbortController().signal);
    const r2 = await dest.send(again, new AbortController().signal);
    assert.ok(
      [...r1, ...r2].every((r) => r.ok),
      'both sends delivered',
    );
    assert.equal(await count(s, db), 14, 'records 1-3 not twice, 14 once');
  });

  await t.test('a JSON payload jsonb cannot hold (a string with \\u0000: a syslog message with a NUL) lands in payload_raw, not dead-lettered', async (t) => {
    const db = await database(s);
    const streams = await openStreams(t);
    const exporter = await startExporter(t, streams, pgDestination(s, db, { createTable: true }), deps());
    const nul = JSON.stringify({ message: 'before\0after', severity: 3 });
    await streams.append('up', { topic: 'syslog/sw1/app', payload: Buffer.from('{"message":"ok"}'), receivedAt: Date.now() });
    await streams.append('up', { topic: 'syslog/sw1/app', payload: Buffer.from(nul), receivedAt: Date.now() });
    await streams.append('up', { topic: 'syslog/sw1/app', payload: Buffer.from('{"key\\u0000":1}'), receivedAt: Date.now() });
    await streams.append('up', { topic: 'syslog/sw1/app', payload: Buffer.from('{"message":"escaped \\\\u0000 is no NUL"}'), receivedAt: Date.now() });
    await waitUntil(() => exporter.status().lastExportedSeq === 4, 'all 4 exported', 15_000);
    assert.equal(exporter.status().deadLetters, 0, 'none dead-lettered');
    const rows = await s.query<{ seq: string; payload: unknown; payload_raw: Buffer | null }>(
      'SELECT seq, payload, payload_raw FROM gatehouse_records ORDER BY seq',
      [],
      db,
    );
    assert.deepEqual(rows[0]!.payload, { message: 'ok' });
    assert.equal(rows[1]!.payload, null, 'jsonb cannot hold it');
    assert.equal(rows[1]!.payload_raw?.toString(), nul, 'every byte of it in payload_raw');
    assert.equal(rows[2]!.payload, null, 'a key with U+0000 too');
    assert.deepEqual(rows[3]!.payload, { message: 'escaped \\u0000 is no NUL' }, 'an escaped backslash before u0000 is text, kept as jsonb');
    assert.equal(rows[3]!.payload_raw, null);
  });

  await t.test('the server stopped mid-export and started again: nothing lost, nothing twice', async (t) => {
    const db = await database(s);
    const streams = await openStreams(t);
    const exporter = await startExporter(t, streams, pgDestination(s, db, { createTable: true, connectTimeoutMs: 1000 }), deps());
    await append(streams, 10);
    await waitUntil(() => exporter.status().lastExportedSeq === 10, 'the first 10 exported', 15_000);
    await s.down();
    await append(streams, 30);
    await waitUntil(() => exporter.status().retries >= 2, 'sends failing while the server is down', 15_000);
    assert.equal(exporter.status().outage, true, 'a server down is an outage');
    assert.equal(exporter.status().lastExportedSeq, 10, 'nothing passes while it is down');
    await s.up();
    await waitUntil(() => exporter.status().lastExportedSeq === 40, 'the backlog exported once the server is back', 20_000);
    assert.equal(await count(s, db), 40);
    const [dup] = await s.query<{ n: string }>('SELECT count(DISTINCT seq) AS n FROM gatehouse_records', [], db);
    assert.equal(Number(dup!.n), 40, 'every record once');
    assert.equal(exporter.status().deadLetters, 0);
  });

  await t.test('a wrong password is held as a setup fault, then the fixed config delivers', async (t) => {
    const db = await database(s);
    await s.query(
      'CREATE TABLE gatehouse_records (gateway text NOT NULL, stream text NOT NULL, seq bigint NOT NULL, topic text NOT NULL, received_at timestamptz NOT NULL, payload jsonb, payload_raw bytea, PRIMARY KEY (gateway, stream, seq, received_at))',
      [],
      db,
    );
    const streams = await openStreams(t);
    const wrong = await passwordFile(t, 'not-the-password', 'pg-password');
    const held = await startExporter(t, streams, { ...pgDestination(s, db), password: undefined, passwordFile: wrong }, deps());
    await append(streams, 4);
    await assertHeld(held, streams, 4, /28P01.*password authentication failed/, /check the destination's user and passwordFile/);
    await held.stop();
    const right = await passwordFile(t, PG_PASSWORD, 'pg-password-fixed');
    const fixed = await startExporter(t, streams, { ...pgDestination(s, db), password: undefined, passwordFile: right }, deps());
    await waitUntil(() => fixed.status().lastExportedSeq === 4, 'delivered with the right password', 15_000);
    assert.equal(await count(s, db), 4);
  });

  await t.test('a missing table is held with a hint, and delivered once it is created', async (t) => {
    const db = await database(s);
    const streams = await openStreams(t);
    const exporter = await startExporter(t, streams, pgDestination(s, db, { table: 'telemetry' }), deps());
    await append(streams, 3);
    await assertHeld(exporter, streams, 3, /42P01.*"telemetry" does not exist/, /create it .*createTable: true/);
    await s.query(
      'CREATE TABLE telemetry (gateway text, stream text, seq bigint, topic text, received_at timestamptz, payload jsonb, payload_raw bytea, PRIMARY KEY (gateway, stream, seq, received_at))',
      [],
      db,
    );
    await waitUntil(() => exporter.status().lastExportedSeq === 3, 'delivered once the table exists', 15_000);
    assert.equal(await count(s, db, 'telemetry'), 3);
  });

  await t.test('a table made by hand without a key on the record: a resend lands twice, and the gateway says so with the fix', async (t) => {
    const db = await database(s);
    // A TimescaleDB-like table keyed by time and topic only, and one with no key at all.
    await s.query(
      'CREATE TABLE by_time (gateway text, stream text, seq bigint, topic text, received_at timestamptz, payload jsonb, payload_raw bytea, UNIQUE (topic, received_at, seq, payload_raw))',
      [],
      db,
    );
    await s.query(
      'CREATE TABLE keyless (gateway text, stream text, seq bigint, topic text, received_at timestamptz, payload jsonb, payload_raw bytea)',
      [],
      db,
    );
    await s.query(
      'CREATE TABLE keyed (id bigserial PRIMARY KEY, gateway text, stream text, seq bigint, topic text, received_at timestamptz, payload jsonb, payload_raw bytea, UNIQUE (gateway, stream, seq))',
      [],
      db,
    );
    const send = async (table: string): Promise<string[]> => {
      const lines: string[] = [];
      const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
      const dest = createDestination({ type: 'postgres', ...pgDestination(s, db, { table }) } as { type: 'postgres' }, { ...deps(), logger });
      await dest.start();
      t.after(() => dest.stop());
      const batch: StoredRecord[] = [1, 2].map((seq) => ({
        stream: 'up',
        seq,
        topic: 'dev/d1/data',
        payload: Buffer.from('{}'),
        receivedAt: 1_700_000_000_000 + seq,
      }));
      const r = [...(await dest.send(batch, new AbortController().signal)), ...(await dest.send(batch, new AbortController().signal))];
      assert.ok(
        r.every((x) => x.ok),
        `${table}: both sends delivered`,
      );
      return lines;
    };
    const keyless = await send('keyless');
    assert.equal(await count(s, db, 'keyless'), 4, 'no key: the resent batch is in the table twice');
    assert.match(
      keyless.join(''),
      /the table keyless has no primary key or unique index: a batch sent again .* lands twice; ALTER TABLE \\"keyless\\" ADD UNIQUE \(\\"gateway\\", \\"stream\\", \\"seq\\", \\"received_at\\"\)/,
    );
    const byTime = await send('by_time');
    assert.match(
      byTime.join(''),
      /the table by_time has no unique key over columns the gateway fills holding its stream and seq \(keys: \(payload_raw, received_at, seq, topic\)\)/,
    );
    const keyed = await send('keyed');
    assert.equal(await count(s, db, 'keyed'), 2, 'a key on (gateway, stream, seq): the resend is a no-op');
    assert.doesNotMatch(keyed.join(''), /lands twice/, 'no warning for a table keyed on the record (its bigserial id key aside)');
  });

  await t.test('a read-only database (25006 from a primary: default_transaction_read_only) is held with a hint that fits it, then delivered', async (t) => {
    const db = await database(s);
    await s.query(
      'CREATE TABLE gatehouse_records (gateway text, stream text, seq bigint, topic text, received_at timestamptz, payload jsonb, payload_raw bytea, PRIMARY KEY (gateway, stream, seq, received_at))',
      [],
      db,
    );
    await s.query(`ALTER DATABASE ${db} SET default_transaction_read_only = on`);
    const streams = await openStreams(t);
    const exporter = await startExporter(t, streams, pgDestination(s, db), deps());
    await append(streams, 2);
    await assertHeld(exporter, streams, 2, /25006.*read-only transaction/, /default_transaction_read_only/);
    await s.query(`ALTER DATABASE ${db} SET default_transaction_read_only = off`);
    await waitUntil(() => exporter.status().lastExportedSeq === 2, 'delivered once the database takes writes', 30_000);
    assert.equal(await count(s, db), 2);
  });

  await t.test('typed columns: a value that does not fit is dead-lettered alone with the reason', async (t) => {
    const db = await database(s);
    await s.query(
      'CREATE TABLE readings (at timestamptz NOT NULL, truck text NOT NULL, temp double precision, ok boolean, gateway text, stream text, seq bigint, PRIMARY KEY (gateway, stream, seq))',
      [],
      db,
    );
    const streams = await openStreams(t);
    const columns = { at: 'receivedAt', truck: 'topic(2)', temp: 'payload.engine.temp', ok: 'payload.ok', gateway: 'gateway', stream: 'stream', seq: 'seq' };
    const exporter = await startExporter(t, streams, pgDestination(s, db, { table: 'readings', columns }), deps(), {
      batch: { maxRecords: 10, lingerMs: 50 },
    });
    const put = (truck: string, payload: string): Promise<unknown> =>
      streams.append('up', { topic: `fleet/${truck}/engine`, payload: Buffer.from(payload), receivedAt: Date.now() });
    for (let i = 0; i < 8; i++) await put(`t${i}`, JSON.stringify({ engine: { temp: 90 + i }, ok: i % 2 === 0 }));
    await put('bad', JSON.stringify({ engine: { temp: 'hot' } }));
    await put('raw', 'not json');
    await put('t9', JSON.stringify({ engine: { temp: 99.5 } }));
    await waitUntil(() => exporter.status().lastExportedSeq === 11, 'every record exported or dead-lettered', 20_000);
    const rows = await s.query<{ truck: string; temp: number | null; ok: boolean | null }>('SELECT truck, temp, ok FROM readings ORDER BY seq', [], db);
    assert.deepEqual(
      rows.map((r) => r.truck),
      ['t0', 't1', 't2', 't3', 't4', 't5', 't6', 't7', 't9'],
      'the records around the bad ones land',
    );
    assert.equal(rows[3]!.temp, 93);
    assert.equal(rows[3]!.ok, false);
    assert.equal(rows[8]!.ok, null, 'a key missing is NULL');
    const dlq = await readAll(streams, 'up-dlq');
    assert.equal(dlq.length, 2, 'only the two bad records are dead-lettered');
    const errors = dlq.map((d) => d.attrs?.error ?? '');
    assert.ok(
      errors.some((e) => /22P02.*invalid input syntax for type double precision: "hot"/.test(e)),
      errors.join(' | '),
    );
    assert.ok(
      errors.some((e) => /the payload is not a JSON object/.test(e)),
      errors.join(' | '),
    );
  });

  await t.test(
    "a number into a time column: epoch seconds (Fluent Bit's date, Telegraf's timestamp) as seconds, milliseconds as milliseconds (was: seconds read as ms, 1970-01-21)",
    async (t) => {
      const db = await database(s);
      await s.query('CREATE TABLE logs (at timestamptz, log text, gateway text, stream text, seq bigint, PRIMARY KEY (gateway, stream, seq))', [], db);
      const streams = await openStreams(t);
      const columns = { at: 'payload.date', log: 'payload.log', gateway: 'gateway', stream: 'stream', seq: 'seq' };
      const exporter = await startExporter(t, streams, pgDestination(s, db, { table: 'logs', columns }), deps());
      const at = Date.UTC(2026, 11, 7, 22, 50, 0, 123);
      for (const date of [at / 1000, at, new Date(at).toISOString()])
        await streams.append('up', { topic: 'logs/app', payload: Buffer.from(JSON.stringify({ date, log: 'x' })), receivedAt: Date.now() });
      await waitUntil(() => exporter.status().lastExportedSeq === 3, 'all 3 exported', 15_000);
      const rows = await s.query<{ at: Date }>('SELECT at FROM logs ORDER BY seq', [], db);
      assert.deepEqual(
        rows.map((r) => r.at.toISOString()),
        [new Date(at).toISOString(), new Date(at).toISOString(), new Date(at).toISOString()],
        'seconds (with a fraction), milliseconds and ISO 8601: the same time',
      );
    },
  );

  await t.test('TLS verify-full against the test CA; another CA is a setup fault', async (t) => {
    const db = await database(s);
    const streams = await openStreams(t);
    const exporter = await startExporter(t, streams, pgDestination(s, db, { createTable: true, ssl: 'verify-full', caFile: serverCert }), deps());
    await append(streams, 3);
    await waitUntil(() => exporter.status().lastExportedSeq === 3, 'delivered over TLS', 15_000);
    const [tls] = await s.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND application_name = 'gatehouse'",
    );
    assert.equal(Number(tls!.n), 1, 'the gateway session is encrypted');
    await exporter.stop();

    const other = opensslSelfSigned(await tempDir(t), 1, 'other');
    const streams2 = await openStreams(t);
    const held = await startExporter(t, streams2, pgDestination(s, db, { ssl: 'verify-full', caFile: other.cert }), deps());
    await append(streams2, 2);
    await assertHeld(held, streams2, 2, /certificate/i, /caFile/);
  });

  await t.test('a statement timeout (a lock held by another session) is retried, then delivered', async (t) => {
    const db = await database(s);
    const streams = await openStreams(t);
    const exporter = await startExporter(t, streams, pgDestination(s, db, { createTable: true, statementTimeoutMs: 300 }), deps());
    await append(streams, 2);
    await waitUntil(() => exporter.status().lastExportedSeq === 2, 'the first records exported', 15_000);
    const locker = await s.client(db);
    t.after(() => locker.end().catch(() => undefined));
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE gatehouse_records IN ACCESS EXCLUSIVE MODE');
    await append(streams, 3);
    await waitUntil(() => /57014/.test(exporter.status().lastError?.message ?? ''), 'the INSERT cancelled by statement_timeout', 15_000);
    assert.match(exporter.status().lastError?.message ?? '', /statement timeout/);
    assert.equal(exporter.status().lastExportedSeq, 2, 'held while the lock is');
    await locker.query('COMMIT');
    await waitUntil(() => exporter.status().lastExportedSeq === 5, 'delivered once the lock is gone', 15_000);
    assert.equal(await count(s, db), 5);
    assert.equal(exporter.status().deadLetters, 0);
  });
});
