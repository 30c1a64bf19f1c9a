// The stages of the default detector that sit around its forest (auto.ts), kept apart so the
// cross-validation harness (test/bench/nab-cv.ts) runs exactly this code on cached forest scores.
// All scores share one scale, -log10 of a tail probability, so AUTO_THRESHOLD means the same
// thing whichever stage speaks:
//  - warm-up z-score (points WARMUP_MIN .. warmPoints): before the forest and its rank likelihood
//    can reach the alarm level, |x - mean| / std over every point seen so far, scaled so that
//    z = warmupZ reaches AUTO_THRESHOLD. Warm-up is short-sighted, not blind.
//  - spatial rule (from spatialFrom points on; HTM's NAB detector): a value outside the running min/max
//    by more than spatialMargin x (max - min) scores AUTO_THRESHOLD + log10(distance / margin),
//    so one decade further out is one decade rarer.
//  - forest: the forest stage's score, computed by the caller (rank likelihood, raw gate).
// The point's score is the largest of the three; `stage` records which one it was.
// Suppression follows the score: after an alarm (score >= restThreshold) the output is 0 for
// restPeriod points, restarted by every further high score (one event, one alarm, at its
// start), unless the spatial rule fires (a value outside everything seen) or a score reaches the
// bar = alarm strength + breakThrough (a far stronger event; for the forest, strength is its
// ungated evidence AUTO_THRESHOLD x raw / rawGate, which has no ceiling); either is reported and
// sets the bar from its own strength.

/** Which stage gave a point its score (index into STAGE_NAMES). */
export const STAGE_NONE = 0;
export const STAGE_WARMUP = 1;
export const STAGE_FOREST = 2;
export const STAGE_SPATIAL = 3;
export const STAGE_NAMES = ['none', 'warmup', 'forest', 'spatial'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

/** Points seen before the warm-up z-score speaks (a std from fewer is too unreliable). */
export const WARMUP_MIN = 20;

export interface StageParams {
  /** Alarm level (AUTO_THRESHOLD by default); scales the warm-up and spatial scores. */
  threshold: number;
  /** Score that starts a rest period (defaults to threshold). */
  restThreshold: number;
  restPeriod: number;
  /** Score above the alarm's that breaks through a rest period (Infinity = never). */
  breakThrough: number;
  /** Margin of the spatial rule, as a share of the running range (0 = off). */
  spatialMargin: number;
  /** z-score that reaches the alarm level during warm-up (0 = no warm-up stage). */
  warmupZ: number;
  /** Points after which the forest stage can alarm: the warm-up z-score stops there. */
  warmPoints: number;
  /** Points after which the spatial rule speaks (the range must mean something first). */
  spatialFrom: number;
}

export class AutoStages {
  private readonly k: number;
  /** per input: min, max, mean, M2 (Welford) */
  private readonly stats: Float64Array;
  /** [points seen, points since the last alarm, breakthrough bar, last stage, last suppressed, last spatial distance] */
  readonly s = new Float64Array(6);

  constructor(
    inputs: number,
    private readonly p: Readonly<StageParams>,
  ) {
    this.k = inputs;
    this.stats = new Float64Array(4 * inputs);
    // not "just after an alarm": the first points can alarm (warm-up is not blindness)
    this.s[1] = p.restPeriod;
    this.s[2] = p.threshold;
  }

  stateArrays(): ArrayBufferView[] {
    return [this.s, this.stats];
  }

  get stage(): StageName {
    return STAGE_NAMES[this.s[3]!]!;
  }

  get suppressed(): boolean {
    return this.s[4] === 1;
  }

  /** Distance of the last point outside the running range, in ranges (0 inside). */
  get spatialDistance(): number {
    return this.s[5]!;
  }

  /**
   * Combine the stages for one point (values: the k inputs) and learn it.
   * @param forest the forest stage's score for this point (0 while the forest is cold)
   * @param forestStrength the forest's evidence on the same scale without the rank's ceiling
   *   (AUTO_THRESHOLD x raw / rawGate): what a breakthrough is measured on, since the rank
   *   score cannot exceed log10(n + 1) and so cannot rise far above the alarm that started a rest
   */
  update(values: ArrayLike<number>, forest: number, forestStrength = forest): number {
    const p = this.p;
    const s = this.s;
    const st = this.stats;
    const n = s[0]!;
    let score = forest;
    let stage = forest > 0 ? STAGE_FOREST : STAGE_NONE;
    let far = 0;
    const warm = n >= p.warmPoints;
    for (let i = 0; i < this.k; i++) {
      const x = values[i]!;
      const o = 4 * i;
      if (n > 0) {
        const lo = st[o]!;
        const hi = st[o + 1]!;
        if (!warm && p.warmupZ > 0 && n >= WARMUP_MIN) {
          const mean = st[o + 2]!;
          const std = Math.max(Math.sqrt(st[o + 3]! / (n - 1)), 1e-9 * (1 + Math.abs(mean)));
          const w = (p.threshold * Math.abs(x - mean)) / (std * p.warmupZ);
          if (w > score) {
            score = w;
            stage = STAGE_WARMUP;
          }
        }
        if (n >= p.spatialFrom && p.spatialMargin > 0) {
          const out = x > hi ? x - hi : x < lo ? lo - x : 0;
          if (out > 0) {
            const range = Math.max(hi - lo, 1e-9 * (1 + Math.abs(hi) + Math.abs(lo)));
            const d = out / range;
            if (d > far) far = d;
            if (d > p.spatialMargin) {
              const sp = p.threshold + Math.log10(d / p.spatialMargin);
              if (sp > score) {
                score = sp;
                stage = STAGE_SPATIAL;
              }
            }
          }
        }
        if (x < lo) st[o] = x;
        if (x > hi) st[o + 1] = x;
      } else {
        st[o] = x;
        st[o + 1] = x;
      }
      // Welford mean / M2 (only the warm-up stage reads them)
      const d1 = x - st[o + 2]!;
      st[o + 2] = st[o + 2]! + d1 / (n + 1);
      st[o + 3] = st[o + 3]! + d1 * (x - st[o + 2]!);
    }
    s[0] = n + 1;
    s[3] = stage;
    s[5] = far;
    let quiet = false;
    if (p.restPeriod > 0) {
      // a value outside everything seen, or a far stronger score, is never held back
      // the forest's strength counts whichever stage gave the score, so the bar set by a spatial
      // alarm is not undercut by the same outlier's forest evidence a point later
      const strength = Math.max(score, forestStrength);
      quiet = s[1]! < p.restPeriod && strength < s[2]! && stage !== STAGE_SPATIAL;
      if (score >= p.restThreshold) {
        s[1] = 0;
        if (!quiet) s[2] = strength + p.breakThrough;
      } else s[1] = s[1]! + 1;
    }
    s[4] = quiet && score >= p.restThreshold ? 1 : 0;
    return quiet ? 0 : score;
  }
}
