// Rule state (windows, detectors) is kept for the active and the last good rule set only: each
// change of a stateful rule's SQL left its old state under rules/state/<rule>/<old hash> for good,
// partitions x ~1.5 MB for a detector (windows audit, round 14). Real store (LevelDB), real rule host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RuleHost } from '../../gateway/pipeline/rule-host.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { Action, ActionFactory } from '../../rules/index.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { tempDir, testDeps } from '../helpers/index.js';
import type { Message } from '../../core/message.js';

const ok: ActionFactory = (): Action => ({ kind: 'ok', resource: 'ok', durable: false, execute() {} });
/** Version v: a detector rule whose SQL changes with v, and a window rule that stays the same. */
const set = (version: number) => ({
  version,
  rules: [
    { name: 'det', sql: `SELECT anomaly_score(t) OVER (PARTITION BY topic(2)) AS s, ${version} AS v FROM 'in/+'`, actions: [{ ok: {} }] },
    { name: 'win', sql: "SELECT count(*) AS n FROM 'in/+' GROUP BY TUMBLINGWINDOW(hh, 1)", actions: [{ ok: {} }] },
  ],
});
const msg = (t: number): Message => ({
  topic: 'in/a',
  payload: Buffer.from(JSON.stringify({ t })),
  qos: 0,
  source: { kind: 'mqtt', id: 'c' },
  receivedAt: Date.now(),
});

test('state of rules in neither the active nor the last good set is deleted at each rule set change; theirs is kept', async (t) => {
  const dir = await tempDir(t, 'gatehouse-rule-state-sweep-');
  const streams = await openLocalStreams({ path: join(dir, 'db'), durability: 'os' }, testDeps());
  t.after(() => streams.close());
  const rules = new RuleHost({
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    streams,
    actions: createActionRegistry({ ok }),
    ruleState: { inputLog: false, checkpointIntervalMs: 0 },
  });
  t.after(() => rules.stop());
  const metaKeys = streams.metaKeys?.bind(streams);
  assert.ok(metaKeys, 'the store lists meta keys');
  const detKeys = async (): Promise<string[]> => (await metaKeys('rules/state/det/')).filter((k) => !k.endsWith('/emitted'));

  await rules.loadInitial(set(1), false);
  await rules.handle(msg(1));
  assert.equal((await rules.apply(set(2), { source: 'admin' })).state, 'applied');
  await rules.handle(msg(2));
  const v1 = await detKeys(); // det of v1 left when v2 came: its state was written then
  assert.equal(v1.length, 1, `det's state of v1: ${JSON.stringify(v1)}`);
  assert.equal((await rules.apply(set(3), { source: 'admin' })).state, 'applied');
  await rules.handle(msg(3));
  // v3 active, v2 the last good set: v1's state is gone, v2's (written as it left) kept.
  const v2 = await detKeys();
  assert.equal(v2.length, 1, `one state of det: ${JSON.stringify(v2)}`);
  assert.notEqual(v2[0], v1[0], "v1's state deleted, v2's kept");
  assert.equal((await metaKeys('rules/state/win/')).filter((k) => !k.endsWith('/emitted')).length <= 1, true, 'win has one SQL, at most one key');

  // Rolled back to v2: v2's state is what it restores, v3's (the last good set now) is kept too.
  assert.equal((await rules.rollback('admin')).state, 'rolled-back');
  const after = await detKeys();
  assert.ok(after.includes(v2[0]!), `v2's state kept: ${JSON.stringify(after)}`);
  assert.equal(after.length, 2, `v2's and v3's states: ${JSON.stringify(after)}`);
});
