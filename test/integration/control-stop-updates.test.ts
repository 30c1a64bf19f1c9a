// A remote update the control channel delivers while the control plane stops (the office publishes
// during `systemctl stop`; the local broker stops later) is never half-handled: the channel stops
// first, then the stop waits for every update it delivered. Before, the stop waited for the updates
// queued when it began only and the channel kept delivering until then: an update arriving
// meanwhile was applied after the control plane had stopped (its status never published), beside
// the stop of the sources and the rules, or refused by rules that were stopping. Real in-process
// gateway (aedes, LevelDB), real mqtt.js client; the first update's apply is held by a gate on the
// gateway's own rule host, so the second one arrives while the stop waits for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { tempDir, testDeps, waitUntil, withTimeout } from '../helpers/index.js';

const ID = 'gw-stop';
const SET = `gatehouse/${ID}/rules/set`;
const v = (version: number): string =>
  JSON.stringify({ version, rules: [{ name: 'keep', sql: "SELECT * FROM 'data/#'", actions: [{ stream: { name: 'archive' } }] }] });

test('an update delivered while the control plane stops is not handled after the stop returned', async (t) => {
  const d = await tempDir(t);
  const file = join(d, 'g.yaml');
  await writeFile(file, `gatewayId: ${ID}\ndataDir: ${JSON.stringify(join(d, 'data'))}\nexporters: []\ncontrol:\n  allowUnsigned: true\nrules: ${v(1)}\n`);
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger: testDeps().logger, registry: createMetricsRegistry('test', ID), version: 'test' });
  t.after(() => gw.stop());
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  t.after(() => c.endAsync(true));

  // The rule host's applies, the first held until released.
  const rules = gw.rules;
  const real = rules.applyFromBytes.bind(rules);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started = 0;
  let running = 0;
  rules.applyFromBytes = async (...args) => {
    started++;
    running++;
    try {
      if (started === 1) await gate;
      return await real(...args);
    } finally {
      running--;
    }
  };

  await c.publishAsync(SET, v(2), { qos: 1 });
  await waitUntil(() => started === 1, 'the first update to reach the rule host');
  let atStop: { started: number; running: number } | undefined;
  const stopped = gw.control.stop().then(() => {
    atStop = { started, running };
  });
  // The second update, on the broker that still runs: seen by a subscriber of the same topic.
  const delivered = new Promise<void>((r) => {
    const off = gw.broker.subscribe(SET, () => {
      off();
      r();
    });
  });
  await c.publishAsync(SET, v(3), { qos: 1 });
  await withTimeout(delivered, 5000, 'the second update on the broker');
  release();
  await withTimeout(stopped, 5000, 'the control plane to stop');
  assert.deepEqual(atStop, { started: 1, running: 0 }, 'when the stop returned, no update was running or left to start');
  assert.equal(gw.rules.activeDefinition()?.version, 2, 'the update the stop waited for ran');
});
