// What one group commit of the store costs in CPU, by thread, and in wake-ups (issue 15, round 39).
// A driver appends `records` 200-byte records at once and awaits them, `rate` times a second (the
// pi bench's 500 msgs/s is ~87 commits of ~6 records), against the real store with durability
// fsync on the temp dir, fsync on /dev/shm (an fdatasync that costs nothing) and 'os' (no
// fdatasync, no pacing window), and against the driver alone (no store: its timer and promises,
// subtracted from the others). Per commit: CPU of the main thread and of the other threads (libuv's
// pool: LevelDB's write and fdatasync; V8's workers), the system share, and voluntary context
// switches (each one a thread that slept and was woken: /proc/self/task/*/status).
//
// Run: node dist/test/bench/commit-cost.js [seconds per mode, default 5] [records, default 6] [rate, default 87]
import { mkdtemp, rm } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { LocalStreams } from '../../gateway/store/types.js';

interface ThreadSample {
  /** user, system: µs (from clock ticks) */
  user: number;
  system: number;
  /** voluntary context switches: the thread slept and was woken */
  wakes: number;
}

const TICK_US = 1e6 / 100; // USER_HZ: 100 on Linux

/** Per thread (tid): CPU and wake-ups so far. */
function threads(): Map<string, ThreadSample> {
  const out = new Map<string, ThreadSample>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
      const wakes = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
      out.set(tid, { user: Number(f[11]) * TICK_US, system: Number(f[12]) * TICK_US, wakes });
    } catch {
      // a thread that ended between readdir and read
    }
  }
  return out;
}

interface Row {
  mode: string;
  load1: number;
  rounds: number;
  commitsPerRound: number;
  main: ThreadSample;
  others: ThreadSample;
}

async function run(mode: 'driver' | 'fsync' | 'fsync-shm' | 'os', seconds: number, records: number, rate: number): Promise<Row> {
  const base = mode === 'fsync-shm' ? '/dev/shm' : tmpdir();
  const dir = await mkdtemp(join(base, 'gatehouse-bench-commit-'));
  let store: LocalStreams | undefined;
  if (mode !== 'driver') {
    store = await openLocalStreams({ path: dir, durability: mode === 'os' ? 'os' : 'fsync' }, { logger: pino({ level: 'warn' }), registry: new Registry() });
    await store.defineStream({ name: 's', maxBytes: 1 << 30, onFull: 'reject' });
  }
  const commitsMade = (): number => (store as unknown as { commits?: { commits: number } } | undefined)?.commits?.commits ?? 0;
  const payload = Buffer.alloc(200, 0x61);
  const appends: Array<Promise<unknown>> = new Array(records);
  const drive = async (ms: number): Promise<number> => {
    const end = performance.now() + ms;
    let n = 0;
    while (performance.now() < end) {
      const t = performance.now();
      for (let i = 0; i < records; i++)
        appends[i] = store ? store.append('s', { topic: 'fleet/dev/engine', payload, receivedAt: Date.now() }) : Promise.resolve();
      await Promise.all(appends);
      n++;
      const wait = 1000 / rate - (performance.now() - t);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    return n;
  };
  await drive(2000); // warm: V8's optimising compiler done with the loop and the store's path
  const before = threads();
  const c0 = commitsMade();
  const rounds = await drive(seconds * 1000);
  const commits = commitsMade() - c0;
  const after = threads();
  await store?.close();
  await rm(dir, { recursive: true, force: true });
  const main: ThreadSample = { user: 0, system: 0, wakes: 0 };
  const others: ThreadSample = { user: 0, system: 0, wakes: 0 };
  for (const [tid, a] of after) {
    const b = before.get(tid) ?? { user: 0, system: 0, wakes: 0 };
    const into = tid === String(process.pid) ? main : others;
    into.user += a.user - b.user;
    into.system += a.system - b.system;
    into.wakes += a.wakes - b.wakes;
  }
  return { mode, load1: loadavg()[0]!, rounds, commitsPerRound: commits / rounds, main, others };
}

const seconds = Number(process.argv[2] ?? 5);
const records = Number(process.argv[3] ?? 6);
const rate = Number(process.argv[4] ?? 87);
const rows: Row[] = [];
for (const mode of ['driver', 'fsync', 'fsync-shm', 'os', 'driver', 'fsync'] as const) rows.push(await run(mode, seconds, records, rate));
console.log(
  `commit cost: ${records} records of 200 bytes appended at once, ${rate} times a second, ${seconds} s per mode; per round (one commit each but 'driver')`,
);
console.log('mode        load1  rounds/s  commits/round  CPU us  main us (sys)  others us (sys)  main wakes  others wakes');
const per = (x: number, r: Row): string => (x / r.rounds).toFixed(0);
for (const r of rows) {
  const cpu = r.main.user + r.main.system + r.others.user + r.others.system;
  console.log(
    `${r.mode.padEnd(10)} ${r.load1.toFixed(1).padStart(5)}  ${(r.rounds / seconds).toFixed(0).padStart(8)}  ${r.commitsPerRound.toFixed(2).padStart(13)}  ${per(cpu, r).padStart(6)}  ${`${per(r.main.user + r.main.system, r)} (${per(r.main.system, r)})`.padStart(13)}  ${`${per(r.others.user + r.others.system, r)} (${per(r.others.system, r)})`.padStart(15)}  ${(r.main.wakes / r.rounds).toFixed(1).padStart(10)}  ${(r.others.wakes / r.rounds).toFixed(1).padStart(12)}`,
  );
}
console.log(`BENCH_JSON ${JSON.stringify({ bench: 'commit-cost', records, rate, seconds, rows })}`);
