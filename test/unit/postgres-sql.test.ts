// The postgres destination's SQL and its reading of failures (postgres-sql.ts), and its options:
// without a server (upstream-postgres.test.ts runs them against a real one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_COLUMNS, InsertPlan, classify, quoteTable, type TableColumn } from '../../gateway/upstream/destinations/postgres-sql.js';
import { postgresOptionsSchema, sslMode } from '../../gateway/upstream/destinations/postgres-options.js';
import { createDestination } from '../../gateway/upstream/registry.js';
import { isGatehouseError } from '../../core/errors.js';
import { testDeps } from '../helpers/index.js';
import type { StoredRecord } from '../../gateway/store/types.js';

const col = (name: string, type: string, typname: string, category: string): TableColumn => ({ name, type, typname, category });
const DEFAULT_TABLE = [
  col('gateway', 'text', 'text', 'S'),
  col('stream', 'text', 'text', 'S'),
  col('seq', 'bigint', 'int8', 'N'),
  col('topic', 'text', 'text', 'S'),
  col('received_at', 'timestamp with time zone', 'timestamptz', 'D'),
  col('payload', 'jsonb', 'jsonb', 'U'),
  col('payload_raw', 'bytea', 'bytea', 'U'),
];
const rec = (seq: number, payload: string | Buffer, topic = 'fleet/t7/engine'): StoredRecord => ({
  stream: 'up',
  seq,
  topic,
  payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
  receivedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
});
const ids = { gateway: 'inst', gatewayId: 'depot-7' };

test('names are quoted, the INSERT has one text[] parameter per column whatever the batch size', () => {
  assert.equal(quoteTable('Plant."A"'), '"Plant"."""A"""');
  const plan = InsertPlan.make('metrics.raw', DEFAULT_COLUMNS, DEFAULT_TABLE);
  assert.ok(plan instanceof InsertPlan);
  assert.equal(
    plan.sql,
    'INSERT INTO "metrics"."raw" ("gateway", "stream", "seq", "topic", "received_at", "payload", "payload_raw") SELECT u.c0::text, u.c1::text, u.c2::bigint, u.c3::text, u.c4::timestamp with time zone, u.c5::jsonb, u.c6::bytea FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u(c0, c1, c2, c3, c4, c5, c6) ON CONFLICT DO NOTHING',
  );
  const { params, sent, refused } = plan.parameters([rec(1, '{"t":1}'), rec(2, Buffer.from([0xff, 0x00]))], ids);
  assert.deepEqual(sent, [0, 1]);
  assert.equal(refused.size, 0);
  assert.deepEqual(params, [
    ['inst', 'inst'],
    ['up', 'up'],
    ['1', '2'],
    ['fleet/t7/engine', 'fleet/t7/engine'],
    ['2026-01-02T03:04:05.678Z', '2026-01-02T03:04:05.678Z'],
    ['{"t":1}', null],
    [null, '\\xff00'],
  ]);
});

test('mapped columns: topic levels, payload keys by type, a payload that is not an object refused', () => {
  const table = [
    col('truck', 'text', 'text', 'S'),
    col('temp', 'double precision', 'float8', 'N'),
    col('at', 'timestamp with time zone', 'timestamptz', 'D'),
    col('tags', 'jsonb', 'jsonb', 'U'),
    col('ms', 'bigint', 'int8', 'N'),
  ];
  const mapping = { truck: 'topic(2)', temp: 'payload.engine.temp', at: 'payload.ts', tags: 'payload.tags', ms: 'receivedAt' };
  const plan = InsertPlan.make('r', mapping, table);
  assert.ok(plan instanceof InsertPlan);
  const { params, refused } = plan.parameters(
    [
      rec(1, JSON.stringify({ engine: { temp: 91.5 }, ts: 1_700_000_000_000, tags: ['a'] })),
      rec(2, '[1,2]'),
      rec(3, 'x'),
      rec(4, '{"ts":"2026-01-01T00:00:00Z"}', 'fleet'),
    ],
    ids,
  );
  assert.deepEqual([...refused.keys()], [1, 2]);
  assert.match(refused.get(1)!, /not a JSON object/);
  assert.deepEqual(params, [
    ['t7', null],
    ['91.5', null],
    ['2023-11-14T22:13:20.000Z', '2026-01-01T00:00:00Z'],
    ['["a"]', null],
    [String(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), String(Date.UTC(2026, 0, 2, 3, 4, 5, 678))],
  ]);
  assert.deepEqual(InsertPlan.make('r', { nope: 'topic', truck: 'topic' }, table), { missing: ['nope'] });
  const text = InsertPlan.make('r', { truck: 'payload' }, table) as InsertPlan;
  assert.match(text.parameters([rec(1, 'a\0b')], ids).refused.get(0)!, /NUL character/);
});

test('failures by SQLSTATE: outage, setup (with the fix named), data, unknown', () => {
  const o = { table: 'readings', user: 'gw', database: 'plant' };
  const db = (code: string): Error => Object.assign(new Error(`error ${code}`), { code, severity: 'ERROR' });
  for (const code of ['57P01', '57P03', '53100', '53300', '40001', '40P01', '08006', '57014']) assert.equal(classify(db(code), o).kind, 'outage', code);
  for (const code of ['22P02', '22003', '23502', '23514']) assert.equal(classify(db(code), o).kind, 'data', code);
  assert.equal(classify(db('XX000'), o).kind, 'unknown');
  const hint = (e: unknown): string => {
    const c = classify(e, o);
    return 'hint' in c ? c.hint : '';
  };
  assert.match(hint(db('28P01')), /user and passwordFile/);
  assert.match(hint(db('3D000')), /database plant does not exist/);
  assert.match(hint(db('42501')), /GRANT INSERT ON readings TO gw/);
  assert.match(hint(db('42P01')), /table readings does not exist.*createTable/);
  assert.match(hint(db('57014')), /statementTimeoutMs/);
  assert.match(hint(db('53100')), /disk is full \(53100\): free space/);
  assert.match(hint(db('53300')), /no connection left \(53300\): raise max_connections/);
  assert.equal(classify(db('42703'), o).kind, 'setup');
  // Without a SQLSTATE: the link and TLS (an EPIPE is no SQLSTATE, though five letters long).
  assert.equal(classify(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }), o).kind, 'outage');
  assert.match(hint(new Error('connect ECONNREFUSED 127.0.0.1:5432')), /server runs/);
  assert.equal(classify(new Error('self-signed certificate'), o).kind, 'setup');
  assert.equal(classify(new Error('The server does not support SSL connections'), o).kind, 'setup');
  assert.equal(classify(new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string'), o).kind, 'setup');
});

test('options: ssl by host, secrets and TLS files checked, unknown keys refused', () => {
  const parse = (o: Record<string, unknown>) => postgresOptionsSchema.safeParse({ database: 'd', user: 'u', ...o });
  assert.equal(sslMode(parse({}).data!), 'disable');
  assert.equal(sslMode(parse({ host: '/var/run/postgresql' }).data!), 'disable');
  assert.equal(sslMode(parse({ host: 'db.plant.lan' }).data!), 'verify-full');
  assert.equal(parse({ password: 'x', passwordFile: '/f' }).success, false);
  assert.equal(parse({ createTable: true, columns: { a: 'topic' } }).success, false);
  assert.equal(parse({ columns: { a: 'payload[0]' } }).success, false);
  assert.equal(parse({ caFile: '/ca.pem' }).success, false, 'a CA without TLS');
  assert.equal(parse({ table: 'a.b.c' }).success, false);
  assert.throws(
    () => createDestination({ type: 'postgres', database: 'd', user: 'u', passwrd: 'x' } as { type: 'postgres' }, testDeps()),
    (e: unknown) => isGatehouseError(e, 'GH_DESTINATION_CONFIG') && /passwrd/.test(String((e as Error).message)),
  );
  assert.throws(
    () => createDestination({ type: 'postgres', database: 'd', user: 'u', passwordFile: '/no/such/file' } as { type: 'postgres' }, testDeps()),
    (e: unknown) => isGatehouseError(e, 'GH_DESTINATION_CONFIG') && /passwordFile/.test(String((e as Error).message)),
  );
  const d = createDestination({ type: 'postgres', database: 'plant', user: 'gw', password: 'secret', host: 'db' } as { type: 'postgres' }, testDeps());
  assert.equal(d.target, 'postgres://gw@db:5432/plant#gatehouse_records');
  assert.doesNotMatch(d.target, /secret/);
  // A connection URL pasted into host: its password went into the target (status, logs, the
  // metrics' target label) and the host lookup's error; refused, and the refusal does not echo it.
  assert.throws(
    () => createDestination({ type: 'postgres', database: 'd', user: 'u', host: 'postgres://gh:hunter2@db.lan/plant' } as { type: 'postgres' }, testDeps()),
    (e: unknown) =>
      isGatehouseError(e, 'GH_DESTINATION_CONFIG') &&
      /host: a host name, address or socket folder, not a connection URL/.test(String((e as Error).message)) &&
      !/hunter2/.test(String((e as Error).message)),
  );
});
