// The last state of a stateful rule an update retires (its SQL changed, or it left the set) is
// written before the update stores the rule sets, whose last good slot now names the set that rule
// belongs to: a rollback (or a stop) right after the update finds it. Before, the write was fired
// and not waited for, and LevelDB may run two writes in either order: the slots were stored with
// the state still on its way (the rule-state-sweep test, run in a loop under load, once found a
// state missing after a rollback). Real store (LevelDB), real rule host; the write of the retired
// state is held (a gate on the store's meta write), and the test steps through 0..24 microtasks to
// see whether the slots are written meanwhile.
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
/** Version v: a detector whose SQL changes with v (an update retires the one before). */
const set = (version: number) => ({
  version,
  rules: [{ name: 'det', sql: `SELECT anomaly_score(t) OVER (PARTITION BY topic(2)) AS s, ${version} AS v FROM 'in/+'`, actions: [{ ok: {} }] }],
});

const afterMicrotasks = (n: number): Promise<void> =>
  new Promise<void>((resolve) => {
    const step = (k: number): void => (k === 0 ? resolve() : queueMicrotask(() => step(k - 1)));
    step(n);
  });

test('the state of a rule an update retires is written before the rule sets are stored', async (t) => {
  const dir = await tempDir(t);
  const streams = await openLocalStreams({ path: join(dir, 'db'), durability: 'os' }, testDeps());
  // Meta writes (putMeta, putMetas) in the order they are made; a write of det's state is held while `hold` is set.
  const writes: string[] = [];
  let hold: { reached: () => void; release: Promise<void> } | undefined;
  const gated = new Proxy(streams, {
    get(target, key, receiver) {
      if (key === 'putMetas' || key === 'putMeta')
        return async (...args: [ReadonlyArray<readonly [string, Buffer]>] | [string, Buffer]): Promise<void> => {
          const entries = typeof args[0] === 'string' ? [[args[0], args[1] as Buffer] as const] : args[0];
          const keys = entries.map(([k]) => k).join(',');
          const h = hold;
          if (h && keys.startsWith('rules/state/det/')) {
            hold = undefined;
            h.reached();
            await h.release;
          }
          writes.push(keys);
          return target.putMetas(entries);
        };
      const v = Reflect.get(target, key, receiver) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as LocalStreams;
  const rules = new RuleHost({
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    streams: gated,
    actions: createActionRegistry({ ok }),
    ruleState: { inputLog: false, checkpointIntervalMs: 0 },
  });
  t.after(async () => {
    await rules.stop();
    await streams.close();
  });
  await rules.loadInitial(set(1), false);

  for (let n = 0; n <= 24; n++) {
    let reached!: () => void;
    const atHold = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    hold = { reached, release: new Promise<void>((r) => (release = r)) };
    writes.length = 0;
    const update = rules.apply(set(n + 2), { source: 'admin' });
    await atHold; // the retired detector's state is being written, held
    await afterMicrotasks(n);
    assert.equal(writes.length, 0, `no rule set stored ${n} microtasks into the held write of the retired state`);
    release();
    assert.equal((await update).state, 'applied');
    assert.ok(writes[0]?.startsWith('rules/state/det/'), `the state first: ${JSON.stringify(writes)}`);
    assert.ok(
      writes.some((w) => w.startsWith('rules/active')),
      `then the sets: ${JSON.stringify(writes)}`,
    );
  }
});
