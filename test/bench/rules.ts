// Rules engine throughput: `SELECT temp, topic(2) AS id FROM 'fleet/+/engine' WHERE temp > 50` over
// 200-byte JSON payloads, through engine.handle() (topic index + lazy JSON.parse + WHERE + SELECT +
// JSON serialisation of the output) with a no-op non-durable action. Then the same rule among 1,000
// rules on distinct topic filters. Single core; figures are noisy on a shared machine.
import { Registry } from 'prom-client';
import pino from 'pino';
import { compileRuleSet } from '../../rules/ruleset.js';
import { createRuleEngine } from '../../rules/engine.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import type { Message } from '../../core/message.js';
import type { RuleDefinition } from '../../rules/types.js';

const SQL = "SELECT temp, topic(2) AS id FROM 'fleet/+/engine' WHERE temp > 50";
let sink = 0;
const registry = createActionRegistry({
  noop: () => ({ kind: 'noop', resource: 'noop', durable: false, execute: (out: Buffer) => void (sink += out.length) }),
});

function payload(i: number): Buffer {
  const base = { temp: 40 + (i % 30), rpm: 2400 + i, oil: 3.25, vin: 'WDB1234567890ABCD', status: 'running', site: 'north-yard' };
  let s = JSON.stringify({ ...base, pad: '' });
  s = JSON.stringify({ ...base, pad: 'x'.repeat(Math.max(0, 200 - s.length)) });
  return Buffer.from(s);
}

function run(label: string, rules: RuleDefinition[], seconds = 1.5): { label: string; rate: number; emitted: number } {
  const engine = createRuleEngine(compileRuleSet({ version: 1, rules }, registry), { logger: pino({ level: 'silent' }), registry: new Registry() });
  const msgs: Message[] = [];
  for (let i = 0; i < 1000; i++) {
    msgs.push({ topic: `fleet/truck${i % 100}/engine`, payload: payload(i), qos: 0, source: { kind: 'mqtt', id: `truck${i % 100}` }, receivedAt: Date.now() });
  }
  for (let i = 0; i < 50_000; i++) engine.handle(msgs[i % 1000]!); // warm-up
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  let n = 0;
  for (;;) {
    for (let i = 0; i < 1000; i++) engine.handle(msgs[i]!);
    n += 1000;
    if ((n & 0x3fff) === 0 && process.hrtime.bigint() > deadline) break;
    if (n % 16000 === 0 && process.hrtime.bigint() > deadline) break;
  }
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  const emitted = engine.counters().get('hot')!.emitted;
  engine.close();
  return { label, rate: n / dt, emitted };
}

const single: RuleDefinition[] = [{ name: 'hot', sql: SQL, actions: [{ noop: {} }] }];
const many: RuleDefinition[] = [...single];
for (let i = 0; i < 999; i++) many.push({ name: `r${i}`, sql: `SELECT temp FROM 'plant/${i}/+/sensor' WHERE temp > 50`, actions: [{ noop: {} }] });

console.log(`payload bytes: ${payload(0).length}; via engine.handle() with a no-op non-durable action`);
const rows = [run('1 rule', single), run('1,000 rules (distinct filters)', many)];
console.log('| case | msgs/s | target |');
console.log('| --- | ---: | ---: |');
console.log(`| ${rows[0]!.label} | ${Math.round(rows[0]!.rate).toLocaleString('en-US')} | 300,000 |`);
console.log(`| ${rows[1]!.label} | ${Math.round(rows[1]!.rate).toLocaleString('en-US')} | 150,000 |`);
if (sink < 0) console.log(sink);
