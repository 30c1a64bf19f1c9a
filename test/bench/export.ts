// Backlog drain benchmark: N records of 200 bytes in a local stream (the real LevelDB store,
// filled with large concurrent appends at durability 'os'), exported by the real exporter loop
// over the http destination (Firehose HTTP protocol) to the local receiver in this process.
// Prints records/s and peak RSS. Never asserts timings.
//
//   node --import tsx test/bench/export.ts             # 1,000,000 records
//   BENCH_RECORDS=100000 node --import tsx test/bench/export.ts
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { openLocalStreams } from '../../gateway/store/index.js';
import { createExporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import { createHttpDestination } from '../../gateway/upstream/destinations/http.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';

const N = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const BATCHES = (process.env.BENCH_BATCH ?? '500,2000').split(',').map(Number);

let peakRss = 0;
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 50);

function payload(i: number): Buffer {
  const head = `{"device":"truck${i % 100}","seq":${i},"temp":${(90 + (i % 10) / 10).toFixed(1)},"pad":"`;
  return Buffer.from(head + 'x'.repeat(200 - head.length - 2) + '"}');
}

async function runOnce(maxRecords: number): Promise<Record<string, string | number>> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-export-'));
  const deps = { logger: pino({ level: 'warn' }), registry: new Registry() };
  const streams = await openLocalStreams({ path: join(dir, 'db'), durability: 'os' }, deps);
  await streams.defineStream({ name: 'backlog', maxBytes: 2 * 1024 * 1024 * 1024, onFull: 'reject' });
  const rx = await startFirehoseReceiver({ recordRequests: false });
  try {
    // Fill fast: many concurrent appends share group commits.
    const t0 = performance.now();
    const CHUNK = 5000;
    for (let i = 0; i < N; i += CHUNK) {
      const ps: Promise<number>[] = [];
      for (let k = i; k < Math.min(N, i + CHUNK); k++) {
        ps.push(streams.append('backlog', { topic: `fleet/truck${k % 100}/engine`, payload: payload(k), receivedAt: Date.now() }));
      }
      await Promise.all(ps);
    }
    const fillS = (performance.now() - t0) / 1000;
    peakRss = process.memoryUsage.rss();

    const options = parseExporterOptions({
      name: 'bench', stream: 'backlog',
      destination: { type: 'http', url: rx.url, maxRecords: maxRecords },
      batch: { maxRecords, lingerMs: 0 },
    });
    const destination = createHttpDestination(options.destination, deps);
    const exporter = createExporter(options, { ...deps, streams, destination });
    const t1 = performance.now();
    await exporter.start();
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (rx.acceptedRecords >= N) resolve();
        else setTimeout(check, 20);
      };
      check();
    });
    const drainS = (performance.now() - t1) / 1000;
    await exporter.stop();
    const st = exporter.status();
    const send = (await deps.registry.getSingleMetric('gatehouse_export_send_seconds')!.get()).values;
    const sendSum = send.find((v) => (v as { metricName?: string }).metricName === 'gatehouse_export_send_seconds_sum')?.value ?? 0;
    const sendCount = send.find((v) => (v as { metricName?: string }).metricName === 'gatehouse_export_send_seconds_count')?.value ?? 1;
    return {
      'batch records': maxRecords,
      records: N,
      'fill rec/s': Math.round(N / fillS),
      'drain rec/s': Math.round(N / drainS),
      'drain s': drainS.toFixed(2),
      'send ms avg': ((sendSum / sendCount) * 1000).toFixed(1),
      'batch ms avg': ((drainS / sendCount) * 1000).toFixed(1),
      requests: rx.acceptedRequests,
      'peak RSS MiB (drain)': Math.round(peakRss / 1048576),
      retries: st.retries,
      backlog: st.backlog.records,
    };
  } finally {
    await rx.close();
    await streams.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const rows: Array<Record<string, string | number>> = [];
for (const b of BATCHES) rows.push(await runOnce(b));
clearInterval(rssTimer);
console.log(`export backlog drain: ${N} records of 200 bytes, real store -> exporter -> http destination -> local Firehose-protocol receiver (same process, 2 shared cores: noisy)`);
console.table(rows);
