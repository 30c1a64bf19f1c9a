// Low-memory bench: the gateway as installed (bin/gatehouse.js's #! line: MALLOC_MMAP_THRESHOLD_,
// --max-semi-space-size=8) run inside a cgroup v1 memory limit, as on a 512 MB Raspberry Pi shared
// with the user's own apps or under a systemd MemoryMax=. For each limit and each load it prints
// whether the gateway stayed up or was OOM-killed (and restarted, as systemd's Restart=on-failure
// would: 1 s later here, 5 s under the unit), the cgroup's peak charge and the process's peak RSS,
// the acknowledged rate and PUBACK p99, the catch-up speed after an outage, and whether every
// PUBACKed message reached the upstream (an HTTP destination speaking the Firehose protocol,
// test/helpers/firehose-receiver.ts). Nothing is asserted: a benchmark (not in CI, minutes long).
// Needs a writable cgroup v1 memory controller (test/helpers/cgroup.ts says why not otherwise).
//
// Loads (LOWMEM_LOADS, comma-separated; each on a fresh data dir):
//   idle      the default configuration with the HTTP exporter, no traffic
//   steady    5,000 msgs/s QoS 1, 10 publishers, 200-byte JSON
//   flat      the same publishers, flat out (100 unacknowledged each)
//   backlog   upstream down, flat out for the run's seconds, then up: the catch-up reads the store flat out
//   sessions  500 devices with persistent sessions (clean: false) offline, 200 queued QoS 1 each, then back
//   retained  20,000 retained messages of 1 KiB, a subscriber receives them all (500 a SUBSCRIBE), then a restart on them
//   windows   5,000 msgs/s over 5,000 topics into a tumbling window GROUP BY topic() and a hopping one
//
//   npm run build && node dist/test/bench/low-memory.js
//   LOWMEM_LIMITS=96,128,160,256 (MiB)  LOWMEM_LOADS=idle,steady,flat,backlog,sessions,retained,windows
//   LOWMEM_SECONDS=20 (traffic per load)  LOWMEM_NODE_FLAGS='--max-old-space-size=64' (more node flags)
//   LOWMEM_GATEWAY=/other/clone/bin/gatehouse.js (another build: a before/after comparison)
//   LOWMEM_CONFIG="$(cat small.yaml)" (YAML keys added to the gateway's configuration, e.g. README "Small machines")
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt, { type MqttClient } from 'mqtt';
import { makeMemoryCgroup, memoryCgroupUnavailable, spawnInCgroup, type MemoryCgroup } from '../helpers/cgroup.js';
import { startFirehoseReceiver, type FirehoseReceiver } from '../helpers/firehose-receiver.js';
import { freePort } from '../helpers/index.js';
import { launcherOf, shippedBin } from './launcher.js';

const MiB = 1024 * 1024;
const LOADS = ['idle', 'steady', 'flat', 'backlog', 'sessions', 'retained', 'windows'] as const;
type Load = (typeof LOADS)[number];

// ---- the gateway, supervised inside the cgroup ------------------------------------------------

interface Run {
  limitMiB: number;
  load: Load;
  /** OOM kills (the child ended by SIGKILL, confirmed by the cgroup's oom_kill count when the kernel reports it). */
  kills: number;
  /** Other unexpected exits (code or signal). */
  otherExits: string[];
  peakChargeMiB: number;
  peakRssMiB: number;
  peakAnonMiB: number;
  failcnt: number;
  /** The start log's memory settings line (heap limit), when the build logs one. */
  heapLimitMiB: number | undefined;
  ackedPerS: number;
  p99Ms: number;
  catchUpPerS: number | undefined;
  acked: number;
  lost: number;
  note: string;
}

class Gateway {
  child: ChildProcess | undefined;
  kills = 0;
  otherExits: string[] = [];
  peakRss = 0;
  /** The highest RssAnon sampled: memory no reclaim gives back without swap (RSS less node's mapped files). */
  peakAnon = 0;
  heapLimitMiB: number | undefined;
  private stopping = false;
  private lastLines: string[] = [];
  private restarting: Promise<void> | undefined;

  constructor(
    private readonly cg: MemoryCgroup,
    private readonly bin: string,
    private readonly config: string,
    readonly mqttPort: number,
    private readonly adminPort: number,
  ) {}

  async start(): Promise<void> {
    const launcher = launcherOf(this.bin);
    const extra = (process.env.LOWMEM_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
    const child = spawnInCgroup(
      this.cg,
      process.execPath,
      [
        ...launcher.nodeFlags,
        ...extra,
        this.bin,
        'start',
        '--config',
        this.config,
        '--mqtt-port',
        String(this.mqttPort),
        '--admin-port',
        String(this.adminPort),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '', ...launcher.env } },
    );
    this.child = child;
    const started = new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        this.lastLines.push(line);
        if (this.lastLines.length > 20) this.lastLines.shift();
        if (line.includes('"heapLimitMiB"')) {
          const m = /"heapLimitMiB":(\d+)/.exec(line);
          if (m) this.heapLimitMiB = Number(m[1]);
        }
        if (line.includes('"gatehouse started"')) resolve();
      });
      child.stderr!.on('data', (d: Buffer) => this.lastLines.push(`stderr: ${d.toString().trim()}`));
      child.once('exit', (code, signal) => reject(new Error(`exited (${String(code ?? signal)}) before starting: ${this.lastLines.join('\n')}`)));
    });
    child.once('exit', (code, signal) => {
      if (this.stopping) return;
      if (signal === 'SIGKILL') this.kills++;
      else this.otherExits.push(String(code ?? signal));
      // systemd's Restart=on-failure (RestartSec=5 in the unit; 1 s here to see a crash loop in a short run)
      this.restarting = new Promise<void>((r) => setTimeout(r, 1000)).then(() => (this.stopping ? undefined : this.start().catch(() => undefined)));
    });
    await Promise.race([
      started,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no start within 90 s: ${this.lastLines.join('\n')}`)), 90_000)),
    ]);
  }

  /** VmHWM of the running child (its peak RSS), read while it lives (a killed process takes it along). */
  async sample(): Promise<void> {
    const pid = this.child?.pid;
    if (!pid) return;
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
      if (m) this.peakRss = Math.max(this.peakRss, Number(m[1]) * 1024);
      const a = /^RssAnon:\s+(\d+) kB/m.exec(status);
      if (a) this.peakAnon = Math.max(this.peakAnon, Number(a[1]) * 1024);
    } catch {
      // it exited
    }
  }

  /** A clean stop and a start again on the same data dir: the new process's peak RSS and anon (MiB) once started, and a second after. */
  async restart(): Promise<{ rssMiB: number; anonMiB: number }> {
    await this.stop();
    this.stopping = false;
    const [rss, anon] = [this.peakRss, this.peakAnon];
    this.peakRss = 0;
    this.peakAnon = 0;
    await this.start();
    await new Promise((r) => setTimeout(r, 1000));
    await this.sample();
    const out = { rssMiB: this.peakRss / MiB, anonMiB: this.peakAnon / MiB };
    this.peakRss = Math.max(rss, this.peakRss);
    this.peakAnon = Math.max(anon, this.peakAnon);
    return out;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.restarting;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
}

// ---- devices ------------------------------------------------------------------------------------

/** Publishers whose every PUBACKed message is remembered (device d, sequence s) with its latency. */
class Fleet {
  readonly clients: MqttClient[] = [];
  readonly acked = new Set<number>();
  readonly latencies: number[] = [];
  private seq: number[] = [];
  private outstanding: number[] = [];

  static async connect(url: string, n: number, base: number): Promise<Fleet> {
    const f = new Fleet();
    for (let i = 0; i < n; i++) {
      const c = await connectRetry(url, { clientId: `lowmem-pub-${base + i}` });
      f.clients.push(c);
      f.seq.push(0);
      f.outstanding.push(0);
    }
    f.base = base;
    return f;
  }

  base = 0;

  publish(i: number, topic: string, bytes: number, retain = false): void {
    const d = this.base + i;
    const s = ++this.seq[i]!;
    const head = `{"d":${d},"s":${s},"v":${(s % 97) / 7},"pad":"`;
    const payload = `${head}${'x'.repeat(Math.max(0, bytes - head.length - 2))}"}`;
    const t0 = performance.now();
    this.outstanding[i]!++;
    this.clients[i]!.publish(topic, payload, { qos: 1, retain }, (err) => {
      this.outstanding[i]!--;
      if (err) return;
      this.acked.add(d * 10_000_000 + s);
      this.latencies.push(performance.now() - t0);
    });
  }

  /** `rate` msgs/s in all for `ms`, 200-byte payloads, on `topic(i, n)`; a client with 2,000 unacknowledged skips its turn. */
  async atRate(rate: number, ms: number, topic: (client: number, n: number) => string): Promise<void> {
    const tickMs = 10;
    const perTick = rate / (1000 / tickMs);
    let owed = 0;
    let n = 0;
    const end = performance.now() + ms;
    const startAt = performance.now();
    while (performance.now() < end) {
      const due = ((performance.now() - startAt) / tickMs) * perTick;
      owed = due - n;
      for (; owed >= 1; owed--, n++) {
        const i = n % this.clients.length;
        if (this.outstanding[i]! < 2000) this.publish(i, topic(i, n), 200);
      }
      await new Promise((r) => setTimeout(r, tickMs));
    }
  }

  /** Flat out: each client keeps `window` publishes unacknowledged, for `ms`. */
  async flatOut(window: number, ms: number, topic: (client: number, n: number) => string): Promise<void> {
    const end = performance.now() + ms;
    let n = 0;
    while (performance.now() < end) {
      for (let i = 0; i < this.clients.length; i++) while (this.outstanding[i]! < window) this.publish(i, topic(i, n++), 200);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Wait (up to `ms`) until nothing is unacknowledged. */
  async settle(ms: number): Promise<void> {
    const end = performance.now() + ms;
    while (this.outstanding.some((o) => o > 0) && performance.now() < end) await new Promise((r) => setTimeout(r, 50));
  }

  p99(): number {
    if (this.latencies.length === 0) return Number.NaN;
    const s = Float64Array.from(this.latencies).sort();
    return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
  }

  async end(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.endAsync(true).catch(() => undefined)));
  }
}

/** A client connected (a gateway being restarted after an OOM kill is waited for, up to 90 s). */
async function connectRetry(url: string, opts: mqtt.IClientOptions): Promise<MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 500, connectTimeout: 10_000, ...opts });
  c.on('error', () => undefined);
  await Promise.race([
    new Promise<void>((resolve) => c.once('connect', () => resolve())),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${String(opts.clientId)}: no connection within 90 s`)), 90_000)),
  ]).catch((err: unknown) => {
    c.end(true);
    throw err;
  });
  return c;
}

/** Keys (d, s) of every record the receiver accepted. */
function collect(rx: FirehoseReceiver): Set<number> {
  const got = new Set<number>();
  rx.on('request', (r: { status: number; records: Buffer[] }) => {
    if (r.status !== 200) return;
    for (const b of r.records) {
      try {
        // the http destination sends each record's payload as its data
        const p = JSON.parse(b.toString('utf8')) as { d?: number; s?: number };
        if (typeof p.d === 'number' && typeof p.s === 'number') got.add(p.d * 10_000_000 + p.s);
      } catch {
        // not one of ours
      }
    }
  });
  return got;
}

async function waitDelivered(acked: Set<number>, got: Set<number>, ms: number): Promise<number> {
  const end = performance.now() + ms;
  for (;;) {
    let missing = 0;
    for (const k of acked) if (!got.has(k)) missing++;
    if (missing === 0 || performance.now() > end) return missing;
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ---- one run --------------------------------------------------------------------------------------

async function runOne(limitMiB: number, load: Load, seconds: number, bin: string): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-lowmem-'));
  const cg = makeMemoryCgroup(`gatehouse-lowmem-${process.pid}-${limitMiB}-${load}`, limitMiB * MiB);
  const rx = await startFirehoseReceiver({ recordRequests: false });
  const got = collect(rx);
  const mqttPort = await freePort();
  const adminPort = await freePort();
  const rules =
    load === 'windows'
      ? `version: 1
rules:
  - name: archive
    sql: "SELECT * FROM '#'"
    actions: [{ stream: { name: archive } }]
  - name: per_topic
    sql: "SELECT topic(2) AS dev, count(*) AS n, avg(v) AS mean FROM 'w/+/data' GROUP BY topic(), TUMBLINGWINDOW(ss, 10)"
    actions: [{ republish: { topic: 'out/\${dev}', qos: 0 } }]
  - name: hopping
    sql: "SELECT topic(2) AS dev, max(v) AS hi FROM 'w/+/data' GROUP BY topic(), HOPPINGWINDOW(ss, 30, 10)"
    actions: [{ republish: { topic: 'hop/\${dev}', qos: 0 } }]
`
      : undefined;
  if (rules) await writeFile(join(dir, 'rules.yaml'), rules);
  const config = join(dir, 'gatehouse.yaml');
  await writeFile(
    config,
    [
      `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
      ...(rules ? ['rulesFile: rules.yaml'] : []),
      'exporters:',
      `  - { name: up, stream: archive, destination: { type: http, url: ${JSON.stringify(rx.url)}, timeoutMs: 5000 } }`,
      ...(process.env.LOWMEM_CONFIG ? [process.env.LOWMEM_CONFIG] : []),
      '',
    ].join('\n'),
  );
  const gw = new Gateway(cg, bin, config, mqttPort, adminPort);
  // Ctrl-C: the gateway child ends and the cgroup goes with the bench
  const abort = (): void => {
    gw.child?.kill('SIGKILL');
    setTimeout(() => {
      try {
        cg.remove();
      } finally {
        process.exit(130);
      }
    }, 500);
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  const run: Run = {
    limitMiB,
    load,
    kills: 0,
    otherExits: [],
    peakChargeMiB: 0,
    peakRssMiB: 0,
    peakAnonMiB: 0,
    failcnt: 0,
    heapLimitMiB: undefined,
    ackedPerS: 0,
    p99Ms: Number.NaN,
    catchUpPerS: undefined,
    acked: 0,
    lost: 0,
    note: '',
  };
  const sampler = setInterval(() => void gw.sample(), 200);
  const url = `mqtt://127.0.0.1:${mqttPort}`;
  const ms = seconds * 1000;
  let fleet: Fleet | undefined;
  try {
    try {
      await gw.start();
    } catch (err) {
      run.note = `did not start: ${String((err as Error).message).split('\n')[0]}`;
      return run;
    }
    const t0 = performance.now();
    try {
      switch (load) {
        case 'idle':
          await new Promise((r) => setTimeout(r, Math.min(ms, 20_000)));
          break;
        case 'steady':
          fleet = await Fleet.connect(url, 10, 0);
          await fleet.atRate(5000, ms, (i) => `dev/${i}/data`);
          break;
        case 'flat':
          fleet = await Fleet.connect(url, 10, 0);
          await fleet.flatOut(100, ms, (i) => `dev/${i}/data`);
          break;
        case 'backlog': {
          await rx.down();
          fleet = await Fleet.connect(url, 10, 0);
          await fleet.flatOut(100, ms, (i) => `dev/${i}/data`);
          await fleet.settle(30_000);
          run.ackedPerS = fleet.acked.size / ((performance.now() - t0) / 1000);
          const backlog = fleet.acked.size;
          const up = performance.now();
          await rx.up();
          const missing = await waitDelivered(fleet.acked, got, 600_000);
          run.catchUpPerS = (backlog - missing) / ((performance.now() - up) / 1000);
          break;
        }
        case 'sessions': {
          const devices = 500;
          const queued = 200;
          for (let i = 0; i < devices; i++) {
            const c = await connectRetry(url, { clientId: `lowmem-dev-${i}`, clean: false });
            await c.subscribeAsync(`cmd/${i}`, { qos: 1 });
            await c.endAsync();
          }
          fleet = await Fleet.connect(url, 10, 0);
          // 200 QoS 1 commands for each offline device (queued by its session), as fast as acknowledged
          let n = 0;
          const total = devices * queued;
          while (n < total) {
            for (let i = 0; i < fleet.clients.length && n < total; i++) fleet.publish(i, `cmd/${n++ % devices}`, 200);
            if (n % 1000 === 0) await fleet.settle(30_000);
          }
          await fleet.settle(60_000);
          // the devices come back and take their queues
          let delivered = 0;
          const back: MqttClient[] = [];
          for (let i = 0; i < devices; i++) {
            const c = mqtt.connect(url, { clientId: `lowmem-dev-${i}`, clean: false, reconnectPeriod: 1000 });
            c.on('message', () => delivered++);
            c.on('error', () => undefined);
            back.push(c);
          }
          const end = performance.now() + 60_000;
          while (delivered < total && performance.now() < end) await new Promise((r) => setTimeout(r, 250));
          run.note = `${delivered}/${total} queued delivered`;
          await Promise.all(back.map((c) => c.endAsync(true)));
          break;
        }
        case 'retained': {
          fleet = await Fleet.connect(url, 10, 0);
          let n = 0;
          while (n < 20_000) {
            for (let i = 0; i < fleet.clients.length; i++) {
              const k = n++;
              fleet.publish(i, `ret/${k % 40}/${k}`, 1024, true);
            }
            if (n % 500 === 0) await fleet.settle(30_000);
          }
          await fleet.settle(60_000);
          const sub = await connectRetry(url, { clientId: 'lowmem-ret-sub' });
          let seen = 0;
          sub.on('message', () => seen++);
          // 500 at a time: a SUBSCRIBE whose retained messages pass broker.outbound.maxQueueMessages (1,000)
          // at once gets the subscriber disconnected as a slow one, at each try
          const end = performance.now() + 90_000;
          for (let g = 0; g < 40 && performance.now() < end; g++) {
            await sub.subscribeAsync(`ret/${g}/#`, { qos: 1 });
            // until its retained messages stop coming (fewer than 500 when a bound refused some)
            for (let last = -1; seen !== last && performance.now() < end; ) {
              last = seen;
              await new Promise((r) => setTimeout(r, seen < (g + 1) * 500 ? 1000 : 0));
            }
          }
          run.note = `${seen}/20000 retained received`; // fewer when broker.maxRetained* refused some
          await sub.endAsync(true);
          // a start on the retained set (what a restart after an OOM kill meets)
          if (gw.kills === 0) {
            const again = await gw.restart().catch((err: Error) => ({ error: err.message.split('\n')[0] }));
            run.note +=
              'error' in again
                ? `; restart failed: ${again.error}`
                : `; a start on it: peak RSS ${again.rssMiB.toFixed(0)}, anon ${again.anonMiB.toFixed(0)} MiB`;
          }
          break;
        }
        case 'windows':
          fleet = await Fleet.connect(url, 10, 0);
          await fleet.atRate(5000, ms, (_i, n) => `w/t${n % 5000}/data`);
          break;
      }
    } catch (err) {
      run.note += ` load failed: ${(err as Error).message}`;
    }
    if (fleet) {
      await fleet.settle(30_000);
      if (load !== 'backlog') run.ackedPerS = fleet.acked.size / ((performance.now() - t0) / 1000);
      run.p99Ms = fleet.p99();
      run.acked = fleet.acked.size;
      run.lost = await waitDelivered(fleet.acked, got, 300_000);
    }
  } finally {
    process.off('SIGINT', abort);
    process.off('SIGTERM', abort);
    clearInterval(sampler);
    await gw.sample();
    await fleet?.end();
    await gw.stop();
    const st = cg.stats();
    run.kills = gw.kills;
    run.otherExits = gw.otherExits;
    run.peakChargeMiB = st.maxUsage / MiB;
    run.peakRssMiB = gw.peakRss / MiB;
    run.peakAnonMiB = gw.peakAnon / MiB;
    run.failcnt = st.failcnt;
    run.heapLimitMiB = gw.heapLimitMiB;
    if (st.oomKills >= 0 && st.oomKills !== gw.kills) run.note += ` (cgroup oom_kill ${st.oomKills})`;
    cg.remove();
    await rx.close();
    await rm(dir, { recursive: true, force: true });
  }
  return run;
}

// ---- the table ----------------------------------------------------------------------------------

const f0 = (n: number | undefined): string => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(0));

function row(r: Run): string {
  const outcome =
    r.kills > 0 ? `OOM-killed x${r.kills}` : r.otherExits.length ? `exited ${r.otherExits.join(',')}` : r.note.startsWith('did not start') ? 'no start' : 'up';
  return `| ${r.limitMiB} | ${r.load} | ${outcome} | ${f0(r.peakChargeMiB)} | ${f0(r.peakRssMiB)} | ${f0(r.peakAnonMiB)} | ${f0(r.heapLimitMiB)} | ${r.failcnt} | ${f0(r.ackedPerS)} | ${Number.isNaN(r.p99Ms) ? '-' : r.p99Ms.toFixed(1)} | ${f0(r.catchUpPerS)} | ${r.acked} | ${r.lost} | ${r.note.trim()} |`;
}

async function main(): Promise<void> {
  const why = memoryCgroupUnavailable();
  if (why) {
    console.log(`low-memory bench skipped: ${why}`);
    return;
  }
  const limits = (process.env.LOWMEM_LIMITS ?? '96,128,160,256').split(',').map(Number);
  const loads = (process.env.LOWMEM_LOADS ?? LOADS.join(',')).split(',') as Load[];
  for (const l of loads) if (!LOADS.includes(l)) throw new Error(`LOWMEM_LOADS: unknown load ${l} (${LOADS.join(', ')})`);
  const seconds = Number(process.env.LOWMEM_SECONDS ?? 20);
  const bin = process.env.LOWMEM_GATEWAY ?? shippedBin;
  console.log(
    `low-memory bench: ${bin}, ${seconds} s of traffic per load, node ${process.version}, ${cpus().length} CPUs, load ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  console.log(
    '| limit MiB | load | outcome | peak charge MiB | peak RSS MiB | peak anon MiB | V8 heap limit MiB | failcnt | acked/s | PUBACK p99 ms | catch-up rec/s | PUBACKed | lost | note |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const limit of limits)
    for (const load of loads) {
      const r = await runOne(limit, load, seconds, bin);
      console.log(row(r));
    }
  console.log(
    `load average at the end: ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
}

await main();
