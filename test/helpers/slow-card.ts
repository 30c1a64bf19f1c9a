// A stand-in for a slow SD card: test/helpers/slow-card.c, an LD_PRELOAD shim that delays every
// fsync/fdatasync of the process it is loaded into, then calls the real one (the durability is
// real). There is no SD card here and no device-mapper (dm-delay) in the container, so this is the
// closest honest thing: it slows the flushes, what a worn or busy card is slow at, and nothing else
// (writes to the page cache and reads stay fast). Compiled with gcc at test/bench time, as the
// firmware page's C reference is (test/integration/docs-firmware-c.test.ts).
//
// Also here: a fleet of QoS 1 publishers that remembers which (device, seq) got a PUBACK, and a
// reader of the default file exporter's files, to check that every acknowledged message is stored.
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import mqtt, { type MqttClient } from 'mqtt';
import { needBinary, repoRoot } from './index.js';

const run = promisify(execFile);

/** Why a slow-card test or bench cannot run here (undefined: it can). */
export const slowCardSkip: string | undefined = needBinary('gcc', 'gcc');

/** Compile the shim into `dir`; resolves with the .so's path. */
export async function buildSlowCard(dir: string): Promise<string> {
  const so = join(dir, 'slow-card.so');
  const src = join(repoRoot, 'test', 'helpers', 'slow-card.c');
  await run('gcc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-O2', '-o', so, src, '-ldl', '-lpthread']);
  return so;
}

export interface SlowCardProfile {
  /** Every flush takes this long (ms). */
  baseMs?: number;
  /** A spike adds this (ms)... */
  spikeMs?: number;
  /** ...to one flush in this many, on average. */
  spikeEvery?: number;
  seed?: number;
  /** While this file exists every flush waits (a stall). */
  stallFile?: string;
  /** The shim writes "<flushes> <ms delayed>" there after each flush. */
  countFile?: string;
}

/** The environment that loads the shim with `profile` into a child process. */
export function slowCardEnv(so: string, p: SlowCardProfile): Record<string, string> {
  const env: Record<string, string> = { LD_PRELOAD: so };
  if (p.baseMs !== undefined) env.GH_SLOWCARD_BASE_MS = String(p.baseMs);
  if (p.spikeMs !== undefined) env.GH_SLOWCARD_SPIKE_MS = String(p.spikeMs);
  if (p.spikeEvery !== undefined) env.GH_SLOWCARD_SPIKE_EVERY = String(p.spikeEvery);
  if (p.seed !== undefined) env.GH_SLOWCARD_SEED = String(p.seed);
  if (p.stallFile !== undefined) env.GH_SLOWCARD_STALL_FILE = p.stallFile;
  if (p.countFile !== undefined) env.GH_SLOWCARD_COUNT_FILE = p.countFile;
  return env;
}

/** The shim's count file: flushes made and ms they were delayed in all (zeros before the first). */
export async function readFlushCount(file: string): Promise<{ flushes: number; delayedMs: number }> {
  const text = await readFile(file, 'utf8').catch(() => '0 0');
  const [f, d] = text.trim().split(' ');
  return { flushes: Number(f) || 0, delayedMs: Number(d) || 0 };
}

/** Fixed-bucket latency record (1 ms buckets up to 60 s): no growth per sample. */
export class Latencies {
  private readonly buckets = new Uint32Array(60_001);
  n = 0;
  max = 0;
  record(ms: number): void {
    this.n++;
    if (ms > this.max) this.max = ms;
    this.buckets[Math.min(60_000, Math.floor(ms))]!++;
  }
  quantile(q: number): number {
    let seen = 0;
    const target = Math.ceil(q * this.n);
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= target && this.n > 0) return i + 1;
    }
    return this.max;
  }
}

export interface AckedFleet {
  /** Publishes made, PUBACKs received, publishes answered with an error. */
  sent: number;
  acked: number;
  errors: number;
  /** Connections that closed while the fleet ran (the broker's doing, or a keepalive timeout). */
  closes: number;
  /** The errors the clients emitted (e.g. mqtt.js' 'Keepalive timeout': the device gave up), by message. */
  clientErrors: Map<string, number>;
  /** Per device, the seqs that got a PUBACK. */
  ackedSeqs: Map<string, Set<number>>;
  latency: Latencies;
  /** Publishes not yet acknowledged, now. */
  outstanding(): number;
  /** Stop publishing; resolves once every publish is answered or `drainMs` passed. */
  stop(drainMs?: number): Promise<void>;
}

/**
 * `devices` QoS 1 publishers, `rate` msgs/s in all, each a real mqtt.js client on its own
 * connection (`keepalive` s, 10 by default: a connection closed during a stall, by the broker or by
 * the device for a PINGREQ unanswered, shows in `closes`). A device keeps at most `window` publishes unanswered (a device's buffer), as a real one
 * would: past it the offered messages are not sent (counted in `sent` only when sent).
 * Payload {"seq":n}, topic `fleet/<device>/t`.
 */
export async function startAckedFleet(url: string, devices: number, rate: number, window = 1000, keepalive = 10, prefix = 'card'): Promise<AckedFleet> {
  const clients: MqttClient[] = [];
  const fleet: AckedFleet = {
    sent: 0,
    acked: 0,
    errors: 0,
    closes: 0,
    clientErrors: new Map(),
    ackedSeqs: new Map(),
    latency: new Latencies(),
    outstanding: () => inflight.reduce((a, b) => a + b, 0),
    stop: async () => undefined,
  };
  const inflight: number[] = [];
  let running = true;
  for (let i = 0; i < devices; i++) {
    const device = `${prefix}-${i}`;
    const c = await mqtt.connectAsync(url, { clientId: device, reconnectPeriod: 0, keepalive, clean: true });
    (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    c.on('error', (err) => fleet.clientErrors.set(err.message, (fleet.clientErrors.get(err.message) ?? 0) + 1));
    c.on('close', () => {
      if (running) fleet.closes++;
    });
    clients.push(c);
    inflight.push(0);
    fleet.ackedSeqs.set(device, new Set());
  }
  const start = performance.now();
  const perDevice = rate / devices;
  const seqs = new Array<number>(devices).fill(0);
  const tick = setInterval(() => {
    const due = Math.floor(((performance.now() - start) * perDevice) / 1000);
    for (let i = 0; i < devices; i++) {
      const c = clients[i]!;
      const device = `${prefix}-${i}`;
      const acked = fleet.ackedSeqs.get(device)!;
      while (seqs[i]! < due) {
        const seq = seqs[i]!++;
        if (inflight[i]! >= window || !c.connected) continue; // the device's buffer is full: offered, not sent
        inflight[i]!++;
        fleet.sent++;
        const t0 = performance.now();
        c.publish(`fleet/${device}/t`, `{"seq":${seq}}`, { qos: 1 }, (err) => {
          inflight[i]!--;
          if (err) fleet.errors++;
          else {
            fleet.acked++;
            acked.add(seq);
            fleet.latency.record(performance.now() - t0);
          }
        });
      }
    }
  }, 5);
  fleet.stop = async (drainMs = 30_000) => {
    clearInterval(tick);
    const until = performance.now() + drainMs;
    while (fleet.outstanding() > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
    running = false;
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  };
  return fleet;
}

/** Every (device, seq) in the default file exporter's files under `exportDir` (gzip'd NDJSON). */
export async function exportedSeqs(exportDir: string): Promise<Map<string, Set<number>>> {
  const out = new Map<string, Set<number>>();
  const files = (await readdir(exportDir, { recursive: true })).filter((f) => f.endsWith('.ndjson.gz'));
  for (const f of files) {
    const text = gunzipSync(await readFile(join(exportDir, f)), { finishFlush: 2 /* Z_SYNC_FLUSH: a file cut short reads to its last flush */ }).toString();
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const r = JSON.parse(line) as { topic: string; payload: { seq: number } };
      const device = r.topic.split('/')[1]!;
      let s = out.get(device);
      if (!s) out.set(device, (s = new Set()));
      s.add(r.payload.seq);
    }
  }
  return out;
}

/** The acknowledged messages missing from `stored`, as "device:seq" (at most `limit` named). */
export function missingAcked(acked: Map<string, Set<number>>, stored: Map<string, Set<number>>, limit = 20): { count: number; some: string[] } {
  let count = 0;
  const some: string[] = [];
  for (const [device, seqs] of acked) {
    const got = stored.get(device);
    for (const seq of seqs) {
      if (got?.has(seq)) continue;
      count++;
      if (some.length < limit) some.push(`${device}:${seq}`);
    }
  }
  return { count, some };
}
