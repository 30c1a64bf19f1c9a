// The default detector ("auto"), one parameter set for every series, strictly online
// (docs/anomaly.md has the cross-validated measurements behind each stage):
//  1. Base model: a random cut forest with a short sample memory (timeDecay 2000 points), so it
//     re-learns after level shifts. Its raw score is scale-free (ratios of ranges).
//  2. Rank likelihood: the raw score's conformal tail probability among the last
//     historyWindow raw scores, p = (#{past >= now} + 1) / (n + 1); output -log10(p). This
//     calibrates each series against its own score distribution (a noisy series must beat its
//     own noise), assumes no distribution, and needs evidence: after n scores p >= 1/(n+1).
//  3. Raw gate: min(rank score, AUTO_THRESHOLD x raw / rawGate): rare for this series AND
//     isolated in absolute terms.
//  4. Stages around it (auto-stages.ts): a z-score during warm-up, the spatial rule after it,
//     and suppression that follows the score (rest period with breakthrough).
// AUTO_THRESHOLD = -log10(0.0027): a score as rare as a two-sided 3-sigma Gaussian event, here
// measured by rank rather than assumed. post=raw|likelihood|ratio keep the earlier variants
// (forest stage only).
import type { DetectorInfo, DetectorParams, StatefulDetector } from './types.js';
import { allFinite, num, valueAt } from './params.js';
import { encodeSnapshot } from './snapshot.js';
import { Forest } from './rcf-forest.js';
import { Likelihood, RankLikelihood } from './likelihood.js';
import { AutoStages, STAGE_NAMES, type StageName } from './auto-stages.js';

/** The fixed threshold the gateway uses to flag an anomaly with the default detector. */
export const AUTO_THRESHOLD = -Math.log10(0.0027);

export const AUTO_INFO: DetectorInfo = {
  name: 'auto',
  description:
    'Default detector: random cut forest with a short memory (timeDecay 2000), scored as -log10 of the rank tail probability of its raw score among the last historyWindow scores; a z-score stage during warm-up and the spatial rule (outside the running min/max) after it; quiet for restPeriod points after an alarm unless a score breaks through. Flag at >= 2.57 (AUTO_THRESHOLD: tail probability 0.27%, the 3-sigma rate).',
  params: [
    { name: 'numberOfTrees', type: 'integer', default: 100, min: 1, max: 1000, description: 'trees of the base forest' },
    { name: 'subSampleSize', type: 'integer', default: 256, min: 8, max: 16384, description: 'points sampled per tree (also the base warm-up)' },
    { name: 'timeDecay', type: 'number', default: 2000, min: 0, max: 1e12, description: 'base forest memory in points (decay rate 1/timeDecay)' },
    { name: 'shingleSize', type: 'integer', default: 1, min: 1, max: 64, description: 'consecutive points per sample (captures shape, not just level)' },
    {
      name: 'post',
      type: 'string',
      default: 'rank',
      choices: ['rank', 'raw', 'likelihood', 'ratio'],
      description:
        'post-processing of the raw forest score: rank likelihood (-log10 tail probability), raw, Gaussian likelihood in [0, 1], ratio to the long-run mean',
    },
    { name: 'historyWindow', type: 'integer', default: 8640, min: 10, max: 1000000, description: 'rank: raw scores the tail probability is measured against' },
    {
      name: 'tail',
      type: 'integer',
      default: 0,
      min: 0,
      max: 10000,
      description: 'rank: top scores of the history a peaks-over-threshold tail is fitted to, so scores beyond the record keep rising (0 = pure rank)',
    },
    { name: 'averageWindow', type: 'integer', default: 1, min: 1, max: 10000, description: 'rank/likelihood: points in the short average of raw scores' },
    { name: 'historyHalfLife', type: 'number', default: 1000, min: 10, max: 1e9, description: 'likelihood: half-life (points) of the raw-score mean/variance' },
    { name: 'stdFloor', type: 'number', default: 0.05, min: 0, max: 10, description: 'likelihood: floor on the raw-score std, relative to its mean' },
    {
      name: 'rawGate',
      type: 'number',
      default: 2,
      min: 0,
      max: 1e9,
      description:
        'rank: raw forest score needed as well (~1 = ordinary point; 2 = twice as easy to isolate); score = min(rank score, AUTO_THRESHOLD x raw / rawGate); 0 = off',
    },
    {
      name: 'restPeriod',
      type: 'integer',
      default: 150,
      min: 0,
      max: 1e9,
      description: 'points kept quiet after a score >= restThreshold (one alarm per event; 0 = off)',
    },
    { name: 'restThreshold', type: 'number', default: AUTO_THRESHOLD, min: 0, max: 1e9, description: 'score that starts a rest period (the alarm level)' },
    {
      name: 'breakThrough',
      type: 'number',
      default: 2,
      min: 0,
      max: 1e9,
      description:
        "inside a rest period, a point whose strength (max of its score and the forest evidence AUTO_THRESHOLD x raw / rawGate) is this far above the alarm's is reported anyway (2 = the forest finds it 1.6 ordinary-point units easier to isolate; 1e9 = never)",
    },
    {
      name: 'spatialMargin',
      type: 'number',
      default: 0.1,
      min: 0,
      max: 1e9,
      description:
        'from point subSampleSize on, a value outside the running min/max by more than this share of the range scores >= AUTO_THRESHOLD and breaks through a rest period (HTM NAB spatial rule; 0 = off)',
    },
    {
      name: 'warmupZ',
      type: 'number',
      default: 6,
      min: 0,
      max: 1e9,
      description: 'during warm-up, |x - mean| / std over the points seen that reaches AUTO_THRESHOLD (0 = silent warm-up)',
    },
    { name: 'inputs', type: 'integer', default: 1, min: 1, max: 64, description: 'numeric inputs per point' },
    { name: 'seed', type: 'integer', default: 42, min: 0, max: 2147483647, description: 'random seed' },
  ],
};

const POST_RANK = 0;
const POST_RAW = 1;
const POST_LIKELIHOOD = 2;
const POST_RATIO = 3;

/** Scores the rank likelihood needs before it can reach the alarm level (p >= 1/(n+1)). */
export function rankEvidence(threshold: number): number {
  return Math.ceil(Math.pow(10, threshold)) - 1;
}

/** The forest stage's score from its rank score and raw score (the raw gate: min of both). */
export function gateScore(rankScore: number, raw: number, rawGate: number): number {
  return rawGate > 0 ? Math.min(rankScore, (AUTO_THRESHOLD * raw) / rawGate) : rankScore;
}

/** The forest's evidence without the rank's ceiling (what a breakthrough is measured on). */
export function forestStrength(raw: number, rawGate: number): number {
  return (AUTO_THRESHOLD * raw) / (rawGate > 0 ? rawGate : 2);
}

/** What the default detector saw in one point (anomaly_explain in SQL). */
export interface AutoExplanation {
  score: number;
  /** The stage that gave the score: none, warmup (z-score), forest (rank likelihood of the forest score), spatial (outside the running range). */
  stage: StageName;
  /** True when the score reached the alarm level but the rest period after an earlier alarm held it at 0. */
  suppressed: boolean;
  /** The forest's raw score (about 1 = ordinary; 0 while the forest warms up). */
  forest: number;
  /** -log10 rank tail probability of the forest score in this series' recent history. */
  likelihood: number;
  /** Distance outside the running min/max, in ranges (0 inside). */
  spatial: number;
}

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
  private readonly rawGate: number;
  private readonly stages: AutoStages;
  private readonly warmPoints: number;
  private readonly shingle: Float64Array;
  private readonly input: Float64Array;
  /** [points inserted, input vectors seen, ratio mean, last raw, last rank score] */
  private readonly s = new Float64Array(5);

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
    const evidence = rankEvidence(num(params, 'restThreshold'));
    this.rank = new RankLikelihood(
      rank ? num(params, 'averageWindow') : 1,
      rank ? num(params, 'historyWindow') : 1,
      0,
      rank ? num(params, 'tail') : 0,
      evidence,
    );
    const gauss = this.post === POST_LIKELIHOOD;
    this.lik = new Likelihood(gauss ? num(params, 'averageWindow') : 1, num(params, 'historyHalfLife'), this.sample, num(params, 'stdFloor'));
    this.rawGate = num(params, 'rawGate');
    const restThreshold = num(params, 'restThreshold');
    // the forest scores from point sample + shingle - 1 on; the rank can alarm after its evidence
    this.warmPoints = this.sample + this.shingleSize - 1 + evidence;
    this.stages = new AutoStages(this.inputs, {
      threshold: AUTO_THRESHOLD,
      restThreshold,
      restPeriod: num(params, 'restPeriod'),
      breakThrough: num(params, 'breakThrough'),
      spatialMargin: num(params, 'spatialMargin'),
      warmupZ: num(params, 'warmupZ'),
      warmPoints: this.warmPoints,
      // from the forest's warm-up on (cross-validated against from warmPoints: docs/anomaly.md)
      spatialFrom: this.sample,
    });
    this.shingle = new Float64Array(this.dimension);
    this.input = new Float64Array(this.inputs);
  }

  /** True once the forest stage can alarm (subSampleSize + rank evidence points, 626 by default). */
  get warm(): boolean {
    return this.s[1]! >= this.warmPoints;
  }

  update(values: ArrayLike<number> | number, _timestampMs?: number): number {
    const k = this.inputs;
    if (!allFinite(values, k)) return 0;
    const s = this.s;
    const sh = this.shingle;
    const inp = this.input;
    sh.copyWithin(0, k);
    for (let i = 0; i < k; i++) {
      const v = valueAt(values, i);
      inp[i] = v;
      sh[this.dimension - k + i] = v;
    }
    s[1] = s[1]! + 1;
    let out = 0;
    let strength = 0;
    s[3] = 0;
    s[4] = 0;
    if (s[1]! >= this.shingleSize) {
      if (s[0]! >= this.sample) {
        const raw = this.forest.score(sh);
        s[3] = raw;
        if (this.post === POST_RANK) {
          const r = this.rank.update(raw);
          s[4] = r;
          out = gateScore(r, raw, this.rawGate);
          strength = forestStrength(raw, this.rawGate);
        } else if (this.post === POST_RAW) out = raw;
        else if (this.post === POST_LIKELIHOOD) out = this.lik.update(raw);
        else {
          const m = s[2] === 0 ? raw : s[2]!;
          out = raw / m;
          s[2] = m + (raw - m) * 0.001;
        }
      }
      this.forest.update(sh, s[0]!);
      s[0] = s[0]! + 1;
    }
    return this.stages.update(inp, out, this.post === POST_RANK ? strength : out);
  }

  /** update(), plus which stage gave the score and the evidence behind it. */
  explain(values: ArrayLike<number> | number, timestampMs?: number): AutoExplanation {
    if (!allFinite(values, this.inputs)) return { score: 0, stage: 'none', suppressed: false, forest: 0, likelihood: 0, spatial: 0 };
    const score = this.update(values, timestampMs);
    const st = this.stages;
    return { score, stage: STAGE_NAMES[st.s[3]!]!, suppressed: st.suppressed, forest: this.s[3]!, likelihood: this.s[4]!, spatial: st.spatialDistance };
  }

  stateArrays(): ArrayBufferView[] {
    return [this.s, this.shingle, ...this.stages.stateArrays(), ...this.rank.stateArrays(), ...this.lik.stateArrays(), ...this.forest.stateArrays()];
  }

  snapshot(): Uint8Array {
    return encodeSnapshot(this);
  }
}
