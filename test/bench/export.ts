// Backlog drain benchmark (issue 5): N records of 200 bytes in a local stream (the real LevelDB
// store, filled with large concurrent appends at durability 'os'), exported by the real exporter
// loop with the default batch settings (500 records, linger 1 s: a backlog goes at once) to
//   http      the local Firehose-protocol receiver (test/helpers/firehose-receiver.ts), and
//   kinesis   kinesalite (in this process, 2 shards; it is itself slow: its figure is as it is).
// Prints records/s and peak RSS. Never asserts timings.
//
//   node --import tsx test/bench/export.ts             # 1,000,000 records (http), 50,000 (kinesalite)
//   BENCH_RECORDS=100000 BENCH_KINESIS_RECORDS=20000 BENCH_TARGETS=http,kinesis BENCH_BATCH=500,2000 node --import tsx test/bench/export.ts
//   BENCH_TARGETS=file,file-gz: the file destination (NDJSON, gzipped NDJSON as the default exporter) in a temp dir
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { openLocalStreams } from '../../gateway/store/index.js';
import { createExporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import { createDestination } from '../../gateway/upstream/registry.js';
import type { Destination } from '../../gateway/upstream/types.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { startKinesalite } from '../helpers/peers.js';

type Target = 'http' | 'kinesis' | 'file' | 'file-gz';
const N_HTTP = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const N_KINESIS = Number(process.env.BENCH_KINESIS_RECORDS ?? Math.min(N_HTTP, 50_000));
const BATCHES = (process.env.BENCH_BATCH ?? '500').split(',').map(Number);
const TARGETS = (process.env.BENCH_TARGETS ?? 'http,kinesis').split(',') as Target[];
// Peers' admin clients get a copy: the AWS SDK writes a $source key into the credentials object it is given.
const creds = { accessKeyId: 'local', secretAccessKey: 'local-secret' };

let peakRss = 0;
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 50);

function payload(i: number): Buffer {
  const head = `{"device":"truck${i % 100}","seq":${i},"temp":${(90 + (i % 10) / 10).toFixed(1)},"pad":"`;
  return Buffer.from(`${head}${'x'.repeat(200 - head.length - 2)}"}`);
}

/** A TestContext stand-in for the peer helpers: collects their cleanups. */
function cleanupContext(): { t: TestContext; run(): Promise<void> } {
  const fns: Array<() => unknown> = [];
  const t = { after: (fn: () => unknown) => void fns.push(fn) } as unknown as TestContext;
  return {
    t,
    run: async () => {
      for (const f of fns.reverse()) await f();
    },
  };
}

/** The destination and a counter of what the peer has accepted. */
async function startTarget(
  target: Target,
  maxRecords: number,
  deps: { logger: pino.Logger; registry: Registry },
  t: TestContext,
): Promise<{ destination: Destination; destinationOptions: Record<string, unknown>; count: () => Promise<number>; close: () => Promise<void> }> {
  if (target === 'file' || target === 'file-gz') {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-export-files-'));
    const destinationOptions = { type: 'file', dir, gzip: target === 'file-gz' };
    return {
      destination: createDestination(destinationOptions as { type: 'file' }, deps),
      destinationOptions,
      count: async () => NaN,
      close: () => rm(dir, { recursive: true, force: true }),
    };
  }
  if (target === 'http') {
    // The receiver runs in its own process (as a real endpoint would): its JSON parsing and base64
    // decoding are not charged to the exporter's event loop. BENCH_RX_INPROC=1 keeps it here.
    if (process.env.BENCH_RX_INPROC) {
      const rx = await startFirehoseReceiver({ recordRequests: false });
      const destinationOptions = { type: 'http', url: rx.url, maxRecords };
      return {
        destination: createDestination(destinationOptions as { type: 'http' }, deps),
        destinationOptions,
        count: async () => rx.acceptedRecords,
        close: () => rx.close(),
      };
    }
    const child = fork(fileURLToPath(import.meta.url), ['receiver'], { execArgv: process.execArgv });
    const [{ url }] = (await once(child, 'message')) as [{ url: string }];
    const destinationOptions = { type: 'http', url, maxRecords };
    return {
      destination: createDestination(destinationOptions as { type: 'http' }, deps),
      destinationOptions,
      count: async () => {
        const reply = once(child, 'message') as Promise<[{ accepted: number }]>;
        child.send('count');
        return (await reply)[0].accepted;
      },
      close: async () => {
        child.send('exit');
        await once(child, 'exit');
      },
    };
  }
  const { KinesisClient, CreateStreamCommand } = await import('@aws-sdk/client-kinesis');
  const { NodeHttpHandler } = await import('@smithy/node-http-handler');
  const peer = await startKinesalite(t);
  // HTTP/1.1: kinesalite does not speak the SDK's default HTTP/2.
  const admin = new KinesisClient({ region: 'us-east-1', endpoint: peer.url, credentials: { ...creds }, requestHandler: new NodeHttpHandler() });
  await admin.send(new CreateStreamCommand({ StreamName: 'bench', ShardCount: 2 }));
  admin.destroy();
  const destinationOptions = { type: 'kinesis', streamName: 'bench', region: 'us-east-1', endpoint: peer.url, ...creds, maxRecords };
  return {
    destination: createDestination(destinationOptions as { type: 'kinesis' }, deps),
    destinationOptions,
    count: async () => NaN,
    close: () => peer.stop(),
  };
}

async function runOnce(target: Target, maxRecords: number, N: number): Promise<Record<string, string | number>> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-export-'));
  const deps = { logger: pino({ level: 'warn' }), registry: new Registry() };
  const streams = await openLocalStreams({ path: join(dir, 'db'), durability: 'os' }, deps);
  await streams.defineStream({ name: 'backlog', maxBytes: 2 * 1024 * 1024 * 1024, onFull: 'reject' });
  const ctx = cleanupContext();
  const peer = await startTarget(target, maxRecords, deps, ctx.t);
  try {
    // Fill fast: many concurrent appends share group commits.
    const t0 = performance.now();
    const CHUNK = 5000;
    for (let i = 0; i < N; i += CHUNK) {
      const ps: Promise<number>[] = [];
      for (let k = i; k < Math.min(N, i + CHUNK); k++) {
        ps.push(streams.append('backlog', { topic: `fleet/truck${k % 100}/engine`, payload: payload(k), receivedAt: Date.now(), key: `truck${k % 100}` }));
      }
      await Promise.all(ps);
    }
    const fillS = (performance.now() - t0) / 1000;
    peakRss = process.memoryUsage.rss();

    // Default batch settings (maxRecords 500, maxBytes 4 MiB, linger 1 s) unless BENCH_BATCH says otherwise.
    const options = parseExporterOptions({ name: 'bench', stream: 'backlog', destination: peer.destinationOptions, batch: { maxRecords } });
    const exporter = createExporter(options, { ...deps, streams, destination: peer.destination });
    await peer.destination.start();
    const t1 = performance.now();
    await exporter.start();
    const exported = (): number => exporter.status().exportedRecords;
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (exported() >= N) resolve();
        else setTimeout(check, 20);
      };
      check();
    });
    const drainS = (performance.now() - t1) / 1000;
    await exporter.stop();
    await peer.destination.stop();
    const st = exporter.status();
    const accepted = await peer.count();
    const send = (await deps.registry.getSingleMetric('gatehouse_export_send_seconds')!.get()).values;
    const sendSum = send.find((v) => (v as { metricName?: string }).metricName === 'gatehouse_export_send_seconds_sum')?.value ?? 0;
    const sendCount = send.find((v) => (v as { metricName?: string }).metricName === 'gatehouse_export_send_seconds_count')?.value ?? 1;
    return {
      target: target === 'http' ? 'http receiver' : target === 'kinesis' ? 'kinesalite' : target,
      'batch records': maxRecords,
      records: N,
      'fill rec/s': Math.round(N / fillS),
      'drain rec/s': Math.round(N / drainS),
      'drain s': drainS.toFixed(2),
      'send ms avg': ((sendSum / sendCount) * 1000).toFixed(1),
      'batch ms avg': ((drainS / sendCount) * 1000).toFixed(1),
      'peer accepted': Number.isNaN(accepted) ? '-' : accepted,
      'peak RSS MiB (drain)': Math.round(peakRss / 1048576),
      retries: st.retries,
      backlog: st.backlog.records,
    };
  } finally {
    await peer.close();
    await ctx.run();
    await streams.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function serveReceiver(): Promise<void> {
  const rx = await startFirehoseReceiver({ recordRequests: false });
  process.send!({ url: rx.url });
  process.on('message', (m: string) => {
    if (m === 'count') process.send!({ accepted: rx.acceptedRecords });
    if (m === 'exit') void rx.close().finally(() => process.exit(0));
  });
}

if (process.argv[2] === 'receiver') {
  clearInterval(rssTimer);
  await serveReceiver();
} else await main();

async function main(): Promise<void> {
  const rows: Array<Record<string, string | number>> = [];
  for (const target of TARGETS) {
    for (const b of BATCHES) rows.push(await runOnce(target, b, target === 'kinesis' ? N_KINESIS : N_HTTP));
  }
  clearInterval(rssTimer);
  console.log(
    'export backlog drain: 200-byte records, real store -> exporter (default batch settings) -> destination -> local peer in this process (2 shared cores: noisy)',
  );
  console.table(rows);
  console.log(`BENCH_JSON ${JSON.stringify({ bench: 'export', rows })}`);
}
