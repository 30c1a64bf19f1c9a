// Anomaly detectors as analytic SQL functions through the real compiler and engine: partitions,
// once-per-event computation, warm-up, determinism, explanation shape, params, bounds and
// checkpoint/restore. The action is an in-memory recorder (the engine only sees the Action interface).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue, testDeps } from '../helpers/index.js';
import { compileRuleSet } from '../../rules/ruleset.js';
import { compileSql } from '../../rules/sql/compiler.js';
import { createRuleEngine, type RuleEngineOptions } from '../../rules/engine.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { memoryStateStore } from '../../rules/windows/state.js';
import { ManualTimers } from '../../rules/windows/clock.js';
import { createDetector, AUTO_THRESHOLD } from '../../rules/anomaly/index.js';
import { GatehouseError } from '../../core/errors.js';
import type { Message } from '../../core/message.js';

function setup(sql: string, opts: RuleEngineOptions = {}) {
  const out: Array<Record<string, unknown>> = [];
  const registry = createActionRegistry({
    probe: () => ({
      kind: 'probe',
      resource: 'mem',
      durable: false,
      execute: (b: Buffer) => void out.push(JSON.parse(b.toString()) as Record<string, unknown>),
    }),
  });
  const deps = testDeps();
  const engine = createRuleEngine(compileRuleSet({ version: 1, rules: [{ name: 'a', sql, actions: [{ probe: {} }] }] }, registry), deps, {
    timers: new ManualTimers(0),
    ...opts,
  });
  let t = 0;
  const send = (topic: string, payload: unknown): void => {
    const m: Message = { topic, payload: Buffer.from(JSON.stringify(payload)), qos: 0, source: { kind: 'mqtt', id: 'c' }, receivedAt: (t += 1000) };
    void engine.handle(m);
  };
  return { engine, out, send, deps };
}

/** Deterministic noisy series (no Math.random: reproducible). */
function series(n: number, seed = 1): number[] {
  let s = seed;
  const rnd = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: n }, () => 80 + (rnd() - 0.5) * 2);
}

test('zscore per partition, computed once per event even when used in SELECT and WHERE', () => {
  const sql =
    "SELECT topic(2) AS truck, temp, zscore(temp, 20) OVER (PARTITION BY topic(2)) AS z FROM 'fleet/+/engine' WHERE zscore(temp, 20) OVER (PARTITION BY topic(2)) > 4";
  const q = compileSql(sql);
  assert.equal(q.stateSites?.length, 1, 'one call site for the two identical calls');
  const { out, send, engine } = setup(sql);
  const xs = series(60);
  xs[50] = 120; // the spike
  const ref = createDetector('zscore', { window: 20 });
  const expected: number[] = [];
  xs.forEach((x, i) => {
    send('fleet/t1/engine', { temp: x });
    send('fleet/t2/engine', { temp: 80 }); // another partition: never disturbs t1
    const z = ref.update(x, (2 * i + 1) * 1000);
    if (z > 4) expected.push(z);
  });
  // If the detector were updated twice per event (SELECT + WHERE), z would differ from the reference.
  assert.deepEqual(
    out.map((o) => o.z),
    expected,
  );
  assert.ok(out.some((o) => o.temp === 120 && o.truck === 't1'));
  engine.close();
});

test('random_cut_forest: warm-up scores 0, then deterministic scores with a fixed seed; several inputs', () => {
  const sql = "SELECT VALUE random_cut_forest(temp, rpm, {numberOfTrees: 20, subSampleSize: 32, seed: 7}) OVER (PARTITION BY topic(2)) FROM 'f/+'";
  const run = (): number[] => {
    const { out, send, engine } = setup(sql);
    series(80).forEach((x, i) => send('f/a', { temp: x, rpm: 2000 + (i % 5) }));
    send('f/a', { temp: 200, rpm: 9000 });
    engine.close();
    return out as unknown as number[];
  };
  const a = run();
  const b = run();
  assert.deepEqual(a, b, 'same seed, same input -> same scores');
  assert.equal(a.length, 81);
  assert.ok(
    a.slice(0, 31).every((s) => s === 0),
    'score 0 during warm-up (subSampleSize points)',
  );
  assert.ok(a.slice(40, 80).every((s) => s > 0));
  const normal = a.slice(40, 80).reduce((m, s) => Math.max(m, s), 0);
  assert.ok(a[80]! > normal, `spike ${a[80]} scores above normal ${normal}`);
});

test('random_cut_forest_with_explanation: KDA shape with per-input strength and direction', () => {
  const { out, send, engine } = setup(
    "SELECT VALUE random_cut_forest_with_explanation(temp, oil, {numberOfTrees: 20, subSampleSize: 32}) OVER (PARTITION BY topic(2)) FROM 'f/+'",
  );
  series(60).forEach((x) => send('f/a', { temp: x, oil: 3 }));
  send('f/a', { temp: 40, oil: 3 });
  const last = out.at(-1) as { anomaly_score: number; attribution: Record<string, { strength: number; directionalExplanation: string }> };
  assert.deepEqual(Object.keys(last).sort(), ['anomaly_score', 'attribution']);
  assert.deepEqual(Object.keys(last.attribution).sort(), ['oil', 'temp']);
  assert.equal(last.attribution.temp!.directionalExplanation, 'LOW');
  assert.ok(last.attribution.temp!.strength > last.attribution.oil!.strength);
  const sum = last.attribution.temp!.strength + last.attribution.oil!.strength;
  assert.ok(Math.abs(sum - last.anomaly_score) < 1e-6 * Math.max(1, last.anomaly_score));
  engine.close();
});

test('anomaly_score (default detector), ewma_score and is_anomaly; non-numeric input gives no score and no update', () => {
  const { out, send, engine } = setup(
    "SELECT ewma_score(temp, 10) OVER (PARTITION BY topic(2)) AS e, is_anomaly(ewma_score(temp, 10) OVER (PARTITION BY topic(2)), 5) AS flag, is_anomaly(3) AS dflt FROM 'f/+'",
  );
  send('f/a', { temp: 'hot' });
  assert.deepEqual(out[0], { dflt: 3 >= AUTO_THRESHOLD }, 'Undefined score: key omitted');
  series(50).forEach((x) => send('f/a', { temp: x }));
  send('f/a', { temp: 150 });
  assert.equal(out.at(-1)!.flag, true);
  assert.equal(out.at(-2)!.flag, false);
  engine.close();
  const d = setup("SELECT VALUE anomaly_score(temp) OVER (PARTITION BY topic(2)) FROM 'f/+'");
  d.send('f/a', { temp: 1 });
  assert.equal(d.out[0], 0, 'default detector warms up at 0');
  d.engine.close();
  // A score is a Decimal even when whole: the warm-up 0 plus 1, halved, is 0.5 (not Int division).
  const h = setup("SELECT VALUE (zscore(temp) OVER (PARTITION BY topic(2)) + 1) / 2 FROM 'f/+'");
  h.send('f/a', { temp: 1 });
  assert.equal(h.out[0], 0.5);
  h.engine.close();
});

test('maxPartitions bounds detectors per call site (LRU, counted)', async () => {
  const { send, engine, deps } = setup("SELECT zscore(temp, {maxPartitions: 2}) OVER (PARTITION BY topic(2)) AS z FROM 'f/+'");
  for (const t of ['a', 'b', 'a', 'c', 'a', 'd']) send(`f/${t}`, { temp: 1 });
  // a stays (recently used); b then c are evicted.
  assert.equal(await metricValue(deps.registry, 'gatehouse_anomaly_partitions_evicted_total', { rule: 'a' }), 2);
  engine.close();
});

test('detector state survives a restart through the state store (same scores as uninterrupted)', async () => {
  const sql = "SELECT VALUE random_cut_forest(temp, {numberOfTrees: 10, subSampleSize: 16}) OVER (PARTITION BY topic(2)) FROM 'f/+'";
  const xs = series(60);
  const ref = setup(sql);
  xs.forEach((x) => ref.send('f/a', { temp: x }));
  ref.engine.close();
  const store = memoryStateStore();
  const a = setup(sql, { stateStore: store });
  await a.engine.start();
  xs.slice(0, 30).forEach((x) => a.send('f/a', { temp: x }));
  await a.engine.stop();
  const b = setup(sql, { stateStore: store });
  await b.engine.start();
  xs.slice(30).forEach((x) => b.send('f/a', { temp: x }));
  b.engine.close();
  assert.deepEqual(a.out.concat(b.out), ref.out);
  assert.ok((ref.out.at(-1) as unknown as number) > 0);
});

test('ewma_score warms up before scoring, also across a restart through the state store', async () => {
  const sql = "SELECT VALUE ewma_score(temp) OVER (PARTITION BY topic(2)) FROM 'f/+'";
  const xs = series(120);
  xs[2] = 95; // scored in the hundreds before ewma had a warm-up
  xs[110] = 120; // a real anomaly once warm
  const ref = setup(sql);
  xs.forEach((x) => ref.send('f/a', { temp: x }));
  ref.engine.close();
  const store = memoryStateStore();
  const a = setup(sql, { stateStore: store });
  await a.engine.start();
  xs.slice(0, 30).forEach((x) => a.send('f/a', { temp: x }));
  await a.engine.stop();
  const b = setup(sql, { stateStore: store });
  await b.engine.start();
  xs.slice(30).forEach((x) => b.send('f/a', { temp: x }));
  b.engine.close();
  const got = a.out.concat(b.out) as unknown as number[];
  assert.deepEqual(got, ref.out);
  assert.deepEqual(got.slice(0, 73), new Array(73).fill(0), 'the first 73 points (ceil(1/alpha), halfLife 50) score 0, before and after the restart');
  assert.ok(got[110]! > 10, `the anomaly after warm-up scores ${got[110]}`);
});

test('bad detector params and arguments are compile errors with positions', () => {
  const reg = createActionRegistry({ probe: () => ({ kind: 'probe', resource: '', durable: false, execute: () => undefined }) });
  const cases: Array<[string, RegExp]> = [
    ["SELECT random_cut_forest(t, {numberOfTrees: 0}) OVER (PARTITION BY topic(2)) FROM 'x'", /GH_DETECTOR_PARAM.*numberOfTrees=0/],
    ["SELECT random_cut_forest(t, {bogus: 1}) OVER () FROM 'x'", /unknown param 'bogus'/],
    ["SELECT zscore(t, w) OVER () FROM 'x'", /must be a number literal/],
    ["SELECT zscore(t, {window: t}) OVER () FROM 'x'", /must be a number or string literal/],
    ["SELECT zscore(a, b, c) OVER () FROM 'x'", /takes one input/],
    ["SELECT anomaly_score({numberOfTrees: 5}) OVER () FROM 'x'", /at least one numeric input/],
    ["SELECT zscore(t, {maxPartitions: 0}) OVER () FROM 'x'", /maxPartitions must be an integer/],
  ];
  for (const [sql, re] of cases) {
    assert.throws(
      () => compileRuleSet({ version: 1, rules: [{ name: 'r', sql, actions: [{ probe: {} }] }] }, reg),
      (e: unknown) => e instanceof GatehouseError && re.test(JSON.stringify(e.details)),
      sql,
    );
  }
});

test('anomaly_explain: the default detector says which stage gave the score, in step with anomaly_score', () => {
  const sql =
    "SELECT anomaly_score(temp) OVER (PARTITION BY topic(2)) AS score, anomaly_explain(temp) OVER (PARTITION BY topic(2)) AS why, is_anomaly(anomaly_explain(temp) OVER (PARTITION BY topic(2))) AS flag FROM 'f/+'";
  const { out, send, engine } = setup(sql);
  const xs = series(60);
  xs[45] = 130; // a spike during the warm-up: the z-score stage sees it
  xs.forEach((x) => send('f/a', { temp: x }));
  type Why = { anomaly_score: number; stage: string; suppressed: boolean; forest: number; likelihood: number; spatial: number };
  const rows = out as Array<{ score: number; why: Why; flag: boolean }>;
  assert.equal(rows.length, 60);
  assert.deepEqual(Object.keys(rows[0]!.why).sort(), ['anomaly_score', 'forest', 'likelihood', 'spatial', 'stage', 'suppressed']);
  // two call sites, two detectors fed the same stream: identical scores
  rows.forEach((r, i) => assert.equal(r.why.anomaly_score, r.score, `row ${i}`));
  // is_anomaly reads an explanation's anomaly_score
  rows.forEach((r, i) => assert.equal(r.flag, r.score >= AUTO_THRESHOLD, `flag ${i}`));
  assert.equal(rows[45]!.flag, true);
  assert.equal(rows[45]!.why.stage, 'warmup');
  assert.ok(rows[45]!.score >= AUTO_THRESHOLD, `spike scores ${rows[45]!.score}`);
  assert.ok(
    rows.slice(0, 45).every((r) => r.score < AUTO_THRESHOLD),
    'no alarm before the spike',
  );
  engine.close();
});

test('a score beyond a double (a glitch of 1e308 against a steady series) is the largest finite number, not null in the output', () => {
  const { out, send, engine } = setup(
    "SELECT x, zscore(x, {window: 5}) AS z, anomaly_explain(x) AS e, is_anomaly(zscore(x, {window: 5}), 4) AS alarm FROM 'g'",
  );
  for (let i = 0; i < 300; i++) send('g', { x: 20 + (i % 3) * 0.1 });
  send('g', { x: 1e308 });
  const last = out.at(-1)!;
  // Before: Infinity, written as null: the alert for the largest anomaly carried no score.
  assert.equal(last.z, Number.MAX_VALUE);
  assert.equal((last.e as { anomaly_score: number }).anomaly_score, Number.MAX_VALUE);
  assert.equal(last.alarm, true);
  engine.close();
});

test('without maxPartitions, a large detector gets fewer partitions: zscore(x, 1000000) keeps 134 (8 MB each), not 10,000 (80 GB)', async () => {
  const { send, engine, deps } = setup("SELECT zscore(x, 1000000) OVER (PARTITION BY topic(2)) AS z FROM 'z/+'");
  for (let i = 0; i < 137; i++) send(`z/t${i}`, { x: i });
  // Before: every topic its own 8 MB ring, up to 10,000 of them (a flood of topics: 80 GB).
  assert.equal(await metricValue(deps.registry, 'gatehouse_anomaly_partitions_evicted_total', { rule: 'a' }), 3);
  engine.close();
  // An explicit maxPartitions is kept; defaults of small detectors are unchanged.
  const big = setup("SELECT zscore(x, {window: 1000000, maxPartitions: 137}) OVER (PARTITION BY topic(2)) AS z FROM 'z/+'");
  for (let i = 0; i < 137; i++) big.send(`z/t${i}`, { x: i });
  assert.equal(await metricValue(big.deps.registry, 'gatehouse_anomaly_partitions_evicted_total', { rule: 'a' }), 0);
  big.engine.close();
});

test('in a windowed rule a detector learns one point per emitted row (zscore of a window aggregate)', () => {
  const { out, send, engine } = setup("SELECT avg(x) AS a, zscore(avg(x), {window: 3, warmup: 1}) OVER () AS z FROM 'w' GROUP BY COUNTWINDOW(2)");
  for (const x of [10, 10, 11, 11, 10, 10, 12, 12]) send('w', { x });
  const ref = createDetector('zscore', { window: 3, warmup: 1 });
  assert.deepEqual(
    out.map((o) => o.z),
    [10, 11, 10, 12].map((a) => ref.update(a)),
  );
  engine.close();
});

test('detector inputs that are not a finite number are counted (gatehouse_anomaly_inputs_skipped_total)', async () => {
  const { out, send, engine, deps } = setup("SELECT zscore(temp, 20) OVER (PARTITION BY topic(2)) AS z FROM 'fleet/+/engine'");
  send('fleet/t1/engine', { temp: 80 });
  for (const temp of ['hot', null, { c: 80 }, [80]]) send('fleet/t1/engine', { temp });
  send('fleet/t1/engine', { pressure: 2 });
  send('fleet/t1/engine', { temp: '81.5' }); // a numeric string is a number
  // Before: scored Undefined and not learnt, seen by no metric.
  assert.equal(await metricValue(deps.registry, 'gatehouse_anomaly_inputs_skipped_total', { rule: 'a' }), 5);
  assert.equal(out.filter((o) => 'z' in o).length, 2);
  engine.close();
});

test('partition keys holding the key separator stay apart: PARTITION BY a, b of (x\\u0001y, z) and (x, y\\u0001z) are two detectors', async () => {
  const { send, engine, deps } = setup("SELECT zscore(v, {window: 2, maxPartitions: 1}) OVER (PARTITION BY a, b) AS z FROM 'p'");
  send('p', { a: 'x\u0001y', b: 'z', v: 1 });
  send('p', { a: 'x', b: 'y\u0001z', v: 1 });
  // Before: one detector for both (the second trained the first's); now the second evicts the first.
  assert.equal(await metricValue(deps.registry, 'gatehouse_anomaly_partitions_evicted_total', { rule: 'a' }), 1);
  engine.close();
});
