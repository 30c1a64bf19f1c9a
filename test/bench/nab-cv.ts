// Cross-validation of the default detector's design and parameters, in one process.
// Corpus: the 18-file NAB subset (../shared/nab or $NAB_DIR) plus a seeded synthetic corpus
// (synthetic.ts: spikes, level shifts, drifts, frequency and variance changes, noise only).
// The forest's raw scores do not depend on the stages after it, so they are computed once per
// forest setting, the rank likelihood once per history window, and every variant of the later
// stages replays the real AutoStages class over those cached scores (the harness checks that
// this reproduces AutoDetector exactly). Each variant x file gives a score curve over a grid
// of thresholds (nab-lib.ts, NAB's rules), so choosing a variant and threshold on the training
// files and scoring the held-out one costs additions.
// Reported per design family: in-sample (best variant and threshold on the 18 NAB files), CV by
// leave-one-file-out over the NAB files (trained on the other 17 + synthetic) and by
// leave-one-category-out over all categories, and the gap; at the best and at the fixed
// threshold (AUTO_THRESHOLD).
// Usage: node dist/test/bench/nab-cv.js [--quick]
import { resolve, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AUTO_THRESHOLD, createDetector } from '../../rules/anomaly/index.js';
import { AutoStages } from '../../rules/anomaly/auto-stages.js';
import { forestStrength, gateScore, rankEvidence } from '../../rules/anomaly/auto.js';
import { Forest } from '../../rules/anomaly/rcf-forest.js';
import { RankLikelihood } from '../../rules/anomaly/likelihood.js';
import {
  bestIndex,
  curve,
  loadNab,
  normalized,
  prepare,
  rawAt,
  sumCurves,
  thresholdGrid,
  PROFILE_NAMES,
  type Curve,
  type Prepared,
  type Profile,
} from './nab-lib.js';
import { syntheticCorpus } from './synthetic.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = here.includes(join('dist', 'test')) ? resolve(here, '../../..') : resolve(here, '../..');
const nabDir = process.env.NAB_DIR ? resolve(process.env.NAB_DIR) : resolve(root, '../shared/nab');
const quick = process.argv.includes('--quick');

const SAMPLE = 256;
const TREES = quick ? 30 : 100;
interface Knobs {
  timeDecay: number;
  historyWindow: number;
  tail: number;
  rawGate: number;
  restPeriod: number;
  breakThrough: number;
  spatialMargin: number;
  /** spatial rule from this many points (0 = forest warm-up, 1 = full warm-up) */
  spatialEarly: number;
  /** tail fit from this many scores (0 = rank evidence) */
  tailFrom: number;
  /** raw scores averaged before the rank (Numenta's is 10) */
  averageWindow: number;
  /** z-score reaching the alarm level during warm-up (0 = silent warm-up) */
  warmupZ: number;
  /** breakthrough measured on the forest's ungated strength (1) or on the score (0) */
  strengthBar: number;
}
const NEVER = 1e9;
const AXES: { [K in keyof Knobs]: number[] } = {
  timeDecay: [2000],
  historyWindow: [8640],
  tail: [0, 10],
  rawGate: [2],
  restPeriod: [75, 150, 300],
  breakThrough: [1, NEVER],
  spatialMargin: [0, 0.05, 0.1],
  spatialEarly: [0, 1],
  tailFrom: [0, 100],
  averageWindow: [1],
  warmupZ: [6],
  strengthBar: [0, 1],
};
// --axes name=v1,v2;name=v3 replaces axes (e.g. a focused run)
const axesArg = process.argv[process.argv.indexOf('--axes') + 1];
if (process.argv.includes('--axes') && axesArg) {
  for (const part of axesArg.split(';')) {
    const [name, list] = part.split('=');
    (AXES as Record<string, number[]>)[name!] = list!.split(',').map(Number);
  }
}
/** The defaults: principled values, spatialMargin and spatial-from-256 chosen by this CV (docs/anomaly.md). */
const DEFAULTS: Knobs = {
  timeDecay: 2000,
  historyWindow: 8640,
  tail: 0,
  rawGate: 2,
  restPeriod: 150,
  breakThrough: 2,
  spatialMargin: 0.1,
  spatialEarly: 1,
  tailFrom: 0,
  averageWindow: 1,
  warmupZ: 6,
  strengthBar: 1,
};

const t0 = performance.now();
const nab = await loadNab(nabDir);
const syn = syntheticCorpus(1, 6);
const corpus: Prepared[] = [...nab, ...syn].map(prepare);
const isNab = corpus.map((p) => !p.series.category.startsWith('syn-'));
const grid = thresholdGrid([AUTO_THRESHOLD]);
const G = grid.length;
const gFixed = grid.indexOf(AUTO_THRESHOLD);
const warmPoints = SAMPLE + rankEvidence(AUTO_THRESHOLD);

// forest raw scores per timeDecay, rank scores per (timeDecay, historyWindow)
const raws = new Map<number, Float64Array[]>();
const ranks = new Map<string, Float64Array[]>();
for (const td of AXES.timeDecay) {
  const perFile: Float64Array[] = [];
  for (const p of corpus) {
    const x = p.series.values;
    const f = new Forest(TREES, SAMPLE, 1, td, 42);
    const pt = new Float64Array(1);
    const raw = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      pt[0] = x[i]!;
      raw[i] = i >= SAMPLE ? f.score(pt) : NaN;
      f.update(pt, i);
    }
    perFile.push(raw);
  }
  raws.set(td, perFile);
  for (const hw of AXES.historyWindow)
    for (const tail of AXES.tail)
      for (const tf of AXES.tailFrom)
        for (const aw of AXES.averageWindow) {
          ranks.set(
            `${td}/${hw}/${tail}/${tf}/${aw}`,
            perFile.map((raw) => {
              const r = new RankLikelihood(aw, hw, 0, tail, tf || rankEvidence(AUTO_THRESHOLD));
              return raw.map((v) => (Number.isNaN(v) ? 0 : r.update(v)));
            }),
          );
        }
}
console.log(`forest + rank scores for ${corpus.length} series in ${((performance.now() - t0) / 1000).toFixed(1)} s (${TREES} trees)`);

function runStages(k: Knobs, fi: number, out: Float64Array): void {
  const raw = raws.get(k.timeDecay)![fi]!;
  const rank = ranks.get(`${k.timeDecay}/${k.historyWindow}/${k.tail}/${k.tailFrom}/${k.averageWindow}`)![fi]!;
  const x = corpus[fi]!.series.values;
  const st = new AutoStages(1, {
    threshold: AUTO_THRESHOLD,
    restThreshold: AUTO_THRESHOLD,
    restPeriod: k.restPeriod,
    breakThrough: k.breakThrough,
    spatialMargin: k.spatialMargin,
    warmupZ: k.warmupZ,
    warmPoints,
    spatialFrom: k.spatialEarly ? SAMPLE : warmPoints,
  });
  const v = new Float64Array(1);
  for (let i = 0; i < x.length; i++) {
    v[0] = x[i]!;
    const cold = Number.isNaN(raw[i]!);
    const f = cold ? 0 : gateScore(rank[i]!, raw[i]!, k.rawGate);
    out[i] = st.update(v, f, cold ? 0 : k.strengthBar ? forestStrength(raw[i]!, k.rawGate) : f);
  }
}

// check: the harness reproduces the real detector (full 100 trees only)
if (!quick) {
  const fi = corpus.findIndex((p) => p.series.key.includes('ec2_request_latency'));
  const det = createDetector('auto', {
    timeDecay: DEFAULTS.timeDecay,
    tail: DEFAULTS.tail,
    spatialMargin: DEFAULTS.spatialMargin,
    breakThrough: DEFAULTS.breakThrough,
  });
  const mine = new Float64Array(corpus[fi]!.series.values.length);
  runStages(DEFAULTS, fi, mine);
  corpus[fi]!.series.values.forEach((x, i) => {
    const d = det.update(x);
    if (d !== mine[i]) throw new Error(`harness differs from AutoDetector at row ${i}: ${mine[i]} vs ${d}`);
  });
  console.log('harness = AutoDetector on ec2_request_latency_system_failure (bit-exact)');
}

// --detail: per file, the defaults at the fixed threshold (windows hit, false alarms), then stop
if (process.argv.includes('--detail')) {
  for (const [fi, p] of corpus.entries()) {
    const out = new Float64Array(p.series.values.length);
    runStages(DEFAULTS, fi, out);
    let fa = 0;
    const hits = p.series.windows.map(() => -1);
    for (let i = p.probation; i < out.length; i++) {
      if (out[i]! < AUTO_THRESHOLD) continue;
      if (p.win[i]! >= 0) {
        if (hits[p.win[i]!] === -1) hits[p.win[i]!] = i - p.series.windows[p.win[i]!]![0];
      } else fa++;
    }
    console.log(`${p.series.key.padEnd(60)} windows ${p.series.windows.length} hit at ${JSON.stringify(hits)} false alarms ${fa}`);
  }
  process.exit(0);
}

// every variant x file -> curve
const variants: Knobs[] = [];
const keys = Object.keys(AXES) as Array<keyof Knobs>;
const build = (i: number, k: Partial<Knobs>): void => {
  if (i === keys.length) {
    variants.push(k as Knobs);
    return;
  }
  for (const v of AXES[keys[i]!]) build(i + 1, { ...k, [keys[i]!]: v });
};
build(0, {});
const curves: Curve[][] = [];
const scratch = corpus.map((p) => new Float64Array(p.series.values.length));
for (const k of variants) {
  curves.push(
    corpus.map((p, fi) => {
      runStages(k, fi, scratch[fi]!);
      return curve(p, scratch[fi]!, grid);
    }),
  );
}
const totals = curves.map((cs) => sumCurves(cs, G));
console.log(`${variants.length} variants x ${corpus.length} series scored in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const sameKnobs = (a: Knobs, b: Knobs): boolean => keys.every((key) => a[key] === b[key]);
const windowsOf = (files: number[]): number => files.reduce((n, f) => n + corpus[f]!.series.windows.length, 0);
const allFiles = corpus.map((_, i) => i);
const nabFiles = allFiles.filter((i) => isNab[i]);

interface Choice {
  v: number;
  g: Record<Profile, number>;
}
/** Best variant (by Standard) and threshold per profile on a training set; fixed: threshold = AUTO_THRESHOLD. */
function choose(family: number[], train: number[], fixed: boolean): Choice {
  let best: Choice = { v: family[0]!, g: { standard: gFixed, lowFP: gFixed, lowFN: gFixed } };
  let bestScore = -Infinity;
  const W = windowsOf(train);
  // a training set of everything but a few files is summed as total - those files
  const out = allFiles.filter((f) => !train.includes(f));
  const cheap = out.length < train.length;
  for (const v of family) {
    const sum = cheap
      ? sumCurves(
          [totals[v]!],
          G,
          out.map((f) => curves[v]![f]!),
        )
      : sumCurves(
          train.map((f) => curves[v]![f]!),
          G,
        );
    const g: Record<Profile, number> = { standard: gFixed, lowFP: gFixed, lowFN: gFixed };
    if (!fixed) for (const prof of PROFILE_NAMES) g[prof] = bestIndex(sum, prof);
    const sc = normalized(rawAt(sum, g.standard, 'standard'), W, 'standard');
    if (sc > bestScore + 1e-9) {
      bestScore = sc;
      best = { v, g };
    }
  }
  return best;
}

function scoreOn(c: Choice, files: number[]): Record<Profile, number> {
  const sum = sumCurves(
    files.map((f) => curves[c.v]![f]!),
    G,
  );
  const W = windowsOf(files);
  return Object.fromEntries(PROFILE_NAMES.map((p) => [p, normalized(rawAt(sum, c.g[p], p), W, p)])) as Record<Profile, number>;
}

/** Held-out scores: each fold trained on everything else; raw scores summed over the folds. */
function crossValidate(family: number[], folds: number[][], report: number[], fixed: boolean): Record<Profile, number> {
  const raw: Record<Profile, number> = { standard: 0, lowFP: 0, lowFN: 0 };
  const picks = new Map<number, number>();
  for (const fold of folds) {
    const train = allFiles.filter((f) => !fold.includes(f));
    const c = choose(family, train, fixed);
    picks.set(c.v, (picks.get(c.v) ?? 0) + 1);
    const held = fold.filter((f) => report.includes(f));
    if (held.length === 0) continue;
    const sum = sumCurves(
      held.map((f) => curves[c.v]![f]!),
      G,
    );
    for (const p of PROFILE_NAMES) raw[p] += rawAt(sum, c.g[p], p);
  }
  const W = windowsOf(report);
  return Object.fromEntries(PROFILE_NAMES.map((p) => [p, normalized(raw[p], W, p)])) as Record<Profile, number>;
}

const fmt = (r: Record<Profile, number>): string => PROFILE_NAMES.map((p) => r[p].toFixed(2)).join(' / ');
const lofo = nabFiles.map((f) => [f]);
const categories = [...new Set(corpus.map((p) => p.series.category))];
const loco = categories.map((c) => allFiles.filter((f) => corpus[f]!.series.category === c));

const only =
  (over: Partial<Knobs>) =>
  (k: Knobs): boolean =>
    sameKnobs(k, { ...DEFAULTS, ...over });
const tuned =
  (...axes: Array<keyof Knobs>) =>
  (k: Knobs): boolean => {
    const reset: Partial<Knobs> = {};
    for (const a of axes) reset[a] = DEFAULTS[a];
    return sameKnobs({ ...k, ...reset }, DEFAULTS);
  };
const families: Array<[string, (k: Knobs) => boolean]> = [
  ['previous auto (rest 150, no spatial, no breakthrough)', only({ breakThrough: NEVER, spatialMargin: 0 })],
  ['previous auto + breakthrough 2', only({ spatialMargin: 0 })],
  [
    'previous auto + spatial 0.05 from point 626 + breakthrough 1 on the score (first cut)',
    only({ spatialMargin: 0.05, spatialEarly: 0, breakThrough: 1, strengthBar: 0 }),
  ],
  ['new defaults (spatial 0.1 from point 256, breakthrough 2 on strength)', only({})],
  ['new defaults, breakthrough 1', only({ breakThrough: 1 })],
  ['new defaults, no breakthrough', only({ breakThrough: NEVER })],
  ['new defaults, spatial from point 626', only({ spatialEarly: 0 })],
  ['new defaults + tail 10 (from 370 scores)', only({ tail: 10 })],
  ['new defaults, spatialMargin tuned', tuned('spatialMargin')],
  ['new defaults, restPeriod tuned', tuned('restPeriod')],
  ['new defaults, tail + tailFrom tuned', tuned('tail', 'tailFrom')],
  ['new defaults, breakthrough on the score (rank-capped)', only({ strengthBar: 0 })],

  ['new defaults, silent warm-up (warmupZ 0)', only({ warmupZ: 0 })],
  ['new defaults, warmupZ 4', only({ warmupZ: 4 })],
  ['new defaults, warmupZ 8', only({ warmupZ: 8 })],
  ['new defaults, warmupZ tuned', tuned('warmupZ')],
  ['new defaults + averageWindow 10 (Numenta)', only({ averageWindow: 10 })],
  ['new defaults + rawGate 3', only({ rawGate: 3 })],
  ['new defaults, averageWindow tuned', tuned('averageWindow')],
  ['new defaults, rawGate tuned', tuned('rawGate')],
  [`all ${variants.length} variants tuned`, () => true],
];

console.log(
  `\nNAB subset: ${nabFiles.length} files, ${windowsOf(nabFiles)} windows; synthetic: ${corpus.length - nabFiles.length} series, ${windowsOf(allFiles) - windowsOf(nabFiles)} windows. Standard / LowFP / LowFN.`,
);
console.log(
  'in-sample = best variant + threshold chosen on the 18 NAB files; LOFO = leave one NAB file out (train: other 17 + synthetic); LOCO = leave one category out (9 folds), reported on NAB files | on synthetic\n',
);
for (const [label, pred] of families) {
  const fam = variants.map((k, i) => (pred(k) ? i : -1)).filter((i) => i >= 0);
  if (fam.length === 0) continue; // not on this run's axes
  for (const fixed of [false, true]) {
    const ins = choose(fam, nabFiles, fixed);
    const inSample = scoreOn(ins, nabFiles);
    const cvFile = crossValidate(fam, lofo, nabFiles, fixed);
    const cvCatNab = crossValidate(fam, loco, nabFiles, fixed);
    const cvCatSyn = crossValidate(
      fam,
      loco,
      allFiles.filter((f) => !isNab[f]),
      fixed,
    );
    const k = variants[ins.v]!;
    const tag = fixed ? 'fixed 2.5686' : `best (t=${grid[ins.g.standard]!.toFixed(3)})`;
    console.log(`${label} [${fam.length} variant(s)], ${tag}`);
    console.log(
      `  in-sample ${fmt(inSample)} | LOFO ${fmt(cvFile)} | gap ${(inSample.standard - cvFile.standard).toFixed(2)} | LOCO nab ${fmt(cvCatNab)} | LOCO syn ${fmt(cvCatSyn)}`,
    );
    if (fam.length > 1) console.log(`  in-sample pick: ${JSON.stringify(k)}`);
  }
}
// the defaults on synthetic data alone, and the pick over everything (NAB + synthetic)
const everything = choose(
  variants.map((_, i) => i),
  allFiles,
  false,
);
console.log(`\npick on NAB + synthetic: ${JSON.stringify(variants[everything.v])}, t=${grid[everything.g.standard]!.toFixed(3)}`);
console.log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
