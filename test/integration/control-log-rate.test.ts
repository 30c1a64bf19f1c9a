// Log lines that repeat per control message, at most one a minute per kind with the count since
// (`suppressed`, core/rate-log.ts): a client publishing bad rule sets or rollbacks on the control
// topics (any local client may, when control.publishers is not set) made two warnings per message,
// 'remote rule update refused' (remote.ts) and 'rule set rejected' (rule-host.ts). Each refusal
// still gets its status document, which the test counts. Real broker (aedes), store (LevelDB), rule
// host, remote control and mqtt.js publisher; the clock of the rate is a counter the test moves,
// so no test waits a minute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Registry } from 'prom-client';
import { createBroker } from '../../gateway/broker/index.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { RuleHost } from '../../gateway/pipeline/rule-host.js';
import { RemoteControl, controlOptionsSchema, createUpdateVerifier, localChannel } from '../../gateway/control/index.js';
import type { Action, ActionFactory } from '../../rules/index.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { capturedLogger } from '../helpers/industrial.js';
import { metricValue, tempDir, testDeps, waitUntil } from '../helpers/index.js';

const ID = 'gw-rate';
const ok: ActionFactory = (): Action => ({ kind: 'ok', resource: 'ok', durable: false, execute() {} });

test('60 refused remote updates (bad rule sets, rollbacks with nothing to roll back to) make one line per kind; a minute later the next carries the count', async (t) => {
  const deps = testDeps();
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...deps, onPublish: () => undefined });
  await broker.start();
  t.after(() => broker.stop());
  const dir = await tempDir(t);
  const streams = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, deps);
  t.after(() => streams.close());
  const clock = { t: 1_000_000 };
  const monotonic = (): number => clock.t;
  const { logger, lines } = capturedLogger();
  const registry = new Registry();
  const control = controlOptionsSchema.parse({ allowUnsigned: true });
  const verifier = createUpdateVerifier(control, registry);
  const rules = new RuleHost({ logger, registry, streams, monotonic, verifier, actions: createActionRegistry({ ok }) });
  await rules.loadInitial({ version: 1, rules: [{ name: 'r', sql: "SELECT * FROM 'in'", actions: [{ ok: {} }] }] }, false);
  t.after(() => rules.stop());
  const remote = new RemoteControl(control, {
    logger,
    registry,
    monotonic,
    gatewayId: ID,
    rules,
    channel: localChannel({ subscribe: broker.subscribe, publish: broker.publish, ingest: () => undefined }),
    verifier,
    meta: streams,
  });
  await remote.start();
  t.after(() => remote.stop());

  const office = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  t.after(() => office.endAsync(true));
  let statuses = 0;
  office.on('message', (_topic, _payload, packet) => {
    if (!packet.retain) statuses++;
  });
  await office.subscribeAsync(`gatehouse/${ID}/rules/status`, { qos: 1 });
  const refuse = async (n: number, from: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const bad = { version: from + i, rules: [{ name: 'x', sql: 'SELEC nope', actions: [{ ok: {} }] }] };
      await office.publishAsync(`gatehouse/${ID}/rules/set`, JSON.stringify(bad), { qos: 1 });
      await office.publishAsync(`gatehouse/${ID}/rules/rollback`, 'back', { qos: 1 });
    }
  };
  await refuse(30, 2);
  await waitUntil(() => statuses >= 60 || undefined, '60 statuses, one per refusal', 10_000);
  assert.equal(await metricValue(registry, 'gatehouse_control_updates_total', { result: 'rejected' }), 60);
  const refused = (): Array<{ msg: string; suppressed?: number; code?: string }> => lines.filter((l) => l.msg === 'remote rule update refused');
  const rejected = (): Array<{ msg: string; suppressed?: number }> => lines.filter((l) => l.msg === 'rule set rejected');
  // One per refusal code (the bad set's and the rollback's), and the rule host's one.
  const codes = [...new Set(refused().map((l) => l.code))];
  assert.equal(refused().length, codes.length, JSON.stringify(refused()));
  assert.ok(codes.length <= 2, JSON.stringify(codes));
  assert.equal(rejected().length, 1);

  clock.t += 60_000;
  const before = refused().length;
  await refuse(1, 100);
  await waitUntil(() => statuses >= 62 || undefined, 'the next two statuses', 10_000);
  const next = refused().slice(before);
  assert.equal(next.length, codes.length);
  assert.equal(
    next.reduce((n, l) => n + (l.suppressed ?? 0), 0),
    60 - codes.length,
    `the lines after a minute carry the refusals not logged: ${JSON.stringify(next)}`,
  );
  assert.equal(rejected().length, 2);
  assert.equal(rejected()[1]!.suppressed, 29);
});
