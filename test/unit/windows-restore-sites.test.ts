// A checkpoint of a rule's detectors names each call site (rules/windows/state.ts). One written by
// a gateway version that names a call otherwise (an upgrade or a rollback: the canonical form of
// its arguments changed) was restored without that detector's state and without a word: the
// detector learnt again while the start said 'rule state restored'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { compileRuleSet } from '../../rules/ruleset.js';
import { createRuleEngine } from '../../rules/engine.js';
import { ManualTimers } from '../../rules/windows/clock.js';
import { memoryStateStore } from '../../rules/windows/state.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import type { Message } from '../../core/message.js';

const SQL = "SELECT topic(2) AS dev, zscore(t, 20) OVER (PARTITION BY topic(2)) AS z FROM 'dev/+/tel'";

function engine(store: ReturnType<typeof memoryStateStore>, warnings: string[]) {
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const o = JSON.parse(line) as { level: number; msg: string };
        if (o.level === 40) warnings.push(o.msg);
      }
      cb();
    },
  });
  const actions = createActionRegistry({ probe: () => ({ kind: 'probe', resource: 'probe', durable: false, execute() {} }) });
  const def = { version: 1, rules: [{ name: 'z', sql: SQL, actions: [{ probe: {} }] }] };
  return createRuleEngine(
    compileRuleSet(def, actions),
    { logger: pino({ level: 'info' }, sink), registry: new Registry() },
    { stateStore: store, timers: new ManualTimers(1000) },
  );
}

test('a checkpoint without the state of a detector call of the rule (named otherwise by another version) says that detector starts fresh', async () => {
  const store = memoryStateStore();
  const warnings: string[] = [];
  const a = engine(store, warnings);
  await a.start();
  for (let i = 0; i < 30; i++) {
    const m: Message = {
      topic: `dev/d${i % 3}/tel`,
      payload: Buffer.from(JSON.stringify({ t: 20 + (i % 4) })),
      qos: 0,
      source: { kind: 'mqtt', id: 'c' },
      receivedAt: 1000,
    };
    await a.handle(m);
  }
  await a.stop();
  assert.deepEqual(warnings, []);
  // Restored as written: nothing to say.
  const b = engine(store, warnings);
  await b.start();
  await b.stop();
  assert.deepEqual(warnings, []);
  // The same checkpoint with the call site named as another version would: its section does not match.
  const [key, bytes] = [...store.data].find(([k]) => k.startsWith('rules/state/z/'))!;
  // (GHQ1, u32 header length, header [[name, length]...], sections)
  const headerLength = bytes.readUInt32BE(4);
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString()) as Array<[string, number]>;
  const renamed = Buffer.from(JSON.stringify(header.map(([n, l]) => [n.replace('site:root:zscore(', 'site:root:zscore_v0('), l])));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(renamed.length);
  store.data.set(key, Buffer.concat([bytes.subarray(0, 4), length, renamed, bytes.subarray(8 + headerLength)]));
  const c = engine(store, warnings);
  await c.start();
  await c.stop();
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.match(warnings[0]!, /rule state of z: 1 detector call\(s\) not in its checkpoint .*start fresh/);
});
