// Random cut forest (Guha et al. 2016, "Robust random cut forest based anomaly detection on
// streams"), laid out in flat typed arrays: tree k's node i lives at index k*S + i of every
// array, so a 100-tree forest is a few dozen allocations, not ~50,000 objects.
//
// Per tree: a time-decayed reservoir sample of S points (weight = -lambda*t + log(-log U),
// keep the S smallest, as in AWS's random-cut-forest-by-aws sampler), and a random cut tree over
// them. Internal nodes hold cut (dim, value), children, parent, mass and a bounding box; leaves
// hold a point, a mass (duplicates share a leaf) and a parent. Child encoding: >= 0 is an
// internal node id, < 0 is leaf id ~c. Scoring follows AWS's AnomalyScoreVisitor (expected
// isolation depth with separation probabilities on the way back up, normalised by
// log2(mass + 1)), and attribution its AnomalyAttributionVisitor (the same sum split into a
// LOW and a HIGH part per dimension).
//
// This file holds the layout, the reservoir sampler and the scoring; inserting and removing a
// point in one tree (cut sampling, splits, splicing a leaf out) is in rcf-tree.ts.

import { insertPoint, NONE, removePoint, type TreeArrays } from './rcf-tree.js';

export class Forest implements TreeArrays {
  readonly trees: number;
  readonly size: number; // S, sample size per tree
  readonly dim: number;
  private readonly lambda: number;
  // internal nodes
  readonly cutDim: Uint16Array;
  readonly cutVal: Float64Array;
  readonly left: Int16Array;
  readonly right: Int16Array;
  readonly parentI: Int16Array;
  readonly massI: Uint16Array;
  readonly box: Float64Array; // per internal node: dim mins then dim maxes
  // leaves
  readonly leafPt: Float64Array;
  readonly leafMass: Uint16Array;
  readonly parentL: Int16Array;
  // free lists and roots
  readonly freeI: Int16Array;
  readonly freeL: Int16Array;
  /** per tree: [root (encoded child), free internal count, free leaf count, heap size, rng state] */
  readonly meta: Int32Array;
  // reservoir: max-heap on weight, payload = leaf id
  readonly heapW: Float64Array;
  readonly heapLeaf: Int16Array;
  // scratch (not state)
  private readonly path: Int32Array;
  private readonly attr: Float64Array;
  private readonly attrTmp: Float64Array;

  constructor(trees: number, size: number, dim: number, timeDecay: number, seed: number) {
    this.trees = trees;
    this.size = size;
    this.dim = dim;
    this.lambda = timeDecay > 0 ? 1 / timeDecay : 0;
    const n = trees * size;
    this.cutDim = new Uint16Array(n);
    this.cutVal = new Float64Array(n);
    this.left = new Int16Array(n);
    this.right = new Int16Array(n);
    this.parentI = new Int16Array(n);
    this.massI = new Uint16Array(n);
    this.box = new Float64Array(n * 2 * dim);
    this.leafPt = new Float64Array(n * dim);
    this.leafMass = new Uint16Array(n);
    this.parentL = new Int16Array(n);
    this.freeI = new Int16Array(n);
    this.freeL = new Int16Array(n);
    this.meta = new Int32Array(trees * 5);
    this.heapW = new Float64Array(n);
    this.heapLeaf = new Int16Array(n);
    this.path = new Int32Array(size + 1);
    this.attr = new Float64Array(2 * dim);
    this.attrTmp = new Float64Array(2 * dim);
    for (let k = 0; k < trees; k++) {
      const base = k * size;
      for (let i = 0; i < size; i++) {
        // stacks popped from the end: lowest ids first
        this.freeI[base + i] = size - 1 - i;
        this.freeL[base + i] = size - 1 - i;
      }
      const m = k * 5;
      this.meta[m] = NONE; // root: NONE means empty (a leaf would be ~id <= -1 too, so use count)
      this.meta[m + 1] = size;
      this.meta[m + 2] = size;
      this.meta[m + 3] = 0;
      this.meta[m + 4] = (seed * 0x9e3779b1 + k * 0x85ebca6b + 1) | 0;
    }
  }

  stateArrays(): ArrayBufferView[] {
    return [
      this.cutDim,
      this.cutVal,
      this.left,
      this.right,
      this.parentI,
      this.massI,
      this.box,
      this.leafPt,
      this.leafMass,
      this.parentL,
      this.freeI,
      this.freeL,
      this.meta,
      this.heapW,
      this.heapLeaf,
    ];
  }

  /** mulberry32, state in meta so it is snapshotted. Returns [0, 1). Also drawn by insertPoint (rcf-tree.ts). */
  rand(k: number): number {
    const m = k * 5 + 4;
    const a = (this.meta[m] + 0x6d2b79f5) | 0;
    this.meta[m] = a;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  private treeMass(k: number): number {
    const root = this.meta[k * 5];
    if (this.meta[k * 5 + 2] === this.size) return 0; // no leaves
    return root >= 0 ? this.massI[k * this.size + root] : this.leafMass[k * this.size + ~root];
  }

  /** Sampler + tree update for one point at sequence index t. */
  update(p: Float64Array, t: number): void {
    const S = this.size;
    for (let k = 0; k < this.trees; k++) {
      const u = this.rand(k);
      // log(-log U) with U in (0,1): guard U = 0
      const w = -this.lambda * t + Math.log(-Math.log(u > 0 ? u : 1e-300));
      const m = k * 5;
      const hs = this.meta[m + 3];
      const hb = k * S;
      if (hs < S) {
        const leaf = insertPoint(this, k, p);
        // sift up
        let i = hs;
        while (i > 0) {
          const par = (i - 1) >> 1;
          if (this.heapW[hb + par] >= w) break;
          this.heapW[hb + i] = this.heapW[hb + par];
          this.heapLeaf[hb + i] = this.heapLeaf[hb + par];
          i = par;
        }
        this.heapW[hb + i] = w;
        this.heapLeaf[hb + i] = leaf;
        this.meta[m + 3] = hs + 1;
      } else if (w < this.heapW[hb]) {
        removePoint(this, k, this.heapLeaf[hb]);
        const leaf = insertPoint(this, k, p);
        // replace root, sift down
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= S) break;
          const r = l + 1;
          const c = r < S && this.heapW[hb + r] > this.heapW[hb + l] ? r : l;
          if (this.heapW[hb + c] <= w) break;
          this.heapW[hb + i] = this.heapW[hb + c];
          this.heapLeaf[hb + i] = this.heapLeaf[hb + c];
          i = c;
        }
        this.heapW[hb + i] = w;
        this.heapLeaf[hb + i] = leaf;
      }
    }
  }

  /**
   * Mean over trees of AWS's anomaly score for p (p not yet inserted). With `attribution`,
   * also fills it (length 2*dim: LOW parts then HIGH parts) with the per-dimension split.
   */
  score(p: Float64Array, attribution?: Float64Array): number {
    const S = this.size;
    const d = this.dim;
    const path = this.path;
    const attr = this.attr;
    const tmp = this.attrTmp;
    if (attribution) attribution.fill(0);
    let total = 0;
    let counted = 0;
    for (let k = 0; k < this.trees; k++) {
      const base = k * S;
      const mass = this.treeMass(k);
      if (mass === 0) continue;
      counted++;
      let node = this.meta[k * 5];
      let len = 0;
      while (node >= 0) {
        path[len++] = node;
        const g = base + node;
        node = p[this.cutDim[g]] <= this.cutVal[g] ? this.left[g] : this.right[g];
      }
      const gl = (base + ~node) * d;
      let same = true;
      let dist = 0;
      for (let j = 0; j < d; j++) {
        const diff = p[j] - this.leafPt[gl + j];
        if (diff !== 0) same = false;
        dist += Math.abs(diff);
      }
      let s: number;
      const norm = Math.log2(mass + 1);
      if (same) {
        const lm = this.leafMass[base + ~node];
        s = (1 - lm / (2 * mass)) / (len + Math.log2(lm + 1));
        if (attribution) for (let j = 0; j < 2 * d; j++) attribution[j] += (s * norm) / (2 * d);
        total += s * norm;
        continue; // inside every ancestor's box: nothing more to add
      }
      s = 1 / (len + 1);
      if (attribution) {
        for (let j = 0; j < d; j++) {
          const diff = p[j] - this.leafPt[gl + j];
          attr[j] = diff < 0 ? (-diff / dist) * s : 0;
          attr[d + j] = diff > 0 ? (diff / dist) * s : 0;
        }
      }
      for (let i = len - 1; i >= 0; i--) {
        const gb = (base + path[i]) * 2 * d;
        let gap = 0;
        let range = 0;
        for (let j = 0; j < d; j++) {
          const lo = this.box[gb + j];
          const hi = this.box[gb + d + j];
          const x = p[j];
          if (x < lo) {
            gap += lo - x;
            range += hi - x;
            if (attribution) tmp[j] = lo - x;
          } else if (x > hi) {
            gap += x - hi;
            range += x - lo;
            if (attribution) tmp[d + j] = x - hi;
          } else range += hi - lo;
        }
        if (gap <= 0) break;
        const prob = gap / range;
        const su = 1 / (i + 1);
        s = prob * su + (1 - prob) * s;
        if (attribution) {
          for (let j = 0; j < 2 * d; j++) {
            attr[j] = (tmp[j] / range) * su + (1 - prob) * attr[j];
            tmp[j] = 0;
          }
        }
      }
      total += s * norm;
      if (attribution) for (let j = 0; j < 2 * d; j++) attribution[j] += attr[j] * norm;
    }
    if (counted === 0) return 0;
    if (attribution) for (let j = 0; j < 2 * d; j++) attribution[j] /= counted;
    return total / counted;
  }
}
