// EWMA scoring: |x - mean| / std with an exponentially weighted mean and variance (West's
// incremental form), scored before the point is learnt. O(1), no buffer. Like rcf, it scores 0
// until it is warm: the variance starts at 0 and needs about 1/alpha points to mean something
// (before, the third point of a series could score in the thousands).
import type { DetectorInfo, DetectorParams, StatefulDetector } from './types.js';
import { allFinite, num, valueAt } from './params.js';
import { encodeSnapshot } from './snapshot.js';

export const EWMA_INFO: DetectorInfo = {
  name: 'ewma',
  description: 'Exponentially weighted mean/variance; score |x - mean| / std before learning the point.',
  params: [
    { name: 'halfLife', type: 'number', default: 50, min: 1, max: 1e9, description: 'points after which an observation weighs half (used when alpha = 0)' },
    { name: 'alpha', type: 'number', default: 0, min: 0, max: 1, description: 'smoothing factor in (0, 1]; 0 = derive from halfLife: 1 - 2^(-1/halfLife)' },
    {
      name: 'warmup',
      type: 'integer',
      default: 0,
      min: 0,
      max: 1e9,
      description: 'points scored 0 while the mean and variance settle (then warm); 0 = derive: ceil(1 / alpha), 73 with halfLife 50',
    },
    { name: 'inputs', type: 'integer', default: 1, min: 1, max: 64, description: 'numeric inputs per point (score = max over inputs)' },
  ],
};

const STD_FLOOR = 1e-9;

export class EwmaDetector implements StatefulDetector {
  readonly name = 'ewma';
  readonly inputs: number;
  private readonly alpha: number;
  private readonly warmAfter: number;
  private readonly mean: Float64Array;
  private readonly variance: Float64Array;
  /** [count seen] */
  private readonly s = new Float64Array(1);

  constructor(readonly params: Readonly<DetectorParams>) {
    const a = num(params, 'alpha');
    this.alpha = a > 0 ? a : 1 - Math.pow(2, -1 / num(params, 'halfLife'));
    const w = num(params, 'warmup');
    this.warmAfter = w > 0 ? w : Math.ceil(1 / this.alpha);
    this.inputs = num(params, 'inputs');
    this.mean = new Float64Array(this.inputs);
    this.variance = new Float64Array(this.inputs);
  }

  get warm(): boolean {
    return this.s[0]! >= this.warmAfter;
  }

  update(values: ArrayLike<number> | number, _timestampMs?: number): number {
    const k = this.inputs;
    if (!allFinite(values, k)) return 0;
    const a = this.alpha;
    const first = this.s[0] === 0;
    // Scored once warm (and never before two points: a variance needs them).
    const scored = this.s[0]! >= this.warmAfter && this.s[0]! >= 2;
    let score = 0;
    let learnable = true;
    for (let i = 0; i < k; i++) {
      const x = valueAt(values, i);
      if (first) {
        if (!Number.isFinite(x * x)) learnable = false;
        continue;
      }
      const m = this.mean[i]!;
      const diff = x - m;
      if (scored) {
        const std = Math.max(Math.sqrt(this.variance[i]!), STD_FLOOR * (1 + Math.abs(m)));
        const z = Math.abs(diff) / std;
        if (z > score) score = z;
      }
      if (!Number.isFinite(diff * diff)) learnable = false;
    }
    // A point whose squared step overflows (|x| beyond ~1e154, a glitch) is scored, not learnt:
    // learnt, it made the variance Infinity for good and every later score 0.
    if (!learnable) return score;
    for (let i = 0; i < k; i++) {
      const x = valueAt(values, i);
      if (first) {
        this.mean[i] = x;
        continue;
      }
      const m = this.mean[i]!;
      const diff = x - m;
      const incr = a * diff;
      this.mean[i] = m + incr;
      this.variance[i] = (1 - a) * (this.variance[i]! + diff * incr);
    }
    this.s[0]! += 1;
    return score;
  }

  stateArrays(): ArrayBufferView[] {
    return [this.s, this.mean, this.variance];
  }

  snapshot(): Uint8Array {
    // warmup (round 12): versions before it refuse a snapshot naming it; 0 is the default.
    return encodeSnapshot(this, { warmup: 0 });
  }
}
