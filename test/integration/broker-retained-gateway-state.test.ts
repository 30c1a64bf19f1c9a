// broker.maxRetainedMessages bounds what clients retain, not the gateway's own retained rule status
// (gatehouse/<id>/rules/status): with 0 the status was not retained (a late subscriber saw none, the
// log said "retained messages full"), with 1 no device topic fitted beside it. A real in-process
// gateway (broker, store, control plane on the local broker) and real mqtt.js clients.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { Registry } from 'prom-client';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { metricValue, tempDir, testDeps } from '../helpers/index.js';

const ID = 'gw-retained';
const STATUS = `gatehouse/${ID}/rules/status`;

async function startInProcess(t: TestContext, maxRetainedMessages: number): Promise<{ url: string; registry: Registry }> {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    `gatewayId: ${ID}\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nbroker:\n  maxRetainedMessages: ${maxRetainedMessages}\n`,
  );
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const registry = createMetricsRegistry('test', ID);
  const gw = await startGateway(config, { logger: testDeps().logger, registry, version: 'test' });
  t.after(() => gw.stop());
  return { url: `mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, registry };
}

async function client(t: TestContext, url: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000 });
  t.after(() => c.endAsync(true));
  return c;
}

/** The first message on `topic` a subscriber that connects now gets, with its retain flag; fails after 5 s. */
async function firstMessage(t: TestContext, url: string, topic: string): Promise<{ payload: string; retain: boolean }> {
  const c = await client(t, url);
  const got = new Promise<{ payload: string; retain: boolean }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nothing on ${topic} within 5 s`)), 5000);
    c.on('message', (tp, payload, packet) => {
      if (tp !== topic) return;
      clearTimeout(timer);
      resolve({ payload: payload.toString(), retain: packet.retain });
    });
  });
  await c.subscribeAsync(topic, { qos: 1 });
  return got;
}

const RETAINED: IClientPublishOptions = { qos: 1, retain: true };

for (const max of [0, 1]) {
  test(`maxRetainedMessages ${max}: the gateway's rule status is retained for a late subscriber and takes no room; clients' retained messages are still bounded`, async (t) => {
    const { url, registry } = await startInProcess(t, max);
    // The status published at start: once one subscriber has it, it was stored (aedes stores a
    // retained message before it delivers it), so the late subscriber below is late for sure.
    const first = await firstMessage(t, url, STATUS);
    assert.match(first.payload, /"state":"applied"/);
    const late = await firstMessage(t, url, STATUS);
    assert.equal(late.retain, true, 'the late subscriber got the retained copy');
    assert.equal(late.payload, first.payload);
    assert.equal(await metricValue(registry, 'gatehouse_mqtt_retained_refused_total'), 0, 'the status was not refused');
    assert.equal(await metricValue(registry, 'gatehouse_mqtt_retained_messages'), 0, 'nor counted');

    // The bound holds for clients as before: `max` device topics are retained, the next is refused.
    const device = await client(t, url);
    for (let i = 1; i <= max + 1; i++) await device.publishAsync(`devices/d${i}/state`, `on ${i}`, RETAINED);
    assert.equal(await metricValue(registry, 'gatehouse_mqtt_retained_refused_total'), 1, 'one device topic over the bound');
    assert.equal(await metricValue(registry, 'gatehouse_mqtt_retained_messages'), max);
    if (max === 1) {
      const kept = await firstMessage(t, url, 'devices/d1/state');
      assert.deepEqual(kept, { payload: 'on 1', retain: true }, 'the one device topic fits beside the status');
    }
  });
}
