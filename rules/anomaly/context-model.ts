// Contextual sequence model for one numeric input, in the spirit of the Contextual Anomaly
// Detector (CAD OSE, Smirnov & Pushkarev, NAB 2016) but written from the idea, with bounded
// memory in typed arrays:
//  1. Quantise each value into `levels` bins over an *adaptive running range* (expands at once
//     when a value falls outside it, contracts slowly toward recent values), never the series'
//     global min/max, so the model is strictly online and scale-free.
//  2. Contexts are the last k bins, k = 0..order (k = 0 is "any time"). Each context keeps
//     small per-bin counts of what followed it (halved when one saturates, so the memory
//     forgets old habits at a bounded rate).
//  3. Score = share of known contexts that did not predict the current bin (never followed it),
//     so 0 when the series does what it always did after this history, 1 when nothing it has
//     learnt predicted the value. Noise is learnt (every neighbouring bin gets predicted);
//     a new level, a new shape or a new rhythm is not.
// Contexts live in a fixed-size hash table (4-way buckets, least recently used slot evicted),
// so memory never grows with the length of the stream.

const WAYS = 4;
const COUNT_CAP = 255;
/** factor by which the running range may outgrow (or undershoot) the grid before a re-grid */
const REGRID = 4;

function mix(h: number, v: number): number {
  // 32-bit multiplicative hash step (Murmur-style constants): cheap, allocation-free
  h = Math.imul(h ^ (v + 0x9e3779b9), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class ContextModel {
  readonly levels: number;
  private readonly width: number;
  readonly order: number;
  private readonly buckets: number;
  private readonly contract: number;
  /** slot key (hash | 1, 0 = empty) */
  readonly keys: Uint32Array;
  /** slot last use (tick) for LRU eviction */
  readonly used: Uint32Array;
  /**
   * per slot: `width` saturating counts of the bins that followed this context, indexed by bin
   * mod width; the grid never spans more than REGRID x levels bins, so bins in range never share
   */
  readonly counts: Uint8Array;
  /** last `order` bins, newest last */
  readonly hist: Int32Array;
  /** [lo, hi, values seen, tick, bin width (0 = not set)] */
  readonly s = new Float64Array(5);
  // scratch: slot index per order for the current step (not state)
  private readonly slot: Int32Array;
  private regridded = false;

  /**
   * @param levels bins over the running range
   * @param order longest context (bins of history)
   * @param slots hash-table capacity (rounded up to a multiple of 4)
   * @param rangeHalfLife points for the running range to contract half-way toward recent values
   */
  constructor(
    levels: number,
    order: number,
    slots: number,
    rangeHalfLife: number,
    private readonly calib: number,
  ) {
    this.levels = levels;
    this.width = REGRID * levels + 1;
    this.order = order;
    this.buckets = Math.max(1, Math.ceil(slots / WAYS));
    const n = this.buckets * WAYS;
    this.keys = new Uint32Array(n);
    this.used = new Uint32Array(n);
    this.counts = new Uint8Array(n * this.width);
    this.hist = new Int32Array(Math.max(1, order));
    this.slot = new Int32Array(order + 1);
    this.contract = rangeHalfLife > 0 ? 1 - Math.pow(2, -1 / rangeHalfLife) : 0;
  }

  stateArrays(): ArrayBufferView[] {
    return [this.s, this.hist, this.keys, this.used, this.counts];
  }

  /**
   * Bin of x on an absolute grid of width s[4] (bins are hashed, so any integer is a symbol: a
   * value beyond everything seen lands in a bin no context has predicted). The width comes from
   * the range of the calibration points; it is re-derived (and the contexts start over) only
   * when the running range outgrows the grid by `regrid` x or shrinks below 1/regrid of it.
   */
  private bin(x: number): number {
    const s = this.s;
    const span = s[1]! - s[0]!;
    let w = s[4]!;
    const flat = !(span > 1e-12 * (Math.abs(s[0]!) + Math.abs(s[1]!)));
    if (w === 0 || (!flat && (span > w * this.levels * REGRID || span * REGRID < w * this.levels))) {
      if (w !== 0) {
        this.reset();
        this.regridded = true;
      }
      // a flat calibration gets a grid relative to the level, so any real change shows
      w = flat ? Math.max(Math.abs(s[0]!), 1e-9) / (4 * this.levels) : span / this.levels;
      s[4] = w;
    }
    return Math.floor(x / w);
  }

  private reset(): void {
    this.keys.fill(0);
    this.used.fill(0);
    this.counts.fill(0);
  }

  /**
   * Find (or claim) the slot of a context key; evicts the least recently used way. The tick is a
   * u32 that wraps (after 2^32 points: 10 days at 5,000/s), so recency is the age tick - used
   * mod 2^32, not the raw tick: compared raw, the ways touched just after the wrap looked the
   * oldest and were evicted first, and the stale ones from before it stayed for another 2^32.
   */
  private find(key: number, tick: number): number {
    const base = (key % this.buckets) * WAYS;
    let victim = -1;
    let victimAge = -1;
    for (let w = 0; w < WAYS; w++) {
      const i = base + w;
      if (this.keys[i] === key) {
        this.used[i] = tick;
        return i;
      }
      // prefer an empty way, else the least recently used one
      const age = (tick - this.used[i]!) >>> 0;
      if (victim < 0 || (this.keys[victim] !== 0 && (this.keys[i] === 0 || age > victimAge))) {
        victim = i;
        victimAge = age;
      }
    }
    this.keys[victim] = key;
    this.used[victim] = tick;
    this.counts.fill(0, victim * this.width, (victim + 1) * this.width);
    return victim;
  }

  /** Score x against what the contexts predicted, then learn it. Returns a value in [0, 1]. */
  update(x: number): number {
    const s = this.s;
    const L = this.width;
    if (s[2] === 0) {
      s[0] = x;
      s[1] = x;
    }
    // adaptive range: expand immediately, contract slowly toward the current value
    if (x < s[0]!) s[0] = x;
    else s[0] = s[0]! + (x - s[0]!) * this.contract;
    if (x > s[1]!) s[1] = x;
    else s[1] = s[1]! + (x - s[1]!) * this.contract;
    if (s[2]! < this.calib) {
      s[2] = s[2]! + 1;
      return 0;
    }
    this.regridded = false;
    const bx = this.bin(x);
    const b = ((bx % L) + L) % L;
    const tick = (s[3]! + 1) >>> 0;
    s[3] = tick;
    const known = Math.min(s[2]! - this.calib, this.order);
    let considered = 0;
    let missed = 0;
    let h = 0x811c9dc5;
    for (let k = 0; k <= known; k++) {
      if (k > 0) h = mix(h, this.hist[this.order - k]!);
      const key = (mix(h, k) | 1) >>> 0;
      const i = this.find(key, tick);
      this.slot[k] = i;
      const c = this.counts;
      const off = i * L;
      let total = 0;
      for (let j = 0; j < L; j++) total += c[off + j]!;
      if (total > 0) {
        considered++;
        if (c[off + b] === 0) missed++;
      }
    }
    // learn: count b after every context; halve (rounding up, so a rare but
    for (let k = 0; k <= known; k++) {
      const off = this.slot[k]! * L;
      const c = this.counts;
      if (c[off + b] === COUNT_CAP) for (let j = 0; j < L; j++) c[off + j] = (c[off + j]! + 1) >>> 1;
      c[off + b] = c[off + b]! + 1;
    }
    if (this.order > 0) {
      this.hist.copyWithin(0, 1);
      this.hist[this.order - 1] = bx;
    }
    s[2] = s[2]! + 1;
    // a value that outgrew the grid (and restarted the contexts) is by definition novel
    if (this.regridded) return 1;
    return considered > 0 ? missed / considered : 0;
  }
}
