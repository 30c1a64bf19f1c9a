// The PUBACK latency floor this disk sets under `durability: fsync` and a cap on commits per second.
//
// With at most C commits (fsyncs) per second, commits start at least 1/C apart, so a publish
// waits for the next commit to start (uniform over 0..1/C at a steady rate: publishes arrive at
// any moment of the period) and then for that commit's own write + fdatasync. No gateway can
// acknowledge sooner; everything else (parsing, rules, the broker, the event loop) comes on top.
// So the floor of PUBACK latency quantile q is the q-quantile of U(0, 1/C) + F, where F is this
// disk's fdatasync time for a commit-sized append, measured here at that rate, plus the broker's
// own publish-to-PUBACK time without a store (bare aedes' p50, when the caller has it).
//
// LevelDB appends each commit to its log file and calls fdatasync on it (env_posix on Linux);
// the probe does the same on a plain file in the benchmark's data folder.
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface DiskProbe {
  /** fdatasync durations (ms), sorted ascending. */
  syncMs: number[];
  ratePerSec: number;
  commitBytes: number;
}

export interface LatencyFloor {
  p50: number;
  p99: number;
}

/** Append `commitBytes` and fdatasync, `ratePerSec` times a second for `seconds`, in `dir`. */
export async function probeDisk(dir: string, ratePerSec: number, seconds: number, commitBytes: number): Promise<DiskProbe> {
  const file = join(dir, 'fsync-probe.log');
  const fh = await open(file, 'w');
  const buf = Buffer.alloc(commitBytes, 0x61);
  const syncMs: number[] = [];
  const t0 = performance.now();
  const total = Math.round(ratePerSec * seconds);
  try {
    for (let i = 0; i < total; i++) {
      // Paced on the schedule, not after each sync: a slow sync does not lower the offered rate.
      const due = t0 + (i * 1000) / ratePerSec;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      const s = performance.now();
      await fh.write(buf);
      await fh.datasync();
      syncMs.push(performance.now() - s);
    }
  } finally {
    await fh.close();
    await rm(file, { force: true });
  }
  syncMs.sort((a, b) => a - b);
  return { syncMs, ratePerSec, commitBytes };
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/**
 * Quantiles of U(0, period) + F + base, F drawn from the probe's samples: exact CDF (mean over
 * the samples of the uniform's CDF at x - f - base), inverted by bisection.
 */
export function latencyFloor(probe: DiskProbe, baseMs = 0): LatencyFloor {
  const period = 1000 / probe.ratePerSec;
  const f = probe.syncMs;
  const cdf = (x: number): number => {
    let sum = 0;
    for (const s of f) sum += Math.min(1, Math.max(0, (x - s - baseMs) / period));
    return sum / f.length;
  };
  const inverse = (q: number): number => {
    let lo = 0;
    let hi = period + (f.at(-1) ?? 0) + baseMs;
    for (let i = 0; i < 50; i++) {
      const mid = (lo + hi) / 2;
      if (cdf(mid) < q) lo = mid;
      else hi = mid;
    }
    return hi;
  };
  return { p50: inverse(0.5), p99: inverse(0.99) };
}
