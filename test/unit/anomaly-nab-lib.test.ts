// The cross-validation harness's pieces (test/bench): NAB scoring on a threshold grid
// (nab-lib.ts, score.py's rules) and the seeded synthetic corpus (synthetic.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestIndex, curve, normalized, prepare, rawAt, sumCurves, thresholdGrid, type Series } from '../bench/nab-lib.js';
import { syntheticCorpus } from '../bench/synthetic.js';

const series = (n: number, windows: Array<[number, number]>): Series => ({ key: 'x/y.csv', category: 'x', values: new Float64Array(n), windows });

test('nab-lib: a detection at the window start is perfect, none is null, a false alarm costs fpWeight', () => {
  const grid = thresholdGrid([1]);
  const g = grid.indexOf(1);
  const p = prepare(series(1000, [[500, 599]]));
  assert.equal(p.probation, 150);
  const scores = new Float64Array(1000);
  const none = curve(p, scores, grid);
  assert.equal(normalized(rawAt(none, g, 'standard'), 1, 'standard'), 0);
  scores[500] = 2; // earliest possible detection
  assert.ok(Math.abs(normalized(rawAt(curve(p, scores, grid), g, 'standard'), 1, 'standard') - 100) < 1e-9);
  scores[300] = 2; // a false alarm with no preceding window: -fpWeight
  const c = curve(p, scores, grid);
  assert.ok(Math.abs(rawAt(c, g, 'standard') - (1 - 0.11)) < 1e-9);
  assert.ok(Math.abs(rawAt(c, g, 'lowFP') - (1 - 0.22)) < 1e-9);
  scores[100] = 5; // inside probation: ignored
  assert.equal(rawAt(curve(p, scores, grid), g, 'standard'), rawAt(c, g, 'standard'));
  // above the detections' scores nothing fires: the window is missed
  assert.equal(rawAt(c, grid.indexOf(6), 'standard'), -1);
  assert.equal(bestIndex(sumCurves([c], grid.length), 'standard'), 0, 'lowest threshold that keeps the detection');
});

test('nab-lib: only the first detection in a window counts, later ones earn less', () => {
  const grid = thresholdGrid([1]);
  const p = prepare(series(1000, [[500, 599]]));
  const scores = new Float64Array(1000);
  scores[550] = 2;
  const mid = rawAt(curve(p, scores, grid), grid.indexOf(1), 'standard');
  scores[520] = 2;
  const earlier = rawAt(curve(p, scores, grid), grid.indexOf(1), 'standard');
  assert.ok(earlier > mid && mid > 0 && earlier < 1, `${earlier} > ${mid}`);
});

test('synthetic corpus: seeded (same seed, same series), labelled, every kind present', () => {
  const a = syntheticCorpus(1, 2);
  const b = syntheticCorpus(1, 2);
  assert.deepEqual(
    a.map((s) => Array.from(s.values.slice(0, 50))),
    b.map((s) => Array.from(s.values.slice(0, 50))),
  );
  assert.notDeepEqual(syntheticCorpus(2, 2)[0]!.values.slice(0, 50), a[0]!.values.slice(0, 50));
  const kinds = new Set(a.map((s) => s.category));
  assert.deepEqual([...kinds].sort(), ['syn-drift', 'syn-frequency', 'syn-none', 'syn-shift', 'syn-spike', 'syn-variance']);
  for (const s of a) {
    assert.ok(s.values.every(Number.isFinite));
    if (s.category === 'syn-none') assert.equal(s.windows.length, 0);
    else assert.ok(s.windows.length >= 1 && s.windows.every(([x, y]) => x >= 0 && y < s.values.length && x < y));
  }
});
