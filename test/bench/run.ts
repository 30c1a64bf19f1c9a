// `npm run bench`: every benchmark of test/bench, one after the other, each in its own child
// process (so one bench's heap, native handles and RSS never colour the next), with short runs by
// default (the whole run stays under ~5 minutes) and longer ones with BENCH_FULL=1. Prints each
// bench's own table as it runs, then a summary. A bench whose peer is missing (socat, the NAB
// data, python3) is skipped with the reason. Nothing here asserts timings.
//
//   npm run bench                          (compiled: dist/test/bench/*.js)
//   node --import tsx test/bench/run.ts    (from the sources, through tsx)
//   BENCH_FULL=1 npm run bench             (1,000,000-record drain, 5 s runs, NAB)
//   BENCH_ONLY=gateway,export npm run bench
//   npm run bench -- soak --minutes 10     (bench names first; the arguments after them go to
//                                           that one bench instead of its defaults)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg, cpus } from 'node:os';
import { memoryCgroupUnavailable } from '../helpers/cgroup.js';

const here = dirname(fileURLToPath(import.meta.url));
const compiled = import.meta.url.endsWith('.js');
const ext = compiled ? '.js' : '.ts';
const full = process.env.BENCH_FULL === '1';
/** The repository root, from test/bench (sources) or dist/test/bench (compiled). */
const root = resolve(here, compiled ? '../../..' : '../..');

interface Bench {
  name: string;
  what: string;
  args: string[];
  env?: Record<string, string>;
  nodeArgs?: string[];
  /** A reason to skip, or undefined when the bench can run. */
  missing?: () => string | undefined;
  /** Kill it after this long (a stuck peer must not hang the whole run). */
  timeoutS: number;
}

function onPath(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

const nabDir = process.env.NAB_DIR ? resolve(process.env.NAB_DIR) : resolve(root, '../shared/nab');

const BENCHES: Bench[] = [
  { name: 'store', what: 'group commit appends/s and reads/s (fsync, os)', args: [full ? '3' : '1'], timeoutS: 120 },
  { name: 'broker', what: 'bare aedes vs the Gatehouse broker (onPublish resolving at once)', args: [full ? '5' : '2'], timeoutS: 120 },
  {
    name: 'gateway',
    what: 'issue 2: bare aedes vs the real gateway (archive rule, fsync), msgs/s, PUBACK p50/p99, peak RSS',
    args: [full ? '5' : '2'],
    timeoutS: 240,
  },
  {
    name: 'pi',
    what: 'issue 15: every figure of the Pi-efficiency table (commits/s, PUBACK p50/p99, CPU us/msg, bytes written per payload byte, idle RSS) vs bare aedes',
    args: [full ? '10' : '4'],
    timeoutS: 300,
  },
  {
    name: 'systemd-notify',
    what: "the CPU and wall time of one message to systemd (a run of systemd-notify, as each watchdog ping is) from a process of the gateway's size",
    args: [full ? '1000' : '200'],
    missing: () => (onPath('systemd-notify') ? (onPath('python3') ? undefined : 'needs python3') : "needs 'systemd-notify' (Debian package systemd)"),
    timeoutS: 60,
  },
  {
    name: 'footprint',
    what: 'issue 15: idle memory by part (RSS, heapUsed), the default start in load order and what each configurable part adds',
    args: [],
    timeoutS: 180,
  },
  {
    name: 'pacing',
    what: 'issue 15: store commit pacing alone (commitDelayMs 0 vs 7) at 500, 5,000 appends/s and flat out',
    args: [full ? '5' : '2'],
    timeoutS: 120,
  },
  {
    name: 'floods',
    what: 'issue 10: device PUBACK p50/p99 under 1,200 silent sockets and 32 wrong-password clients',
    args: [full ? '5000' : '2000'],
    timeoutS: 240,
  },
  { name: 'rules', what: 'rules engine messages/s', args: [], timeoutS: 120 },
  {
    name: 'rules-proto',
    what: "decode(*, 'proto', ...) per message: a Sparkplug B NDATA of 20 metrics against the same data as JSON",
    args: [],
    missing: () => (onPath('protoc') ? undefined : "needs 'protoc' (Debian package protobuf-compiler)"),
    timeoutS: 120,
  },
  { name: 'sparkplug', what: 'the sparkplug source per message: an NDATA of 20 metrics by alias, decoded, named, typed, as JSON', args: ['3'], timeoutS: 60 },
  { name: 'windows', what: 'windowed and analytic rules messages/s', args: [], timeoutS: 120 },
  {
    name: 'window-state',
    what: 'issue 18: ingest msgs/s and disk bytes per message with a windowed rule, input log on and off',
    args: [full ? '5' : '2'],
    timeoutS: 180,
  },
  {
    name: 'export',
    what: 'issue 5: backlog drain to the Firehose-protocol HTTP receiver and to kinesalite',
    args: [],
    env: full ? { BENCH_RECORDS: '1000000', BENCH_KINESIS_RECORDS: '50000' } : { BENCH_RECORDS: '200000', BENCH_KINESIS_RECORDS: '10000' },
    timeoutS: full ? 900 : 180,
  },
  {
    name: 'tail',
    what: 'issue 14: file tail lines/s and CPU/line, 4 files of 200-byte lines into a stream (fsync), raw and LOGTOJSON',
    args: [full ? '250000' : '100000'],
    timeoutS: 300,
  },
  {
    name: 'file-backfill',
    what: 'round 10: 200 small files present at start through maxOpenFiles 8 (and every file open): seconds until all committed',
    args: full ? ['2000', '50'] : ['200', '50'],
    env: { BENCH_CAP_S: '120' },
    timeoutS: 600,
  },
  {
    name: 'serial',
    what: 'serial link frames/s over a socat pty pair',
    args: [],
    missing: () => (onPath('socat') ? undefined : 'socat is not installed (apt-get install socat)'),
    timeoutS: 120,
  },
  {
    name: 'industrial',
    what: 'issue 13: Modbus TCP 10 devices x 100 registers @10 Hz (CPU per poll), OPC UA 5,000 items @1 s (RSS, CPU), idle gateway RSS with/without industrial sources',
    args: [full ? '30' : '10'],
    timeoutS: 600,
  },
  { name: 'anomaly', what: 'anomaly detectors points/s and memory', args: [], nodeArgs: ['--expose-gc'], timeoutS: 120 },
  {
    name: 'soak',
    what: 'issue 10: 5,000 QoS 1 msgs/s to a flaky HTTP upstream (20% failing, down 1 min in 10): RSS, heap, lag p99, lost',
    // Short by default (3 min, upstream down 30 s every 90 s); an hour with BENCH_FULL=1.
    args: full ? ['--minutes', '60'] : ['--minutes', '3', '--down-every', '1.5', '--down-for', '0.5', '--sample-seconds', '30'],
    timeoutS: full ? 4200 : 600,
  },
  {
    name: 'low-memory',
    what: 'the gateway as installed under cgroup memory limits (MemoryMax=): OOM kills, peak charge, acked/s, PUBACK p99, catch-up, lost',
    // Short by default (128 MiB, the default configuration's loads, 10 s each); every limit and load with BENCH_FULL=1.
    args: [],
    env: full ? { LOWMEM_SECONDS: '20' } : { LOWMEM_LIMITS: '128', LOWMEM_LOADS: 'idle,steady,flat,backlog', LOWMEM_SECONDS: '10' },
    missing: () => {
      const why = memoryCgroupUnavailable();
      return why ? `no memory cgroup can be made: ${why}` : undefined;
    },
    timeoutS: full ? 3600 : 600,
  },
  {
    name: 'nab',
    what: 'NAB anomaly benchmark scores',
    args: [],
    missing: () => {
      if (!full) return 'long: runs with BENCH_FULL=1 only';
      if (!existsSync(join(nabDir, 'data'))) return `the NAB data is not at ${nabDir} (set NAB_DIR)`;
      if (!onPath('python3')) return 'python3 is not installed (NAB scoring)';
      return undefined;
    },
    timeoutS: 1800,
  },
];

interface Outcome {
  name: string;
  status: 'ok' | 'skipped' | 'failed';
  detail: string;
  seconds: number;
  json: unknown[];
}

function runOne(b: Bench): Promise<Outcome> {
  const file = join(here, b.name + ext);
  if (!existsSync(file)) return Promise.resolve({ name: b.name, status: 'skipped', detail: `${file} not found`, seconds: 0, json: [] });
  const reason = b.missing?.();
  if (reason) return Promise.resolve({ name: b.name, status: 'skipped', detail: reason, seconds: 0, json: [] });
  const nodeArgs = [...(b.nodeArgs ?? []), ...(compiled ? [] : ['--import', 'tsx'])];
  const t0 = performance.now();
  return new Promise<Outcome>((done) => {
    const child = spawn(process.execPath, [...nodeArgs, file, ...b.args], {
      cwd: root,
      env: { ...process.env, ...b.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const json: unknown[] = [];
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        // Machine-readable lines feed the summary; everything else is the bench's own table.
        if (line.startsWith('BENCH_JSON ')) {
          try {
            json.push(JSON.parse(line.slice(11)));
          } catch {
            process.stdout.write(`${line}\n`);
          }
        } else process.stdout.write(`${line}\n`);
      }
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, b.timeoutS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (partial) process.stdout.write(`${partial}\n`);
      const seconds = (performance.now() - t0) / 1000;
      if (code === 0) done({ name: b.name, status: 'ok', detail: b.what, seconds, json });
      else done({ name: b.name, status: 'failed', detail: timedOut ? `killed after ${b.timeoutS} s` : `exit ${code ?? signal}`, seconds, json });
    });
  });
}

/** Headline figures of the benches that print a BENCH_JSON line. */
function headline(o: Outcome): string[] {
  const out: string[] = [];
  for (const j of o.json as Array<{ bench?: string; rows?: Array<Record<string, unknown>> }>) {
    if (j.bench === 'gateway' && j.rows) {
      const find = (b: string, run: string, qos: number): Record<string, unknown> | undefined =>
        j.rows!.find((r) => r.broker === b && r.run === run && r.qos === qos);
      for (const r of j.rows) {
        out.push(
          `${String(r.broker).padEnd(16)} ${String(r.run).padEnd(11)} QoS ${r.qos}: ${r.msgsPerSec} msgs/s, p50 ${Number(r.p50).toFixed(2)} ms, p99 ${Number(r.p99).toFixed(2)} ms, peak RSS ${Number(r.peakRssMiB).toFixed(0)} MiB`,
        );
      }
      const bare = find('bare', 'max', 1);
      const bareSteady = find('bare', 'steady 5k/s', 1);
      for (const gw of ['gateway', 'gateway-noexport']) {
        const g = find(gw, 'max', 1);
        const s = find(gw, 'steady 5k/s', 1);
        if (bare && g) out.push(`${gw}: QoS 1 rate ${(Number(g.msgsPerSec) / Number(bare.msgsPerSec)).toFixed(2)}x bare aedes (target >= 0.70)`);
        if (bareSteady && s)
          out.push(`${gw}: RSS at 5,000 msgs/s ${(Number(s.peakRssMiB) / Number(bareSteady.peakRssMiB)).toFixed(2)}x bare aedes (target <= 1.20)`);
      }
    }
    if (j.bench === 'soak') {
      const k = j as unknown as { minutes: number; acked: number; lost: number | null; deadLetters: number; rssGrowthPct: number | null; lagP99Ms: number };
      out.push(
        `soak ${k.minutes} min: ${k.acked} PUBACKed, lost ${k.lost === null ? 'unknown (backlog not drained)' : k.lost} (must be 0), dead letters ${k.deadLetters}, RSS growth after 5 min ${k.rssGrowthPct === null ? 'n/a' : `${k.rssGrowthPct.toFixed(1)}%`} (target < 10%), worst lag p99 ${k.lagP99Ms.toFixed(1)} ms`,
      );
    }
    if (j.bench === 'pi' && j.rows) {
      for (const r of j.rows as Array<Record<string, number | string>>) {
        out.push(
          `${String(r.broker).padEnd(8)} ${String(r.run).padEnd(9)} load ${Number(r.load1).toFixed(1)}: ${r.msgsPerSec} msgs/s, p50/p99 ${Number(r.p50).toFixed(1)}/${Number(r.p99).toFixed(1)} ms, ${r.broker === 'gateway' ? `${Number(r.commitsPerSec).toFixed(0)} commits/s, ${Number(r.writePerPayload).toFixed(2)} bytes written/payload byte, ` : ''}${Number(r.cpuUsPerMsg).toFixed(1)} us CPU/msg`,
        );
      }
      for (const i of (j as { idle?: Array<{ broker: string; rssMiB: number }> }).idle ?? [])
        out.push(`${i.broker.padEnd(8)} idle RSS ${i.rssMiB.toFixed(0)} MiB`);
    }
    if (j.bench === 'tail' && j.rows) {
      for (const r of j.rows) out.push(`${String(r.case).padEnd(28)} ${r.linesPerSec} lines/s, ${r.cpuUsPerLine} us CPU/line (target >= 100,000 lines/s)`);
    }
    if (j.bench === 'file-backfill' && j.rows) {
      for (const r of j.rows)
        out.push(`${String(r.case).padEnd(46)} ${r.finished ? 'all' : `${r.filesRead} of`} ${r.files} files in ${r.seconds} s${r.finished ? '' : ' (cap)'}`);
    }
    if (j.bench === 'export' && j.rows) {
      for (const r of j.rows)
        out.push(
          `${r.target}: ${r.records} records drained at ${r['drain rec/s']} records/s (batch ${r['batch records']}), peak RSS ${r['peak RSS MiB (drain)']} MiB${r.target === 'http receiver' ? ' (target >= 50,000/s)' : ''}`,
        );
    }
  }
  return out;
}

/** `run.js soak --minutes 10`: leading bench names select; the rest replaces that bench's args. */
function fromArgv(argv: string[]): Bench[] | undefined {
  const names: string[] = [];
  let i = 0;
  while (i < argv.length && BENCHES.some((b) => b.name === argv[i])) names.push(argv[i++]!);
  if (names.length === 0) return undefined;
  const rest = argv.slice(i);
  return BENCHES.filter((b) => names.includes(b.name)).map((b) => {
    if (rest.length === 0 || names.length !== 1) return b;
    // A soak of N minutes needs N minutes (plus the drain) before the timeout.
    const minutes = rest.indexOf('--minutes') >= 0 ? Number(rest[rest.indexOf('--minutes') + 1]) : 0;
    return { ...b, args: rest, timeoutS: Math.max(b.timeoutS, minutes * 60 + 600) };
  });
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
  const list = fromArgv(process.argv.slice(2)) ?? (only ? BENCHES.filter((b) => only.includes(b.name)) : BENCHES);
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  console.log(
    `Gatehouse benchmarks (${full ? 'BENCH_FULL' : 'short runs; BENCH_FULL=1 for long ones'}), ${compiled ? 'compiled' : 'via tsx'}, node ${process.version}, ${cpus().length} cores, load average ${load} at start`,
  );
  const outcomes: Outcome[] = [];
  for (const b of list) {
    console.log(`\n=== ${b.name}: ${b.what}`);
    const o = await runOne(b);
    if (o.status === 'skipped') console.log(`skipped: ${o.detail}`);
    if (o.status === 'failed') console.log(`FAILED: ${o.detail}`);
    outcomes.push(o);
  }
  console.log(
    `\n=== summary (load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at the end; figures are noisy on a shared machine)`,
  );
  for (const o of outcomes) {
    console.log(
      `${o.name.padEnd(8)} ${o.status.padEnd(7)} ${o.status === 'ok' ? `${o.seconds.toFixed(0).padStart(4)} s` : '      '}  ${o.status === 'ok' ? '' : o.detail}`,
    );
    for (const h of headline(o)) console.log(`           ${h}`);
  }
  if (outcomes.some((o) => o.status === 'failed')) process.exitCode = 1;
}

await main();
