// The postgres destination's INSERT (issue: one statement per batch): records/s into a private local
// server (test/helpers/postgres.ts; Debian `postgresql`), default table, 200-byte JSON payloads,
// one batch at a time as the exporter sends them, for
//   unnest      the destination's send(): INSERT ... SELECT FROM unnest($1::text[], ... $7::text[])
//               (7 parameters whatever the batch size)
//   values      the same rows as a multi-row VALUES ($1, ..., $7), (...), ... (7 per record; at most
//               9,362 records a statement: the protocol's 65,535 parameters)
// Both ON CONFLICT DO NOTHING into an emptied table; the server runs with fsync=off (the test
// helper's), so the figures are the statement's cost, not the disk's. Never asserts timings.
//
//   npm run -s build && node dist/test/bench/postgres.js
//   BENCH_RECORDS=50000 BENCH_BATCH=100,500,1000,5000 node dist/test/bench/postgres.js
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createDestination } from '../../gateway/upstream/registry.js';
import { DEFAULT_COLUMNS, InsertPlan, createTableSql, quoteIdent, type TableColumn } from '../../gateway/upstream/destinations/postgres-sql.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import { PG_PASSWORD, PG_USER, needPostgres, startPostgres } from '../helpers/postgres.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { testDeps } from '../helpers/index.js';

const N = Number(process.env.BENCH_RECORDS ?? 50_000);
const BATCHES = (process.env.BENCH_BATCH ?? '100,500,1000,5000').split(',').map(Number);

function payload(i: number): Buffer {
  const head = `{"device":"truck${i % 100}","seq":${i},"temp":${(90 + (i % 10) / 10).toFixed(1)},"pad":"`;
  return Buffer.from(`${head}${'x'.repeat(200 - head.length - 2)}"}`);
}

const records: StoredRecord[] = Array.from({ length: N }, (_, i) => ({
  stream: 'bench',
  seq: i + 1,
  topic: `fleet/truck${i % 100}/engine`,
  payload: payload(i),
  receivedAt: 1_700_000_000_000 + i,
}));

async function main(): Promise<void> {
  const skip = needPostgres();
  if (skip) {
    console.log(`skipped: ${skip}`);
    return;
  }
  const afters: Array<() => unknown> = [];
  const t = { after: (fn: () => unknown) => void afters.push(fn) } as unknown as TestContext;
  const tls = mkdtempSync(join(tmpdir(), 'gatehouse-pg-bench-'));
  try {
    const s = await startPostgres(t, opensslSelfSigned(tls, 1, 'server'));
    await s.query('CREATE DATABASE bench');
    await s.query(createTableSql('gatehouse_records'), [], 'bench');
    const cl = await s.client('bench');
    afters.push(() => cl.end());
    const columns = (
      await cl.query<TableColumn>(
        "SELECT a.attname AS name, format_type(a.atttypid, NULL) AS type, t.typname, t.typcategory AS category FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid WHERE attrelid = 'gatehouse_records'::regclass AND attnum > 0 AND NOT attisdropped",
      )
    ).rows;
    const plan = InsertPlan.make('gatehouse_records', DEFAULT_COLUMNS, columns) as InsertPlan;
    const dest = createDestination({ type: 'postgres', port: s.port, database: 'bench', user: PG_USER, password: PG_PASSWORD } as { type: 'postgres' }, {
      ...testDeps(),
      installationId: async () => 'bench0000bench00',
    });
    await dest.start();
    afters.push(() => dest.stop());
    const signal = new AbortController().signal;
    console.log(`postgres insert bench: ${N} records of 200 bytes, default table, one batch at a time`);
    console.log('batch   unnest rec/s   values rec/s');
    for (const batch of BATCHES) {
      await cl.query('TRUNCATE gatehouse_records');
      let t0 = performance.now();
      for (let i = 0; i < N; i += batch) {
        const res = await dest.send(records.slice(i, i + batch), signal);
        if (!res.every((r) => r.ok)) throw new Error('a send failed');
      }
      const unnest = N / ((performance.now() - t0) / 1000);
      await cl.query('TRUNCATE gatehouse_records');
      const names = Object.keys(DEFAULT_COLUMNS);
      const types = names.map((n) => columns.find((c) => c.name === n)!.type);
      t0 = performance.now();
      for (let i = 0; i < N; i += batch) {
        const slice = records.slice(i, i + batch);
        const { params } = plan.parameters(slice, { gateway: 'bench0000bench00', gatewayId: 'bench' });
        const values: Array<string | null> = [];
        const rows: string[] = [];
        for (let r = 0; r < slice.length; r++) {
          rows.push(`(${names.map((_, c) => `$${values.length + c + 1}::${types[c]}`).join(', ')})`);
          for (let c = 0; c < names.length; c++) values.push(params[c]![r]!);
        }
        await cl.query(`INSERT INTO gatehouse_records (${names.map(quoteIdent).join(', ')}) VALUES ${rows.join(', ')} ON CONFLICT DO NOTHING`, values);
      }
      const multi = N / ((performance.now() - t0) / 1000);
      const [{ n }] = (await cl.query<{ n: string }>('SELECT count(*) AS n FROM gatehouse_records')).rows as [{ n: string }];
      if (Number(n) !== N) throw new Error(`expected ${N} rows, found ${n}`);
      console.log(`${String(batch).padStart(5)}   ${Math.round(unnest).toString().padStart(12)}   ${Math.round(multi).toString().padStart(12)}`);
    }
  } finally {
    for (const fn of afters.reverse()) await fn();
    rmSync(tls, { recursive: true, force: true });
  }
}

await main();
