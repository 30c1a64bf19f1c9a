// The rule host writes the active rule set and the rollback target (the last good set) together,
// in one store write (LocalStreams.putMetas: all keys or none after a crash). Written one after the
// other, a kill -9 between the two left the new active set without the set it replaced as the last
// good one, so `gatehouse rules rollback` had nothing to return to (control audit, round 13). The
// kill itself is not staged here: the test double records each write, and the test checks that
// every change of both keys is one write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RuleHost } from '../../gateway/pipeline/rule-host.js';
import type { Action, ActionFactory } from '../../rules/index.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { MemoryStreams } from '../helpers/memory-streams.js';

const ok: ActionFactory = (): Action => ({ kind: 'ok', resource: 'ok', durable: false, execute() {} });
const set = (version: number) => ({ version, rules: [{ name: 'r', sql: `SELECT * FROM 'in/${version}'`, actions: [{ ok: {} }] }] });

/** MemoryStreams recording the meta keys of each write. */
class RecordingStreams extends MemoryStreams {
  writes: string[][] = [];
  override async putMeta(key: string, value: Buffer): Promise<void> {
    this.writes.push([key]);
    await super.putMeta(key, value);
  }
  override async putMetas(entries: ReadonlyArray<readonly [string, Buffer]>): Promise<void> {
    this.writes.push(entries.map(([k]) => k));
    await super.putMetas(entries);
  }
}

test('an update and a rollback write the active set and the last good set in one write', async () => {
  const streams = new RecordingStreams();
  const rules = new RuleHost({
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    streams,
    actions: createActionRegistry({ ok }),
    ruleState: { inputLog: false, checkpointIntervalMs: 0 },
  });
  await rules.loadInitial(set(1), false);
  streams.writes = [];
  assert.equal((await rules.apply(set(2), { source: 'admin' })).state, 'applied');
  const both = (w: string[]): boolean => w.some((k) => /active/.test(k)) && w.some((k) => /good/i.test(k));
  assert.equal(streams.writes.length, 1, `one write: ${JSON.stringify(streams.writes)}`);
  assert.ok(both(streams.writes[0]!), `the active and the last good set together: ${JSON.stringify(streams.writes)}`);
  streams.writes = [];
  assert.equal((await rules.rollback('admin')).state, 'rolled-back');
  assert.equal(streams.writes.length, 1, `one write: ${JSON.stringify(streams.writes)}`);
  assert.ok(both(streams.writes[0]!), `the active and the last good set together: ${JSON.stringify(streams.writes)}`);
  await rules.stop();
});
