// The status a gateway publishes when its control plane starts is the last outcome its rules
// reported since the start (a rollback the probation monitor made at start: a set that had failed
// its probation when the gateway was killed), not 'applied' over it. Before, an outcome reported
// before the remote control listened (while it read the accepted version) or while its channel
// started (an upstream channel loads mqtt.js first: the status could not be sent) was followed by
// the start-up status 'applied', which the status topic kept: the office never saw the rollback
// nor its GH_RULESET_RUNTIME_FAILURE. Real store (LevelDB), rule host, broker (aedes) and mqtt.js
// client; the remote control's read of the accepted version is held by a gate so the rollback is
// reported before it listens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createBroker } from '../../gateway/broker/index.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { RuleHost } from '../../gateway/pipeline/rule-host.js';
import { RemoteControl, controlOptionsSchema, createUpdateVerifier, localChannel, type ControlStatus } from '../../gateway/control/index.js';
import type { Action, ActionFactory } from '../../rules/index.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { metricValue, tempDir, testDeps, waitUntil, withTimeout } from '../helpers/index.js';

const ID = 'gw-start';
const STATUS = `gatehouse/${ID}/rules/status`;
const ok: ActionFactory = (): Action => ({ kind: 'ok', resource: 'ok', durable: false, execute() {} });
const set = (version: number) => ({ version, rules: [{ name: 'r', sql: `SELECT * FROM 'in/${version}'`, actions: [{ ok: {} }] }] });

test('a rollback reported before the remote control listens is its start-up status, counted once', async (t) => {
  const deps = testDeps();
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...deps, onPublish: () => undefined });
  await broker.start();
  t.after(() => broker.stop());
  const dir = await tempDir(t);
  const streams = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, deps);
  t.after(() => streams.close());
  const registry = new Registry();
  const rules = new RuleHost({ logger: pino({ level: 'silent' }), registry, streams, actions: createActionRegistry({ ok }) });
  await rules.loadInitial(set(1), false);
  assert.equal((await rules.apply(set(2), { source: 'mqtt:local', probation: true })).state, 'applied');
  t.after(() => rules.stop());

  const control = controlOptionsSchema.parse({});
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const remote = new RemoteControl(control, {
    logger: deps.logger,
    registry,
    gatewayId: ID,
    rules,
    channel: localChannel({ subscribe: broker.subscribe, publish: broker.publish, ingest: () => undefined }),
    verifier: createUpdateVerifier(control, registry),
    // The store's meta area, its first read held until the rollback below was reported.
    meta: {
      getMeta: async (k) => {
        await gate;
        return streams.getMeta(k);
      },
      putMeta: (k, v) => streams.putMeta(k, v),
    },
  });
  t.after(() => remote.stop());
  const started = remote.start();
  // What the probation monitor does at start for a set that had failed its probation.
  const failure = { code: 'GH_RULESET_RUNTIME_FAILURE' as const, errors: [{ rule: 'r', where: 'probation', message: 'failed' }] };
  assert.equal((await rules.rollback('probation', { fromVersion: 2, failure })).state, 'rolled-back');
  release();
  await withTimeout(started, 5000, 'the remote control to start');

  const office = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  t.after(() => office.endAsync(true));
  let retained: ControlStatus | undefined;
  office.on('message', (_topic, payload, packet) => {
    if (packet.retain) retained = JSON.parse(payload.toString()) as ControlStatus;
  });
  await office.subscribeAsync(STATUS, { qos: 1 });
  const st = await waitUntil(() => retained, 'the retained status');
  assert.equal(st.state, 'rolled-back', 'the office sees the rollback at start');
  assert.equal(st.code, 'GH_RULESET_RUNTIME_FAILURE');
  assert.equal(st.version, 1);
  assert.equal(st.fromVersion, 2);
  assert.equal(st.activeVersion, 1);
  assert.equal(await metricValue(registry, 'gatehouse_control_updates_total', { result: 'rolled-back' }), 1);
});
