// ruleState.maxGroupBytes through the real compiler and engine: what window groups keep (their
// last message, counted once when a hopping window's windows share it; the rows of sliding and
// count windows; events waiting for the watermark) is bounded in bytes, the oldest groups are
// evicted and counted with reason="bytes", and a restored checkpoint is held to the budget.
// Before, maxGroups x broker.maxPayloadBytes (10,000 x 256 KiB = 2.5 GiB) was the only bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { metricValue } from '../helpers/index.js';
import { compileRuleSet } from '../../rules/ruleset.js';
import { createRuleEngine, type RuleEngineOptions } from '../../rules/engine.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { ManualTimers } from '../../rules/windows/clock.js';
import { memoryStateStore } from '../../rules/windows/state.js';
import { messageBytes } from '../../rules/windows/group-bytes.js';
import type { Message } from '../../core/message.js';

const KiB = 1024;

function setup(sql: string, opts: RuleEngineOptions & { start?: number } = {}) {
  const timers = new ManualTimers(opts.start ?? 0);
  const out: Array<Record<string, unknown>> = [];
  const registry = createActionRegistry({
    probe: () => ({
      kind: 'probe',
      resource: 'mem',
      durable: false,
      execute: (b: Buffer) => void out.push(JSON.parse(b.toString()) as Record<string, unknown>),
    }),
  });
  const def = { version: 1, rules: [{ name: 'w', sql, actions: [{ probe: {} }] }] };
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const deps = { logger: pino({ level: 'warn' }, sink), registry: new Registry() };
  const engine = createRuleEngine(compileRuleSet(def, registry), deps, { ...opts, timers });
  const send = (topic: string, payload: Record<string, unknown>): void => {
    const m: Message = { topic, payload: Buffer.from(JSON.stringify(payload)), qos: 0, source: { kind: 'mqtt', id: 'c' }, receivedAt: timers.now() };
    void engine.handle(m);
  };
  const evicted = (reason?: string): Promise<number> =>
    metricValue(deps.registry, 'gatehouse_window_evicted_groups_total', reason ? { rule: 'w', reason } : { rule: 'w' });
  return { engine, timers, out, send, evicted, logs };
}

const pad = (n: number): string => 'x'.repeat(n);

test('a tumbling window grouped by topic keeps at most maxGroupBytes of last messages: the oldest groups are evicted, counted and logged once', async () => {
  const { timers, out, send, evicted, logs, engine } = setup("SELECT * FROM 'big/+' GROUP BY topic(), TUMBLINGWINDOW(mi, 10)", {
    start: 1000,
    maxGroupBytes: 1024 * KiB,
  });
  // 100 topics of 100 KiB: 10 MB kept before (maxGroups 10,000 was the only bound).
  for (let i = 0; i < 100; i++) send(`big/d${i}`, { i, s: pad(100 * KiB) });
  const n = await evicted('bytes');
  assert.ok(n >= 90 && n <= 92, `evicted for bytes: ${n}`);
  assert.equal(await evicted('groups'), 0);
  assert.equal(await evicted(), n);
  timers.advance(600_000);
  // The newest groups are the ones kept.
  assert.equal(out.length, 100 - n);
  assert.deepEqual(
    out.map((o) => o.i),
    Array.from({ length: 100 - n }, (_, k) => 100 - (100 - n) + k),
  );
  const warned = logs.filter((l) => String(l.msg).includes('ruleState.maxGroupBytes'));
  assert.equal(warned.length, 1, 'logged at a bounded rate, not per eviction');
  assert.equal(warned[0]!.rule, 'w');
  // Closed windows free their bytes: the next window has the whole budget again.
  for (let i = 0; i < 5; i++) send(`big/e${i}`, { i, s: pad(100 * KiB) });
  assert.equal(await evicted('bytes'), n);
  engine.close();
});

test('maxGroupBytes counts a message shared by the windows of a hopping window once, and evicts a key from all its windows', async () => {
  const { timers, out, send, evicted, engine } = setup("SELECT topic() AS t, count(*) AS n FROM 'h/+' GROUP BY topic(), HOPPINGWINDOW(ss, 10, 1)", {
    start: 500,
    maxGroupBytes: 1024 * KiB,
  });
  // 8 keys of 100 KiB in 10 windows: 800 KiB once, 8 MB if each window counted its copy.
  for (let i = 0; i < 8; i++) send(`h/d${i}`, { s: pad(100 * KiB) });
  assert.equal(await evicted(), 0);
  // 4 more keys: the oldest keys leave every window (10 group states each), the newest stay.
  for (let i = 8; i < 12; i++) send(`h/d${i}`, { s: pad(100 * KiB) });
  const n = await evicted('bytes');
  assert.ok(n > 0 && n % 10 === 0, `evicted states: ${n}`);
  timers.advance(10_000);
  const keys = new Set(out.map((o) => o.t));
  assert.equal(keys.size, 12 - n / 10);
  assert.ok(!keys.has('h/d0') && keys.has('h/d11'), [...keys].join(','));
  engine.close();
});

test('maxGroupBytes counts the rows of a sliding window: a group with many large rows evicts the oldest other groups', async () => {
  const { out, send, evicted, engine } = setup("SELECT k, count(*) AS n FROM 'r' GROUP BY k, SLIDINGWINDOW(mi, 10)", {
    start: 500,
    maxGroupBytes: 1024 * KiB,
  });
  // The aggregate argument is * (a boolean a row): rows are small; their messages are not.
  send('r', { k: 'old', s: pad(300 * KiB) });
  send('r', { k: 'mid', s: pad(300 * KiB) });
  assert.equal(await evicted(), 0);
  send('r', { k: 'new', s: pad(500 * KiB) });
  assert.equal(await evicted('bytes'), 1);
  send('r', { k: 'old' }); // a new group: 'old' was evicted
  assert.deepEqual(out.at(-1), { k: 'old', n: 1 });
  engine.close();

  // Rows: count(s) keeps each row's s (10 KiB) until the row leaves; 60 rows of a key are ~600 KiB.
  const b = setup("SELECT k, count(s) AS n FROM 'r' GROUP BY k, SLIDINGWINDOW(mi, 10)", { maxGroupBytes: 1024 * KiB });
  for (let i = 0; i < 60; i++) b.send('r', { k: 'a', s: pad(10 * KiB) });
  for (let i = 0; i < 60; i++) b.send('r', { k: 'b', s: pad(10 * KiB) });
  assert.equal(await b.evicted('bytes'), 1, 'the rows of a and b are over the budget: a goes');
  b.send('r', { k: 'a', s: '' });
  assert.deepEqual(b.out.at(-1), { k: 'a', n: 1 });
  b.engine.close();
});

test('maxGroupBytes counts the values collect() keeps in a tumbling window and a session (up to maxRowsPerWindow a group)', async () => {
  for (const win of ['TUMBLINGWINDOW(mi, 10)', 'SESSIONWINDOW(mi, 10, 5)']) {
    const { timers, out, send, evicted, engine } = setup(`SELECT k, count(*) AS n, collect(s) AS c FROM 'c' GROUP BY k, ${win}`, {
      start: 500,
      maxGroupBytes: 1024 * KiB,
    });
    // 60 values of 10 KiB a key: ~600 KiB; the messages are only the last one a group.
    for (let i = 0; i < 60; i++) send('c', { k: 'a', s: pad(10 * KiB) });
    for (let i = 0; i < 60; i++) send('c', { k: 'b', s: pad(10 * KiB) });
    assert.equal(await evicted('bytes'), 1, win);
    timers.advance(600_000);
    assert.deepEqual(
      out.map((o) => [o.k, o.n]),
      [['b', 60]],
      win,
    );
    engine.close();
  }
});

test('events waiting for the watermark count towards maxGroupBytes: beyond it the oldest is windowed at once', async () => {
  const { out, send, evicted, engine } = setup("SELECT k, count(*) AS n FROM 'e' TIMESTAMP BY ts LATENESS(hh, 1) GROUP BY k, TUMBLINGWINDOW(ss, 10)", {
    maxGroupBytes: 1024 * KiB,
  });
  for (let i = 0; i < 30; i++) send('e', { ts: 1000 + i, k: `d${i}`, s: pad(100 * KiB) });
  // Waiting, the 30 events are 3 MB; fed at once beyond the budget, their groups are evicted.
  assert.ok((await evicted('bytes')) >= 20);
  send('e', { ts: 20 * 3_600_000, k: 'late' });
  assert.ok(out.length > 0 && out.length <= 10, `rows: ${out.length}`);
  engine.close();
});

test('a checkpoint restored under a lower maxGroupBytes keeps the newest groups within it (counted), and a snapshot holds only them', async () => {
  const store = memoryStateStore();
  const sql = "SELECT topic() AS t FROM 'big/+' GROUP BY topic(), TUMBLINGWINDOW(hh, 1)";
  const a = setup(sql, { stateStore: store, start: 1000 });
  await a.engine.start();
  for (let i = 0; i < 20; i++) a.send(`big/d${i}`, { s: pad(100 * KiB) });
  assert.equal(await a.evicted(), 0);
  await a.engine.stop();
  const [saved] = [...store.data.values()];
  assert.ok(saved && saved.length > 20 * 100 * KiB);

  const b = setup(sql, { stateStore: store, start: 2000, maxGroupBytes: 512 * KiB });
  await b.engine.start();
  const n = await b.evicted('bytes');
  assert.ok(n >= 15 && n <= 16, `evicted at restore: ${n}`);
  await b.engine.stop();
  const [again] = [...store.data.values()];
  assert.ok(again && again.length < 1024 * KiB, `checkpoint after restore: ${again?.length}`);
  b.timers.advance(3_600_000);
});

test('messageBytes counts a message once its payload, topic and MQTT 5 properties', () => {
  const m: Message = {
    topic: 't/1',
    payload: Buffer.alloc(1000),
    qos: 1,
    source: { kind: 'mqtt', id: 'c' },
    receivedAt: 0,
    properties: { correlationData: Buffer.alloc(100), userProperties: { a: ['x'.repeat(500), 'y'] } },
  };
  const n = messageBytes(m);
  assert.ok(n >= 1600 && n < 2200, `${n}`);
});
