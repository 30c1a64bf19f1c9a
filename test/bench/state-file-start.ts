// What a start on a large retained set costs (gateway/broker/retained-file.ts, state-journal.ts):
// the gateway as installed (bin/gatehouse.js's #! line) started on a data dir whose retained file
// holds N messages of B bytes, as test/bench/low-memory.ts's `retained` load leaves it (1 KiB
// payloads), without the minutes of publishing that load takes first. Prints, per build, the peak
// RSS (VmHWM), anonymous RSS and (in a cgroup) the peak charge once started, the time from spawn to 'gatehouse started' and the
// broker's own part of it ('store opened' to 'MQTT broker listening': the retained file's load and
// aedes' store), the median of the runs (builds alternated run by run). With STATEFILE_LIMIT_MIB
// each start runs inside a cgroup v1 memory limit (test/helpers/cgroup.ts) and an OOM kill is
// reported. Nothing is asserted: a benchmark (not in CI).
//
//   npm run -s build && node dist/test/bench/state-file-start.js [other/checkout/bin/gatehouse.js ...]
//   STATEFILE_MESSAGES=20000 STATEFILE_BYTES=1024 STATEFILE_RUNS=5 STATEFILE_LIMIT_MIB=128
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pino from 'pino';
import { RetainedFile } from '../../gateway/broker/retained-file.js';
import { makeMemoryCgroup, memoryCgroupUnavailable, spawnInCgroup, type MemoryCgroup } from '../helpers/cgroup.js';
import { freePort } from '../helpers/index.js';
import { launcherOf, shippedBin } from './launcher.js';

const MiB = 1024 * 1024;
const MESSAGES = Number(process.env.STATEFILE_MESSAGES ?? 20_000);
const BYTES = Number(process.env.STATEFILE_BYTES ?? 1024);
const RUNS = Number(process.env.STATEFILE_RUNS ?? 5);
const LIMIT_MIB = process.env.STATEFILE_LIMIT_MIB ? Number(process.env.STATEFILE_LIMIT_MIB) : undefined;
const bins = [shippedBin, ...process.argv.slice(2)];

interface Sample {
  outcome: 'up' | 'OOM-killed' | string;
  rssMiB: number;
  anonMiB: number;
  /** The cgroup's peak charge (memory.max_usage_in_bytes), under STATEFILE_LIMIT_MIB. */
  chargeMiB: number;
  startMs: number;
  brokerMs: number;
}

/** The retained file as the broker writes it: a snapshot of MESSAGES messages (low-memory.ts's payloads). */
async function writeSet(data: string): Promise<void> {
  const rf = new RetainedFile(join(data, 'mqtt-retained.json'), pino({ level: 'silent' }));
  await rf.load();
  for (let k = 0; k < MESSAGES; k++) {
    const head = `{"d":${k % 10},"s":${k},"v":${(k % 97) / 7},"pad":"`;
    rf.note({ topic: `ret/${k % 40}/${k}`, payload: Buffer.from(`${head}${'x'.repeat(Math.max(0, BYTES - head.length - 2))}"}`), qos: 1 });
  }
  await rf.close();
}

async function startOnce(bin: string, config: string, cg: MemoryCgroup | undefined): Promise<Sample> {
  const launcher = launcherOf(bin);
  const args = [...launcher.nodeFlags, bin, 'start', '--config', config, '--mqtt-port', String(await freePort()), '--admin-port', String(await freePort())];
  const opts = { stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '', ...launcher.env } };
  const t0 = performance.now();
  const child: ChildProcess = cg ? spawnInCgroup(cg, process.execPath, args, opts) : spawn(process.execPath, args, opts);
  const times = new Map<string, number>();
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const started = new Promise<number>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      for (const msg of ['store opened', 'MQTT broker listening']) if (line.includes(`"msg":"${msg}"`)) times.set(msg, Number(/"time":(\d+)/.exec(line)?.[1]));
      if (line.includes('"gatehouse started"')) resolve(performance.now());
    });
  });
  child.stderr!.resume();
  const first = await Promise.race([started, exited]);
  if (Array.isArray(first)) {
    const [code, signal] = first;
    const outcome = signal === 'SIGKILL' ? 'OOM-killed' : `exited ${String(code ?? signal)}`;
    return { outcome, rssMiB: NaN, anonMiB: NaN, chargeMiB: NaN, startMs: NaN, brokerMs: NaN };
  }
  const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) / 1024;
  const sample: Sample = {
    outcome: 'up',
    rssMiB: kb('VmHWM'),
    anonMiB: kb('RssAnon'),
    chargeMiB: cg ? cg.stats().maxUsage / MiB : NaN,
    startMs: first - t0,
    brokerMs: (times.get('MQTT broker listening') ?? NaN) - (times.get('store opened') ?? NaN),
  };
  child.kill('SIGTERM');
  await exited;
  return sample;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const dir = await mkdtemp(join(tmpdir(), 'gatehouse-statefile-'));
const why = LIMIT_MIB === undefined ? undefined : memoryCgroupUnavailable();
if (why) throw new Error(`STATEFILE_LIMIT_MIB: ${why}`);
try {
  const data = join(dir, 'data');
  await mkdir(data);
  await writeSet(data);
  const config = join(dir, 'gatehouse.yaml');
  await writeFile(config, `dataDir: ${JSON.stringify(data)}\nexporters: []\n`);
  const results = new Map<string, Sample[]>(bins.map((b) => [b, []]));
  for (let r = 0; r < RUNS; r++)
    for (const bin of bins) {
      const cg = LIMIT_MIB === undefined ? undefined : makeMemoryCgroup(`gatehouse-statefile-${process.pid}-${r}`, LIMIT_MIB * MiB);
      try {
        results.get(bin)!.push(await startOnce(bin, config, cg));
      } finally {
        cg?.remove();
      }
    }
  console.log(`${MESSAGES} retained messages of ${BYTES} bytes, ${RUNS} starts per build${LIMIT_MIB ? `, under ${LIMIT_MIB} MiB` : ''} (medians)`);
  console.log('| build | outcomes | peak RSS MiB | anon once started MiB | peak charge MiB | spawn to started ms | broker start ms |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [bin, s] of results) {
    const up = s.filter((x) => x.outcome === 'up');
    const outcomes = [...new Set(s.map((x) => x.outcome))].map((o) => `${o} x${s.filter((x) => x.outcome === o).length}`).join(', ');
    const m = (f: (x: Sample) => number): string => {
      const v = median(up.map(f));
      return Number.isNaN(v) ? '-' : v.toFixed(0);
    };
    console.log(
      `| ${bin} | ${outcomes} | ${m((x) => x.rssMiB)} | ${m((x) => x.anonMiB)} | ${m((x) => x.chargeMiB)} | ${m((x) => x.startMs)} | ${m((x) => x.brokerMs)} |`,
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
