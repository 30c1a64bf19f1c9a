// The plant recipes of docs/windows.md ("Recipes for a plant"), read from the page and run as
// written through the real compiler and engine, over messages shaped like a Modbus source's
// `publish: group` polls (some unanswered: the tag under `errors`, no value). The clock is a
// ManualTimers (processing-time windows close on its timers); no store (not durable).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot, testDeps } from '../helpers/index.js';
import { compileRuleSet } from '../../rules/ruleset.js';
import { createRuleEngine } from '../../rules/engine.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { ManualTimers } from '../../rules/windows/clock.js';
import type { Message } from '../../core/message.js';

const T0 = 1_800_000_000_000; // a multiple of 5 minutes: windows start here

async function recipes(): Promise<{ averages: string; alarm: string }> {
  const page = await readFile(join(repoRoot, 'docs', 'windows.md'), 'utf8');
  const start = page.indexOf('## Recipes for a plant');
  assert.ok(start >= 0, 'docs/windows.md has its plant recipes');
  const section = page.slice(start, page.indexOf('\n## ', start + 1));
  const blocks = [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => (m[1] as string).trim());
  assert.equal(blocks.length, 2, 'two recipes: averages, an alarm');
  return { averages: blocks[0] as string, alarm: blocks[1] as string };
}

async function engine(sql: string) {
  const timers = new ManualTimers(T0);
  const rows: Array<Record<string, unknown>> = [];
  const registry = createActionRegistry({
    out: () => ({ kind: 'out', resource: 'mem', durable: false, execute: (b: Buffer) => void rows.push(JSON.parse(b.toString()) as Record<string, unknown>) }),
  });
  const set = compileRuleSet({ version: 1, rules: [{ name: 'recipe', sql, actions: [{ out: {} }] }] }, registry);
  const e = createRuleEngine(set, testDeps(), { timers, checkpointIntervalMs: 0 });
  await e.start();
  const poll = async (machine: string, values: Record<string, number> | null): Promise<void> => {
    const ts = timers.now();
    const body = values
      ? { device: machine, group: 'temps', ts, values }
      : { device: machine, group: 'temps', ts, errors: { temp: 'no response (timed out)', oil: 'no response (timed out)' } };
    const m: Message = {
      topic: `plant/${machine}/temps`,
      payload: Buffer.from(JSON.stringify(body)),
      qos: 1,
      source: { kind: 'modbus', id: 'line1' },
      receivedAt: ts,
    };
    await e.handle(m);
  };
  return { timers, rows, poll, stop: () => e.stop() };
}

test('five-minute averages per machine: one row per machine and window; samples counts the readings, not the unanswered polls', async () => {
  const { averages } = await recipes();
  const r = await engine(averages);
  let sum = 0;
  let samples = 0;
  // 600 polls at 500 ms, the first five minutes; every 60th unanswered (10 polls).
  for (let i = 0; i < 600; i++) {
    if (i % 60 === 59) await r.poll('press1', null);
    else {
      const temp = 60 + (i % 10);
      sum += temp;
      samples++;
      await r.poll('press1', { temp, oil: 70 });
    }
    r.timers.advance(500);
  }
  r.timers.advance(1000);
  await r.stop();
  assert.equal(r.rows.length, 1, JSON.stringify(r.rows));
  const row = r.rows[0] as Record<string, number | string>;
  assert.equal(row.machine, 'press1');
  assert.equal(row.samples, 590);
  assert.ok(Math.abs((row.temp_avg as number) - sum / samples) < 1e-9, `${row.temp_avg} vs ${sum / samples}`);
  assert.equal(row.temp_min, 60);
  assert.equal(row.temp_max, 69);
  assert.equal(row.from_ms, T0);
  assert.equal(row.to_ms, T0 + 300_000);
});

test('a value that stays above a limit: one alarm a minute once two whole minutes were above; a machine read a few seconds before a window ends is kept out by the count guard', async () => {
  const { alarm } = await recipes();
  const run = async (sql: string) => {
    const r = await engine(sql);
    // press1: oil 80 for 90 s, then 95 (above 90) to the end, 6 minutes; polled every 500 ms.
    // press2: read only in the 5 s before the 4-minute mark (a PLC answering again), 95 each time.
    for (let t = 0; t < 360_000; t += 500) {
      await r.poll('press1', { temp: 60, oil: t < 90_000 ? 80 : 95 });
      if (t >= 235_000 && t < 240_000) await r.poll('press2', { temp: 60, oil: 95 });
      r.timers.advance(500);
    }
    r.timers.advance(1000);
    await r.stop();
    return r.rows;
  };
  const rows = await run(alarm);
  // Windows [k, k + 2 min) at every minute: the first all above 90 is [2 min, 4 min), 2.5 minutes
  // after the crossing at 1.5 min; then [3, 5) and [4, 6). None for press2.
  assert.deepEqual(
    rows.map((x) => [x.machine, x.at, x.oil_min, x.readings]),
    [
      ['press1', T0 + 240_000, 95, 240],
      ['press1', T0 + 300_000, 95, 240],
      ['press1', T0 + 360_000, 95, 240],
    ],
  );
  // Without the guard, press2's ten hot readings pass min(...) > 90 in the two windows ending at 4 and 5 minutes.
  const unguarded = await run(alarm.replace(/ AND count\(values\.oil\) >= \d+/, ''));
  assert.equal(unguarded.filter((x) => x.machine === 'press2').length, 2, JSON.stringify(unguarded));
});
