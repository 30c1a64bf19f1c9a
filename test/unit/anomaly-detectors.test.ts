// Detectors as pure logic: warm-up, determinism, spikes, attribution, snapshot/restore, params.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isGatehouseError } from '../../core/errors.js';
import { createDetector, restoreDetector, rcfExplain, DETECTORS } from '../../rules/anomaly/index.js';
import { decodeHeader, encodeSnapshot } from '../../rules/anomaly/snapshot.js';
import type { StatefulDetector } from '../../rules/anomaly/types.js';

const isGatehouseErrorCode = isGatehouseError;

/** Deterministic noise (LCG) so tests never depend on Math.random. */
function noise(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647 - 0.5;
  };
}

function series(n: number, seed = 7): number[] {
  const r = noise(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(10 + Math.sin(i / 8) + 0.2 * r());
  return out;
}

const SMALL_RCF = { numberOfTrees: 30, subSampleSize: 64 };

test('rcf scores 0 during warm-up (subSampleSize points), then scores', () => {
  const det = createDetector('rcf', SMALL_RCF);
  const xs = series(200);
  for (let i = 0; i < 64; i++) {
    assert.equal(det.update(xs[i]!), 0, `point ${i} is in warm-up`);
    assert.equal(det.warm, i + 1 >= 64);
  }
  assert.ok(det.update(xs[64]!) > 0, 'first point after warm-up has a score');
});

test('rcf warm-up counts shingles: shingleSize 4 needs 3 more points', () => {
  const det = createDetector('rcf', { ...SMALL_RCF, shingleSize: 4 });
  const xs = series(200);
  for (let i = 0; i < 64 + 3; i++) assert.equal(det.update(xs[i]!), 0);
  assert.ok(det.update(xs[67]!) > 0);
});

// A series whose third point moves: without a warm-up ewma scored it in the thousands (its
// variance had seen one step), far above any alert level.
function jumpy(n: number): number[] {
  const xs = series(n);
  xs[2] = xs[2]! + 5;
  return xs;
}

test('ewma scores 0 during warm-up (ceil(1/alpha) = 73 points with halfLife 50), then scores', () => {
  const det = createDetector('ewma', {});
  const xs = jumpy(200);
  for (let i = 0; i < 73; i++) {
    assert.equal(det.update(xs[i]!), 0, `point ${i} is in warm-up`);
    assert.equal(det.warm, i + 1 >= 73);
  }
  let maxNormal = 0;
  for (let i = 73; i < 200; i++) maxNormal = Math.max(maxNormal, det.update(xs[i]!));
  assert.ok(maxNormal > 0 && maxNormal < 4, `ordinary points after warm-up score ${maxNormal}, below the bench's alert level 4`);
  const spike = det.update(25);
  assert.ok(spike > 10, `a real anomaly after warm-up still scores high: ${spike}`);
});

test('ewma warmup param: its own length, alpha derives the default, 2 scores from the third point', () => {
  const xs = jumpy(100);
  const firstScored = (params: Record<string, number>): number => {
    const det = createDetector('ewma', params);
    return xs.findIndex((x) => det.update(x) > 0);
  };
  assert.equal(firstScored({ warmup: 10 }), 10);
  assert.equal(firstScored({ alpha: 0.1 }), 10); // ceil(1 / 0.1)
  assert.equal(firstScored({ halfLife: 10 }), 15); // alpha = 1 - 2^(-1/10) = 0.067
  assert.equal(firstScored({ warmup: 2 }), 2); // the behaviour before the warm-up
  assert.equal(firstScored({ warmup: 1 }), 2); // a variance needs two points
  assert.throws(
    () => createDetector('ewma', { warmup: -1 }),
    (e: unknown) => isGatehouseErrorCode(e, 'GH_DETECTOR_PARAM'),
  );
});

test('ewma restored during warm-up stays silent until warm, then matches the uninterrupted detector', () => {
  const xs = jumpy(200);
  const ref = createDetector('ewma', {});
  const want = xs.map((x) => ref.update(x));
  const a = createDetector('ewma', {});
  for (let i = 0; i < 30; i++) assert.equal(a.update(xs[i]!), 0);
  const b = restoreDetector(a.snapshot());
  assert.equal(b.warm, false);
  for (let i = 30; i < 73; i++) assert.equal(b.update(xs[i]!), 0, `point ${i} after restore is in warm-up`);
  assert.ok(b.warm);
  for (let i = 73; i < 200; i++) assert.equal(b.update(xs[i]!), want[i], `point ${i}`);
  // A snapshot written before the warmup param existed (params without it) restores with the default.
  const old = createDetector('ewma', {}) as StatefulDetector;
  for (let i = 0; i < 30; i++) old.update(xs[i]!);
  const { warmup: _dropped, ...oldParams } = old.params;
  const c = restoreDetector(encodeSnapshot({ ...old, name: 'ewma', params: oldParams, stateArrays: () => old.stateArrays() }));
  assert.equal(c.params.warmup, 0);
  for (let i = 30; i < 200; i++) assert.equal(c.update(xs[i]!), want[i], `old snapshot, point ${i}`);
});

test('zscore scores 0 until its window is full (warmup 0 = window), then scores; warmup=N sets it; a restore keeps the count', () => {
  const xs = jumpy(200);
  const det = createDetector('zscore', { window: 20 });
  for (let i = 0; i < 20; i++) {
    assert.equal(det.update(xs[i]!), 0, `point ${i} is in warm-up`);
    assert.equal(det.warm, i + 1 >= 20);
  }
  assert.ok(det.update(xs[20]!) > 0);
  assert.ok(det.update(25) > 10, 'a real anomaly after warm-up still scores high');
  const firstScored = (params: Record<string, number>): number => {
    const d = createDetector('zscore', params);
    return xs.findIndex((x) => d.update(x) > 0);
  };
  assert.equal(firstScored({}), 100); // window 100
  assert.equal(firstScored({ window: 50, warmup: 10 }), 10);
  assert.equal(firstScored({ warmup: 1 }), 2); // the behaviour before the warm-up: a std needs two points
  const ref = createDetector('zscore', { window: 20 });
  const want = xs.map((x) => ref.update(x));
  const a = createDetector('zscore', { window: 20 });
  for (let i = 0; i < 10; i++) a.update(xs[i]!);
  const b = restoreDetector(a.snapshot());
  for (let i = 10; i < 200; i++) assert.equal(b.update(xs[i]!), want[i], `point ${i} after restore`);
});

test('same input + seed = identical scores; another seed differs', () => {
  const xs = series(400);
  const run = (seed: number): number[] => {
    const det = createDetector('rcf', { ...SMALL_RCF, seed });
    return xs.map((x) => det.update(x));
  };
  assert.deepEqual(run(3), run(3));
  assert.notDeepEqual(run(3), run(4));
  const auto = (): number[] => {
    const det = createDetector('auto', {});
    return series(600).map((x) => det.update(x));
  };
  assert.deepEqual(auto(), auto());
});

for (const info of DETECTORS) {
  test(`${info.name}: a clear spike scores higher than every normal point`, () => {
    // rest periods off here: this test is about the score, anomaly-auto.test.ts covers them
    const params: Record<string, number> = info.name === 'rcf' ? SMALL_RCF : info.name === 'cad' || info.name === 'auto' ? { restPeriod: 0 } : {};
    const det = createDetector(info.name, params);
    const xs = series(700);
    let maxNormal = 0;
    for (let i = 0; i < xs.length; i++) {
      const s = det.update(xs[i]!);
      if (i >= 400) maxNormal = Math.max(maxNormal, s);
    }
    assert.ok(det.warm, 'warm after 700 points');
    const spike = det.update(25);
    assert.ok(spike > maxNormal, `spike ${spike} > max normal ${maxNormal}`);
  });
}

test('rcf attribution points at the input that moved, with its direction', () => {
  const det = createDetector('rcf', { ...SMALL_RCF, inputs: 3 });
  const r = noise(11);
  for (let i = 0; i < 500; i++) rcfExplain(det, [r(), 5 + r(), -3 + r()]);
  const low = rcfExplain(det, [0, -4, -3]);
  const sum = low.attribution.reduce((a, b) => a + b.strength, 0);
  assert.ok(Math.abs(sum - low.score) < 1e-9 * Math.max(1, low.score), 'strengths sum to the score');
  assert.equal(low.attribution.length, 3);
  assert.ok(low.attribution[1]!.strength > 0.8 * low.score, 'input 1 carries the score');
  assert.equal(low.attribution[1]!.directionalExplanation, 'LOW');
  const high = rcfExplain(det, [0, 5, 9]);
  assert.ok(high.attribution[2]!.strength > 0.8 * high.score);
  assert.equal(high.attribution[2]!.directionalExplanation, 'HIGH');
  assert.throws(
    () => rcfExplain(createDetector('zscore', {}), 1),
    (e: unknown) => isGatehouseErrorCode(e, 'GH_DETECTOR_PARAM'),
  );
});

for (const info of DETECTORS) {
  test(`${info.name}: snapshot/restore continues identically`, () => {
    const params = info.name === 'rcf' ? { ...SMALL_RCF, shingleSize: 2 } : {};
    const a = createDetector(info.name, params);
    const xs = series(900, 5);
    for (let i = 0; i < 450; i++) a.update(xs[i]!);
    const bytes = a.snapshot();
    const b = restoreDetector(bytes);
    assert.equal(b.name, info.name);
    assert.deepEqual(b.params, a.params);
    for (let i = 450; i < 900; i++) assert.equal(b.update(xs[i]!), a.update(xs[i]!), `point ${i}`);
    assert.deepEqual(b.snapshot(), a.snapshot());
  });
}

test('restoreDetector rejects garbage with GH_STORE_CORRUPT, never crashes', () => {
  const good = createDetector('zscore', {}).snapshot();
  for (const bad of [new Uint8Array(0), new Uint8Array(64), good.subarray(0, good.length - 3), Uint8Array.from(good).fill(7, 12, 20)]) {
    assert.throws(
      () => restoreDetector(bad),
      (e: unknown) => isGatehouseErrorCode(e, 'GH_STORE_CORRUPT'),
    );
  }
});

test('non-finite inputs score 0 and leave the state untouched', () => {
  const a = createDetector('ewma', {});
  const b = createDetector('ewma', {});
  const xs = series(100);
  for (const x of xs) {
    a.update(x);
    b.update(x);
    assert.equal(b.update(NaN), 0);
    assert.equal(b.update(Infinity), 0);
  }
  assert.equal(a.update(12), b.update(12));
});

test('zscore and ewma: a finite glitch whose square overflows (1e200) is scored, not learnt: a later spike still alarms (ewma went blind for good)', () => {
  for (const name of ['ewma', 'zscore']) {
    const clean = createDetector(name, {});
    const glitched = createDetector(name, {});
    const xs = series(300);
    for (const x of xs) {
      clean.update(x);
      glitched.update(x);
    }
    assert.ok(glitched.update(1e200) > 1e100, `${name}: the glitch itself alarms`);
    assert.ok(glitched.update(-1e200) > 1e100, `${name}: so does a negative one`);
    for (const x of series(150, 11)) assert.equal(glitched.update(x), clean.update(x), `${name}: the state never saw the glitches`);
    assert.ok(glitched.update(40) > 20, `${name}: a spike after the glitch still alarms`);
  }
  // A glitch as the very first point does not become the mean.
  const first = createDetector('ewma', { warmup: 2 });
  first.update(1e200);
  for (const x of series(20)) first.update(x);
  assert.ok(first.update(40) > 20);
});

test('param validation names the param, the allowed range and an example', () => {
  const cases: Array<[string, Record<string, number | string>, RegExp]> = [
    ['rcf', { numberOfTrees: 0 }, /numberOfTrees=0 .*integer in \[1, 1000\]/],
    ['rcf', { subSampleSize: 'lots' }, /subSampleSize=lots/],
    ['zscore', { window: 2.5 }, /window=2.5 .*integer/],
    ['ewma', { alpha: 2 }, /alpha=2 .*\[0, 1\]/],
    ['rcf', { numberOfTree: 10 }, /unknown param 'numberOfTree' \(did you mean 'numberOfTrees'\?\)/],
    ['zscore', { windw: 10 }, /unknown param 'windw' \(did you mean 'window'\?\)/],
    ['zscore', { bogus: 10 }, /unknown param 'bogus'$/],
    ['zscor', {}, /unknown detector 'zscor' \(did you mean 'zscore'\?\)/],
    ['nope', {}, /unknown detector 'nope'$/],
  ];
  for (const [name, params, re] of cases) {
    assert.throws(
      () => createDetector(name, params),
      (e: unknown) => {
        assert.ok(isGatehouseErrorCode(e, 'GH_DETECTOR_PARAM'));
        const err = e as Error & { hint?: string };
        assert.match(err.message, re);
        assert.ok(err.hint && err.hint.length > 0, 'has a hint with an example');
        return true;
      },
    );
  }
  // strings from the CLI are accepted when numeric
  assert.equal(createDetector('zscore', { window: '50' }).params.window, 50);
});

test('DETECTORS metadata: every param has a default accepted by its own validation', () => {
  for (const info of DETECTORS) {
    const defaults = Object.fromEntries(info.params.map((p) => [p.name, p.default]));
    const det = createDetector(info.name, defaults);
    assert.deepEqual(det.params, defaults);
    for (const p of info.params) assert.ok(p.description.length > 0);
  }
});

test('rollback: zscore and ewma snapshots name warmup only when it is set, so a gateway of round 11 (which refuses an unknown param) restores them', () => {
  // Found rolling a gateway back to round 11 (2238796): every zscore/ewma rule logged
  // "GH_DETECTOR_PARAM: zscore: unknown param 'warmup'" and its detectors learnt again.
  const paramsOf = (bytes: Uint8Array): Record<string, unknown> => decodeHeader(bytes).params;
  for (const name of ['zscore', 'ewma']) {
    const det = createDetector(name, {});
    for (let i = 0; i < 10; i++) det.update(20 + (i % 3));
    const header = paramsOf(det.snapshot());
    assert.equal('warmup' in header, false, `${name}: ${JSON.stringify(header)}`);
    const back = restoreDetector(det.snapshot());
    assert.equal(back.params.warmup, 0);
    assert.equal(back.update(21), det.update(21));
    assert.equal(paramsOf(createDetector(name, { warmup: 5 }).snapshot()).warmup, 5, 'a set warmup is kept');
  }
});
