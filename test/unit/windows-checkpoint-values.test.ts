// Raw SQL values held in window state (first, last, collect, min/max, and the rows of sliding and
// count windows) keep their type across checkpoint -> new engine -> restore: a whole Decimal stays
// a Decimal (so `x / 4` still divides as Decimal after a restart) and a missing value stays
// missing. Each case is compared with the same events run without a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDeps } from '../helpers/index.js';
import { compileRuleSet } from '../../rules/ruleset.js';
import { createRuleEngine } from '../../rules/engine.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { ManualTimers } from '../../rules/windows/clock.js';
import { memoryStateStore, type StateStore } from '../../rules/windows/state.js';
import { AGGREGATES } from '../../rules/windows/aggregates.js';
import { WholeDecimal } from '../../rules/sql/values.js';
import type { Message } from '../../core/message.js';
import type { ActionContext } from '../../rules/types.js';

type SqlVersion = '2016-03-23' | '2015-10-08';

/** One engine with one rule; payloads are sent as the JSON text given (so `2.0` stays `2.0`). */
function engineFor(sql: string, sqlVersion: SqlVersion, timers: ManualTimers, stateStore?: StateStore) {
  const out: unknown[] = [];
  const registry = createActionRegistry({
    probe: () => ({
      kind: 'probe',
      resource: 'mem',
      durable: false,
      execute: (b: Buffer, _ctx: ActionContext) => void out.push(JSON.parse(b.toString())),
    }),
  });
  const def = { version: 1, rules: [{ name: 'w', sql, sqlVersion, actions: [{ probe: {} }] }] };
  const set = compileRuleSet(def, registry);
  const engine = createRuleEngine(set, testDeps(), { timers, ...(stateStore ? { stateStore } : {}) });
  const send = (payload: string): void => {
    const m: Message = { topic: 'x', payload: Buffer.from(payload), qos: 0, source: { kind: 'mqtt', id: 'c' }, receivedAt: timers.now() };
    void engine.handle(m);
  };
  return { engine, out, send, windowed: set.rules[0]!.query.windowed! };
}

/**
 * Send `before`, checkpoint and stop, restore into a new engine, send `after`, advance to
 * `closeAt`; returns the rows of both engines and those of one engine fed everything.
 */
async function restartedAndReference(sql: string, sqlVersion: SqlVersion, before: string[], after: string[], closeAt: number) {
  const refTimers = new ManualTimers(1000);
  const ref = engineFor(sql, sqlVersion, refTimers);
  for (const p of before.concat(after)) ref.send(p);
  refTimers.advanceTo(closeAt);
  ref.engine.close();

  const store = memoryStateStore();
  const timers = new ManualTimers(1000);
  const a = engineFor(sql, sqlVersion, timers, store);
  await a.engine.start();
  for (const p of before) a.send(p);
  await a.engine.stop();
  assert.equal(store.data.size, 1, 'the checkpoint was written');
  const b = engineFor(sql, sqlVersion, timers, store);
  await b.engine.start();
  for (const p of after) b.send(p);
  timers.advanceTo(closeAt);
  await b.engine.stop();
  return { restarted: a.out.concat(b.out), reference: ref.out };
}

test('first/last/collect/min/max of a whole Decimal stay Decimal after a restore (tumbling window)', async () => {
  const sql =
    "SELECT first(v * 1.0) / 4 AS f, last(1.0 * v) / 4 AS l, get(collect(v * 1.0), 0) / 4 AS c, max(v * 1.0) / 4 AS hi, sum(v * 1.0) / 4 AS s FROM 'x' GROUP BY TUMBLINGWINDOW(ss, 10)";
  const { restarted, reference } = await restartedAndReference(sql, '2016-03-23', ['{"v":2}'], [], 10_000);
  assert.deepEqual(reference, [{ f: 0.5, l: 0.5, c: 0.5, hi: 0.5, s: 0.5 }]);
  assert.deepEqual(restarted, reference);
});

test('a payload number written 2.0 (SQL 2015-10-08) stays Decimal in first/last/collect/collect(*) after a restore', async () => {
  const sql =
    "SELECT first(v) / 4 AS f, last(v) / 4 AS l, get(collect(v), 1) / 4 AS c, get(get(collect(*), 0), 'v') / 4 AS star, get(collect(o), 0).d / 4 AS nested FROM 'x' GROUP BY TUMBLINGWINDOW(ss, 10)";
  const { restarted, reference } = await restartedAndReference(sql, '2015-10-08', ['{"v":2.0,"o":{"d":6.0}}', '{"v":2.0}'], [], 10_000);
  assert.deepEqual(reference, [{ f: 0.5, l: 0.5, c: 0.5, star: 0.5, nested: 1.5 }]);
  assert.deepEqual(restarted, reference);
});

test('rows of count and sliding windows keep whole Decimals and missing values across a restore', async () => {
  for (const window of ['COUNTWINDOW(3)', 'SLIDINGWINDOW(ss, 10)']) {
    const sql = `SELECT first(v * 1.0) / 4 AS f, first(w) AS fw, collect(w) AS cw, count(w) AS n FROM 'x' GROUP BY ${window}`;
    const { restarted, reference } = await restartedAndReference(sql, '2016-03-23', ['{"v":2}', '{"v":3}'], ['{"v":4,"w":"x"}'], 1000);
    // Missing w in the first two rows: first(w) is the first defined one, collect skips them.
    assert.deepEqual(reference.at(-1), { f: 0.5, fw: 'x', cw: ['x'], n: 1 }, window);
    assert.deepEqual(restarted, reference, window);
  }
});

test('first/last/collect accumulators: load(save()) through JSON keeps whole Decimals, Ints and nested values', () => {
  const two = new WholeDecimal(2);
  for (const [name, inputs, want] of [
    ['first', [two, 3], two],
    ['first', [2, two], 2],
    ['last', [1, two], two],
    ['last', [two, 1e21], 1e21],
    [
      'collect',
      [two, 3, 2.5, 'a', null, { d: new WholeDecimal(6), i: 6, a: [two, 1] }],
      [two, 3, 2.5, 'a', null, { d: new WholeDecimal(6), i: 6, a: [two, 1] }],
    ],
    ['min', [two, 3], two],
  ] as const) {
    const ctx = { maxRows: 10, onDrop: () => {} };
    const acc = AGGREGATES.get(name)!.create(undefined, ctx);
    for (const x of inputs) acc.add(x);
    const again = AGGREGATES.get(name)!.create(undefined, ctx);
    again.load(JSON.parse(JSON.stringify(acc.save())));
    assert.deepEqual(again.result(), want, `${name}(${JSON.stringify(inputs)})`);
  }
});

test('first/last/collect still read checkpoints written before values were typed', () => {
  const ctx = { maxRows: 10, onDrop: () => {} };
  const first = AGGREGATES.get('first')!.create(undefined, ctx);
  first.load([2]);
  assert.deepEqual(first.result(), 2);
  const none = AGGREGATES.get('last')!.create(undefined, ctx);
  none.load([]);
  assert.equal(none.result(), undefined);
  const collect = AGGREGATES.get('collect')!.create(undefined, ctx);
  collect.load([1, 'a', { b: 2 }]);
  assert.deepEqual(collect.result(), [1, 'a', { b: 2 }]);
});

test('rows of a count window restore from a checkpoint written before values were typed (v 1)', () => {
  const timers = new ManualTimers(1000);
  const { engine, out, send, windowed } = engineFor("SELECT sum(v) AS s, collect(v) AS c FROM 'x' GROUP BY COUNTWINDOW(2)", '2016-03-23', timers);
  const last = { t: 'x', p: Buffer.from('{"v":2}').toString('base64'), q: 0, r: 1000, s: 'c' };
  const legacy = { v: 1, kind: 'count', aggs: 2, maxTs: null, panes: [], sessions: [], rows: [['', [1000], [[2, 2]], 1, last]] };
  windowed.restore(Buffer.from(JSON.stringify(legacy)));
  send('{"v":3}');
  assert.deepEqual(out, [{ s: 5, c: [2, 3] }]);
  engine.close();
});
