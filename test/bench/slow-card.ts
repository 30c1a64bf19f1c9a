// A slow SD card under a fleet of QoS 1 publishers (round 33). The card is a stand-in: an LD_PRELOAD
// shim (test/helpers/slow-card.c) that delays every fsync/fdatasync of the gateway, then calls the
// real one. No SD card, and no device-mapper (dm-delay), exists here; the shim slows exactly what a
// worn or busy card is slow at, the flushes, so what is acknowledged is still on disk.
//
// The gateway runs as installed (bin/gatehouse.js's #! line: test/bench/launcher.ts) with the
// default configuration (archive rule, durability fsync, the default file exporter), under 10
// publishers (real mqtt.js clients, keepalive 10 s, each keeping at most 1,000 publishes
// unanswered, as a device's buffer would) at each rate, for each card:
//   fast     no delay (the shim loaded, this VM's disk: ~0.5 ms a flush), the baseline
//   steady   every flush 20 ms
//   spikes   8 ms, and 600 ms more on one flush in 50 (seeded)
//   stall    2 ms, and once, 20 s in, every flush held for 5 s
// Printed per run: msgs/s acknowledged vs offered, PUBACK p50/p99/max, flushes and their delay,
// the gateway's peak RSS, the event loop's worst delay (its own histogram, scraped each second),
// the worst /healthz answer time and what it said while flushes were slow, client disconnects, the
// exporter's backlog at the end, and, after the export caught up, the acknowledged messages missing
// from the export files (must be 0). No timed assertions: figures for docs/benchmarks.md.
//
// Run: node dist/test/bench/slow-card.js [seconds per run, default 60]
//      BENCH_CARDS=fast,steady,spikes,stall  BENCH_RATES=500,5000  BENCH_STALL_S=5 (the stall's length)
//      BENCH_WINDOW=1000 (publishes a device keeps unanswered: a larger one asks whether anything in the
//        gateway grows with a backlog of unacknowledged publishes)
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import {
  buildSlowCard,
  exportedSeqs,
  missingAcked,
  readFlushCount,
  slowCardEnv,
  slowCardSkip,
  startAckedFleet,
  type SlowCardProfile,
} from '../helpers/slow-card.js';
import { shippedBin, shippedLauncher } from './launcher.js';

const run = promisify(execFile);
const seconds = Number(process.argv[2] ?? 60);
const CARDS: Record<string, (dir: string) => SlowCardProfile> = {
  fast: () => ({}), // the shim loaded, no delay: this disk as it is (the baseline)
  steady: () => ({ baseMs: 20 }),
  spikes: () => ({ baseMs: 8, spikeMs: 600, spikeEvery: 50, seed: 33 }),
  stall: (dir) => ({ baseMs: 2, stallFile: join(dir, 'stall') }),
};
const cards = (process.env.BENCH_CARDS ?? 'fast,steady,spikes,stall').split(',');
const rates = (process.env.BENCH_RATES ?? '500,5000').split(',').map(Number);
const stallMs = Number(process.env.BENCH_STALL_S ?? 5) * 1000;
const deviceWindow = Number(process.env.BENCH_WINDOW ?? 1000);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

/** The sum of a metric's series in a /metrics text whose labels include `labels` (e.g. 'stream="archive"'). */
function metric(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    if (labels && !line.slice(name.length, line.lastIndexOf(' ')).includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

interface Watch {
  rssPeak: number;
  loopMaxMs: number;
  healthMaxMs: number;
  healthFailures: number;
  healthSeen: Set<string>;
  stop(): Promise<void>;
}

/** Samples RSS (250 ms), /healthz (its answer time and status, 250 ms) and the event loop's max delay (/metrics, 1 s). */
function watch(gw: GatewayProcess): Watch {
  const w: Watch = { rssPeak: 0, loopMaxMs: 0, healthMaxMs: 0, healthFailures: 0, healthSeen: new Set(), stop: async () => undefined };
  let on = true;
  const loops = (async () => {
    let i = 0;
    while (on) {
      w.rssPeak = Math.max(w.rssPeak, await rssOf(gw.proc.pid!));
      const t0 = performance.now();
      try {
        const res = await fetch(`${gw.adminUrl}/healthz`, { signal: AbortSignal.timeout(10_000) });
        const body = (await res.json()) as { status?: string; store?: { condition?: string } };
        w.healthSeen.add(`${res.status} ${body.status}${body.store?.condition ? `/${body.store.condition}` : ''}`);
      } catch {
        w.healthFailures++;
      }
      w.healthMaxMs = Math.max(w.healthMaxMs, performance.now() - t0);
      if (i++ % 4 === 0) {
        const text = await (await fetch(`${gw.adminUrl}/metrics`)).text().catch(() => '');
        w.loopMaxMs = Math.max(w.loopMaxMs, metric(text, 'gatehouse_nodejs_eventloop_lag_max_seconds') * 1000);
      }
      await sleep(250);
    }
  })();
  w.stop = async () => {
    on = false;
    await loops;
  };
  return w;
}

async function oneRun(so: string, card: string, rate: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-slow-card-'));
  try {
    const profile = { ...CARDS[card]!(dir), countFile: join(dir, 'flushes') };
    const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n`);
    const launcher = shippedLauncher();
    const gw = await startGatewayProcess(config, [], 30_000, launcher.nodeFlags, { ...launcher.env, ...slowCardEnv(so, profile) });
    try {
      const fleet = await startAckedFleet(gw.mqttUrl, 10, rate, deviceWindow);
      const w = watch(gw);
      const t0 = performance.now();
      let statusDuringStall = '';
      if (profile.stallFile) {
        await sleep(Math.min(20_000, (seconds * 1000) / 3));
        await writeFile(profile.stallFile, '');
        const statusAt = Math.max(2_000, stallMs - 2_000);
        await sleep(statusAt);
        // `gatehouse status` 2 s before the stall ends: does it answer, what does it say?
        const s0 = performance.now();
        const out = await run(process.execPath, [shippedBin, 'status', '--admin', gw.adminUrl], { timeout: 20_000 }).catch(
          (e: { stdout?: string; code?: number }) => ({
            stdout: `${e.stdout ?? ''} (exit ${e.code})`,
          }),
        );
        statusDuringStall = `${(performance.now() - s0).toFixed(0)} ms: ${out.stdout.split('\n').slice(0, 2).join(' | ')}`;
        await sleep(Math.max(0, stallMs - (performance.now() - s0) - statusAt));
        await rm(profile.stallFile, { force: true });
      }
      await sleep(Math.max(0, seconds * 1000 - (performance.now() - t0)));
      const offered = Math.round((rate * (performance.now() - t0)) / 1000);
      await fleet.stop();
      const elapsed = (performance.now() - t0) / 1000;
      // The export catches up, then the gateway stops: every acknowledged message must be in the files.
      const c0 = performance.now();
      let backlog = Number.NaN;
      while (performance.now() - c0 < 120_000) {
        const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
        backlog = metric(text, 'gatehouse_stream_backlog_records', 'stream="archive"');
        if (backlog === 0) break;
        await sleep(250);
      }
      const catchUp = (performance.now() - c0) / 1000;
      await w.stop();
      const flushes = await readFlushCount(profile.countFile);
      await gw.stop();
      const missing = missingAcked(fleet.ackedSeqs, await exportedSeqs(join(dir, 'data', 'export')));
      const l = fleet.latency;
      console.log(
        [
          card.padEnd(7),
          String(rate).padStart(5),
          `${Math.round(fleet.acked / elapsed)}/${Math.round(offered / elapsed)} msgs/s`,
          `sent ${fleet.sent}/${offered}`,
          `PUBACK p50/p99/max ${l.quantile(0.5)}/${l.quantile(0.99)}/${l.max.toFixed(0)} ms`,
          `flushes ${flushes.flushes} (${(flushes.delayedMs / 1000).toFixed(1)} s waited in all)`,
          `RSS peak ${(w.rssPeak / 2 ** 20).toFixed(0)} MiB`,
          `loop max ${w.loopMaxMs.toFixed(0)} ms`,
          `healthz max ${w.healthMaxMs.toFixed(0)} ms, ${w.healthFailures} failed, said ${[...w.healthSeen].join(', ')}`,
          `closes ${fleet.closes}, errors ${fleet.errors}`,
          `export caught up in ${catchUp.toFixed(1)} s (backlog ${backlog})`,
          `acked missing ${missing.count}${missing.some.length ? ` (${missing.some.join(' ')})` : ''}`,
          ...(statusDuringStall ? [`status during the stall: ${statusDuringStall}`] : []),
          `load ${loadavg()[0]!.toFixed(1)}`,
        ].join(' | '),
      );
    } finally {
      await gw.kill9();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (slowCardSkip) {
  console.log(`skipped: ${slowCardSkip}`);
} else {
  const buildDir = await mkdtemp(join(tmpdir(), 'gatehouse-slow-card-so-'));
  try {
    const so = await buildSlowCard(buildDir);
    console.log(`slow card (LD_PRELOAD shim, a stand-in for an SD card), ${seconds} s per run, node ${process.version}`);
    for (const card of cards) for (const rate of rates) await oneRun(so, card, rate);
  } finally {
    await rm(buildDir, { recursive: true, force: true });
  }
}
