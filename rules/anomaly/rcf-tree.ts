// One random cut tree of a Forest (rcf-forest.ts), changed one point at a time: insert draws a
// cut in proportion to the span of each node's bounding box merged with the point, descending
// while the cut falls inside the box and splitting off a new leaf where it does not; remove
// splices an evicted leaf out and shrinks its ancestors' masses and boxes. It is separate from
// the forest because it is the tree's structure and its invariants (child encoding, parent links,
// masses, boxes, free lists); the forest keeps the layout, the reservoir sampler that decides
// which points enter and leave, and the scoring that only reads the trees. The arithmetic is
// exactly what the forest did inline (same operations, same order): scores stay bit-identical.

/** "No node": the parent of a root, and the root of an empty tree. */
export const NONE = -1;

/** What the tree code reads and writes of a Forest: its flat arrays and each tree's random stream. */
export interface TreeArrays {
  readonly size: number;
  readonly dim: number;
  readonly cutDim: Uint16Array;
  readonly cutVal: Float64Array;
  readonly left: Int16Array;
  readonly right: Int16Array;
  readonly parentI: Int16Array;
  readonly massI: Uint16Array;
  readonly box: Float64Array;
  readonly leafPt: Float64Array;
  readonly leafMass: Uint16Array;
  readonly parentL: Int16Array;
  readonly freeI: Int16Array;
  readonly freeL: Int16Array;
  readonly meta: Int32Array;
  /** Next number in [0, 1) of tree k's random stream (its state is in meta, so it is snapshotted). */
  rand(k: number): number;
}

function newLeaf(f: TreeArrays, k: number, p: Float64Array, parent: number): number {
  const m = k * 5 + 2;
  const id = f.freeL[k * f.size + --f.meta[m]];
  const g = k * f.size + id;
  f.leafPt.set(p, g * f.dim);
  f.leafMass[g] = 1;
  f.parentL[g] = parent;
  return id;
}

/** Insert p into tree k; returns the leaf id that now holds it. */
export function insertPoint(f: TreeArrays, k: number, p: Float64Array): number {
  const S = f.size;
  const d = f.dim;
  const base = k * S;
  const m = k * 5;
  if (f.meta[m + 2] === S) {
    const id = newLeaf(f, k, p, NONE);
    f.meta[m] = ~id;
    return id;
  }
  let node = f.meta[m];
  let parent = NONE;
  for (;;) {
    let r = 0;
    if (node < 0) {
      const g = (base + ~node) * d;
      let same = true;
      for (let j = 0; j < d; j++) {
        const a = f.leafPt[g + j];
        if (a !== p[j]) same = false;
        r += Math.abs(p[j] - a);
      }
      if (same) {
        f.leafMass[base + ~node]++;
        return ~node;
      }
      // a leaf's box is a point: any cut in the merged range separates p from it
      let u = f.rand(k) * r;
      let j = -1;
      let lastPos = 0;
      for (let q = 0; q < d; q++) {
        const span = Math.abs(p[q] - f.leafPt[g + q]);
        if (span <= 0) continue;
        lastPos = q;
        if (u < span) {
          j = q;
          break;
        }
        u -= span;
      }
      if (j < 0) {
        j = lastPos; // u rounded past the end: take the last dimension that differs
        u = 0;
      }
      const lo = Math.min(p[j], f.leafPt[g + j]);
      let cut = lo + u;
      if (cut >= Math.max(p[j], f.leafPt[g + j])) cut = lo; // rounding guard: keep lo <= cut < hi
      return split(f, k, node, parent, p, j, cut);
    }
    const gb = (base + node) * 2 * d;
    for (let j = 0; j < d; j++) {
      const lo = f.box[gb + j];
      const hi = f.box[gb + d + j];
      r += (p[j] > hi ? p[j] : hi) - (p[j] < lo ? p[j] : lo);
    }
    let u = f.rand(k) * r;
    let j = 0;
    for (; j < d; j++) {
      const lo = f.box[gb + j];
      const hi = f.box[gb + d + j];
      const span = (p[j] > hi ? p[j] : hi) - (p[j] < lo ? p[j] : lo);
      if (u < span || j === d - 1) break;
      u -= span;
    }
    const lo = f.box[gb + j];
    const hi = f.box[gb + d + j];
    const cut = (p[j] < lo ? p[j] : lo) + u;
    if (cut < lo || cut >= hi) {
      // the cut separates p from this subtree (p below lo with cut < lo, or above hi)
      if ((cut < lo && p[j] <= cut) || (cut >= hi && p[j] > cut)) return split(f, k, node, parent, p, j, cut);
    }
    // descend: p joins this subtree
    f.massI[base + node]++;
    for (let q = 0; q < d; q++) {
      if (p[q] < f.box[gb + q]) f.box[gb + q] = p[q];
      if (p[q] > f.box[gb + d + q]) f.box[gb + d + q] = p[q];
    }
    parent = node;
    node = p[f.cutDim[base + node]] <= f.cutVal[base + node] ? f.left[base + node] : f.right[base + node];
  }
}

/** New internal node above `node` (an encoded child) cutting p off at (j, cut). */
function split(f: TreeArrays, k: number, node: number, parent: number, p: Float64Array, j: number, cut: number): number {
  const S = f.size;
  const d = f.dim;
  const base = k * S;
  const m = k * 5;
  const id = f.freeI[base + --f.meta[m + 1]];
  const g = base + id;
  const leaf = newLeaf(f, k, p, id);
  f.cutDim[g] = j;
  f.cutVal[g] = cut;
  if (p[j] <= cut) {
    f.left[g] = ~leaf;
    f.right[g] = node;
  } else {
    f.left[g] = node;
    f.right[g] = ~leaf;
  }
  f.parentI[g] = parent;
  const gb = g * 2 * d;
  if (node >= 0) {
    const cb = (base + node) * 2 * d;
    f.massI[g] = f.massI[base + node] + 1;
    for (let q = 0; q < d; q++) {
      const lo = f.box[cb + q];
      const hi = f.box[cb + d + q];
      f.box[gb + q] = p[q] < lo ? p[q] : lo;
      f.box[gb + d + q] = p[q] > hi ? p[q] : hi;
    }
    f.parentI[base + node] = id;
  } else {
    const lp = (base + ~node) * d;
    f.massI[g] = f.leafMass[base + ~node] + 1;
    for (let q = 0; q < d; q++) {
      const a = f.leafPt[lp + q];
      f.box[gb + q] = p[q] < a ? p[q] : a;
      f.box[gb + d + q] = p[q] > a ? p[q] : a;
    }
    f.parentL[base + ~node] = id;
  }
  if (parent === NONE) f.meta[m] = id;
  else if (f.left[base + parent] === node) f.left[base + parent] = id;
  else f.right[base + parent] = id;
  return leaf;
}

/** Remove one copy of leaf `leaf` from tree k (the reservoir evicted it). */
export function removePoint(f: TreeArrays, k: number, leaf: number): void {
  const S = f.size;
  const d = f.dim;
  const base = k * S;
  const m = k * 5;
  const gl = base + leaf;
  let up = f.parentL[gl];
  if (--f.leafMass[gl] > 0) {
    for (; up !== NONE; up = f.parentI[base + up]) f.massI[base + up]--;
    return;
  }
  f.freeL[base + f.meta[m + 2]++] = leaf;
  if (up === NONE) {
    f.meta[m] = NONE;
    return;
  }
  // splice the parent out: the sibling takes its place
  const par = up;
  const sib = f.left[base + par] === ~leaf ? f.right[base + par] : f.left[base + par];
  const gp = f.parentI[base + par];
  if (sib >= 0) f.parentI[base + sib] = gp;
  else f.parentL[base + ~sib] = gp;
  if (gp === NONE) f.meta[m] = sib;
  else if (f.left[base + gp] === par) f.left[base + gp] = sib;
  else f.right[base + gp] = sib;
  f.freeI[base + f.meta[m + 1]++] = par;
  // ancestors lose one point: mass down, box shrinks to the union of children
  for (up = gp; up !== NONE; up = f.parentI[base + up]) {
    const g = base + up;
    f.massI[g]--;
    const gb = g * 2 * d;
    const l = f.left[g];
    const r = f.right[g];
    for (let q = 0; q < d; q++) {
      let lo: number;
      let hi: number;
      if (l >= 0) {
        lo = f.box[(base + l) * 2 * d + q];
        hi = f.box[(base + l) * 2 * d + d + q];
      } else lo = hi = f.leafPt[(base + ~l) * d + q];
      if (r >= 0) {
        const a = f.box[(base + r) * 2 * d + q];
        const b = f.box[(base + r) * 2 * d + d + q];
        if (a < lo) lo = a;
        if (b > hi) hi = b;
      } else {
        const a = f.leafPt[(base + ~r) * d + q];
        if (a < lo) lo = a;
        if (a > hi) hi = a;
      }
      f.box[gb + q] = lo;
      f.box[gb + d + q] = hi;
    }
  }
}
