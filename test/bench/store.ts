// Store benchmark: 200-byte records from N concurrent appenders (each awaits its append before
// the next, like QoS 1 publishers), durability fsync and os; then a full read of the stream.
// Run: node --import tsx test/bench/store.ts [seconds per case, default 1.5]. Figures are noisy
// (shared 2-core machine); nothing here asserts timings.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { openLocalStreams } from '../../gateway/store/index.js';

interface Row {
  durability: string;
  appenders: number;
  appends: number;
  perSec: number;
  batchMean: number;
  commitMeanMs: number;
  ackP50Ms: number;
  ackP99Ms: number;
  readPerSec: number;
}

async function histo(registry: Registry, name: string): Promise<{ count: number; sum: number }> {
  const data = await registry.getSingleMetric(name)?.get();
  const pick = (suffix: string): number => data?.values.find((v) => (v as { metricName?: string }).metricName === name + suffix)?.value ?? 0;
  return { count: pick('_count'), sum: pick('_sum') };
}

function pct(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

async function runCase(durability: 'fsync' | 'os', appenders: number, seconds: number): Promise<Row> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-store-'));
  const registry = new Registry();
  const store = await openLocalStreams({ path: dir, durability }, { logger: pino({ level: 'silent' }), registry });
  try {
    await store.defineStream({ name: 'bench', maxBytes: 1024 * 1024 * 1024, onFull: 'reject' });
    const topic = 'fleet/truck7/engine';
    const payload = Buffer.alloc(200 - topic.length, 0x61);
    const lat: number[] = [];
    const deadline = performance.now() + seconds * 1000;
    let appends = 0;
    const worker = async (): Promise<void> => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await store.append('bench', { topic, payload, receivedAt: Date.now() });
        lat.push(performance.now() - t0);
        appends++;
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: appenders }, worker));
    const elapsed = (performance.now() - start) / 1000;
    const batches = await histo(registry, 'gatehouse_store_commit_batch_records');
    const commits = await histo(registry, 'gatehouse_store_commit_seconds');
    const sorted = Float64Array.from(lat).sort();

    const r0 = performance.now();
    let read = 0;
    for (let from = 1; ; ) {
      const recs = await store.read('bench', from, { limit: 1000 });
      if (recs.length === 0) break;
      read += recs.length;
      from = (recs.at(-1)?.seq ?? from) + 1;
    }
    const readSecs = (performance.now() - r0) / 1000;
    if (read !== appends) throw new Error(`read ${read} records, appended ${appends}`);
    return {
      durability,
      appenders,
      appends,
      perSec: appends / elapsed,
      batchMean: batches.sum / Math.max(1, batches.count),
      commitMeanMs: (commits.sum / Math.max(1, commits.count)) * 1000,
      ackP50Ms: pct(sorted, 0.5),
      ackP99Ms: pct(sorted, 0.99),
      readPerSec: read / readSecs,
    };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const seconds = Number(process.argv[2] ?? 1.5);
const rows: Row[] = [];
for (const durability of ['fsync', 'os'] as const) {
  for (const appenders of [10, 100]) rows.push(await runCase(durability, appenders, seconds));
}
const f = (n: number, d = 0): string => n.toFixed(d);
console.log('store bench: 200-byte records, concurrent appenders awaiting each append (noisy: shared 2-core machine)');
console.table(
  rows.map((r) => ({
    durability: r.durability,
    appenders: r.appenders,
    appends: r.appends,
    'appends/s': f(r.perSec),
    'batch mean': f(r.batchMean, 1),
    'commit mean ms': f(r.commitMeanMs, 2),
    'ack p50 ms': f(r.ackP50Ms, 2),
    'ack p99 ms': f(r.ackP99Ms, 2),
    'read records/s': f(r.readPerSec),
  })),
);
