// A rule set update the store refuses to write (a full disk) is reported rejected, and the set that
// ran before goes on running: what runs is what the store holds, which a restart would run. Before,
// the new set was installed first and went on running while its update was reported rejected; the
// next restart quietly went back to the stored set. The store is a test double (MemoryStreams) whose
// meta write fails on demand: a real full disk is the e2e disk-full test's subject, and the rule
// host only sees the write's rejection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RuleHost } from '../../gateway/pipeline/rule-host.js';
import type { Action, ActionFactory } from '../../rules/index.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { MemoryStreams } from '../helpers/memory-streams.js';

const ok: ActionFactory = (): Action => ({ kind: 'ok', resource: 'ok', durable: false, execute() {} });
const set = (version: number) => ({
  version,
  rules: [
    { name: `r${version}`, sql: `SELECT * FROM 'in/${version}'`, actions: [{ ok: {} }] },
    { name: 'job', sql: "SELECT * FROM 'in/job'", actions: [{ ok: {} }] },
  ],
});

/** MemoryStreams whose next meta write fails as a full disk's does. */
class RefusingStreams extends MemoryStreams {
  refuse = false;
  override async putMetas(entries: ReadonlyArray<readonly [string, Buffer]>): Promise<void> {
    if (this.refuse) throw Object.assign(new Error('store write failed: IO error: No space left on device'), { code: 'GH_STORE_DISK_FULL' });
    await super.putMetas(entries);
  }
}

test('an update, a rollback and a rule toggle the store refuses leave the set that ran before running', async () => {
  const streams = new RefusingStreams();
  const rules = new RuleHost({
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    streams,
    actions: createActionRegistry({ ok }),
    ruleState: { inputLog: false, checkpointIntervalMs: 0 },
  });
  await rules.loadInitial(set(1), false);
  assert.equal((await rules.apply(set(2), { source: 'admin' })).state, 'applied');
  const running = () => ({
    version: rules.activeDefinition()?.version,
    lastGood: rules.lastGoodDefinition()?.version,
    engine: [...rules.ruleCounters().keys()].sort().join(','),
  });
  const before = running();
  assert.deepEqual(before, { version: 2, lastGood: 1, engine: 'job,r2' });

  streams.refuse = true;
  const update = await rules.apply(set(3), { source: 'admin' });
  assert.equal(update.state, 'rejected');
  assert.match(update.errors.map((e) => e.message).join(' '), /No space left/);
  assert.deepEqual(running(), before, 'the refused update left version 2 running, with 1 to roll back to');

  assert.equal((await rules.rollback('admin')).state, 'rejected');
  assert.deepEqual(running(), before, 'the refused rollback left version 2 running');

  assert.equal((await rules.setRuleEnabled('job', false, 'job:test')).state, 'rejected');
  assert.notEqual(rules.activeDefinition()?.rules.find((r) => r.name === 'job')?.enabled, false, 'the refused toggle left the rule enabled');
  assert.deepEqual(running(), before);

  // The store takes writes again: the same update goes through.
  streams.refuse = false;
  assert.equal((await rules.apply(set(3), { source: 'admin' })).state, 'applied');
  assert.deepEqual(running(), { version: 3, lastGood: 2, engine: 'job,r3' });
  await rules.stop();
});
