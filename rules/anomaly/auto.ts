// The default detector ("auto"), three stages, one parameter set for every series, strictly
// online (docs/anomaly.md has the measurements behind each stage):
//  1. Base model: a random cut forest with a short sample memory (timeDecay 2000 points), so it
//     re-learns after level shifts. Its raw score is scale-free (ratios of ranges).
//  2. Rank likelihood: the raw score's conformal tail probability among the last
//     historyWindow raw scores, p = (#{past >= now} + 1) / (n + 1); output -log10(p). This
//     calibrates each series against its own score distribution (a noisy series must beat its
//     own noise), assumes no distribution, and needs evidence: after n scores p >= 1/(n+1).
//  3. Rest period: after an alarm (score >= restThreshold = AUTO_THRESHOLD) the detector stays
//     quiet for restPeriod points, so one event raises one alarm, at its start.
// AUTO_THRESHOLD = -log10(0.0027): a score as rare as a two-sided 3-sigma Gaussian event, here
// measured by rank rather than assumed. post=raw|likelihood|ratio keep the earlier variants.
import type { DetectorInfo, DetectorParams, StatefulDetector } from './types.js';
import { allFinite, num, valueAt } from './params.js';
import { encodeSnapshot } from './snapshot.js';
import { Forest } from './rcf-forest.js';
import { Likelihood, RankLikelihood } from './likelihood.js';

/** The fixed threshold the gateway uses to flag an anomaly with the default detector. */
export const AUTO_THRESHOLD = -Math.log10(0.0027);

export const AUTO_INFO: DetectorInfo = {
  name: 'auto',
  description:
    'Default detector: random cut forest with a short memory (timeDecay 2000), scored as -log10 of the rank tail probability of its raw score among the last historyWindow scores, quiet for restPeriod points after an alarm. Flag at >= 2.57 (AUTO_THRESHOLD: tail probability 0.27%, the 3-sigma rate).',
  params: [
    { name: 'numberOfTrees', type: 'integer', default: 100, min: 1, max: 1000, description: 'trees of the base forest' },
    { name: 'subSampleSize', type: 'integer', default: 256, min: 8, max: 16384, description: 'points sampled per tree (also the base warm-up)' },
    { name: 'timeDecay', type: 'number', default: 2000, min: 0, max: 1e12, description: 'base forest memory in points (decay rate 1/timeDecay)' },
    { name: 'shingleSize', type: 'integer', default: 1, min: 1, max: 64, description: 'consecutive points per sample (captures shape, not just level)' },
    { name: 'post', type: 'string', default: 'rank', choices: ['rank', 'raw', 'likelihood', 'ratio'], description: 'post-processing of the raw forest score: rank likelihood (-log10 tail probability), raw, Gaussian likelihood in [0, 1], ratio to the long-run mean' },
    { name: 'historyWindow', type: 'integer', default: 8640, min: 10, max: 1000000, description: 'rank: raw scores the tail probability is measured against' },
    { name: 'averageWindow', type: 'integer', default: 1, min: 1, max: 10000, description: 'rank/likelihood: points in the short average of raw scores' },
    { name: 'historyHalfLife', type: 'number', default: 1000, min: 10, max: 1e9, description: 'likelihood: half-life (points) of the raw-score mean/variance' },
    { name: 'stdFloor', type: 'number', default: 0.05, min: 0, max: 10, description: 'likelihood: floor on the raw-score std, relative to its mean' },
    { name: 'rawGate', type: 'number', default: 2, min: 0, max: 1e9, description: 'rank: raw forest score needed as well (~1 = ordinary point; 2 = twice as easy to isolate); score = min(rank score, AUTO_THRESHOLD x raw / rawGate); 0 = off' },
    { name: 'restPeriod', type: 'integer', default: 150, min: 0, max: 1e9, description: 'points kept quiet after a score >= restThreshold (one alarm per event; 0 = off)' },
    { name: 'restThreshold', type: 'number', default: AUTO_THRESHOLD, min: 0, max: 1e9, description: 'score that starts a rest period (the alarm level)' },
    { name: 'inputs', type: 'integer', default: 1, min: 1, max: 64, description: 'numeric inputs per point' },
    { name: 'seed', type: 'integer', default: 42, min: 0, max: 2147483647, description: 'random seed' },
  ],
};

const POST_RANK = 0;
const POST_RAW = 1;
const POST_LIKELIHOOD = 2;
const POST_RATIO = 3;

export class AutoDetector implements StatefulDetector {
  readonly name = 'auto';
  readonly inputs: number;
  private readonly dimension: number;
  private readonly shingleSize: number;
  private readonly sample: number;
  private readonly forest: Forest;
  private readonly post: number;
  private readonly rank: RankLikelihood;
  private readonly lik: Likelihood;
  private readonly restPeriod: number;
  private readonly rawGate: number;
  private readonly restThreshold: number;
  private readonly shingle: Float64Array;
  /** [points inserted, input vectors seen, points since the last alarm, ratio mean] */
  private readonly s = new Float64Array(4);

  constructor(readonly params: Readonly<DetectorParams>) {
    this.inputs = num(params, 'inputs');
    this.shingleSize = num(params, 'shingleSize');
    this.dimension = this.inputs * this.shingleSize;
    this.sample = num(params, 'subSampleSize');
    this.forest = new Forest(num(params, 'numberOfTrees'), this.sample, this.dimension, num(params, 'timeDecay'), num(params, 'seed'));
    const post = params.post;
    this.post = post === 'raw' ? POST_RAW : post === 'likelihood' ? POST_LIKELIHOOD : post === 'ratio' ? POST_RATIO : POST_RANK;
    // only the selected stage gets real buffers (a 1-slot stand-in otherwise: no wasted memory)
    const rank = this.post === POST_RANK;
    this.rank = new RankLikelihood(rank ? num(params, 'averageWindow') : 1, rank ? num(params, 'historyWindow') : 1, 0);
    const gauss = this.post === POST_LIKELIHOOD;
    this.lik = new Likelihood(gauss ? num(params, 'averageWindow') : 1, num(params, 'historyHalfLife'), this.sample, num(params, 'stdFloor'));
    this.restPeriod = num(params, 'restPeriod');
    this.rawGate = num(params, 'rawGate');
    this.restThreshold = num(params, 'restThreshold');
    this.shingle = new Float64Array(this.dimension);
    // s[2] starts at 0, as if just after an alarm (like CAD OSE); those points fall inside the
    // forest's warm-up anyway, which scores 0 until subSampleSize points
    this.s[2] = 0;
  }

  get warm(): boolean {
    return this.s[0]! >= 2 * this.sample;
  }

  update(values: ArrayLike<number> | number, _timestampMs?: number): number {
    const k = this.inputs;
    if (!allFinite(values, k)) return 0;
    const s = this.s;
    const sh = this.shingle;
    sh.copyWithin(0, k);
    for (let i = 0; i < k; i++) sh[this.dimension - k + i] = valueAt(values, i);
    s[1] = s[1]! + 1;
    if (s[1]! < this.shingleSize) return 0;
    let out = 0;
    if (s[0]! >= this.sample) {
      const raw = this.forest.score(sh);
      if (this.post === POST_RANK) {
        // both must agree: rare for this series AND isolated in absolute terms (min of the two
        // evidences, each scaled so that it reaches the alarm level at its own bar)
        out = this.rank.update(raw);
        if (this.rawGate > 0) out = Math.min(out, (AUTO_THRESHOLD * raw) / this.rawGate);
      }
      else if (this.post === POST_RAW) out = raw;
      else if (this.post === POST_LIKELIHOOD) out = this.lik.update(raw);
      else {
        const m = s[3] === 0 ? raw : s[3]!;
        out = raw / m;
        s[3] = m + (raw - m) * 0.001;
      }
    }
    this.forest.update(sh, s[0]!);
    s[0] = s[0]! + 1;
    if (this.restPeriod > 0) {
      const quiet = s[2]! < this.restPeriod;
      s[2] = out >= this.restThreshold ? 0 : s[2]! + 1;
      if (quiet) return 0;
    }
    return out;
  }

  stateArrays(): ArrayBufferView[] {
    return [this.s, this.shingle, ...this.rank.stateArrays(), ...this.lik.stateArrays(), ...this.forest.stateArrays()];
  }

  snapshot(): Uint8Array {
    return encodeSnapshot(this);
  }
}
