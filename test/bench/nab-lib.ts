// In-process NAB scoring for the cross-validation harness (test/bench/nab-cv.ts): the rules of
// ../shared/nab/score.py (probation, scaled sigmoid, first detection per window, profiles,
// normalisation), evaluated on a fixed grid of thresholds at once, so one pass over a file's
// scores gives its raw score at every candidate threshold. score.py stays the reference for the
// published figures (bench:nab); this is for choosing among many variants quickly.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Series {
  /** "<category>/<file>.csv" */
  key: string;
  category: string;
  values: Float64Array;
  /** anomaly windows as [first row, last row] (inclusive) */
  windows: Array<[number, number]>;
}

export const PROFILES = {
  standard: { tp: 1, fn: 1, fp: 0.11 },
  lowFP: { tp: 1, fn: 1, fp: 0.22 },
  lowFN: { tp: 1, fn: 2, fp: 0.11 },
} as const;
export type Profile = keyof typeof PROFILES;
export const PROFILE_NAMES: Profile[] = ['standard', 'lowFP', 'lowFN'];

function sigmoid(y: number): number {
  return y > 3 ? -1 : 2 / (1 + Math.exp(5 * y)) - 1;
}
const MAX_TP = sigmoid(-1);

function parseTs(s: string): number {
  return Date.parse(
    `${s
      .trim()
      .replace(' ', 'T')
      .replace(/(\.\d{3})\d*$/, '$1')}Z`,
  );
}

/** The NAB files under dir/data with their windows (labels/combined_windows.json). */
export async function loadNab(dir: string): Promise<Series[]> {
  const labels = JSON.parse(await readFile(join(dir, 'labels', 'combined_windows.json'), 'utf8')) as Record<string, Array<[string, string]>>;
  const out: Series[] = [];
  for (const cat of (await readdir(join(dir, 'data'))).sort()) {
    for (const file of (await readdir(join(dir, 'data', cat))).filter((f) => f.endsWith('.csv')).sort()) {
      const lines = (await readFile(join(dir, 'data', cat, file), 'utf8'))
        .split('\n')
        .slice(1)
        .filter((l) => l.length > 0);
      const ts = lines.map((l) => parseTs(l.slice(0, l.indexOf(','))));
      const values = Float64Array.from(lines, (l) => Number(l.slice(l.indexOf(',') + 1)));
      const key = `${cat}/${file}`;
      const windows: Array<[number, number]> = [];
      for (const [a, b] of labels[key] ?? []) {
        const ta = parseTs(a);
        const tb = parseTs(b);
        let s = -1;
        let e = -1;
        for (let i = 0; i < ts.length; i++) {
          if (ts[i]! >= ta && ts[i]! <= tb) {
            if (s < 0) s = i;
            e = i;
          }
        }
        if (s >= 0) windows.push([s, e]);
      }
      out.push({ key, category: cat, values, windows });
    }
  }
  return out;
}

export function probation(n: number): number {
  return Math.floor(Math.min(Math.floor(0.15 * n), 750));
}

/** Threshold grid: fine around the alarm level, coarser above; ascending. */
export function thresholdGrid(extra: number[] = []): Float64Array {
  const g: number[] = [...extra];
  for (let t = 0.5; t < 6; t += 0.05) g.push(Math.round(t * 1000) / 1000);
  for (let t = 6; t <= 20; t += 0.5) g.push(t);
  return Float64Array.from(new Set(g)).sort();
}

/** Per-row unit values (score.py's FileInfo): window index or -1, unit value if detected. */
export interface Prepared {
  series: Series;
  probation: number;
  win: Int32Array;
  unit: Float64Array;
}

export function prepare(series: Series): Prepared {
  const n = series.values.length;
  const win = new Int32Array(n).fill(-1);
  const unit = new Float64Array(n);
  series.windows.forEach(([s, e], w) => {
    const len = e - s + 1;
    for (let i = s; i <= e; i++) {
      win[i] = w;
      unit[i] = sigmoid(-(e - i + 1) / len) / MAX_TP;
    }
  });
  const sorted = [...series.windows].sort((a, b) => a[0] - b[0]);
  let wi = 0;
  let prev: [number, number] | undefined;
  for (let i = 0; i < n; i++) {
    while (wi < sorted.length && sorted[wi]![1] < i) {
      prev = [sorted[wi]![1], sorted[wi]![1] - sorted[wi]![0] + 1];
      wi++;
    }
    if (win[i] === -1) unit[i] = prev ? sigmoid((i - prev[0]) / Math.max(prev[1] - 1, 1)) : -1;
  }
  return { series, probation: probation(n), win, unit };
}

/** Number of grid thresholds <= s (the grid indices at which s is a detection are [0, that)). */
function upto(grid: Float64Array, s: number): number {
  let lo = 0;
  let hi = grid.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (grid[m]! <= s) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/**
 * A file's score curves over the grid: fp[g] = sum of false-positive units, tp[g] = sum of
 * first-detection units, missed[g] = windows with no detection, at threshold grid[g].
 */
export interface Curve {
  fp: Float64Array | Float32Array;
  tp: Float64Array | Float32Array;
  missed: Float64Array | Float32Array;
  windows: number;
}

export function curve(p: Prepared, scores: ArrayLike<number>, grid: Float64Array): Curve {
  const G = grid.length;
  const dfp = new Float64Array(G + 1);
  const dtp = new Float64Array(G + 1);
  const dmiss = new Float64Array(G + 1);
  const nw = p.series.windows.length;
  const best = new Int32Array(nw); // G(max score so far) per window
  const n = p.series.values.length;
  for (let i = p.probation; i < n; i++) {
    const s = scores[i]!;
    if (!(s >= grid[0]!)) continue;
    const u = upto(grid, s);
    const w = p.win[i]!;
    if (w < 0) {
      dfp[0] += p.unit[i]!;
      dfp[u] -= p.unit[i]!;
    } else if (u > best[w]!) {
      dtp[best[w]!] += p.unit[i]!;
      dtp[u] -= p.unit[i]!;
      best[w] = u;
    }
  }
  // a window is missed at grid indices >= best[w]
  for (let w = 0; w < nw; w++) dmiss[best[w]!] += 1;
  // Float32: thousands of variant x file curves are kept; selection does not need more
  const fp = new Float32Array(G);
  const tp = new Float32Array(G);
  const missed = new Float32Array(G);
  let a = 0;
  let b = 0;
  let c = 0;
  for (let g = 0; g < G; g++) {
    a += dfp[g]!;
    b += dtp[g]!;
    c += dmiss[g]!;
    fp[g] = a;
    tp[g] = b;
    missed[g] = c;
  }
  return { fp, tp, missed, windows: nw };
}

/** Raw score of a curve (or a sum of curves) at grid index g for a profile. */
export function rawAt(c: Curve, g: number, prof: Profile): number {
  const w = PROFILES[prof];
  return w.fp * c.fp[g]! + w.tp * c.tp[g]! - w.fn * c.missed[g]!;
}

/** Sum of curves, minus the `minus` curves (training set = total - held-out fold). */
export function sumCurves(cs: Curve[], G: number, minus: Curve[] = []): Curve {
  const out: Curve = { fp: new Float64Array(G), tp: new Float64Array(G), missed: new Float64Array(G), windows: 0 };
  for (const [sign, list] of [
    [1, cs],
    [-1, minus],
  ] as const) {
    for (const c of list) {
      out.windows += sign * c.windows;
      for (let g = 0; g < G; g++) {
        out.fp[g] = out.fp[g]! + sign * c.fp[g]!;
        out.tp[g] = out.tp[g]! + sign * c.tp[g]!;
        out.missed[g] = out.missed[g]! + sign * c.missed[g]!;
      }
    }
  }
  return out;
}

/** NAB normalisation over a set of files with `windows` windows in total. */
export function normalized(raw: number, windows: number, prof: Profile): number {
  const w = PROFILES[prof];
  const nul = -w.fn * windows;
  const perfect = w.tp * windows;
  return (100 * (raw - nul)) / (perfect - nul);
}

/** Best grid index of a summed curve for a profile (ties: the lower threshold, as a sweep would). */
export function bestIndex(c: Curve, prof: Profile): number {
  let bi = 0;
  let bv = -Infinity;
  for (let g = 0; g < c.fp.length; g++) {
    const v = rawAt(c, g, prof);
    if (v > bv) {
      bv = v;
      bi = g;
    }
  }
  return bi;
}
