// Windowed and analytic rules through engine.handle(): a 15-minute tumbling window with a group key
// (100 trucks), a sliding window, and z-score / RCF analytic functions per truck. Single core,
// no-op action, figures noisy on a shared machine. Run: node --import tsx test/bench/windows.ts
import { Registry } from 'prom-client';
import pino from 'pino';
import { compileRuleSet } from '../../rules/ruleset.js';
import { createRuleEngine } from '../../rules/engine.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import type { Message } from '../../core/message.js';

let sink = 0;
const registry = createActionRegistry({
  noop: () => ({ kind: 'noop', resource: 'noop', durable: false, execute: (out: Buffer) => void (sink += out.length) }),
});

const CASES: Array<[string, string, number]> = [
  [
    'tumbling 15 min, 100 groups, count/avg/max',
    "SELECT topic(2) AS t, count(*) AS n, avg(temp) AS a, max(temp) AS m FROM 'fleet/+/engine' GROUP BY topic(2), TUMBLINGWINDOW(mi, 15)",
    1.5,
  ],
  ['sliding 10 s (~100 rows/group), count/avg', "SELECT count(*) AS n, avg(temp) AS a FROM 'fleet/+/engine' GROUP BY topic(2), SLIDINGWINDOW(ss, 10)", 1.5],
  [
    'zscore OVER (PARTITION BY topic(2)) in SELECT+WHERE',
    "SELECT zscore(temp) OVER (PARTITION BY topic(2)) AS z FROM 'fleet/+/engine' WHERE zscore(temp) OVER (PARTITION BY topic(2)) > 3",
    1.5,
  ],
  [
    'random_cut_forest (KDA defaults) per truck',
    "SELECT random_cut_forest(temp) OVER (PARTITION BY topic(2)) AS s FROM 'fleet/+/engine' WHERE random_cut_forest(temp) OVER (PARTITION BY topic(2)) > 3",
    2,
  ],
];

const rows: string[] = [];
for (const [label, sql, seconds] of CASES) {
  let now = 0;
  const engine = createRuleEngine(compileRuleSet({ version: 1, rules: [{ name: 'b', sql, actions: [{ noop: {} }] }] }, registry), {
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    now: () => now,
  });
  const msgs: Message[] = [];
  for (let i = 0; i < 1000; i++) {
    msgs.push({
      topic: `fleet/truck${i % 100}/engine`,
      payload: Buffer.from(JSON.stringify({ temp: 80 + (i % 13) * 0.3, rpm: 2400 + i })),
      qos: 0,
      source: { kind: 'mqtt', id: 'x' },
      receivedAt: 0,
    });
  }
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  let n = 0;
  while (process.hrtime.bigint() < deadline) {
    for (let i = 0; i < 1000; i++) {
      now += 1; // 1 ms per message: 100 msgs/s per truck
      engine.handle(msgs[i]!);
    }
    n += 1000;
  }
  const rate = n / (Number(process.hrtime.bigint() - t0) / 1e9);
  rows.push(`| ${label} | ${Math.round(rate).toLocaleString('en-US')} |`);
  engine.close();
}
console.log(`| case | msgs/s |\n| --- | ---: |\n${rows.join('\n')}`);
if (sink < 0) console.log(sink);
