// Pi-class efficiency benchmark (issue 15): every figure of the issue's table in one run.
//
// The gateway (default config: archive rule, durability fsync, default file exporter) and bare
// aedes (in memory) each run in their own child process; the same load generator (runMqttFleet:
// 10 publishers, 200-byte JSON, QoS 1, TCP_NODELAY) drives them at 500 and 5,000 msgs/s and flat
// out, and at 5,000 msgs/s once more with Nagle's algorithm on the devices' sockets. Per run:
//   commits/s    store group commits (one db.batch + fsync each) per second
//   p50/p99      publish-to-PUBACK latency
//   CPU us/msg   user+system CPU time of the broker's process / acknowledged messages
//   write/payload  /proc/PID/io write_bytes of the broker's process / payload bytes acknowledged,
//                split into LevelDB log (+MANIFEST), LevelDB tables (level-0 flushes and
//                compactions, from LevelDB's LOG), and export files (their sizes)
//   peak RSS
// plus idle RSS after start (and process.memoryUsage() by start-up phase), the floor this disk
// sets on PUBACK latency at the issue's 150 commits/s (disk-floor.ts), probed first, and where the
// tail goes inside the broker's process (loop-watch.ts): main thread waiting for a CPU, GC pauses,
// event-loop delay.
// These are load-robust measures (counts and ratios at a FIXED offered rate), but CPU time still
// grows on a busy machine (cache, frequency): every figure is printed with the load average.
//
// Run: node dist/test/bench/pi.js [seconds per run, default 5]
//      BENCH_VARIANTS=gateway  BENCH_PROFILE=DIR (gateway child with --cpu-prof into DIR; BENCH_PROFILE_BARE=1: bare's too)
//      BENCH_RATES=none (idle figures only)  BENCH_SETTLE_S=0 (skip the idle figure once V8 gave back its
//        young generation; default: wait up to 40 s for it)
//      BENCH_NODE_FLAGS='--max-semi-space-size=4' (other V8 flags for the gateway child)
//      BENCH_PROCESS_MEMORY=0 (the gateway child without `gatehouse start`'s process memory
//        settings, gateway/runtime/process-memory.ts)
//      BENCH_PEAK_DETAIL=1 (what the peak RSS held: heap spaces, external, array buffers)
//      BENCH_SNAPSHOT_AT_MIB=150 (a heap snapshot, once, when the gateway child's RSS passes it)
//      BENCH_ALLOC=DIR (an allocation profile of each run into DIR, and the top allocators per message)
//      BENCH_STAGES=1 (each message's PUBACK latency by stage, median band vs p99 tail: stages.ts;
//        the stamps cost the gateway ~1-2 us per message, so read CPU figures with it off)
//      BENCH_LOOP_DELAY=1 (also the event-loop delay: a 1 ms timer, which costs CPU: see loop-watch.ts)
//      BENCH_WARM_S=20 (the warm-up at 5,000 msgs/s before the runs, default 1 s: the steady state)
//      BENCH_COMMIT_DELAYS=1,3,5,7,10 (instead of the table: the pacing frontier, one gateway per
//        store.commitDelayMs at 5,000 msgs/s: fsyncs/s against PUBACK p50/p99 and the commit's own
//        p99, i.e. what a lower latency costs in fsyncs on this disk)
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import { fileURLToPath } from 'node:url';
import { allocProfiler, topAllocators } from './alloc-profile.js';
import { type DiskProbe, latencyFloor, probeDisk, quantile } from './disk-floor.js';
import { shippedLauncher } from './launcher.js';
import { type LoopSnapshot, startLoopWatch } from './loop-watch.js';
import type { GatewayStages, StageTracer } from './stages.js';
import { fleetRecorder, printStages } from './stages-report.js';
import { type IdleFigures, idleRss, type PiRow, print, printFrontier, type Variant } from './pi-report.js';
import { cliIdle, formatCliIdle } from './cli-idle.js';

interface Sample {
  cpuUs: number;
  /** The kernel's share of cpuUs (syscalls, loopback TCP, fsync). */
  sysUs: number;
  writeBytes: number;
  commits: number;
  /** Seconds spent writing commits (db.batch + fsync), summed. */
  commitSeconds: number;
  /** Commit-duration bucket counts (upper bound in seconds -> commits in that bucket alone). */
  commitBuckets: Record<string, number>;
  rss: number;
  tableBytes: number;
  exportBytes: number;
  /** The main thread's scheduling, GC pauses and loop delay (loop-watch.ts). */
  loop: LoopSnapshot;
  /** performance.now() of the sample (the per-second figures divide by the span between two). */
  at: number;
}

interface Hello {
  port: number;
  phases: Array<[string, NodeJS.MemoryUsage]>;
  /** CPU (user + system) per second of the idle span after start (2 s on, to settled or 5 s later). */
  idleCpuMsPerS: number;
}

type ToParent =
  | Hello
  | { stages: GatewayStages | undefined }
  | { sample: Sample }
  | { peakRss: number }
  | { settled: { rss: number; waitedS: number } }
  | 'alloc-started'
  | 'alloc-stopped';

async function ioWriteBytes(): Promise<number> {
  try {
    const text = await readFile('/proc/self/io', 'utf8');
    const m = /^write_bytes:\s*(\d+)/m.exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Bytes of level-0 tables and compaction outputs LevelDB reported in its LOG. */
async function tableBytes(dir: string | undefined): Promise<number> {
  if (!dir) return 0;
  let total = 0;
  for (const name of ['LOG.old', 'LOG']) {
    let text = '';
    try {
      text = await readFile(join(dir, name), 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/Level-0 table #\d+: (\d+) bytes/g)) total += Number(m[1]);
    for (const m of text.matchAll(/Generated table #\d+@\d+: \d+ keys, (\d+) bytes/g)) total += Number(m[1]);
  }
  return total;
}

async function treeBytes(dir: string | undefined): Promise<number> {
  if (!dir) return 0;
  let total = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!e.isFile()) continue;
    try {
      total += (await stat(join(e.parentPath, e.name))).size;
    } catch {
      /* rotated away */
    }
  }
  return total;
}

async function serve(variant: Variant): Promise<void> {
  const phases: Array<[string, NodeJS.MemoryUsage]> = [['node started', process.memoryUsage()]];
  let port: number;
  let stop: () => Promise<void> = async () => undefined;
  let commits = (): { count: number; sum: number; buckets: Record<string, number> } => ({ count: 0, sum: 0, buckets: {} });
  let storeDir: string | undefined;
  let exportDir: string | undefined;
  let tracer: StageTracer | undefined;
  if (variant === 'bare') {
    const { Aedes } = await import('aedes');
    phases.push(['modules loaded', process.memoryUsage()]);
    const aedes = await Aedes.createBroker();
    const server = createServer({ noDelay: true }, aedes.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  } else {
    const [{ default: pino }, { createMetricsRegistry }, { loadConfig }, { startGateway }, { applyProcessMemorySettings }, { startProcessIdleMemoryRelease }] =
      await Promise.all([
        import('pino'),
        import('../../gateway/metrics/registry.js'),
        import('../../gateway/config/index.js'),
        import('../../gateway/runtime/index.js'),
        import('../../gateway/runtime/process-memory.js'),
        import('../../gateway/runtime/idle-memory.js'),
      ]);
    phases.push(['modules loaded', process.memoryUsage()]);
    // BENCH_STAGES=1: each message's latency by stage (stages.ts; loaded only then)
    if (process.env.BENCH_STAGES === '1') tracer = await (await import('./stages.js')).installStageTracer();
    // BENCH_DIR=/dev/shm: a RAM disk whose fsync costs nothing shows the commit pacing policy alone
    // (no write_bytes there; measure bytes on a real disk).
    const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'gatehouse-bench-pi-'));
    const file = join(dir, 'gatehouse.json');
    // BENCH_CONFIG='{...}': another gateway config (e.g. a gzip file exporter); default: the defaults
    // but the per-client publish rate limit (flat out, 10 publishers exceed it: capacity is measured)
    await writeFile(file, process.env.BENCH_CONFIG ?? '{"broker":{"maxPublishRatePerClient":0,"maxPublishBytesPerSecPerClient":0}}');
    const config = await loadConfig(file, { dataDir: join(dir, 'data'), mqttPort: 0, adminPort: 0 });
    // As `gatehouse start`: its registry with the default process metrics (their timers and GC observer).
    const registry = createMetricsRegistry('bench', 'bench');
    // As `gatehouse start` (BENCH_PROCESS_MEMORY=0: without, to compare).
    if (process.env.BENCH_PROCESS_MEMORY !== '0') await applyProcessMemorySettings(process.execArgv);
    const gw = await startGateway(config, { logger: pino({ level: 'warn' }), registry, version: 'bench' });
    const idleMemory = process.env.BENCH_PROCESS_MEMORY !== '0' ? startProcessIdleMemoryRelease() : undefined;
    port = gw.broker.addresses()[0]!.port;
    storeDir = join(config.dataDir, 'store');
    exportDir = join(config.dataDir, 'export');
    commits = () => {
      // prom-client's Histogram keeps its count in hashMap; get() is async in v15, so read it sync.
      const h = registry.getSingleMetric('gatehouse_store_commit_seconds') as unknown as
        | { hashMap?: Record<string, { count: number; sum: number; bucketValues: Record<string, number> }> }
        | undefined;
      const out = { count: 0, sum: 0, buckets: {} as Record<string, number> };
      for (const v of Object.values(h?.hashMap ?? {})) {
        out.count += v.count;
        out.sum += v.sum;
        for (const [le, n] of Object.entries(v.bucketValues)) out.buckets[le] = (out.buckets[le] ?? 0) + n;
      }
      return out;
    };
    stop = async () => {
      idleMemory?.stop();
      await gw.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  phases.push(['started', process.memoryUsage()]);
  // Idle: let start-up garbage go (timers of the admin page, JIT) the way a running gateway would.
  await new Promise((r) => setTimeout(r, 2000));
  phases.push(['idle 2 s', process.memoryUsage()]);
  const idleFrom = { cpu: process.cpuUsage(), at: performance.now() };
  // BENCH_SETTLE_S (default 40; 0: skip): also wait (at most that long) for V8's memory reducer to
  // give back the young generation grown while loading (it runs some 10-20 s into an idle period):
  // the idle figure of a gateway that has been idle a while.
  const settleS = Number(process.env.BENCH_SETTLE_S ?? 40);
  if (settleS > 0) {
    const waited = 2 + (await settle(settleS - 2));
    phases.push([`settled ${waited} s`, process.memoryUsage()]);
  }
  if (performance.now() - idleFrom.at < 5000) await new Promise((r) => setTimeout(r, 5000 - (performance.now() - idleFrom.at)));
  const idleCpu = process.cpuUsage(idleFrom.cpu);
  const idleCpuMsPerS = (idleCpu.user + idleCpu.system) / (performance.now() - idleFrom.at);
  const watch = startLoopWatch({ loopDelay: process.env.BENCH_LOOP_DELAY === '1' });
  const alloc = process.env.BENCH_ALLOC ? allocProfiler() : undefined;
  let peak = process.memoryUsage.rss();
  let peakDetail = '';
  let snapped = false;
  const timer = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > peak && process.env.BENCH_PEAK_DETAIL) {
      const m = process.memoryUsage();
      const spaces = v8
        .getHeapSpaceStatistics()
        .map((s) => `${s.space_name.replace('_space', '')}=${(s.space_size / MiB).toFixed(0)}/${(s.space_used_size / MiB).toFixed(0)}`);
      peakDetail = `rss ${(rss / MiB).toFixed(0)} heapTotal ${(m.heapTotal / MiB).toFixed(0)} heapUsed ${(m.heapUsed / MiB).toFixed(0)} external ${(m.external / MiB).toFixed(0)} arrayBuffers ${(m.arrayBuffers / MiB).toFixed(0)} | ${spaces.join(' ')}`;
    }
    peak = Math.max(peak, rss);
    const snapAt = Number(process.env.BENCH_SNAPSHOT_AT_MIB ?? 0);
    if (snapAt > 0 && rss > snapAt * MiB && !snapped) {
      snapped = true;
      console.error(`heap snapshot at rss ${(rss / MiB).toFixed(0)} MiB: ${v8.writeHeapSnapshot()}`);
    }
  }, 50);
  timer.unref();
  process.send!({ port, phases, idleCpuMsPerS } satisfies ToParent);
  process.on('message', (m: string) => {
    if (m === 'reset') {
      peak = process.memoryUsage.rss();
      watch.resetLoop();
      tracer?.reset();
    }
    if (m === 'stages') process.send!({ stages: tracer?.take() } satisfies ToParent);
    if (m === 'alloc-start') void alloc?.start().then(() => process.send!('alloc-started'));
    if (m.startsWith('alloc-stop:')) void alloc?.stopTo(m.slice('alloc-stop:'.length)).then(() => process.send!('alloc-stopped'));
    if (m === 'rss' && peakDetail) console.error(`peak detail: ${peakDetail}`);
    if (m === 'rss') process.send!({ peakRss: Math.max(peak, process.memoryUsage.rss()) } satisfies ToParent);
    if (m === 'sample') {
      void (async () => {
        const cpu = process.cpuUsage();
        const commit = commits();
        const sample: Sample = {
          cpuUs: cpu.user + cpu.system,
          sysUs: cpu.system,
          writeBytes: await ioWriteBytes(),
          commits: commit.count,
          commitSeconds: commit.sum,
          commitBuckets: commit.buckets,
          rss: process.memoryUsage.rss(),
          tableBytes: await tableBytes(storeDir),
          exportBytes: await treeBytes(exportDir),
          loop: watch.snapshot(),
          at: performance.now(),
        };
        process.send!({ sample } satisfies ToParent);
      })();
    }
    // The runs are over: idle again, how much of what the traffic grew is given back (BENCH_SETTLE_S
    // + 30 s: the gateway looks every 30 s and needs one look period idle, so it gives back 30-60 s
    // after the last run; gateway/runtime/idle-memory.ts).
    if (m === 'settle') void settle(settleS + 30).then((waitedS) => process.send!({ settled: { rss: process.memoryUsage.rss(), waitedS } } satisfies ToParent));
    if (m === 'exit') {
      clearInterval(timer);
      watch.stop();
      void stop().finally(() => process.exit(0));
    }
  });
}

/** Wait (at most maxS seconds, in 1 s steps) until V8 has given back its young generation; the seconds waited. */
async function settle(maxS: number): Promise<number> {
  const newSpace = (): number => v8.getHeapSpaceStatistics().find((sp) => sp.space_name === 'new_space')?.space_size ?? 0;
  let waited = 0;
  while (waited < maxS && newSpace() > 1024 * 1024) {
    await new Promise((r) => setTimeout(r, 1000));
    waited++;
  }
  return waited;
}

async function ask<T extends ToParent>(child: ChildProcess, msg?: string): Promise<T> {
  const reply = once(child, 'message') as Promise<[T]>;
  if (msg) child.send(msg);
  return (await reply)[0];
}

const MiB = 1048576;

/**
 * A build by tsc alone leaves zod unbundled (scripts/vendor-zod.mjs runs in `npm run build`): the
 * gateway then loads zod's locale tables, ~3 MiB more at idle. Say so beside the figures.
 */
async function zodBundleWarning(): Promise<string | undefined> {
  if (!import.meta.url.endsWith('.js')) return undefined; // (tsx: sources, no bundle)
  const file = fileURLToPath(new URL('../../core/zod.js', import.meta.url));
  const head = await readFile(file, 'utf8').then(
    (t) => t.slice(0, 200),
    () => '',
  );
  return head.includes('Generated by scripts/vendor-zod.mjs')
    ? undefined
    : `WARNING: ${file} is not the zod bundle (built by tsc alone?): run npm run build first; idle and peak RSS read ~3 MiB high`;
}

async function main(): Promise<void> {
  const zodWarning = await zodBundleWarning();
  if (zodWarning) console.log(zodWarning);
  const seconds = Number(process.argv[2] ?? process.env.BENCH_SECONDS ?? 5);
  const variants = (process.env.BENCH_VARIANTS?.split(',') as Variant[] | undefined) ?? ['bare', 'gateway'];
  // BENCH_RATES=none: idle figures only.
  // A run is a rate (0: flat out); 'n' after it: devices with Nagle's algorithm on (TCP_NODELAY
  // off, as many device stacks ship), which costs the gateway an extra commit per PUBACK.
  const runs = (process.env.BENCH_RATES === 'none' ? [] : (process.env.BENCH_RATES?.split(',') ?? ['500', '5000', '5000n', '0'])).map((r) => ({
    rate: Number(r.replace(/n$/, '')),
    nagle: r.endsWith('n'),
  }));
  const payloadBytes = 200;
  const { runMqttFleet } = await import('../../gateway/simulate/mqtt-fleet.js');
  const rows: PiRow[] = [];
  const idle: IdleFigures[] = [];
  // The frontier: one gateway per commitDelayMs, at 5,000 msgs/s only.
  const delays = process.env.BENCH_COMMIT_DELAYS?.split(',').map(Number);
  const instances: Array<{ variant: Variant; delay?: number }> = delays
    ? delays.map((delay) => ({ variant: 'gateway' as const, delay }))
    : variants.map((variant) => ({ variant }));
  if (delays) runs.splice(0, runs.length, { rate: 5000, nagle: false });
  // The floor this disk sets on PUBACK latency at the issue's cap of 150 commits/s (disk-floor.ts),
  // probed before any broker runs. A commit at 5,000 msgs/s and 150/s is ~33 records of ~360 bytes
  // in LevelDB's log (payload, topic, record header: 1.8 log bytes per payload byte, measured).
  let disk: DiskProbe | undefined;
  if (!delays && runs.some((r) => r.rate === 5000) && variants.includes('gateway')) {
    const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'gatehouse-bench-disk-'));
    try {
      disk = await probeDisk(dir, 150, Math.min(seconds, 10), 12_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  for (const { variant, delay } of instances) {
    const execArgv = [...process.execArgv];
    // (BENCH_PROFILE_BARE=1: bare aedes too, to compare: its file is the one of the other pid)
    if (process.env.BENCH_PROFILE && (variant === 'gateway' || process.env.BENCH_PROFILE_BARE === '1'))
      execArgv.push('--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`);
    // The gateway runs with the flags it ships with (bin/gatehouse.js); bare aedes with Node's defaults.
    if (variant === 'gateway') execArgv.push(...gatewayNodeFlags());
    // ... and the environment its launchers set (bin/gatehouse.js: MALLOC_MMAP_THRESHOLD_; BENCH_MALLOC=0: without it).
    const malloc = variant === 'gateway' && process.env.BENCH_MALLOC !== '0' ? shipped.env : {};
    const env = { ...process.env, ...malloc, ...(delay === undefined ? {} : { BENCH_CONFIG: JSON.stringify({ store: { commitDelayMs: delay } }) }) };
    const child = fork(fileURLToPath(import.meta.url), ['serve', variant], { execArgv, env });
    const hello = await ask<Hello>(child);
    idle.push({ broker: variant, load1: loadavg()[0]!, phases: hello.phases, idleCpuMsPerS: hello.idleCpuMsPerS });
    const url = `mqtt://127.0.0.1:${hello.port}`;
    const common = { url, devices: 10, payloadBytes, qos: 1 as const };
    // BENCH_WARM_S (default 1): the warm-up at 5,000 msgs/s before the runs. One second leaves
    // V8's optimising compiler busy through a 5 s run (round 39: a quarter of the gateway's CPU in
    // its compiler threads); 20 measures the steady state the issue asks about.
    const warmS = Number(process.env.BENCH_WARM_S ?? 1);
    if (runs.length > 0 && warmS > 0) await runMqttFleet({ ...common, ratePerDevice: 500, durationMs: warmS * 1000, prefix: `${variant}-warm` });
    for (const { rate, nagle } of runs) {
      child.send('reset');
      const before = (await ask<{ sample: Sample }>(child, 'sample')).sample;
      const allocDir = process.env.BENCH_ALLOC;
      if (allocDir) {
        await mkdir(allocDir, { recursive: true });
        await ask(child, 'alloc-start');
      }
      const stagesOn = process.env.BENCH_STAGES === '1' && variant === 'gateway';
      const fleet = stagesOn ? fleetRecorder(common.devices) : undefined;
      const prefix = `${variant}-${rate}`;
      const r = await runMqttFleet({
        ...common,
        ratePerDevice: rate / 10,
        durationMs: seconds * 1000,
        prefix,
        noDelay: !nagle,
        ...(fleet ? { trace: fleet.trace } : {}),
      });
      // The exporter catches up and LevelDB flushes in the background: give them a moment so their
      // bytes land in this run (a short wait, then the sample).
      await new Promise((res) => setTimeout(res, variant === 'gateway' ? 1500 : 100));
      const after = (await ask<{ sample: Sample }>(child, 'sample')).sample;
      if (fleet) {
        const gw = (await ask<{ stages: GatewayStages | undefined }>(child, 'stages')).stages;
        if (gw) printStages(`${variant} ${rate === 0 ? 'flat out' : `${rate}/s`}${nagle ? ' nagle' : ''}`, fleet.stages, gw, prefix);
      }
      if (allocDir) {
        const file = join(allocDir, `${variant}-${rate}${nagle ? 'n' : ''}${delay === undefined ? '' : `-d${delay}`}.heapprofile`);
        await ask(child, `alloc-stop:${file}`);
        console.error(`allocations, ${variant} at ${rate === 0 ? 'flat out' : `${rate}/s`} (${file}):\n  ${(await topAllocators(file, r.acked)).join('\n  ')}`);
      }
      // The loop figures cover the whole sampled span: the run and the short wait after it.
      const spanS = (after.at - before.at) / 1000;
      const peak = (await ask<{ peakRss: number }>(child, 'rss')).peakRss;
      const payload = Math.max(1, r.acked * payloadBytes);
      const writes = after.writeBytes - before.writeBytes;
      const tables = after.tableBytes - before.tableBytes;
      const exported = Math.max(0, after.exportBytes - before.exportBytes);
      rows.push({
        broker: variant,
        run: (rate === 0 ? 'flat out' : `${rate}/s`) + (nagle ? ' nagle' : ''),
        load1: loadavg()[0]!,
        msgsPerSec: r.msgsPerSec,
        acked: r.acked,
        p50: r.latencyMs.p50,
        p99: r.latencyMs.p99,
        commitsPerSec: ((after.commits - before.commits) * 1000) / r.elapsedMs,
        recordsPerCommit: after.commits > before.commits ? r.acked / (after.commits - before.commits) : 0,
        commitMs: after.commits > before.commits ? ((after.commitSeconds - before.commitSeconds) * 1000) / (after.commits - before.commits) : 0,
        commitP99Ms: bucketQuantile(before.commitBuckets, after.commitBuckets, after.commits - before.commits, 0.99) * 1000,
        ...(delay !== undefined ? { commitDelayMs: delay } : {}),
        cpuUsPerMsg: (after.cpuUs - before.cpuUs) / Math.max(1, r.acked),
        sysUsPerMsg: (after.sysUs - before.sysUs) / Math.max(1, r.acked),
        writePerPayload: writes / payload,
        logPerPayload: Math.max(0, writes - tables - exported) / payload,
        tablesPerPayload: tables / payload,
        exportPerPayload: exported / payload,
        peakRssMiB: peak / MiB,
        mainWaitMsPerS: (after.loop.mainWaitMs - before.loop.mainWaitMs) / spanS,
        gcMsPerS: (after.loop.gcMs - before.loop.gcMs) / spanS,
        gcMaxMs: after.loop.gcMaxMs,
        loopP99Ms: after.loop.loopP99Ms,
        loopMaxMs: after.loop.loopMaxMs,
      });
    }
    if (runs.length > 0 && Number(process.env.BENCH_SETTLE_S ?? 40) > 0)
      idle.at(-1)!.afterRuns = (await ask<{ settled: { rss: number; waitedS: number } }>(child, 'settle')).settled;
    child.send('exit');
    await once(child, 'exit');
  }
  if (delays) printFrontier(rows, seconds);
  else print(rows, idle, seconds, disk);
  // The in-process gateway above runs tsc's modules; the CLI runs dist/bundle (cli-idle.ts).
  // BENCH_CLI_IDLE=0: skip (two starts of the CLI, up to BENCH_SETTLE_S each).
  const cli = !delays && variants.includes('gateway') && process.env.BENCH_CLI_IDLE !== '0' ? [await cliIdle('bundle'), await cliIdle('modules')] : [];
  if (cli.length > 0) process.stdout.write(formatCliIdle(cli));
  const bare5 = rows.find((r) => r.broker === 'bare' && r.run === '5000/s');
  const floor = disk ? latencyFloor(disk, bare5?.p50 ?? 0) : undefined;
  const diskJson = disk
    ? { fsyncP50: quantile(disk.syncMs, 0.5), fsyncP99: quantile(disk.syncMs, 0.99), floorP50: floor!.p50, floorP99: floor!.p99 }
    : undefined;
  console.log(
    `BENCH_JSON ${JSON.stringify({ bench: 'pi', rows, cliIdle: cli, idle: idle.map((i) => ({ broker: i.broker, rssMiB: idleRss(i.phases) / MiB, idleCpuMsPerS: i.idleCpuMsPerS, ...(i.afterRuns ? { afterRunsRssMiB: i.afterRuns.rss / MiB, afterRunsWaitedS: i.afterRuns.waitedS } : {}) })), ...(diskJson ? { disk: diskJson } : {}) })}`,
  );
}

/**
 * Quantile q of the observations made between two bucket snapshots (prom-client counts each
 * observation in its own bucket only), as the upper bound of the bucket holding it.
 */
function bucketQuantile(before: Record<string, number>, after: Record<string, number>, count: number, q: number): number {
  if (count <= 0) return 0;
  const bounds = Object.keys(after)
    .map(Number)
    .sort((a, b) => a - b);
  let seen = 0;
  for (const le of bounds) {
    seen += (after[String(le)] ?? 0) - (before[String(le)] ?? 0);
    if (seen >= q * count) return le;
  }
  return Infinity;
}

/** What bin/gatehouse.js's #! line starts the gateway with. */
const shipped = shippedLauncher();

/** The V8 flags bin/gatehouse.js starts the gateway with; BENCH_NODE_FLAGS='--a --b' tries others. */
function gatewayNodeFlags(): string[] {
  if (process.env.BENCH_NODE_FLAGS !== undefined) return process.env.BENCH_NODE_FLAGS.split(/\s+/).filter(Boolean);
  return shipped.nodeFlags;
}

if (process.argv[2] === 'serve') await serve(process.argv[3] as Variant);
else await main();
