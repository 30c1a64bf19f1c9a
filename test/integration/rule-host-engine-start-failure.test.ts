// A stored rule set whose engine cannot start (a read of the store fails while its input log is
// opened for the replay) is refused at start, and the configured set runs: the failed engine is
// closed first. Before, its window timers and its metrics stayed: the configured set's engine
// declared the same metrics and was refused for them (GH_INTERNAL, 'declared twice'), so the start
// failed on an internal error instead of running the configured set. Real store (LevelDB), real
// rule host; the store's first read of the input counter fails, as an I/O error would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RuleHost } from '../../gateway/pipeline/rule-host.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { LocalStreams } from '../../gateway/store/types.js';
import type { Action, ActionFactory } from '../../rules/index.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { tempDir, testDeps } from '../helpers/index.js';

const ok: ActionFactory = (): Action => ({ kind: 'ok', resource: 'ok', durable: false, execute() {} });
const set = (version: number) => ({
  version,
  rules: [{ name: `win${version}`, sql: `SELECT count(*) AS n FROM 'in/${version}' GROUP BY TUMBLINGWINDOW(ss, 10)`, actions: [{ ok: {} }] }],
});

test('a stored set whose engine fails to start is refused, and the configured set runs', async (t) => {
  const dir = await tempDir(t);
  const streams = await openLocalStreams({ path: join(dir, 'db'), durability: 'os' }, testDeps());
  const host = (s: LocalStreams, registry = new Registry()) =>
    new RuleHost({ logger: pino({ level: 'silent' }), registry, streams: s, actions: createActionRegistry({ ok }) });
  // A run that stored version 2 (an update), then stopped.
  const first = host(streams);
  await first.loadInitial(set(1), false);
  assert.equal((await first.apply(set(2), { source: 'admin' })).state, 'applied');
  await first.stop();

  // The next start: its first read of the input counter fails.
  let failed = 0;
  const failing = new Proxy(streams, {
    get(target, key, receiver) {
      if (key === 'getMeta')
        return (k: string) => (k === 'rules/input-no' && failed++ === 0 ? Promise.reject(new Error('IO error: read failed')) : target.getMeta(k));
      const v = Reflect.get(target, key, receiver) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const registry = new Registry();
  const again = host(failing, registry);
  t.after(async () => {
    await again.stop();
    await streams.close();
  });
  await again.loadInitial(set(1), false);
  assert.equal(failed, 2, 'the stored set failed to start, the configured one started');
  assert.equal(again.activeDefinition()?.version, 1, 'the configured set runs');
  const status = again.status() as { lastUpdate: { state: string; version: number } | null };
  assert.deepEqual([status.lastUpdate?.state, status.lastUpdate?.version], ['rejected', 2], 'the stored set is reported refused');
  assert.deepEqual([...again.ruleCounters().keys()], ['win1']);
  assert.ok(registry.getSingleMetric('gatehouse_rule_matched_total'), "the running engine's metrics");
});
