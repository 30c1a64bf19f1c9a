// Seeded synthetic series (1,500 to 6,000 points) with known anomalies, for cross-validating the default detector on
// shapes the NAB subset does not have. Each series: a base (noise, periodic, AR(1) wander,
// heavy-tailed counts, square wave) and at most two injected events of one kind (spike, level
// shift, drift, frequency change, variance change), or none. Windows follow NAB's labelling:
// 10% of the series length split over the events, centred on each event's start.
import type { Series } from './nab-lib.js';
import { mulberry32 } from '../helpers/prng.js';

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

export const EVENT_KINDS = ['spike', 'shift', 'drift', 'frequency', 'variance', 'none'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];
const BASES = ['noise', 'periodic', 'wander', 'counts', 'square'] as const;
type Base = (typeof BASES)[number];

/** One base signal: value at row i given the period multiplier (frequency events change it). */
function baseSignal(base: Base, r: () => number, n: number): { level: Float64Array; noise: Float64Array; period: number; amp: number; sigma: number } {
  const level = new Float64Array(n);
  const noise = new Float64Array(n);
  const period = [96, 144, 288][Math.floor(r() * 3)]!;
  const sigma = 0.5 + r() * 2;
  let amp = 0;
  if (base === 'periodic' || base === 'square') amp = sigma * (4 + r() * 8);
  let ar = 0;
  for (let i = 0; i < n; i++) {
    let e = gauss(r) * sigma;
    if (base === 'counts') e = sigma * (Math.exp(gauss(r) * 0.6) - 1) * 3; // heavy right tail
    if (base === 'wander') {
      ar = 0.98 * ar + gauss(r) * sigma * 0.3;
      e = ar;
    }
    noise[i] = e;
    level[i] = 50;
  }
  return { level, noise, period, amp, sigma };
}

/** The synthetic corpus: `perKind` series for every event kind, bases rotating, seeded. */
export function syntheticCorpus(seed = 1, perKind = 4): Series[] {
  const out: Series[] = [];
  let k = 0;
  for (const kind of EVENT_KINDS) {
    for (let j = 0; j < perKind; j++, k++) {
      const r = mulberry32(seed * 1000 + k);
      const n = [1500, 4000, 6000][(j + k) % 3]!; // lengths vary like real series
      let base = BASES[(j + EVENT_KINDS.indexOf(kind)) % BASES.length]!;
      if (kind === 'frequency' && base !== 'periodic' && base !== 'square') base = j % 2 ? 'square' : 'periodic';
      const b = baseSignal(base, r, n);
      const events = kind === 'none' ? 0 : 1 + Math.floor(r() * 2);
      const starts: number[] = [];
      for (let e = 0; e < events; e++) starts.push(Math.floor(n * (0.3 + (0.6 * (e + r() * 0.8)) / Math.max(events, 1))));
      const values = new Float64Array(n);
      let phase = 0;
      let freq = 1;
      let shift = 0;
      let varMul = 1;
      const scale = Math.max(b.sigma, b.amp * 0.25);
      for (let i = 0; i < n; i++) {
        let extra = 0;
        for (const s of starts) {
          if (i === s) {
            if (kind === 'shift') shift += (r() < 0.5 ? -1 : 1) * scale * (2 + r() * 2);
            if (kind === 'frequency') freq *= r() < 0.5 ? 2 : 0.5;
            if (kind === 'variance') varMul *= 3 + r() * 2;
          }
          if (kind === 'spike' && (i === s || (i === s + 1 && base === 'counts'))) extra += (b.sigma + b.amp) * (3 + r() * 4) * (base === 'counts' ? 3 : 1);
          if (kind === 'drift' && i >= s) extra += scale * 4 * Math.min(1, (i - s) / 300);
        }
        phase += (2 * Math.PI * freq) / b.period;
        const shape = base === 'square' ? (Math.sin(phase) >= 0 ? 1 : -1) : Math.sin(phase);
        values[i] = b.level[i]! + b.amp * shape + b.noise[i]! * varMul + shift + extra;
      }
      const half = Math.floor((0.1 * n) / Math.max(events, 1) / 2);
      const windows = starts.map((s) => [Math.max(0, s - half), Math.min(n - 1, s + half)] as [number, number]);
      out.push({ key: `syn-${kind}/${base}_${j}.csv`, category: `syn-${kind}`, values, windows });
    }
  }
  return out;
}
