// The default detector ("auto"): a random cut forest as the base model (scale-free: its score
// depends on ratios of ranges, so no input normalisation is needed) with a short sample memory,
// plus optional post-processing stages (anomaly likelihood, ratio to the long-run mean score)
// that were measured and are NOT on by default: on the NAB subset they scored worse than the
// raw forest score (see docs/anomaly.md). One parameter set for every series; strictly online.
import type { DetectorInfo, DetectorParams, StatefulDetector } from './types.js';
import { allFinite, num, valueAt } from './params.js';
import { encodeSnapshot } from './snapshot.js';
import { Forest } from './rcf-forest.js';
import { Likelihood, RankLikelihood } from './likelihood.js';
import { ContextModel } from './context-model.js';

export const AUTO_INFO: DetectorInfo = {
  name: 'auto',
  description:
    'Default detector: random cut forest with a short memory (timeDecay 2000) so it re-learns after level shifts; optional anomaly-likelihood or ratio post-processing (post=). Flag at >= 2.5 with the defaults.',
  params: [
    { name: 'numberOfTrees', type: 'integer', default: 100, min: 1, max: 1000, description: 'trees of the base forest' },
    { name: 'subSampleSize', type: 'integer', default: 256, min: 8, max: 16384, description: 'points sampled per tree (also the base warm-up)' },
    { name: 'timeDecay', type: 'number', default: 2000, min: 0, max: 1e12, description: 'base forest memory in points (decay rate 1/timeDecay)' },
    { name: 'shingleSize', type: 'integer', default: 1, min: 1, max: 64, description: 'consecutive points per sample (captures shape, not just level)' },
    { name: 'averageWindow', type: 'integer', default: 10, min: 1, max: 10000, description: 'points in the short average of raw scores' },
    { name: 'historyHalfLife', type: 'number', default: 1000, min: 10, max: 1e9, description: 'half-life (points) of the raw-score distribution' },
    { name: 'post', type: 'string', default: 'raw', choices: ['likelihood', 'ratio', 'raw', 'rank'], description: 'post-processing of the raw forest score' },
    { name: 'stdFloor', type: 'number', default: 0.05, min: 0, max: 10, description: 'likelihood: floor on the raw-score std, relative to its mean' },
    { name: 'cadScale', type: 'number', default: 0, min: 0, max: 1e9, description: 'x' },
    { name: 'levels', type: 'integer', default: 8, min: 2, max: 64, description: 'x' },
    { name: 'order', type: 'integer', default: 4, min: 0, max: 32, description: 'x' },
    { name: 'calibration', type: 'integer', default: 300, min: 1, max: 1e9, description: 'x' },
    { name: 'restPeriod', type: 'integer', default: 0, min: 0, max: 1e9, description: 'points kept quiet after a score >= restThreshold' },
    { name: 'restThreshold', type: 'number', default: 2.5, min: 0, max: 1e9, description: 'score that starts a rest period' },
    { name: 'inputs', type: 'integer', default: 1, min: 1, max: 64, description: 'numeric inputs per point' },
    { name: 'seed', type: 'integer', default: 42, min: 0, max: 2147483647, description: 'random seed' },
  ],
};

/** The fixed threshold the gateway uses to flag an anomaly with the default detector. */
export const AUTO_THRESHOLD = 2.5;

export class AutoDetector implements StatefulDetector {
  readonly name = 'auto';
  readonly inputs: number;
  private readonly dimension: number;
  private readonly shingleSize: number;
  private readonly sample: number;
  private readonly forest: Forest;
  private readonly lik: Likelihood;
  private readonly shingle: Float64Array;
  private readonly post: number;
  private readonly ratioMean = new Float64Array(1);
  /** [points inserted, input vectors seen] */
  private readonly s = new Float64Array(3);

  constructor(readonly params: Readonly<DetectorParams>) {
    this.inputs = num(params, 'inputs');
    this.shingleSize = num(params, 'shingleSize');
    this.dimension = this.inputs * this.shingleSize;
    this.sample = num(params, 'subSampleSize');
    this.forest = new Forest(num(params, 'numberOfTrees'), this.sample, this.dimension, num(params, 'timeDecay'), num(params, 'seed'));
    this.lik = new Likelihood(num(params, 'averageWindow'), num(params, 'historyHalfLife'), this.sample, num(params, 'stdFloor'));
    this.post = params.post === 'ratio' ? 1 : params.post === 'raw' ? 2 : params.post === 'rank' ? 3 : 0;
    this.rank = new RankLikelihood(num(params, 'averageWindow'), num(params, 'historyHalfLife'), 0);
    this.rankC = new RankLikelihood(num(params, 'averageWindow'), num(params, 'historyHalfLife'), 256);
    this.shingle = new Float64Array(this.dimension);
    this.ctx = new ContextModel(num(params, 'levels'), num(params, 'order'), 16384, 5000, num(params, 'calibration'));
  }
  private readonly ctx: ContextModel;
  private readonly rank: RankLikelihood;
  private readonly rankC: RankLikelihood;

  get warm(): boolean {
    return this.s[0] >= 2 * this.sample;
  }

  update(values: ArrayLike<number> | number, _timestampMs?: number): number {
    const k = this.inputs;
    if (!allFinite(values, k)) return 0;
    const sh = this.shingle;
    sh.copyWithin(0, k);
    for (let i = 0; i < k; i++) sh[this.dimension - k + i] = valueAt(values, i);
    this.s[1] += 1;
    if (this.s[1] < this.shingleSize) return 0;
    let out = 0;
    if (this.s[0] >= this.sample) {
      const raw = this.forest.score(sh);
      if (this.post === 0) out = this.lik.update(raw);
      else if (this.post === 2) out = raw;
      else if (this.post === 3) out = this.rank.update(raw);
      else {
        const m = this.ratioMean[0] === 0 ? raw : this.ratioMean[0];
        out = raw / m;
        this.ratioMean[0] = m + (raw - m) * 0.001;
      }
    }
    this.forest.update(sh, this.s[0]);
    this.s[0] += 1;
    const cs = this.params.cadScale as number;
    if (cs > 0) {
      const craw = this.ctx.update(valueAt(values, 0));
      const c = this.post === 3 ? this.rankC.update(craw + 1e-3) : craw * cs;
      if (this.post === 3 && out > 0) out = Math.max(out, c) - Math.log10(2);
      else if (c > out) out = c;
    }
    const rp = this.params.restPeriod as number;
    if (rp > 0) {
      const quiet = this.s[2] < rp;
      this.s[2] = out >= (this.params.restThreshold as number) ? 0 : this.s[2] + 1;
      if (quiet) return 0;
    }
    return out;
  }

  stateArrays(): ArrayBufferView[] {
    return [this.s, this.shingle, this.ratioMean, ...this.lik.stateArrays(), ...this.ctx.stateArrays(), ...this.rank.stateArrays(), ...this.rankC.stateArrays(), ...this.forest.stateArrays()];
  }

  snapshot(): Uint8Array {
    return encodeSnapshot(this);
  }
}
