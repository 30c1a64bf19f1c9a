// Rule sets refused for their signature, their log bounded: 'rule set refused' (rule-set-bytes.ts)
// came at every refused update, one line per control message of a client publishing unsigned
// updates (round 34's bound of the control channel's own lines left this one); now one per source
// and code a minute, with the count since. Each refusal still gets its status and is counted in
// gatehouse_control_signature_failures_total. Real store (LevelDB), rule host and verifier.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { openLocalStreams } from '../../gateway/store/index.js';
import { RuleHost } from '../../gateway/pipeline/rule-host.js';
import { controlOptionsSchema, createUpdateVerifier } from '../../gateway/control/index.js';
import type { Action, ActionFactory } from '../../rules/index.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { capturedLogger } from '../helpers/industrial.js';
import { metricValue, tempDir, testDeps } from '../helpers/index.js';

const ok: ActionFactory = (): Action => ({ kind: 'ok', resource: 'ok', durable: false, execute() {} });

test('30 unsigned remote rule sets refused make one "rule set refused" line; each refused and counted', async (t) => {
  const dir = await tempDir(t);
  const streams = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, testDeps());
  t.after(() => streams.close());
  const { logger, lines } = capturedLogger();
  const registry = new Registry();
  // Unsigned remote updates are refused (allowUnsigned false, the default).
  const verifier = createUpdateVerifier(controlOptionsSchema.parse({}), registry);
  const rules = new RuleHost({ logger, registry, streams, verifier, actions: createActionRegistry({ ok }) });
  await rules.loadInitial({ version: 1, rules: [{ name: 'r', sql: "SELECT * FROM 'in'", actions: [{ ok: {} }] }] }, false);
  t.after(() => rules.stop());
  const body = Buffer.from(JSON.stringify({ version: 2, rules: [{ name: 'r', sql: "SELECT * FROM 'x'", actions: [{ ok: {} }] }] }));
  for (let i = 0; i < 30; i++) {
    const s = await rules.applyFromBytes(body, undefined, 'remote', { origin: 'remote' });
    assert.equal(s.state, 'rejected');
  }
  const refused = lines.filter((l) => l.msg === 'rule set refused');
  assert.equal(refused.length, 1, `one line for 30 refusals: ${refused.length}`);
  assert.ok(lines.length <= 3, `no other line per refusal: ${lines.map((l) => l.msg).join(' | ')}`);
  assert.equal(await metricValue(registry, 'gatehouse_control_signature_failures_total'), 30, 'every refusal counted');
});
