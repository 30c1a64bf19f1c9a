// The default detector's stages (rank likelihood, raw gate, rest period) and the contextual
// model behind `cad`, as pure logic on deterministic series.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDetector, restoreDetector, AUTO_THRESHOLD, DEFAULT_DETECTOR } from '../../rules/anomaly/index.js';
import { RankLikelihood } from '../../rules/anomaly/likelihood.js';
import { ContextModel } from '../../rules/anomaly/context-model.js';

function noise(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647 - 0.5;
  };
}

test('AUTO_THRESHOLD is the 3-sigma tail rate: -log10(0.0027)', () => {
  assert.equal(DEFAULT_DETECTOR, 'auto');
  assert.ok(Math.abs(AUTO_THRESHOLD - 2.5686) < 1e-4);
  assert.equal(createDetector('auto').params.restThreshold, AUTO_THRESHOLD);
});

test('rank likelihood: a new record after n scores is -log10(1/(n+1)); an ordinary score is low', () => {
  const r = noise(3);
  const lik = new RankLikelihood(1, 1000, 0);
  for (let i = 0; i < 999; i++) lik.update(1 + 0.1 * r());
  assert.ok(Math.abs(lik.update(50) - 3) < 1e-9, 'record after 999 scores: p = 1/1000');
  const ordinary = lik.update(1);
  assert.ok(ordinary < 0.5, `median-ish score is not rare (${ordinary})`);
});

test('rank likelihood forgets: the window slides, so an old record stops masking new ones', () => {
  const lik = new RankLikelihood(1, 100, 0);
  lik.update(50); // an early outlier
  for (let i = 0; i < 50; i++) lik.update(1);
  assert.ok(lik.update(40) < 1.8, 'below the remembered outlier: not a record');
  for (let i = 0; i < 200; i++) lik.update(1);
  assert.ok(lik.update(40) >= 2, 'outlier slid out of the window: a record again (p = 1/101)');
});

test('rank likelihood needs evidence: the score is bounded by log10(n + 1)', () => {
  const lik = new RankLikelihood(1, 1000, 0);
  for (let i = 0; i < 9; i++) lik.update(1);
  assert.ok(lik.update(1e6) <= 1 + 1e-12, 'after 9 scores, at most -log10(1/10)');
});

test('auto stays below AUTO_THRESHOLD on plain noise and on a smooth periodic signal', () => {
  for (const make of [(r: () => number) => (_i: number) => 5 + r(), (r: () => number) => (i: number) => 20 + 10 * Math.sin(i / 30) + 0.01 * r()]) {
    const r = noise(11);
    const f = make(r);
    const det = createDetector('auto', { numberOfTrees: 50 });
    let alarms = 0;
    for (let i = 0; i < 4000; i++) if (det.update(f(i)) >= AUTO_THRESHOLD) alarms++;
    assert.equal(alarms, 0);
  }
});

test('auto flags a spike once, then rests for restPeriod points', () => {
  const r = noise(5);
  const det = createDetector('auto', { numberOfTrees: 50, restPeriod: 100 });
  for (let i = 0; i < 2000; i++) det.update(10 + r());
  assert.ok(det.warm);
  const first = det.update(40);
  assert.ok(first >= AUTO_THRESHOLD, `spike scores ${first}`);
  // another outlier inside the rest is muted, and (like CAD OSE) restarts the rest
  assert.equal(det.update(45), 0);
  for (let i = 0; i < 100; i++) assert.equal(det.update(10 + r()), 0, `rest point ${i}`);
  for (let i = 0; i < 5; i++) det.update(10 + r());
  assert.ok(det.update(60) > 0, 'scores again after the rest period');
});

test('auto raw gate: a score must also be isolated in absolute terms (min of both evidences)', () => {
  const r = noise(9);
  const gated = createDetector('auto', { numberOfTrees: 50, restPeriod: 0 });
  const open = createDetector('auto', { numberOfTrees: 50, restPeriod: 0, rawGate: 0 });
  let gatedMax = 0;
  let openMax = 0;
  for (let i = 0; i < 3000; i++) {
    const x = r();
    gatedMax = Math.max(gatedMax, gated.update(x));
    openMax = Math.max(openMax, open.update(x));
  }
  // on i.i.d. noise the rank alone reaches rare-looking records; the gate keeps them down
  assert.ok(openMax > gatedMax, `open ${openMax} > gated ${gatedMax}`);
  assert.ok(gatedMax < AUTO_THRESHOLD);
});

test('auto snapshot mid-rest continues bit-identically', () => {
  const r = noise(13);
  const xs = Array.from({ length: 1600 }, (_, i) => (i === 1200 ? 50 : 3 + r()));
  const a = createDetector('auto', { numberOfTrees: 30, subSampleSize: 64, restPeriod: 100 });
  for (let i = 0; i < 1250; i++) a.update(xs[i]!);
  const b = restoreDetector(a.snapshot());
  for (let i = 1250; i < xs.length; i++) assert.equal(b.update(xs[i]!), a.update(xs[i]!), `point ${i}`);
});

test('context model: a learnt cycle is predicted (0), a new level and a new order are not', () => {
  const m = new ContextModel(8, 4, 1024, 0, 20);
  const cycle = [0, 1, 2, 3, 4, 5, 6, 7, 6, 5, 4, 3, 2, 1];
  let i = 0;
  for (; i < 20 + 14 * 20; i++) m.update(cycle[i % 14]!);
  let sum = 0;
  for (const end = i + 28; i < end; i++) sum += m.update(cycle[i % 14]!);
  assert.equal(sum, 0, 'the learnt cycle is fully predicted');
  assert.equal(m.update(7.9), 1, 'beyond any value seen after this history: nothing predicted it');
  const m2 = new ContextModel(8, 4, 1024, 0, 20);
  for (let i = 0; i < 20 + 14 * 20; i++) m2.update(cycle[i % 14]!);
  m2.update(0);
  const jump = m2.update(7); // seen value, never after 0
  assert.ok(jump > 0 && jump < 1, `known value in an unknown order scores in (0, 1): ${jump}`);
});

test('context model memory is fixed: random input does not grow the table', () => {
  const m = new ContextModel(16, 6, 256, 1000, 10);
  const before = m.stateArrays().reduce((n, a) => n + a.byteLength, 0);
  const r = noise(17);
  for (let i = 0; i < 20000; i++) {
    const s = m.update(r() * 100);
    assert.ok(s >= 0 && s <= 1);
  }
  assert.equal(m.stateArrays().reduce((n, a) => n + a.byteLength, 0), before);
});

test('cad rests after an alarm; a flat series never alarms', () => {
  const det = createDetector('cad', { calibration: 50, restPeriod: 40 });
  for (let i = 0; i < 500; i++) assert.equal(det.update(7), 0);
  assert.equal(det.update(9), 1, 'first change of a flat series: fully novel');
  for (let i = 0; i < 40; i++) assert.equal(det.update(i % 2 ? 20 : -5), 0, `rest point ${i}`);
});
