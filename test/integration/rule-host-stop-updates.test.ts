// A rule set update asked for while the rule host stops (a SIGHUP reload, PUT /api/rules or a job
// during `systemctl stop`: the admin API is closed last) is refused, GH_STORE_CLOSED; one queued
// before the stop runs first and the stop waits for it. Before, stop() waited for the updates
// queued when it was called only: a later one ran beside the final checkpoint and after it, was
// installed on the stopped engine (its window timers started again, on no running gateway) and
// written to a store being closed, and was reported applied. Real store (LevelDB), real rule host.
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

const ok: ActionFactory = (): Action => ({ kind: 'ok', resource: 'ok', durable: false, execute() {} });
/** Version v: a window rule of its own (state, a close timer) and a rule the jobs toggle. */
const set = (version: number) => ({
  version,
  rules: [
    { name: `win${version}`, sql: `SELECT count(*) AS n FROM 'in/${version}' GROUP BY TUMBLINGWINDOW(ss, 1)`, actions: [{ ok: {} }] },
    { name: 'job', sql: "SELECT * FROM 'in/job'", actions: [{ ok: {} }] },
  ],
});

test('updates asked for once the rule host stops are refused; one queued before the stop runs, and the stop waits for it', async (t) => {
  const dir = await tempDir(t, 'gatehouse-rule-host-stop-');
  const streams = await openLocalStreams({ path: join(dir, 'db'), durability: 'os' }, testDeps());
  t.after(() => streams.close());
  const rules = new RuleHost({
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    streams,
    actions: createActionRegistry({ ok }),
    ruleState: { checkpointIntervalMs: 0 },
  });
  await rules.loadInitial(set(1), false);
  assert.equal((await rules.apply(set(2), { source: 'admin' })).state, 'applied');

  const before = rules.apply(set(3), { source: 'admin' }); // queued before the stop
  const stopped = rules.stop();
  const late = await Promise.all([
    rules.apply(set(4), { source: 'reload' }),
    rules.rollback('admin'),
    rules.setRuleEnabled('job', false, 'job:night'),
    rules.confirm(3, 'probation'),
  ]);
  await stopped;
  assert.equal((await before).state, 'applied', 'the update queued before the stop ran');
  for (const s of late) {
    assert.equal(s.state, 'rejected', `${s.source}: refused once the stop began`);
    assert.equal(s.code, 'GH_STORE_CLOSED');
    assert.match(s.errors[0]?.message ?? '', /stopping/);
  }
  assert.equal(rules.activeDefinition()?.version, 3, 'the set running when it stopped is the one queued before the stop');
  assert.deepEqual([...rules.ruleCounters().keys()].sort(), ['job', 'win3'], 'the stopped engine runs the rules of version 3');
  const stored = JSON.parse((await streams.getMeta('rules/active'))?.toString('utf8') ?? '{}') as { definition?: { version?: number } };
  assert.equal(stored.definition?.version, 3, 'the store holds version 3, which the next start runs');
});
