// Windows through the real compiler and engine: boundaries, hops, sessions, count and sliding
// windows, group keys, HAVING, top-N, event time with late events, bounds, checkpoints/restore and
// swap. Time is a ManualTimers clock (no real waiting). The action is an in-memory recorder
// (the engine only sees the Action interface; real actions are covered by the rules tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue, testDeps } from '../helpers/index.js';
import { compileRuleSet } from '../../rules/ruleset.js';
import { createRuleEngine, type RuleEngineOptions } from '../../rules/engine.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { ManualTimers } from '../../rules/windows/clock.js';
import { memoryStateStore } from '../../rules/windows/state.js';
import { EventOrder, type PendingEvent } from '../../rules/windows/event-time.js';
import { AGGREGATES } from '../../rules/windows/aggregates.js';
import { INLINE_SHARED_MAX_BYTES, loadGroups, saveGroups, type GroupState } from '../../rules/windows/group-state.js';
import { WholeDecimal } from '../../rules/sql/values.js';
import { GatehouseError } from '../../core/errors.js';
import type { Message } from '../../core/message.js';
import type { ActionContext } from '../../rules/types.js';
import { SteppedClock } from '../helpers/stepped-clock.js';

interface Out {
  v: Record<string, unknown>;
  topic: string;
  kind: string;
  at: number;
}

/** An action registry whose `probe` action records each output in `out`. */
function probeActions(out: Out[]) {
  return createActionRegistry({
    probe: () => ({
      kind: 'probe',
      resource: 'mem',
      durable: false,
      execute: (b: Buffer, ctx: ActionContext) =>
        void out.push({
          v: JSON.parse(b.toString()) as Record<string, unknown>,
          topic: ctx.message.topic,
          kind: ctx.message.source.kind,
          at: ctx.message.receivedAt,
        }),
    }),
  });
}

function setup(sql: string | string[], opts: RuleEngineOptions & { start?: number } = {}) {
  const timers = opts.timers instanceof ManualTimers ? opts.timers : new ManualTimers(opts.start ?? 0);
  const out: Out[] = [];
  const registry = probeActions(out);
  const sqls = Array.isArray(sql) ? sql : [sql];
  const def = { version: 1, rules: sqls.map((s, i) => ({ name: `w${i}`, sql: s, actions: [{ probe: {} }] })) };
  const deps = testDeps();
  const engine = createRuleEngine(compileRuleSet(def, registry), deps, { ...opts, timers });
  const send = (topic: string, payload: unknown): void => {
    const m: Message = { topic, payload: Buffer.from(JSON.stringify(payload)), qos: 0, source: { kind: 'mqtt', id: 'c' }, receivedAt: timers.now() };
    void engine.handle(m);
  };
  return { engine, timers, out, send, deps, registry, def };
}

test('tumbling window: epoch-aligned boundaries, group keys, aggregates, window bounds, action message', () => {
  const { timers, out, send, engine } = setup(
    "SELECT topic(2) AS dev, count(*) AS n, avg(t) AS a, min(t) AS lo, max(t) AS hi, window_start() AS ws, window_end() AS we FROM 'f/+' GROUP BY topic(2), TUMBLINGWINDOW(ss, 10)",
    { start: 1000 },
  );
  send('f/a', { t: 1 });
  timers.advanceTo(5000);
  send('f/a', { t: 3 });
  timers.advanceTo(9999);
  send('f/b', { t: 10 });
  assert.equal(out.length, 0, 'nothing before the window closes');
  timers.advanceTo(10_000);
  assert.deepEqual(
    out.map((o) => o.v),
    [
      { dev: 'a', n: 2, a: 2, lo: 1, hi: 3, ws: 0, we: 10_000 },
      { dev: 'b', n: 1, a: 10, lo: 10, hi: 10, ws: 0, we: 10_000 },
    ],
  );
  assert.equal(out[0]!.topic, 'f/a');
  assert.equal(out[0]!.kind, 'internal');
  assert.equal(out[0]!.at, 10_000);
  send('f/a', { t: 7 }); // t = 10000 belongs to the next window
  timers.advanceTo(19_999);
  assert.equal(out.length, 2);
  timers.advanceTo(20_000);
  assert.deepEqual(out[2]!.v, { dev: 'a', n: 1, a: 7, lo: 7, hi: 7, ws: 10_000, we: 20_000 });
  timers.advanceTo(100_000);
  assert.equal(out.length, 3, 'empty windows emit nothing');
  assert.equal(engine.counters().get('w0')!.emitted, 3);
  engine.close();
  assert.equal(timers.size, 0, 'no timer left after close');
});

test('hopping window: an event joins size/hop windows', () => {
  const { timers, out, send, engine } = setup("SELECT count(*) AS n, window_start() AS ws FROM 'f/+' GROUP BY HOPPINGWINDOW(ss, 10, 5)");
  timers.advanceTo(7000);
  send('f/a', {});
  timers.advanceTo(12_000);
  send('f/a', {});
  timers.advanceTo(10_000 + 10_000);
  assert.deepEqual(
    out.map((o) => o.v),
    [
      { n: 1, ws: 0 },
      { n: 2, ws: 5000 },
      { n: 1, ws: 10_000 },
    ],
  );
  engine.close();
});

test('session window: closes after the timeout gap or at the max duration (eKuiper order: unit, maxDuration, timeout)', () => {
  const { timers, out, send, engine } = setup(
    "SELECT topic(2) AS d, count(*) AS n, window_start() AS ws, window_end() AS we FROM 's/+' GROUP BY topic(2), SESSIONWINDOW(ss, 20, 5)",
  );
  for (const t of [0, 2000, 4000]) {
    timers.advanceTo(t);
    send('s/a', {});
  }
  timers.advanceTo(8999);
  assert.equal(out.length, 0);
  timers.advanceTo(9000);
  assert.deepEqual(
    out.map((o) => o.v),
    [{ d: 'a', n: 3, ws: 0, we: 9000 }],
  );
  // A busy session: an event every 4 s never leaves a 5 s gap; it closes at start + 20 s.
  for (let t = 30_000; t <= 60_000; t += 4000) {
    timers.advanceTo(t);
    send('s/a', {});
  }
  assert.deepEqual(out[1]!.v, { d: 'a', n: 5, ws: 30_000, we: 50_000 });
  engine.close();
});

test('count windows: tumbling COUNTWINDOW(3) and COUNTWINDOW(3, 1) emit per event, per group', () => {
  const { out, send, engine } = setup([
    "SELECT 'tumble' AS k, topic(2) AS d, collect(v) AS vs FROM 'c/+' GROUP BY topic(2), COUNTWINDOW(3)",
    "SELECT 'slide' AS k, sum(v) AS s FROM 'c/+' GROUP BY COUNTWINDOW(3, 1)",
  ]);
  for (let i = 1; i <= 6; i++) send(i % 2 ? 'c/odd' : 'c/even', { v: i });
  const tumble = out.filter((o) => o.v.k === 'tumble').map((o) => o.v);
  const slide = out.filter((o) => o.v.k === 'slide').map((o) => o.v.s);
  assert.deepEqual(tumble, [
    { k: 'tumble', d: 'odd', vs: [1, 3, 5] },
    { k: 'tumble', d: 'even', vs: [2, 4, 6] },
  ]);
  assert.deepEqual(slide, [6, 9, 12, 15]);
  engine.close();
});

test('sliding window: one output per event over the last size', () => {
  const { timers, out, send, engine } = setup("SELECT count(*) AS n, sum(v) AS s FROM 'x' GROUP BY SLIDINGWINDOW(ss, 10)");
  for (const [t, v] of [
    [0, 1],
    [4000, 2],
    [9000, 3],
    [10_000, 4],
    [15_000, 5],
  ] as const) {
    timers.advanceTo(t);
    send('x', { v });
  }
  // At 10000 the event of t=0 left the window (t - size, t]; at 15000 so did 4000.
  assert.deepEqual(
    out.map((o) => o.v),
    [
      { n: 1, s: 1 },
      { n: 2, s: 3 },
      { n: 3, s: 6 },
      { n: 3, s: 9 },
      { n: 3, s: 12 },
    ],
  );
  engine.close();
});

test('HAVING and per-window ORDER BY ... DESC LIMIT n: top-N groups', () => {
  const { timers, out, send, engine } = setup(
    "SELECT area, count(*) AS reads FROM 'badge/+' GROUP BY area, TUMBLINGWINDOW(mi, 15) HAVING count(*) >= 2 ORDER BY reads DESC LIMIT 2",
  );
  const reads: Record<string, number> = { dock: 5, gate: 3, office: 1, lab: 2, yard: 4 };
  for (const [area, n] of Object.entries(reads)) for (let i = 0; i < n; i++) send('badge/r1', { area });
  timers.advance(15 * 60_000);
  assert.deepEqual(
    out.map((o) => o.v),
    [
      { area: 'dock', reads: 5 },
      { area: 'yard', reads: 4 },
    ],
  );
  engine.close();
});

test('stddev/var (population), stddevs/vars (sample), percentile (linear), first/last, non-numbers ignored', () => {
  const { timers, out, send, engine } = setup(
    "SELECT stddev(v) AS sd, var(v) AS va, vars(v) AS vs, stddevs(v) AS sds, percentile(v, 0.5) AS p50, percentile(v, 0.9) AS p90, first(v) AS f, last(v) AS l, count(v) AS n, count(*) AS all FROM 'x' GROUP BY TUMBLINGWINDOW(ss, 1)",
  );
  for (const v of [2, 4, 4, 4, 5, 5, 7, 9, 'oops', null]) send('x', { v });
  timers.advance(1000);
  const r = out[0]!.v;
  assert.equal(r.sd, 2);
  assert.equal(r.va, 4);
  assert.ok(Math.abs((r.vs as number) - 32 / 7) < 1e-12);
  assert.ok(Math.abs((r.sds as number) - Math.sqrt(32 / 7)) < 1e-12);
  assert.equal(r.p50, 4.5);
  assert.ok(Math.abs((r.p90 as number) - 7.6) < 1e-12);
  assert.equal(r.f, 2);
  assert.equal(r.l, null, 'last() keeps the last defined value, null included');
  assert.equal(r.n, 9, 'count(expr) skips missing values only');
  assert.equal(r.all, 10);
  engine.close();
});

test('aggregates type their results like the operator tables: sum of Ints is Int, avg/percentile Decimal, min/max keep the type', () => {
  const { timers, out, send, engine } = setup(
    "SELECT sum(v) / 4 AS si, sum(v * 1.0) / 4 AS sd, avg(v) / 2 AS a, percentile(v, 0.5) / 2 AS p, max(v) / 8 AS mi, max(v * 1.0) / 8 AS md, min(v / 1.0) / 8 AS lo FROM 'x' GROUP BY TUMBLINGWINDOW(ss, 1)",
  );
  for (const v of [2, 4]) send('x', { v });
  timers.advance(1000);
  assert.deepEqual(out[0]!.v, { si: 1, sd: 1.5, a: 1.5, p: 1.5, mi: 0, md: 0.5, lo: 0.25 });
  engine.close();
  // The picked Decimal of min/max and the Int-ness of sum survive a checkpoint.
  for (const [name, inputs, want] of [
    ['max', [2, new WholeDecimal(4)], new WholeDecimal(4)],
    ['max', [4, 2.5], 4],
    ['sum', [1, 2], 3],
    ['sum', [1, new WholeDecimal(2)], new WholeDecimal(3)],
  ] as const) {
    const acc = AGGREGATES.get(name)!.create(undefined, { maxRows: 10, onDrop: () => {} });
    for (const x of inputs) acc.add(x);
    const again = AGGREGATES.get(name)!.create(undefined, { maxRows: 10, onDrop: () => {} });
    again.load(JSON.parse(JSON.stringify(acc.save())));
    assert.deepEqual(again.result(), want, `${name}(${JSON.stringify(inputs)})`);
  }
});

test('a reading beyond a double (JSON 1e999) is ignored by min/max as by sum; a sum that overflows is Undefined, avg is still the mean', () => {
  const { timers, out, engine } = setup(
    "SELECT k, max(x) AS mx, min(x) AS mn, sum(x) AS s, avg(x) AS a, count(x) AS n FROM 'x' GROUP BY k, TUMBLINGWINDOW(ss, 1)",
  );
  const raw = (payload: string): void => {
    void engine.handle({ topic: 'x', payload: Buffer.from(payload), qos: 0, source: { kind: 'mqtt', id: 'c' }, receivedAt: timers.now() });
  };
  raw('{"k": "glitch", "x": 1e999}');
  raw('{"k": "glitch", "x": 5}');
  raw('{"k": "glitch", "x": -1e999}');
  raw('{"k": "huge", "x": 1e308}');
  raw('{"k": "huge", "x": 1e308}');
  timers.advance(1000);
  const rows = Object.fromEntries(out.map((o) => [o.v.k, o.v]));
  // Before: max and min were Undefined for the whole window (Infinity picked), sum was null.
  assert.deepEqual(rows.glitch, { k: 'glitch', mx: 5, mn: 5, s: 5, a: 5, n: 3 });
  assert.deepEqual(rows.huge, { k: 'huge', mx: 1e308, mn: 1e308, a: 1e308, n: 2 });
  engine.close();
});

test('event time: TIMESTAMP BY with a lateness bound; watermark closes windows; late events counted and dropped', async () => {
  const { out, send, engine, deps } = setup(
    "SELECT count(*) AS n, window_start() AS ws FROM 'e' TIMESTAMP BY ts LATENESS(ss, 2) GROUP BY TUMBLINGWINDOW(ss, 10)",
  );
  send('e', { ts: 1000 });
  send('e', { ts: 9500 });
  send('e', { ts: 11_000 }); // watermark 9000: window [0,10000) still open
  send('e', { ts: 8000 }); // not late (>= watermark 9000? no: 8000 < 9000) -> late
  assert.equal(out.length, 0);
  send('e', { ts: 12_500 }); // watermark 10500 -> closes [0, 10000)
  assert.deepEqual(
    out.map((o) => o.v),
    [{ n: 2, ws: 0 }],
  );
  send('e', { ts: 5000 }); // late
  send('e', { ts: 'not a time' });
  send('e', { ts: '1970-01-01T00:00:25.000Z' }); // ISO strings work: closes [10000, 20000)
  assert.deepEqual(out[1]!.v, { n: 2, ws: 10_000 });
  assert.equal(await metricValue(deps.registry, 'gatehouse_window_late_events_total', { rule: 'w0' }), 2);
  assert.equal(await metricValue(deps.registry, 'gatehouse_window_invalid_timestamps_total', { rule: 'w0' }), 1);
  engine.close();
});

test('event time: a string that is not ISO-8601 is an invalid timestamp, not whatever Date.parse makes of it', async () => {
  const { out, send, engine, deps } = setup("SELECT count(*) AS n FROM 'e' TIMESTAMP BY ts GROUP BY TUMBLINGWINDOW(ss, 10)");
  send('e', { ts: '2024-01-01T00:00:05Z' });
  // Before: 'hello 1' was 2001-01-01 and 'foo 2024' 2024-01-01 (local time), both late; '2024-02-30' was 1 March.
  for (const ts of ['hello 1', 'foo 2024', '2024-02-30', 'Mon, 01 Jan 2024 12:00:00 GMT']) send('e', { ts });
  send('e', { ts: '2024-01-01 00:00:06' });
  send('e', { ts: '2024-01-01T09:00:20+0900' }); // 00:00:20 UTC: closes [00:00:00, 00:00:10)
  assert.deepEqual(
    out.map((o) => o.v),
    [{ n: 2 }],
  );
  assert.equal(await metricValue(deps.registry, 'gatehouse_window_invalid_timestamps_total', { rule: 'w0' }), 4);
  assert.equal(await metricValue(deps.registry, 'gatehouse_window_late_events_total', { rule: 'w0' }), 0);
  engine.close();
});

test('event time: a timestamp beyond a Date (1e20) is not a time: counted as invalid, the window goes on (it hung the gateway in a hopping window)', async () => {
  const { out, send, engine, deps } = setup("SELECT count(*) AS n, window_start() AS ws FROM 'e' TIMESTAMP BY ts GROUP BY HOPPINGWINDOW(ss, 10, 5)");
  send('e', { ts: 1000 });
  for (const ts of [1e20, '99999999999999999999', -1e20, 8.64e15 + 1]) send('e', { ts });
  send('e', { ts: 16_000 }); // closes [-5000, 5000) and [0, 10000)
  assert.deepEqual(
    out.map((o) => o.v),
    [
      { n: 1, ws: -5000 },
      { n: 1, ws: 0 },
    ],
  );
  assert.equal(await metricValue(deps.registry, 'gatehouse_window_invalid_timestamps_total', { rule: 'w0' }), 4);
  assert.equal(await metricValue(deps.registry, 'gatehouse_window_late_events_total', { rule: 'w0' }), 0);
  engine.close();
});

test('event time with LATENESS: out-of-order events are windowed in time order (sessions, sliding, last), as ASA and eKuiper do', async () => {
  const session = setup(
    "SELECT count(*) AS n, collect(ts) AS c, window_start() AS ws, window_end() AS we FROM 's' TIMESTAMP BY ts LATENESS(ss, 10) GROUP BY SESSIONWINDOW(ss, 60, 5)",
  );
  // 90 s arrives after 100 s: two sessions 10 s apart (timeout 5 s), not one starting at 100 s.
  for (const ts of [100_000, 90_000, 130_000]) session.send('s', { ts });
  assert.deepEqual(
    session.out.map((o) => o.v),
    [
      { n: 1, c: [90_000], ws: 90_000, we: 95_000 },
      { n: 1, c: [100_000], ws: 100_000, we: 105_000 },
    ],
  );
  session.engine.close();

  const sliding = setup(
    "SELECT count(*) AS n, collect(ts) AS c, last(ts) AS l, window_end() AS we FROM 's' TIMESTAMP BY ts LATENESS(ss, 10) GROUP BY SLIDINGWINDOW(ss, 3)",
  );
  for (const ts of [93_000, 94_000, 100_000, 95_000]) sliding.send('s', { ts });
  assert.equal(sliding.out.length, 0, 'rows wait until the watermark (max - 10 s) passes their event');
  sliding.send('s', { ts: 120_000 });
  assert.deepEqual(
    sliding.out.map((o) => o.v),
    [
      { n: 1, c: [93_000], l: 93_000, we: 93_000 },
      { n: 2, c: [93_000, 94_000], l: 94_000, we: 94_000 },
      // (92 s, 95 s]: the 100 s event is not in it, and 93 s is still in it.
      { n: 3, c: [93_000, 94_000, 95_000], l: 95_000, we: 95_000 },
      { n: 1, c: [100_000], l: 100_000, we: 100_000 },
    ],
  );
  sliding.engine.close();

  // The waiting events are state: a checkpoint keeps them.
  const sql = "SELECT count(*) AS n, first(v) AS f, last(v) AS l FROM 'e' TIMESTAMP BY ts LATENESS(ss, 5) GROUP BY TUMBLINGWINDOW(ss, 10)";
  const store = memoryStateStore();
  const a = setup(sql, { stateStore: store });
  await a.engine.start();
  a.send('e', { ts: 4000, v: 'b' });
  a.send('e', { ts: 1000, v: 'a' });
  a.send('e', { ts: 9000, v: 'c' });
  await a.engine.stop();
  const b = setup(sql, { stateStore: store });
  await b.engine.start();
  b.send('e', { ts: 8000, v: 'c0' }); // watermark 4000: not late
  b.send('e', { ts: 16_000, v: 'd' }); // watermark 11000 closes [0, 10000)
  assert.deepEqual(
    a.out.concat(b.out).map((o) => o.v),
    [{ n: 4, f: 'a', l: 'c' }],
  );
  await b.engine.stop();
});

test('a hopping window checkpoint holds each message once, not once per window it is in; restored, the windows share it again', async () => {
  const sql = "SELECT k, count(*) AS n FROM 'h' GROUP BY k, HOPPINGWINDOW(ss, 100, 1)";
  const store = memoryStateStore();
  const stored = (): number => [...store.data.values()].reduce((n, b) => n + b.length, 0);
  const pad = 'x'.repeat(10_000);
  const a = setup(sql, { stateStore: store, start: 500 });
  await a.engine.start();
  for (let i = 0; i < 10; i++) a.send('h', { k: `d${i}`, pad });
  await a.engine.stop();
  // Each event is the last message of its group in 100 windows; before, each wrote its payload
  // 100 times: 13 MB here, 840 MB for 1,000 devices of 1 KB in HOPPINGWINDOW(ss, 600, 1).
  assert.ok(stored() < 200_000, `checkpoint of ${stored()} bytes`);
  const b = setup(sql, { stateStore: store, start: 500 });
  await b.engine.start();
  b.send('h', { k: 'd10', pad });
  await b.engine.stop();
  assert.ok(stored() < 220_000, `checkpoint after a restore of ${stored()} bytes`);
  const c = setup(sql, { stateStore: store, start: 500 });
  await c.engine.start();
  c.timers.advance(100_000);
  const rows = c.out.map((o) => o.v);
  assert.equal(rows.length, 100 * 11);
  assert.ok(rows.every((r) => r.n === 1));
  assert.deepEqual(new Set(rows.map((r) => r.k)).size, 11);
  await c.engine.stop();
});

test('rollback: a small hopping window checkpoint keeps format 2, which versions before round 18 restore; only shared messages beyond 64 KiB take format 4', async () => {
  // Found rolling a gateway back to round 17 (0d80cff): HOPPINGWINDOW(mi, 4, 2) over 5 devices was
  // written in format 4 (two windows share each last message), which round 17 reads as 'does not
  // match its SQL': the rule's windows started empty and closed with 30 of their ~210 events.
  const sql = "SELECT k, count(*) AS n FROM 'h' GROUP BY k, HOPPINGWINDOW(mi, 4, 2)";
  // The window section of each snapshot (GHQ1, u32 header length, header [[name, length]...], sections).
  const format = (store: ReturnType<typeof memoryStateStore>): number[] =>
    [...store.data.values()].map((b) => {
      const headerLength = b.readUInt32BE(4);
      let off = 8 + headerLength;
      for (const [name, length] of JSON.parse(b.subarray(8, off).toString()) as Array<[string, number]>) {
        if (name === 'window') return (JSON.parse(b.subarray(off, off + length).toString()) as { v: number }).v;
        off += length;
      }
      return -1;
    });
  const small = memoryStateStore();
  const a = setup(sql, { stateStore: small, start: 500 });
  await a.engine.start();
  for (let i = 0; i < 200; i++) a.send('h', { k: `d${i % 5}`, t: 20 + (i % 7) });
  await a.engine.stop();
  assert.deepEqual(format(small), [2]);
  const b = setup(sql, { stateStore: small, start: 500 });
  await b.engine.start();
  b.timers.advance(4 * 60_000);
  assert.deepEqual(
    b.out.map((o) => o.v).filter((r) => r.k === 'd0'),
    [
      { k: 'd0', n: 40 },
      { k: 'd0', n: 40 },
    ],
    'both 4-minute windows holding the events close with all of them',
  );
  await b.engine.stop();
  const large = memoryStateStore();
  const c = setup(sql, { stateStore: large, start: 500 });
  await c.engine.start();
  for (let i = 0; i < 5; i++) c.send('h', { k: `d${i}`, pad: 'x'.repeat(20_000) });
  await c.engine.stop();
  assert.deepEqual(format(large), [4]);
});

test('rollback: a window checkpoint in the format of a newer version is named as such, not as not matching its SQL', () => {
  const newAccs = () => [AGGREGATES.get('count')!.create(undefined, { maxRows: 10, onDrop: () => {} })];
  const shape = { ruleName: 'later', kind: 'tumbling' as const, aggs: 1, newAccs };
  const bytes = Buffer.from(JSON.stringify({ v: 5, kind: 'tumbling', aggs: 1, maxTs: null, panes: [], sessions: [], rows: [] }));
  assert.throws(
    () => loadGroups(shape, bytes),
    (e: unknown) =>
      e instanceof GatehouseError &&
      e.message === 'corrupt data in the window state of rule later: it is in format 5, written by a newer gateway version (this one reads 1 to 4)' &&
      /windows start empty/.test(e.hint ?? ''),
  );
});

test('a window checkpoint too long for one JSON text is written a group a line and restores the same state', () => {
  const newAccs = () => [AGGREGATES.get('count')!.create(undefined, { maxRows: 10, onDrop: () => {} })];
  const shape = { ruleName: 'big', kind: 'tumbling' as const, aggs: 1, newAccs };
  const m = (topic: string, text: string): Message => ({ topic, payload: Buffer.from(text), qos: 1, source: { kind: 'internal', id: 'c' }, receivedAt: 7 });
  const group = (last: Message, start: number) => {
    const accs = newAccs();
    accs[0]!.add(1);
    return { accs, last, start, lastTs: start + 1 };
  };
  // Shared by two windows, and large enough to be written once (format 4: a table of messages).
  const shared = m('a/1', `{"t": "shared\\n", "pad": "${'x'.repeat(INLINE_SHARED_MAX_BYTES)}"}`);
  const st: GroupState = {
    maxTs: 5000,
    fedTs: 4000,
    pending: [{ ts: 4500, key: 'p', vals: [1], msg: m('a/p', 'pending') }],
    panes: new Map([
      [
        0,
        new Map([
          ['k1', group(shared, 0)],
          ['k2', group(m('a/2', 'two'), 0)],
        ]),
      ],
      [1000, new Map([['k1', group(shared, 1000)]])],
    ]),
    sessions: new Map([['s', group(m('a/s', 'ses'), 3)]]),
    rowGroups: new Map([['r', { ts: [1, 2], vals: [[1], [new WholeDecimal(2)]], head: 0, seen: 2, bytes: 0, last: m('a/r', 'row') }]]),
  };
  const text = saveGroups(shape, st);
  const lines = saveGroups(shape, st, true);
  // Before: one JSON text whatever the size; beyond V8's longest string (2,000 groups keeping
  // 210 KB messages) every checkpoint failed with 'Invalid string length' until the input log
  // filled and publishes were refused.
  assert.equal(lines.toString().split('\n').length, 1 + 5 + 1 + 3 + 1 + 1, 'a header, then a line per message (shared: a table), event, group, row group');
  assert.equal(saveGroups(shape, loadGroups(shape, lines)).toString(), text.toString());
  assert.equal(saveGroups(shape, loadGroups(shape, text)).toString(), text.toString());
});

test('group keys holding the key separator stay apart: (x\\u0001y, z) and (x, y\\u0001z) are two groups', () => {
  const { timers, out, send, engine } = setup("SELECT a, b, count(*) AS n FROM 'k' GROUP BY a, b, TUMBLINGWINDOW(ss, 1)");
  send('k', { a: 'x\u0001y', b: 'z' });
  send('k', { a: 'x', b: 'y\u0001z' });
  send('k', { a: 'x', b: 'y\u0002\u0001z' });
  send('k', { a: 'plain', b: 'key' });
  send('k', { a: 'plain', b: 'key' });
  timers.advance(1000);
  // Before: the first two were one group (n 2, with the second's fields).
  assert.deepEqual(
    out.map((o) => o.v),
    [
      { a: 'x\u0001y', b: 'z', n: 1 },
      { a: 'x', b: 'y\u0001z', n: 1 },
      { a: 'x', b: 'y\u0002\u0001z', n: 1 },
      { a: 'plain', b: 'key', n: 2 },
    ],
  );
  engine.close();
});

test('a hopping window keeps at most maxGroupStates groups across its open windows (size/hop 1,000 x maxGroups was 10 million)', async () => {
  const { timers, out, send, engine, deps } = setup("SELECT k, count(*) AS n FROM 'h' GROUP BY k, HOPPINGWINDOW(ss, 10, 1)", {
    start: 500,
    maxGroupStates: 150,
  });
  // Each event is in 10 windows: 20 keys are 200 group states.
  for (let i = 0; i < 20; i++) send('h', { k: `d${i}` });
  assert.equal(await metricValue(deps.registry, 'gatehouse_window_evicted_groups_total', { rule: 'w0' }), 50);
  timers.advance(10_000);
  assert.equal(out.length, 150);
  // Room again once windows closed: the next event's 10 states fit without evicting.
  send('h', { k: 'again' });
  assert.equal(await metricValue(deps.registry, 'gatehouse_window_evicted_groups_total', { rule: 'w0' }), 50);
  engine.close();
});

test('event time with LATENESS: at most maxRowsPerWindow events wait; beyond, the oldest is windowed at once and older ones are late', async () => {
  const { out, send, engine, deps } = setup("SELECT count(*) AS n FROM 'e' TIMESTAMP BY ts LATENESS(hh, 1) GROUP BY TUMBLINGWINDOW(ss, 10)", {
    maxRowsPerWindow: 3,
  });
  for (const ts of [1000, 2000, 3000, 4000, 11_000]) send('e', { ts });
  send('e', { ts: 1500 }); // older than the oldest fed (2000): late
  send('e', { ts: 20 * 3_600_000 }); // watermark far ahead: everything closes
  assert.deepEqual(
    out.map((o) => o.v),
    [{ n: 4 }, { n: 1 }],
  );
  assert.equal(await metricValue(deps.registry, 'gatehouse_window_late_events_total', { rule: 'w0' }), 1);
  engine.close();
});

test('the events waiting for the watermark come out in time order (ties in arrival order), across thousands of inserts and shifts', () => {
  const order = new EventOrder();
  const msg: Message = { topic: 't', payload: Buffer.alloc(0), qos: 0, source: { kind: 'mqtt', id: 'c' }, receivedAt: 0 };
  const ev = (ts: number, key: string): PendingEvent => ({ ts, key, vals: [], msg });
  const got: string[] = [];
  let x = 7;
  for (let i = 0; i < 5000; i++) {
    x = (x * 48271) % 2147483647;
    order.insert(ev(i - (x % 50), `${i}`)); // up to 50 out of order
    for (let e = order.shift(i - 60); e; e = order.shift(i - 60)) got.push(`${e.ts}:${e.key}`);
  }
  assert.equal(order.all().length, order.size);
  for (let e = order.shift(); e; e = order.shift()) got.push(`${e.ts}:${e.key}`);
  assert.equal(got.length, 5000);
  const parsed = got.map((g) => g.split(':').map(Number) as [number, number]);
  for (let i = 1; i < parsed.length; i++) {
    const [t0, k0] = parsed[i - 1]!;
    const [t1, k1] = parsed[i]!;
    assert.ok(t0 < t1 || (t0 === t1 && k0 < k1), `in order at ${i}: ${got[i - 1]} then ${got[i]}`);
  }
});

test("event time: an ISO date-time without a zone is UTC whatever the gateway's time zone (it was read in local time: Tokyo put events 9 h early)", (t) => {
  const tz = process.env.TZ;
  t.after(() => {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  });
  process.env.TZ = 'Asia/Tokyo';
  const { out, send, engine } = setup("SELECT count(*) AS n, window_start() AS ws FROM 'e' TIMESTAMP BY ts GROUP BY TUMBLINGWINDOW(hh, 1)");
  send('e', { ts: '2024-01-01T00:10:00' });
  send('e', { ts: '2024-01-01 00:20:00.5' });
  send('e', { ts: '2024-01-01T00:30:00Z' });
  send('e', { ts: '2024-01-01T10:00:00+09:00' }); // 01:00 UTC: closes [00:00, 01:00)
  assert.deepEqual(
    out.map((o) => o.v),
    [{ n: 3, ws: Date.UTC(2024, 0, 1) }],
  );
  engine.close();
});

test('bounded state: maxGroups evicts the oldest group (counted), sliding rows capped (counted)', async () => {
  const { timers, out, send, engine, deps } = setup(
    ["SELECT k, count(*) AS n FROM 'g' GROUP BY k, TUMBLINGWINDOW(ss, 10)", "SELECT count(*) AS n FROM 's' GROUP BY SLIDINGWINDOW(hh, 1)"],
    { maxGroups: 3, maxRowsPerWindow: 5 },
  );
  for (const k of ['a', 'b', 'c', 'd', 'e']) send('g', { k });
  for (let i = 0; i < 8; i++) send('s', {});
  timers.advance(10_000);
  assert.deepEqual(
    out.filter((o) => 'k' in o.v).map((o) => o.v.k),
    ['c', 'd', 'e'],
  );
  assert.deepEqual(
    out.filter((o) => !('k' in o.v)).map((o) => o.v.n),
    [1, 2, 3, 4, 5, 5, 5, 5],
  );
  assert.equal(await metricValue(deps.registry, 'gatehouse_window_evicted_groups_total', { rule: 'w0' }), 2);
  assert.equal(await metricValue(deps.registry, 'gatehouse_window_dropped_rows_total', { rule: 'w1' }), 3);
  engine.close();
});

test('checkpoint -> new engine -> restore gives the same output as an uninterrupted run', async () => {
  const sql = "SELECT topic(2) AS d, count(*) AS n, sum(v) AS s, percentile(v, 0.5) AS med FROM 'f/+' GROUP BY topic(2), TUMBLINGWINDOW(mi, 15) ORDER BY d";
  const feed = (send: (t: string, p: unknown) => void, timers: ManualTimers, from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      timers.advanceTo(i * 60_000);
      send(`f/t${i % 3}`, { v: i });
    }
  };
  // Uninterrupted reference.
  const ref = setup(sql);
  feed(ref.send, ref.timers, 0, 10);
  feed(ref.send, ref.timers, 10, 20);
  ref.timers.advanceTo(30 * 60_000);
  ref.engine.close();

  const store = memoryStateStore();
  const a = setup(sql, { stateStore: store, checkpointIntervalMs: 60_000 });
  await a.engine.start();
  feed(a.send, a.timers, 0, 10);
  await a.engine.stop(); // final checkpoint
  assert.equal(store.data.size, 1);
  assert.match([...store.data.keys()][0]!, /^rules\/state\/w0\/[0-9a-f]{16}$/);

  const timers = new ManualTimers(a.timers.now());
  const b = setup(sql, { stateStore: store, timers });
  await b.engine.start();
  feed(b.send, b.timers, 10, 20);
  b.timers.advanceTo(30 * 60_000);
  assert.deepEqual(
    a.out.concat(b.out).map((o) => o.v),
    ref.out.map((o) => o.v),
  );
  assert.equal(ref.out.length, 6);
  await b.engine.stop();

  // A different SQL under the same rule name never restores the old state.
  const c = setup(sql.replace('ORDER BY d', 'ORDER BY d DESC'), { stateStore: store, timers: new ManualTimers(0) });
  await c.engine.start();
  c.timers.advanceTo(60 * 60_000);
  assert.equal(c.out.length, 0);
  c.engine.close();
});

test('checkpoint write budget: a round that wrote B bytes puts the next periodic round B / checkpointMaxBytesPerSec later', async () => {
  const sql = "SELECT count(*) AS n, collect(v) AS vs FROM 'x' GROUP BY TUMBLINGWINDOW(hh, 1)";
  const rounds = async (budget: number): Promise<{ puts: number; bytes: number; total: number }> => {
    const store = memoryStateStore();
    let puts = 0;
    let bytes = 0;
    let total = 0;
    const put = store.put;
    store.put = async (k, v) => {
      puts++;
      bytes = v.length;
      total += v.length;
      return put(k, v);
    };
    const a = setup(sql, { stateStore: store, checkpointIntervalMs: 1000, checkpointMaxBytesPerSec: budget });
    await a.engine.start();
    for (let s = 1; s <= 60; s++) {
      a.send('x', { v: 'reading '.repeat(8) + s }); // every round has changed state to write
      a.timers.advanceTo(s * 1000);
      for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r)); // the round's write and its re-arm
    }
    a.engine.close();
    return { puts, bytes, total };
  };
  const free = await rounds(0);
  assert.ok(free.puts >= 55, `without a budget every second writes (${free.puts})`);
  // State growing to ~4.5 KB at 1,000 bytes/s: 60 s write at most ~60 KB plus the last round.
  const held = await rounds(1000);
  assert.ok(free.total > 120_000, `without a budget ${free.total} bytes in 60 s`);
  assert.ok(held.total <= 60 * 1000 + held.bytes, `with a budget: ${held.total} bytes in ${held.puts} rounds in 60 s`);
  assert.ok(held.puts >= 3, 'the budget delays rounds, never stops them');
});

test('corrupt checkpoint: logged, counted, the rule starts fresh', async () => {
  const store = memoryStateStore();
  const sql = "SELECT count(*) AS n FROM 'x' GROUP BY TUMBLINGWINDOW(ss, 10)";
  const a = setup(sql, { stateStore: store });
  await a.engine.start();
  a.send('x', {});
  await a.engine.stop();
  const key = [...store.data.keys()][0]!;
  store.data.set(key, Buffer.from('GHQ1garbage'));
  const b = setup(sql, { stateStore: store });
  await b.engine.start();
  assert.equal(await metricValue(b.deps.registry, 'gatehouse_rule_state_restores_total', { result: 'failed' }), 1);
  b.send('x', {});
  b.timers.advance(10_000);
  assert.deepEqual(
    b.out.map((o) => o.v),
    [{ n: 1 }],
  );
  b.engine.close();
});

test('engine.swap keeps the live window state of rules with the same name and SQL', () => {
  const { timers, out, send, engine, registry, def } = setup("SELECT count(*) AS n FROM 'x' GROUP BY TUMBLINGWINDOW(ss, 10)");
  send('x', {});
  send('x', {});
  engine.swap(compileRuleSet({ ...def, version: 2 }, registry));
  send('x', {});
  timers.advance(10_000);
  assert.deepEqual(
    out.map((o) => o.v),
    [{ n: 3 }],
  );
  // A changed SQL starts fresh.
  send('x', {});
  engine.swap(compileRuleSet({ version: 3, rules: [{ ...def.rules[0]!, sql: "SELECT count(*) AS m FROM 'x' GROUP BY TUMBLINGWINDOW(ss, 10)" }] }, registry));
  send('x', {});
  timers.advance(10_000);
  assert.deepEqual(out[1]!.v, { m: 1 });
  engine.close();
  assert.equal(timers.size, 0);
});

test('a rule set update that brings back a rule (reverted SQL, re-enabled) starts its windows empty, and its detectors keep what they learnt', async () => {
  const W = "SELECT count(*) AS n, window_start() AS ws FROM 'x' GROUP BY TUMBLINGWINDOW(mi, 15)";
  const D = "SELECT zscore(v, 5) OVER () AS z FROM 'x'";
  const { timers, out, send, engine, registry } = setup([W, D], { stateStore: memoryStateStore() });
  await engine.start();
  const set = (version: number, w: string, d: string, enabled = true) =>
    compileRuleSet(
      {
        version,
        rules: [
          { name: 'w0', sql: w, enabled, actions: [{ probe: {} }] },
          { name: 'w1', sql: d, enabled, actions: [{ probe: {} }] },
        ],
      },
      registry,
    );
  const rows = () => out.filter((o) => 'n' in o.v).map((o) => o.v);
  const scores = () => out.filter((o) => 'z' in o.v).map((o) => Number(o.v.z));
  for (let i = 0; i < 6; i++) {
    timers.advance(1000);
    send('x', { v: 10 + (i % 2) });
  }
  await engine.install(set(2, W.replace('mi, 15', 'mi, 5'), D.replace('5)', '6)'))); // edited
  timers.advanceTo(3_600_000);
  assert.deepEqual(rows(), [], 'the edited rule saw no event');
  await engine.install(set(3, W, D)); // reverted an hour later
  timers.advance(1);
  assert.deepEqual(rows(), [], 'the window of an hour ago (6 events, the rule was away since) is not emitted');
  send('x', { v: 100 });
  assert.ok(scores().at(-1)! > 10, 'the detector kept its window of 10s and 11s: 100 is far out at once');
  timers.advanceTo(3_600_000 + 15 * 60_000);
  assert.deepEqual(rows(), [{ n: 1, ws: 3_600_000 }], 'the window holds the inputs since the rule came back');
  await engine.install(set(4, W, D, false));
  send('x', { v: 10 });
  await engine.install(set(5, W, D));
  timers.advanceTo(3_600_000 + 30 * 60_000);
  assert.equal(rows().length, 1, 're-enabled: nothing from before it was disabled');
  await engine.stop();
});

test('window SQL errors are clear and positioned', () => {
  const reg = createActionRegistry({ probe: () => ({ kind: 'probe', resource: '', durable: false, execute: () => undefined }) });
  const cases: Array<[string, RegExp]> = [
    ["SELECT count(*) FROM 'x' GROUP BY TUMBLINGWINDOW(weeks, 1)", /unknown time unit 'weeks'/],
    ["SELECT count(*) FROM 'x' GROUP BY HOPPINGWINDOW(ss, 5, 10)", /hop .* must not exceed size/],
    ["SELECT count(*) FROM 'x' GROUP BY SESSIONWINDOW(ss, 1, 5)", /timeout .* must not exceed the max duration/],
    ["SELECT count(*) FROM 'x' GROUP BY COUNTWINDOW(0)", /n must be a whole number > 0/],
    ["SELECT count(*) FROM 'x' WHERE count(*) > 1 GROUP BY COUNTWINDOW(2)", /not allowed in WHERE/],
    ["SELECT sum(max(a)) FROM 'x' GROUP BY COUNTWINDOW(2)", /cannot be nested/],
    ["SELECT percentile(a, 2) FROM 'x' GROUP BY COUNTWINDOW(2)", /p must be a number literal in \[0, 1\]/],
    ["SELECT a FROM 'x' GROUP BY COUNTWINDOW(2), TUMBLINGWINDOW(ss, 1)", /one window function/],
    ["SELECT a FROM 'x' TIMESTAMP BY ts", /TIMESTAMP BY is not supported yet without a window/],
    ["SELECT a FROM 'x' TIMESTAMP BY ts LATENESS(5)", /expected a time unit/],
    // a misspelt window is named, not taken for a group key ("GROUP BY ... without a window function")
    ["SELECT count(*) FROM 'x' GROUP BY area, HOPINGWINDOW(mi, 10, 5)", /HOPINGWINDOW\(\) is not a window function: did you mean HOPPINGWINDOW\(\)\?/],
    ["SELECT count(*) FROM 'x' GROUP BY area", /GROUP BY is not supported yet without a window function/],
  ];
  for (const [sql, re] of cases) {
    assert.throws(
      () => compileRuleSet({ version: 1, rules: [{ name: 'r', sql, actions: [{ probe: {} }] }] }, reg),
      (e: unknown) =>
        e instanceof GatehouseError &&
        e.code === 'GH_RULESET_INVALID' &&
        re.test(JSON.stringify(e.details)) &&
        /line 1, column \d+/.test(JSON.stringify(e.details)),
      sql,
    );
  }
});

test('real timers: a window end beyond 24.8 days is armed at the longest timer, not taken as 1 ms (no re-arm spin)', async () => {
  const { realTimers, MAX_TIMER_MS } = await import('../../rules/windows/clock.js');
  const warnings: string[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w.name);
  };
  process.on('warning', onWarning);
  try {
    const timers = realTimers();
    const handle = timers.setTimeout(() => assert.fail('fired early'), 30 * 24 * 3600_000) as NodeJS.Timeout & { _idleTimeout?: number };
    // Node emits TimeoutOverflowWarning (on the next tick) when it shortens an overflowing delay to 1 ms.
    await new Promise((r) => setImmediate(r));
    const armedMs = handle._idleTimeout;
    timers.clearTimeout(handle);
    assert.deepEqual(warnings, []);
    assert.equal(armedMs, MAX_TIMER_MS);
  } finally {
    process.off('warning', onWarning);
  }
});

test('an aggregate outside a window says it needs one; the compiler knows every aggregate by name', async () => {
  const { WINDOW_AGGREGATES } = await import('../../rules/sql/compile-calls.js');
  assert.deepEqual([...WINDOW_AGGREGATES].sort(), [...AGGREGATES.keys()].sort());
  const { compileSql } = await import('../../rules/sql/compiler.js');
  assert.throws(
    () => compileSql("SELECT count(*) AS n FROM 'a'"),
    (err: unknown) =>
      err instanceof GatehouseError && /count\(\) is an aggregate: it needs a window/.test(err.message) && /TUMBLINGWINDOW/.test(err.hint ?? ''),
  );
});

test('processing-time windows close after their elapsed time when the wall clock steps a year back (not a year later); rows are stamped with the wall clock', () => {
  const YEAR = 365 * 24 * 3600 * 1000;
  const clock = new SteppedClock(1000);
  const out: Out[] = [];
  const registry = probeActions(out);
  const def = {
    version: 1,
    rules: [
      { name: 'tumble', sql: "SELECT count(*) AS n, window_end() AS we FROM 't' GROUP BY TUMBLINGWINDOW(ss, 10)", actions: [{ probe: {} }] },
      { name: 'sess', sql: "SELECT count(*) AS n, window_end() AS we FROM 's' GROUP BY SESSIONWINDOW(ss, 60, 5)", actions: [{ probe: {} }] },
    ],
  };
  const engine = createRuleEngine(compileRuleSet(def, registry), testDeps(), { timers: clock });
  const send = (topic: string): void =>
    void engine.handle({ topic, payload: Buffer.from('{}'), qos: 0, source: { kind: 'mqtt', id: 'c' }, receivedAt: clock.now() });
  send('t'); // window [0, 10 s) of the wall clock, due in 9 s
  send('s'); // session: closes after 5 s without events
  clock.elapsed.advance(2000);
  clock.offset = -YEAR;
  send('s'); // an event after the step: stamped a year earlier
  clock.elapsed.advance(5000);
  assert.deepEqual(
    out.map((o) => o.v),
    // (its end is in the wall time of before the step: the event after it did not move it)
    [{ n: 2, we: 6000 }],
    'the session closed by its timeout, not a year later',
  );
  clock.elapsed.advance(2000);
  assert.deepEqual(out[1]?.v, { n: 1, we: 10_000 }, 'the tumbling window closed after its 10 s, not when the wall clock catches up');
  assert.equal(out[1]!.at, clock.now(), 'its row is stamped with the (stepped) wall clock');
  assert.ok(out[1]!.at < 0, 'a year before the epoch');
  engine.close();
});

test('a processing-time sliding window counts the rows of before a wall clock step by their elapsed time: an hour back, they do not stay an hour; forward, they do not all leave', () => {
  const HOUR = 3600 * 1000;
  const clock = new SteppedClock(1_000_000);
  const out: Out[] = [];
  const def = {
    version: 1,
    rules: [{ name: 'slide', sql: "SELECT count(*) AS n FROM 't' GROUP BY SLIDINGWINDOW(ss, 10)", actions: [{ probe: {} }] }],
  };
  const engine = createRuleEngine(compileRuleSet(def, probeActions(out)), testDeps(), { timers: clock });
  const send = (): void => void engine.handle({ topic: 't', payload: Buffer.from('{}'), qos: 0, source: { kind: 'mqtt', id: 'c' }, receivedAt: clock.now() });
  send();
  send(); // 2 rows at elapsed 0
  clock.elapsed.advance(2000);
  clock.offset = -HOUR;
  send(); // 2 s later by elapsed time, an hour earlier by the wall clock: the 2 rows are 2 s old
  assert.equal(out.at(-1)?.v.n, 3, 'the rows of 2 s ago are in the 10 s window');
  clock.elapsed.advance(9000);
  send(); // 11 s after the first two: they left the window, the one of 9 s ago did not
  assert.equal(out.at(-1)?.v.n, 2, 'the rows from before the step left after their 10 s, not an hour later');
  clock.offset = -HOUR + 5 * HOUR;
  clock.elapsed.advance(500);
  send(); // stepped 5 hours forward, 0.5 s later: the rows of 0.5 s and 9.5 s ago are still in
  assert.equal(out.at(-1)?.v.n, 3, 'a forward step did not empty the window');
  engine.close();
});

test('a processing-time window opened before the wall clock stepped back still closes after its elapsed time when an event after the step opens an earlier window', () => {
  const YEAR = 365 * 24 * 3600 * 1000;
  const clock = new SteppedClock(1000);
  const out: Out[] = [];
  const def = {
    version: 1,
    rules: [{ name: 'tumble', sql: "SELECT count(*) AS n, window_end() AS we FROM 't' GROUP BY TUMBLINGWINDOW(ss, 10)", actions: [{ probe: {} }] }],
  };
  const engine = createRuleEngine(compileRuleSet(def, probeActions(out)), testDeps(), { timers: clock });
  const send = (): void => void engine.handle({ topic: 't', payload: Buffer.from('{}'), qos: 0, source: { kind: 'mqtt', id: 'c' }, receivedAt: clock.now() });
  send(); // window [0, 10 s), due in 9 s
  clock.elapsed.advance(2000);
  clock.offset = -YEAR;
  send(); // a window a year earlier, due within 10 s
  clock.elapsed.advance(10_000);
  assert.deepEqual(
    out.map((o) => o.v).sort((a, b) => Number(a.we) - Number(b.we)),
    [
      { n: 1, we: 10_000 - YEAR },
      { n: 1, we: 10_000 },
    ],
    'both windows closed after their 10 s; the one from before the step was not held for a year',
  );
  engine.close();
});

test('a processing-time session opened before the wall clock stepped back closes after its timeout when a session opened after the step closes first', () => {
  const YEAR = 365 * 24 * 3600 * 1000;
  const clock = new SteppedClock(1000);
  const out: Out[] = [];
  const def = {
    version: 1,
    rules: [
      {
        name: 'sess',
        sql: "SELECT topic(2) AS k, count(*) AS n, window_end() AS we FROM 's/+' GROUP BY topic(2), SESSIONWINDOW(ss, 60, 5)",
        actions: [{ probe: {} }],
      },
    ],
  };
  const engine = createRuleEngine(compileRuleSet(def, probeActions(out)), testDeps(), { timers: clock });
  const send = (k: string): void =>
    void engine.handle({ topic: `s/${k}`, payload: Buffer.from('{}'), qos: 0, source: { kind: 'mqtt', id: 'c' }, receivedAt: clock.now() });
  send('a'); // closes 5 s later (elapsed)
  clock.elapsed.advance(1000);
  clock.offset = -YEAR;
  send('b'); // a session a year earlier: its timer replaces a's
  clock.elapsed.advance(5000);
  assert.deepEqual(
    out.map((o) => o.v),
    [
      { k: 'a', n: 1, we: 6000 },
      { k: 'b', n: 1, we: 7000 - YEAR },
    ],
    'a closed after its 5 s, not a year later',
  );
  engine.close();
});

test('a group keeps its last message without the socket chunk its payload was sliced from (10,000 groups could hold 64 KiB each)', () => {
  const timers = new ManualTimers(0);
  const held: number[] = [];
  const registry = createActionRegistry({
    probe: () => ({
      kind: 'probe',
      resource: 'mem',
      durable: false,
      execute: (_b: Buffer, ctx: ActionContext) => void held.push(ctx.message.payload.buffer.byteLength),
    }),
  });
  const def = {
    version: 1,
    rules: [{ name: 'avg', sql: "SELECT topic(2) AS d, avg(v) AS v, flag FROM 'd/+' GROUP BY topic(2), TUMBLINGWINDOW(ss, 10)", actions: [{ probe: {} }] }],
  };
  const engine = createRuleEngine(compileRuleSet(def, registry), testDeps(), { timers });
  // One 64 KiB read from a connection carrying many devices' messages, as the parser slices it.
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  for (let d = 0; d < 50; d++) {
    const json = Buffer.from(JSON.stringify({ v: d, flag: `f${d}` }));
    json.copy(chunk, d * 1000);
    void engine.handle({
      topic: `d/${d}`,
      payload: chunk.subarray(d * 1000, d * 1000 + json.length),
      qos: 0,
      source: { kind: 'mqtt', id: 'bridge' },
      receivedAt: 0,
    });
  }
  // A payload that owns its bytes is kept as it is: no copy. (Not Buffer.from(string): on Node 24
  // that is a slice of a 64 KiB pool slab, which group-state.ts copies out, as it should.)
  const own = Buffer.alloc(20);
  own.write('{"v":1,"flag":"own"}');
  void engine.handle({ topic: 'd/own', payload: own, qos: 0, source: { kind: 'mqtt', id: 'c' }, receivedAt: 0 });
  timers.advance(10_000);
  assert.equal(held.length, 51);
  assert.ok(
    held.slice(0, 50).every((n) => n < 100),
    `rows' messages hold their own bytes, not the 64 KiB chunk: ${held.slice(0, 5).join(', ')}`,
  );
  assert.equal(held[50], own.buffer.byteLength, 'an own payload is not copied');
  engine.close();
});
