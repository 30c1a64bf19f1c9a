// RANDOM_CUT_FOREST as in Kinesis Data Analytics for SQL: same parameters and defaults, score
// 0 during warm-up, several numeric inputs, optional shingling (dimension = inputs x
// shingleSize), and the WITH_EXPLANATION variant (per-input strength and direction).
import type { DetectorInfo, DetectorParams, InputAttribution, RcfExplanation, StatefulDetector } from './types.js';
import { allFinite, num, valueAt } from './params.js';
import { encodeSnapshot } from './snapshot.js';
import { Forest } from './rcf-forest.js';

export const RCF_INFO: DetectorInfo = {
  name: 'rcf',
  description:
    'Random cut forest (KDA RANDOM_CUT_FOREST): AWS anomaly score (about 1 for normal points, higher for outliers); 0 until subSampleSize points have been seen.',
  params: [
    { name: 'numberOfTrees', type: 'integer', default: 100, min: 1, max: 1000, description: 'trees in the forest (KDA default 100)' },
    {
      name: 'subSampleSize',
      type: 'integer',
      default: 256,
      min: 2,
      max: 16384,
      description: 'points sampled per tree; also the warm-up length (KDA default 256)',
    },
    {
      name: 'timeDecay',
      type: 'number',
      default: 100000,
      min: 0,
      max: 1e12,
      description: 'how far back the sample reaches, in points: decay rate 1/timeDecay (KDA default 100000; 0 = no decay)',
    },
    { name: 'shingleSize', type: 'integer', default: 1, min: 1, max: 64, description: 'consecutive points concatenated into one sample (KDA default 1)' },
    { name: 'inputs', type: 'integer', default: 1, min: 1, max: 64, description: 'numeric inputs per point' },
    { name: 'seed', type: 'integer', default: 42, min: 0, max: 2147483647, description: 'random seed (same input + seed = same scores)' },
  ],
};

export class RcfDetector implements StatefulDetector {
  readonly name = 'rcf';
  readonly inputs: number;
  readonly dimension: number;
  private readonly shingleSize: number;
  private readonly warmAfter: number;
  private readonly forest: Forest;
  /** shingle: the last shingleSize input vectors, oldest first */
  private readonly shingle: Float64Array;
  /** [points inserted, input vectors seen] */
  private readonly s = new Float64Array(2);
  private readonly attribution: Float64Array;

  constructor(readonly params: Readonly<DetectorParams>) {
    this.inputs = num(params, 'inputs');
    this.shingleSize = num(params, 'shingleSize');
    this.dimension = this.inputs * this.shingleSize;
    const size = num(params, 'subSampleSize');
    this.warmAfter = size;
    this.forest = new Forest(num(params, 'numberOfTrees'), size, this.dimension, num(params, 'timeDecay'), num(params, 'seed'));
    this.shingle = new Float64Array(this.dimension);
    this.attribution = new Float64Array(2 * this.dimension);
  }

  get warm(): boolean {
    return this.s[0] >= this.warmAfter;
  }

  update(values: ArrayLike<number> | number, _timestampMs?: number): number {
    return this.step(values, false);
  }

  /** Score with per-input attribution (KDA RANDOM_CUT_FOREST_WITH_EXPLANATION), then learn. */
  explain(values: ArrayLike<number> | number, _timestampMs?: number): RcfExplanation {
    const score = this.step(values, true);
    const out: InputAttribution[] = [];
    const k = this.inputs;
    const d = this.dimension;
    for (let i = 0; i < k; i++) {
      let low = 0;
      let high = 0;
      if (score > 0) {
        for (let j = i; j < d; j += k) {
          low += this.attribution[j];
          high += this.attribution[d + j];
        }
      }
      out.push({ strength: low + high, directionalExplanation: high >= low ? 'HIGH' : 'LOW' });
    }
    return { score, attribution: out };
  }

  private step(values: ArrayLike<number> | number, withAttribution: boolean): number {
    const k = this.inputs;
    if (!allFinite(values, k)) return 0;
    const sh = this.shingle;
    // shift the shingle left by one input vector, append the new one
    sh.copyWithin(0, k);
    for (let i = 0; i < k; i++) sh[this.dimension - k + i] = valueAt(values, i);
    this.s[1] += 1;
    if (this.s[1] < this.shingleSize) return 0;
    let score = 0;
    if (this.s[0] >= this.warmAfter) score = this.forest.score(sh, withAttribution ? this.attribution : undefined);
    this.forest.update(sh, this.s[0]);
    this.s[0] += 1;
    return score;
  }

  stateArrays(): ArrayBufferView[] {
    return [this.s, this.shingle, ...this.forest.stateArrays()];
  }

  snapshot(): Uint8Array {
    return encodeSnapshot(this);
  }
}
