// The default detector's stages (rank likelihood, raw gate, rest period) and the contextual
// model behind `cad`, as pure logic on deterministic series.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDetector, restoreDetector, autoExplain, AUTO_THRESHOLD, DEFAULT_DETECTOR } from '../../rules/anomaly/index.js';
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
  // another outlier inside the rest, within the range the spike widened, is muted, and (like
  // CAD OSE) restarts the rest
  assert.equal(det.update(38), 0);
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
  assert.equal(
    m.stateArrays().reduce((n, a) => n + a.byteLength, 0),
    before,
  );
});

test('cad rests after an alarm; a flat series never alarms', () => {
  const det = createDetector('cad', { calibration: 50, restPeriod: 40 });
  for (let i = 0; i < 500; i++) assert.equal(det.update(7), 0);
  assert.equal(det.update(9), 1, 'first change of a flat series: fully novel');
  for (let i = 0; i < 40; i++) assert.equal(det.update(i % 2 ? 20 : -5), 0, `rest point ${i}`);
});

/** 20 + 0.3 N(0, 1), seeded (Box-Muller over a Park-Miller stream). */
function gaussSeries(n: number, seed: number): number[] {
  const r = noise(seed);
  return Array.from({ length: n }, () => {
    const u = r() + 0.5;
    const v = r() + 0.5;
    return 20 + 0.3 * Math.sqrt(-2 * Math.log(Math.max(u, 1e-12))) * Math.cos(2 * Math.PI * v);
  });
}

test('issue 16 regression: a 50-sigma spike at point 1,000 scores high although a false alarm at 868 started a rest period', () => {
  const xs = gaussSeries(1200, 21);
  xs[868] = 22.1; // a 7-sigma blip standing in for the false alarm that started the rest period
  xs[1000] = 35; // the 50-sigma spike
  const det = createDetector('auto');
  const old = createDetector('auto', { breakThrough: 1e9, spatialMargin: 0 }); // the previous design
  const scores: number[] = [];
  const oldScores: number[] = [];
  let stage = '';
  xs.forEach((x, i) => {
    oldScores.push(old.update(x));
    if (i === 1000) {
      const e = autoExplain(det, x);
      scores.push(e.score);
      stage = e.stage;
    } else scores.push(det.update(x));
  });
  assert.ok(scores[868]! >= AUTO_THRESHOLD && oldScores[868]! >= AUTO_THRESHOLD, 'the blip alarms and starts a rest period');
  assert.equal(oldScores[1000], 0, 'the previous design silenced the spike (the bug)');
  assert.ok(scores[1000]! >= AUTO_THRESHOLD + 1, `the spike breaks through the rest period: ${scores[1000]}`);
  assert.equal(stage, 'spatial');
});

test('issue 16 regression: warm-up is not blindness: a spike at point 50 is flagged, plain noise is not', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const xs = gaussSeries(640, seed);
    const quiet = createDetector('auto');
    const flagged = xs.filter((x) => quiet.update(x) >= AUTO_THRESHOLD).length;
    assert.equal(flagged, 0, `seed ${seed}: no alarm on noise during the warm-up`);
    xs[50] = 35;
    const det = createDetector('auto');
    const e = xs
      .slice(0, 51)
      .map((x) => autoExplain(det, x))
      .at(-1)!;
    assert.ok(e.score >= AUTO_THRESHOLD, `seed ${seed}: spike at point 50 scores ${e.score}`);
    assert.equal(e.stage, 'warmup');
    assert.ok(!det.warm, 'still in warm-up');
  }
});

test('auto: the spatial rule fires outside the running range by the margin, not inside it', () => {
  const det = createDetector('auto', { numberOfTrees: 20 });
  const xs = gaussSeries(1500, 8);
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of xs) {
    det.update(x);
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  const inside = autoExplain(det, (lo + hi) / 2);
  assert.notEqual(inside.stage, 'spatial');
  assert.equal(inside.spatial, 0);
  for (let i = 0; i < 200; i++) det.update(xs[i]!); // let any rest period end
  const outside = autoExplain(det, hi + 0.5 * (hi - lo));
  assert.equal(outside.stage, 'spatial');
  assert.ok(Math.abs(outside.spatial - 0.5) < 1e-9, `distance in ranges: ${outside.spatial}`);
  assert.ok(Math.abs(outside.score - (AUTO_THRESHOLD + Math.log10(0.5 / 0.1))) < 1e-9, `score ${outside.score}`);
});

test('auto breakthrough: a much stronger score inside a rest period is reported; a similar one is not', () => {
  const det = createDetector('auto', { numberOfTrees: 20, restPeriod: 100 });
  const xs = gaussSeries(1500, 9);
  xs.forEach((x) => det.update(x));
  const first = autoExplain(det, 21.5);
  assert.ok(first.score >= AUTO_THRESHOLD, `first alarm ${first.score}`);
  const similar = autoExplain(det, 21.6);
  assert.equal(similar.score, 0);
  assert.ok(similar.suppressed, 'held at 0 by the rest period');
  const strong = autoExplain(det, 40);
  assert.ok(strong.score >= first.score + 1, `breaks through: ${strong.score}`);
  assert.equal(strong.suppressed, false);
});

test('auto snapshot during warm-up and after the spatial stage continues bit-identically', () => {
  const xs = gaussSeries(900, 31);
  xs[300] = 30;
  xs[700] = 26;
  for (const cut of [100, 650]) {
    const a = createDetector('auto', { numberOfTrees: 20 });
    for (let i = 0; i < cut; i++) a.update(xs[i]!);
    const b = restoreDetector(a.snapshot());
    for (let i = cut; i < xs.length; i++) assert.equal(b.update(xs[i]!), a.update(xs[i]!), `cut ${cut}, point ${i}`);
  }
});

test('rank likelihood tail fit: beyond the record the score keeps rising; pure rank stops at log10(n + 1)', () => {
  const make = (tail: number): RankLikelihood => {
    const r = noise(4);
    const lik = new RankLikelihood(1, 1000, 0, tail, 100);
    for (let i = 0; i < 999; i++) lik.update(1 + 0.5 * r());
    return lik;
  };
  assert.ok(Math.abs(make(0).update(5) - 3) < 1e-9);
  assert.ok(Math.abs(make(0).update(10) - 3) < 1e-9);
  const t5 = make(10).update(5);
  const t10 = make(10).update(10);
  assert.ok(t5 > 3 && t10 > t5, `tail scores ${t5} < ${t10}`);
});

test('issue 16 regression: a repeated spike (35 at point 50 and again at 1,000) is flagged both times, rest period or not', () => {
  for (const seed of [3, 6, 7]) {
    const xs = gaussSeries(1200, seed);
    xs[50] = 35;
    xs[1000] = 35; // not outside the running range any more: the forest must carry it
    const det = createDetector('auto');
    const scores = xs.map((x) => det.update(x));
    assert.ok(scores[50]! >= AUTO_THRESHOLD, `seed ${seed}: first spike ${scores[50]}`);
    assert.ok(scores[1000]! >= AUTO_THRESHOLD, `seed ${seed}: second spike ${scores[1000]}`);
  }
});

test("docs/anomaly.md's table of what auto sees: a spike at the last point of its 'nothing' row scores 0, one at the next point alarms", async () => {
  const { readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { repoRoot } = await import('../helpers/index.js');
  const md = await readFile(join(repoRoot, 'docs', 'anomaly.md'), 'utf8');
  const row = /^\| 1-(\d+) \| nothing \(score 0\) \|/m.exec(md);
  const next = /^\| (\d+)-256 \| values far from the mean/m.exec(md);
  assert.ok(row && next, "the page's rows 1-N and N+1-256");
  const silentUpTo = Number(row[1]);
  assert.equal(Number(next[1]), silentUpTo + 1);
  // A steady series, then a spike at point p (1-based): scored 0 within the silent rows, flagged after.
  const spikeScore = (p: number): number => {
    const det = createDetector('auto');
    let s = 0;
    for (let i = 1; i <= p; i++) s = det.update([i === p ? 1000 : i % 2 ? 10 : 10.1]);
    return s;
  };
  assert.equal(spikeScore(silentUpTo), 0, `a spike at point ${silentUpTo} (the page: nothing is seen up to it)`);
  assert.ok(spikeScore(silentUpTo + 1) >= AUTO_THRESHOLD, `a spike at point ${silentUpTo + 1} alarms (the page: the z-score stage sees it)`);
});
