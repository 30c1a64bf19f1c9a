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
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
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
  constructor(
    avgWindow: number,
    halfLife: number,
    learn: number,
    private readonly floor = 0.05,
  ) {
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

// Rank (conformal) anomaly likelihood: how many of the last `window` averaged raw scores were at
// least as high as the current one. p = (n_ge + 1) / (n + 1) is a distribution-free tail
// probability (no Gaussian assumption, so heavy-tailed raw scores do not saturate it); the
// output is -log10(p), so "likelihood >= 1 - 1e-3" is "score >= 3". Averaged raw scores are
// counted in log-spaced bins (1% apart) held in a Fenwick (binary indexed) tree, so the window
// costs a ring of bin indices plus the tree, O(log bins) per point, and a fixed amount of memory.
const RANK_BINS = 1024;
const RANK_LOG_STEP = Math.log(1.01);
const RANK_FLOOR = 1e-3; // smallest raw score told apart (RCF scores are ~1 for normal points)

function rankBin(v: number): number {
  if (!(v > RANK_FLOOR)) return 0;
  const b = 1 + Math.floor(Math.log(v / RANK_FLOOR) / RANK_LOG_STEP);
  return b >= RANK_BINS ? RANK_BINS - 1 : b;
}

/** Log of a bin's middle value. */
function binLog(b: number): number {
  return Math.log(RANK_FLOOR) + (b - 0.5) * RANK_LOG_STEP;
}

export class RankLikelihood {
  private readonly avgRing: Float64Array;
  private readonly binRing: Uint16Array;
  /** Fenwick tree over the bins (1-based; slot 0 unused): prefix counts in O(log bins). */
  private readonly tree: Uint32Array;
  /** Plain per-bin counts (the tail fit walks the top bins). */
  private readonly hist: Uint32Array;
  /** [scores seen, avg ring pos, avg ring sum, bin ring pos] */
  readonly s = new Float64Array(4);

  /**
   * @param tail top scores the tail is fitted to (0 = pure rank): a score among the `tail`
   *   highest of the window also gets a peaks-over-threshold estimate, an exponential tail in
   *   log(score) fitted to those top scores (Pareto tail of the raw score), and the smaller p
   *   wins. Beyond the window's record the rank alone stops at 1/(n+1); the fitted tail keeps
   *   telling a record by a hair from a score twice the record. Used once n >= tailFrom.
   */
  constructor(
    avgWindow: number,
    window: number,
    private readonly learn: number,
    private readonly tail = 0,
    private readonly tailFrom = 0,
  ) {
    this.avgRing = new Float64Array(avgWindow);
    this.binRing = new Uint16Array(window);
    this.tree = new Uint32Array(RANK_BINS + 1);
    this.hist = new Uint32Array(tail > 0 ? RANK_BINS : 0);
  }

  stateArrays(): ArrayBufferView[] {
    return [this.s, this.avgRing, this.binRing, this.tree, this.hist];
  }

  /** Peaks over threshold: tail probability of log score L from the top k scores (k <= n). */
  private tailP(L: number, n: number): number {
    const k = this.tail;
    const h = this.hist;
    let c = 0;
    let sum = 0;
    let b = RANK_BINS - 1;
    for (; b >= 0; b--) {
      const m = h[b]!;
      if (m === 0) continue;
      const take = Math.min(m, k - c);
      c += take;
      sum += take * binLog(b);
      if (c >= k) break;
    }
    const base = binLog(b);
    const beta = Math.max(sum / k - base, RANK_LOG_STEP);
    return L <= base ? 1 : (k / (n + 1)) * Math.exp(-(L - base) / beta);
  }

  private add(bin: number, delta: number): void {
    const t = this.tree;
    for (let i = bin + 1; i <= RANK_BINS; i += i & -i) t[i] = t[i]! + delta;
  }

  /** Scores in bins [0, bin). */
  private below(bin: number): number {
    const t = this.tree;
    let c = 0;
    for (let i = bin; i > 0; i -= i & -i) c += t[i]!;
    return c;
  }

  /** Feed one raw score; returns -log10 of its conformal tail probability (0 while learning). */
  update(raw: number): number {
    const s = this.s;
    const A = this.avgRing.length;
    const ap = s[1]!;
    s[2] = s[2]! + raw - this.avgRing[ap]!;
    this.avgRing[ap] = raw;
    s[1] = ap + 1 === A ? 0 : ap + 1;
    const seen = s[0]!;
    const avg = s[2]! / Math.min(seen + 1, A);
    const b = rankBin(avg);
    const N = this.binRing.length;
    const n = Math.min(seen, N);
    let out = 0;
    if (seen >= this.learn && n > 0) {
      const ge = n - this.below(b);
      let p = (ge + 1) / (n + 1);
      if (ge < this.tail && n >= this.tailFrom && n >= this.tail) p = Math.min(p, this.tailP(Math.log(Math.max(avg, RANK_FLOOR)), n));
      out = -Math.log10(p);
    }
    // learn after scoring (strictly online): slide the window
    const bp = s[3]!;
    const hist = this.tail > 0;
    if (seen >= N) {
      const old = this.binRing[bp]!;
      this.add(old, -1);
      if (hist) this.hist[old] = this.hist[old]! - 1;
    }
    this.binRing[bp] = b;
    this.add(b, 1);
    if (hist) this.hist[b] = this.hist[b]! + 1;
    s[3] = bp + 1 === N ? 0 : bp + 1;
    s[0] = seen + 1;
    return out;
  }
}
