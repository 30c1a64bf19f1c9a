// Anomaly likelihood (after Numenta's NAB post-processing, Ahmad et al. 2017): turn a raw score
// stream into "how unusual is the recent average raw score, given its own long-run
// distribution". A detector whose raw scores are noisy everywhere stops firing; a change in the
// raw scores fires. Output is the log-likelihood in [0, 1]: -log10(tail probability) / 10.
// State: a few scalars in one Float64Array (no sample buffer: the long-run distribution is an
// exponentially weighted mean/variance), plus a ring for the short moving average.

/** Numerical Recipes' erfc (fractional error < 1.2e-7 everywhere, so tails stay meaningful). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

const LOG_FLOOR = 1e-10;

export class Likelihood {
  private readonly ring: Float64Array;
  private readonly alpha: number;
  private readonly learn: number;
  /** [count, ring pos, ring sum, ew mean, ew var] */
  readonly s = new Float64Array(5);

  /**
   * @param avgWindow points in the short moving average of raw scores
   * @param halfLife half-life (points) of the long-run mean/variance of that average
   * @param learn points before the likelihood is reported (0 until then)
   */
  constructor(avgWindow: number, halfLife: number, learn: number, private readonly floor = 0.05) {
    this.ring = new Float64Array(avgWindow);
    this.alpha = 1 - Math.pow(2, -1 / halfLife);
    this.learn = learn;
  }

  stateArrays(): ArrayBufferView[] {
    return [this.s, this.ring];
  }

  /** Feed one raw score; returns the log-likelihood score in [0, 1]. */
  update(raw: number): number {
    const s = this.s;
    const w = this.ring.length;
    const pos = s[1];
    s[2] += raw - this.ring[pos];
    this.ring[pos] = raw;
    s[1] = pos + 1 === w ? 0 : pos + 1;
    s[0] += 1;
    const avg = s[2] / Math.min(s[0], w);
    let out = 0;
    if (s[0] > this.learn) {
      // floor on std, relative to the mean, so a perfectly regular signal does not blow up
      const std = Math.max(Math.sqrt(s[4]), this.floor * Math.abs(s[3]), 1e-6);
      const z = (avg - s[3]) / std;
      const tail = 0.5 * erfc(z / Math.SQRT2);
      out = Math.log(tail + LOG_FLOOR) / Math.log(LOG_FLOOR);
      if (out < 0) out = 0;
    }
    // learn after scoring (strictly online)
    if (s[0] === 1) {
      s[3] = avg;
    } else {
      const a = s[0] < 1 / this.alpha ? 1 / s[0] : this.alpha;
      const diff = avg - s[3];
      const incr = a * diff;
      s[3] += incr;
      s[4] = (1 - a) * (s[4] + diff * incr);
    }
    return out;
  }
}
