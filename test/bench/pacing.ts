// Commit pacing alone (issue 15): the store under 10 appenders at a fixed total rate (500, 5,000
// msgs/s) and flat out (64 appends in flight each), 200-byte records, durability fsync, with
// store.commitDelayMs 0 (natural batching only) and the default. No broker, no MQTT client: the
// figures are the committer's policy (commits/s, records per commit, append-to-commit p50/p99)
// and stay meaningful on a busy machine, where the full gateway bench cannot reach 5,000 msgs/s.
// BENCH_DIR picks the disk (default the OS temp dir; /dev/shm: an fsync that costs nothing).
//
// Run: node dist/test/bench/pacing.js [seconds per run, default 3]
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { openLocalStreams } from '../../gateway/store/index.js';

interface Row {
  delay: number;
  rate: string;
  load1: number;
  appends: number;
  commitsPerSec: number;
  perCommit: number;
  p50: number;
  p99: number;
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function run(delay: number, rate: number, seconds: number): Promise<Row> {
  const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'gatehouse-bench-pacing-'));
  const store = await openLocalStreams({ path: dir, durability: 'fsync', commitDelayMs: delay }, { logger: pino({ level: 'warn' }), registry: new Registry() });
  await store.defineStream({ name: 's', maxBytes: 1 << 30, onFull: 'reject' });
  const payload = Buffer.alloc(200, 0x61);
  const lat: number[] = [];
  const committer = (store as unknown as { commits: { commits: number } }).commits;
  const c0 = committer.commits;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const one = (): Promise<void> => {
    const t = performance.now();
    return store.append('s', { topic: 'fleet/dev/engine', payload, receivedAt: Date.now() }).then(() => void lat.push(performance.now() - t));
  };
  if (rate > 0) {
    // 10 appenders on 2 ms ticks, each appending what is due since the start.
    const perDevice = rate / 10;
    await Promise.all(
      Array.from(
        { length: 10 },
        () =>
          new Promise<void>((done) => {
            let sent = 0;
            const pending: Array<Promise<void>> = [];
            const timer = setInterval(() => {
              const now = performance.now();
              if (now >= end) {
                clearInterval(timer);
                void Promise.all(pending).then(() => done());
                return;
              }
              const due = Math.floor(((now - t0) * perDevice) / 1000) + 1;
              while (sent < due) {
                sent++;
                pending.push(one());
              }
            }, 2);
          }),
      ),
    );
  } else {
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const loop = async (): Promise<void> => {
          while (performance.now() < end) await one();
        };
        await Promise.all(Array.from({ length: 64 }, loop));
      }),
    );
  }
  const elapsed = (performance.now() - t0) / 1000;
  const commits = committer.commits - c0;
  await store.close();
  await rm(dir, { recursive: true, force: true });
  const sorted = Float64Array.from(lat).sort();
  return {
    delay,
    rate: rate === 0 ? 'flat out' : `${rate}/s`,
    load1: loadavg()[0]!,
    appends: lat.length,
    commitsPerSec: commits / elapsed,
    perCommit: lat.length / Math.max(1, commits),
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
  };
}

const seconds = Number(process.argv[2] ?? 3);
const rows: Row[] = [];
for (const rate of [500, 5000, 0]) {
  // Interleaved: the two settings meet the same machine load.
  for (const delay of [0, 7]) rows.push(await run(delay, rate, seconds));
}
console.log(
  `pacing bench: 10 appenders, 200-byte records, durability fsync, ${seconds} s per run, store in ${process.env.BENCH_DIR ?? tmpdir()}. Shared machine: see load1.`,
);
console.log('commitDelayMs  rate       load1  appends/s  commits/s  records/commit  p50 ms  p99 ms');
for (const r of rows) {
  console.log(
    `${String(r.delay).padStart(13)}  ${r.rate.padEnd(9)} ${r.load1.toFixed(1).padStart(5)}  ${String(Math.round(r.appends / seconds)).padStart(9)}  ${r.commitsPerSec.toFixed(0).padStart(9)}  ${r.perCommit.toFixed(1).padStart(14)}  ${r.p50.toFixed(2).padStart(6)}  ${r.p99.toFixed(2).padStart(6)}`,
  );
}
console.log(`BENCH_JSON ${JSON.stringify({ bench: 'pacing', rows })}`);
