// Processing-time sliding and session windows across a restart on a wrong wall clock: a Raspberry Pi without an
// RTC boots on fake-hwclock's last save (after a power cut, up to an hour behind the state the
// gateway checkpointed) and NTP steps it forward later. Real compiler, engine and checkpoint/restore;
// the clocks are injected (no waiting); the action is an in-memory recorder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDeps } from '../helpers/index.js';
import { compileRuleSet } from '../../rules/ruleset.js';
import { createRuleEngine } from '../../rules/engine.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { memoryStateStore, type StateStore } from '../../rules/windows/state.js';
import { SteppedClock } from '../helpers/stepped-clock.js';

const HOUR = 3600 * 1000;

const SLIDING = "SELECT count(*) AS n FROM 't' GROUP BY SLIDINGWINDOW(ss, 10)";

function gateway(clock: SteppedClock, stateStore: StateStore, sql = SLIDING) {
  const counts: number[] = [];
  const registry = createActionRegistry({
    probe: () => ({ kind: 'probe', resource: 'mem', durable: false, execute: (b: Buffer) => void counts.push((JSON.parse(b.toString()) as { n: number }).n) }),
  });
  const def = { version: 1, rules: [{ name: 'w', sql, actions: [{ probe: {} }] }] };
  const engine = createRuleEngine(compileRuleSet(def, registry), testDeps(), { timers: clock, stateStore, checkpointIntervalMs: 60_000 });
  const send = (): number | undefined => {
    void engine.handle({ topic: 't', payload: Buffer.from('{}'), qos: 0, source: { kind: 'mqtt', id: 'c' }, receivedAt: clock.now() });
    return counts.at(-1);
  };
  return { engine, send, counts };
}

test('a sliding window restored on a clock an hour behind its rows counts them for at most its size, and NTP stepping the clock forward does not move them an hour ahead', async () => {
  const store = memoryStateStore();
  const T = Date.UTC(2026, 0, 1, 12);
  const before = new SteppedClock(T);
  const a = gateway(before, store);
  await a.engine.start();
  a.send();
  a.send();
  assert.equal(a.send(), 3);
  await a.engine.stop(); // checkpoint: 3 rows stamped 12:00

  // Power cut; the Pi boots on fake-hwclock's save of 11:00, before NTP.
  const clock = new SteppedClock(T - HOUR);
  const b = gateway(clock, store);
  await b.engine.start();
  assert.equal(b.send(), 4, 'the restored rows are taken as just before the first event after the start');
  clock.elapsed.advance(11_000);
  assert.equal(b.send(), 1, 'the restored rows left after the 10 s of the window, not when the clock reaches 12:00 (an hour)');

  clock.elapsed.advance(2000);
  assert.equal(b.send(), 2);
  clock.offset = HOUR; // NTP's first sync steps the clock forward an hour
  clock.elapsed.advance(11_000);
  assert.equal(b.send(), 1, 'after the step the rows of 11 s ago left; none was moved an hour ahead');
  await b.engine.stop();

  // Restored again, on a clock an hour behind, and NTP steps it before the window's size elapsed.
  const c2 = new SteppedClock(T - HOUR + 30_000);
  const c = gateway(c2, store);
  await c.engine.start();
  assert.equal(c.send(), 2, 'the restored row is taken as just before');
  c2.offset = HOUR + 1000;
  c2.elapsed.advance(11_000);
  assert.equal(c.send(), 1, 'the rows left after their 10 s once NTP stepped the clock forward, not an hour later');
  await c.engine.stop();
});

const SESSION_SQL = "SELECT count(*) AS n FROM 't' GROUP BY SESSIONWINDOW(ss, 600, 3)";

/** A gateway that took a session of 2 events, the last at 12:00, and stopped: its checkpoint in `store`. */
async function sessionOfTwoCheckpointed() {
  const T = Date.UTC(2026, 0, 1, 12);
  const store = memoryStateStore();
  const a = gateway(new SteppedClock(T), store, SESSION_SQL);
  await a.engine.start();
  a.send();
  a.send();
  await a.engine.stop();
  return { sql: SESSION_SQL, T, store };
}

test('a session restored on a clock an hour behind its last event closes after its timeout, not an hour later', async () => {
  const { sql, T, store } = await sessionOfTwoCheckpointed();

  // Power cut; the Pi boots on fake-hwclock's save of 11:00, before NTP. No event comes.
  const quiet = new SteppedClock(T - HOUR);
  const c = gateway(quiet, store, sql);
  await c.engine.start();
  quiet.elapsed.advance(3000);
  assert.deepEqual(c.counts, [2], 'the restored session closed 3 s (its timeout) after the start');
  await c.engine.stop();
});

test('events after a restart on a clock an hour behind join the restored session within its timeout only, not for the hour the clock is behind; NTP stepping the clock forward closes what is due', async () => {
  const { sql, T, store } = await sessionOfTwoCheckpointed();

  const clock = new SteppedClock(T - HOUR);
  const b = gateway(clock, store, sql);
  await b.engine.start();
  for (let i = 0; i < 5; i++) {
    b.send();
    clock.elapsed.advance(1000);
  }
  clock.elapsed.advance(3000);
  assert.deepEqual(b.counts, [7], 'one session of the restored events and those within its timeout, closed 3 s after the last one');
  b.send();
  clock.offset = HOUR; // NTP's first sync
  clock.elapsed.advance(3000);
  assert.deepEqual(b.counts, [7, 1], 'the session open at the step closed after its timeout');
  await b.engine.stop();
});

test('a tumbling window restored on a clock an hour behind its events closes after the time it had left, not an hour later nor only at the next event after NTP', async () => {
  const sql = "SELECT count(*) AS n, window_end() AS we FROM 't' GROUP BY TUMBLINGWINDOW(ss, 20)";
  const T = Date.UTC(2026, 0, 1, 12);
  const store = memoryStateStore();
  const a = gateway(new SteppedClock(T + 5000), store, sql);
  await a.engine.start();
  a.send();
  a.send();
  await a.engine.stop(); // the window [12:00:00, 12:00:20) holds 2 events of 12:00:05
  const copy = memoryStateStore();
  for (const [k, v] of store.data) copy.data.set(k, v);

  const clock = new SteppedClock(T - HOUR);
  const b = gateway(clock, store, sql);
  await b.engine.start();
  clock.elapsed.advance(14_900);
  assert.deepEqual(b.counts, [], 'open for the 15 s it had left');
  clock.elapsed.advance(100);
  assert.deepEqual(b.counts, [2], 'closed after the 15 s it had left after its last event, not when the clock reaches 12:00:20');
  await b.engine.stop();

  const c2 = new SteppedClock(T - HOUR);
  const c = gateway(c2, copy, sql);
  await c.engine.start();
  c2.elapsed.advance(5000);
  c2.offset = HOUR; // NTP's first sync, no event after it
  c2.elapsed.advance(10_000);
  assert.deepEqual(c.counts, [2], 'closed after its time once NTP stepped the clock, without another event');
  await c.engine.stop();
});
