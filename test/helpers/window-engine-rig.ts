// A rules engine with one tumbling-window rule over a MemoryLog (input log and state store in
// memory, memory-input-log.ts) and a ManualTimers clock, for tests that step through the moment a
// checkpoint's write commits or a window's timer fires. A test double: each test using it says so.
import { testDeps } from './index.js';
import { compileRuleSet } from '../../rules/ruleset.js';
import { createRuleEngine, type RuleEngine } from '../../rules/engine.js';
import { createActionRegistry } from './action-registry.js';
import { ManualTimers } from '../../rules/windows/clock.js';
import type { MemoryLog } from './memory-input-log.js';
import type { Message } from '../../core/message.js';

/** One count per 10 s window: with the clock at WINDOW_START, the window [1,000,000, 1,010,000) closes 10 s later. */
export const WINDOW_SQL = "SELECT count(*) AS n FROM 'w/+' GROUP BY TUMBLINGWINDOW(ss, 10)";
export const WINDOW_START = 1_000_000;

export interface WindowProc {
  engine: RuleEngine;
  timers: ManualTimers;
  /** The rows the rule emitted. */
  rows: Array<Record<string, unknown>>;
  /** One message into the rule (not awaited). */
  send(): void;
}

/** Start an engine over `store` (durable: the input log on), its clock at `at`. */
export async function bootWindowEngine(store: MemoryLog, o: { durable: boolean; checkpointIntervalMs: number; at?: number }): Promise<WindowProc> {
  const timers = new ManualTimers(o.at ?? WINDOW_START);
  const rows: Array<Record<string, unknown>> = [];
  const registry = createActionRegistry({
    out: () => ({ kind: 'out', resource: 'mem', durable: false, execute: (b: Buffer) => void rows.push(JSON.parse(b.toString()) as Record<string, unknown>) }),
  });
  const set = compileRuleSet({ version: 1, rules: [{ name: 'r', sql: WINDOW_SQL, actions: [{ out: {} }] }] }, registry);
  const engine = createRuleEngine(set, testDeps(), {
    timers,
    checkpointIntervalMs: o.checkpointIntervalMs,
    stateStore: { get: (k) => store.getMeta(k), put: (k, v) => store.commitMeta(k, v) },
    inputLog: o.durable ? store : undefined,
  });
  await engine.start();
  const send = (): void => {
    const m: Message = { topic: 'w/1', payload: Buffer.from('{}'), qos: 1, source: { kind: 'mqtt', id: 'c' }, receivedAt: timers.now() };
    void engine.handle(m);
  };
  return { engine, timers, rows, send };
}
