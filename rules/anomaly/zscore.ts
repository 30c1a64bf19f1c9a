// Rolling z-score: |x - mean| / std over the previous `window` points, O(1) per point with a
// ring buffer and running sums. Several inputs: the score is the largest per-input z-score.
// Like ewma and rcf, it scores 0 until warm (by default a full window): a standard deviation of a
// few points is no yardstick (10, 10.1, 15 scored 99 on 15 before).
import type { DetectorInfo, DetectorParams, StatefulDetector } from './types.js';
import { allFinite, num, valueAt } from './params.js';
import { encodeSnapshot } from './snapshot.js';

export const ZSCORE_INFO: DetectorInfo = {
  name: 'zscore',
  description: 'Rolling z-score |x - mean| / std over the previous `window` points (ring buffer, O(1) per point).',
  params: [
    { name: 'window', type: 'integer', default: 100, min: 2, max: 1_000_000, description: 'points in the rolling window' },
    {
      name: 'warmup',
      type: 'integer',
      default: 0,
      min: 0,
      max: 1_000_000,
      description: 'points scored 0 before the window says anything; 0 = derive: a full window (`window` points)',
    },
    { name: 'inputs', type: 'integer', default: 1, min: 1, max: 64, description: 'numeric inputs per point (score = max over inputs)' },
  ],
};

// Relative floor on the standard deviation, so a flat signal that moves scores high but finite.
const STD_FLOOR = 1e-9;

export class ZScoreDetector implements StatefulDetector {
  readonly name = 'zscore';
  readonly inputs: number;
  private readonly window: number;
  /** Points seen before the first score. */
  private readonly warmAfter: number;
  private readonly ring: Float64Array;
  private readonly sum: Float64Array;
  private readonly sumSq: Float64Array;
  /** [count seen, ring position, updates since last exact recompute] */
  private readonly s = new Float64Array(3);

  constructor(readonly params: Readonly<DetectorParams>) {
    this.window = num(params, 'window');
    const warmup = num(params, 'warmup');
    this.warmAfter = warmup > 0 ? warmup : this.window;
    this.inputs = num(params, 'inputs');
    this.ring = new Float64Array(this.window * this.inputs);
    this.sum = new Float64Array(this.inputs);
    this.sumSq = new Float64Array(this.inputs);
  }

  get warm(): boolean {
    return this.s[0]! >= this.warmAfter;
  }

  update(values: ArrayLike<number> | number, _timestampMs?: number): number {
    const k = this.inputs;
    if (!allFinite(values, k)) return 0;
    const s = this.s;
    const w = this.window;
    const n = Math.min(s[0]!, w);
    const pos = s[1]!;
    // A standard deviation needs two points, whatever warmup says.
    const scored = s[0]! >= this.warmAfter && n >= 2;
    let score = 0;
    let learnable = true;
    for (let i = 0; i < k; i++) {
      const x = valueAt(values, i);
      if (scored) {
        const mean = this.sum[i]! / n;
        const v = Math.max(0, this.sumSq[i]! / n - mean * mean);
        const std = Math.max(Math.sqrt(v), STD_FLOOR * (1 + Math.abs(mean)));
        const z = Math.abs(x - mean) / std;
        if (z > score) score = z;
      }
      if (!Number.isFinite(this.sumSq[i]! + x * x)) learnable = false;
    }
    // A point whose square overflows the sums (|x| beyond ~1e154, a glitch) is scored, not learnt:
    // learnt, it made the window's deviation Infinity and every score 0 until it left the window.
    if (!learnable) return score;
    for (let i = 0; i < k; i++) {
      const x = valueAt(values, i);
      const slot = pos * k + i;
      if (s[0]! >= w) {
        const old = this.ring[slot]!;
        this.sum[i]! -= old;
        this.sumSq[i]! -= old * old;
      }
      this.ring[slot] = x;
      this.sum[i]! += x;
      this.sumSq[i]! += x * x;
    }
    s[0]! += 1;
    s[1] = pos + 1 === w ? 0 : pos + 1;
    // Running sums drift with floating-point cancellation: recompute exactly once per window.
    if (++s[2]! >= w) this.recompute();
    return score;
  }

  private recompute(): void {
    const k = this.inputs;
    const n = Math.min(this.s[0]!, this.window);
    this.s[2] = 0;
    for (let i = 0; i < k; i++) {
      let a = 0;
      let b = 0;
      for (let j = 0; j < n; j++) {
        const x = this.ring[j * k + i]!;
        a += x;
        b += x * x;
      }
      this.sum[i] = a;
      this.sumSq[i] = b;
    }
  }

  stateArrays(): ArrayBufferView[] {
    return [this.s, this.ring, this.sum, this.sumSq];
  }

  snapshot(): Uint8Array {
    // warmup (round 12): versions before it refuse a snapshot naming it; 0 is the default.
    return encodeSnapshot(this, { warmup: 0 });
  }
}
