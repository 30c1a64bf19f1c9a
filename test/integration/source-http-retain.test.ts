// ?retain=true on an http source (AWS IoT's HTTPS publish takes it): with publishLocal the
// committed message is published RETAINED on the gateway's broker, so a dashboard that subscribes
// later gets the last reading; without publishLocal it is refused 400 saying why (nothing is
// published locally to retain). Within the broker's retained bounds (maxRetainedMessages), an
// empty body clears it, as an MQTT retained publish. A gateway in this process (startGateway),
// real mqtt.js subscribers arriving after the POST, node's HTTP client. No test doubles.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { freePort, metricValue, tempDir, testDeps } from '../helpers/index.js';
import { httpRig, post } from '../helpers/http-post.js';

async function client(t: TestContext, url: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000 });
  t.after(() => c.endAsync(true));
  return c;
}

test('http source ?retain=true with publishLocal: a subscriber arriving after the POST gets the last reading retained; bounded by maxRetainedMessages; refused 400 without publishLocal', async (t) => {
  const dir = await tempDir(t);
  const [lan, plain] = [await freePort(t), await freePort(t)];
  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}
exporters: []
broker:
  maxRetainedMessages: 2
sources:
  - { type: http, name: lan, port: ${lan}, publishLocal: true }
  - { type: http, name: plain, port: ${plain} }
`,
  );
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const registry = createMetricsRegistry('test', 'gw');
  const gw = await startGateway(config, { logger: testDeps().logger, registry, version: 'test' });
  t.after(() => gw.stop());
  const url = `mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`;

  /**
   * What a subscriber that connects NOW gets first on `topic`: its retained message, or (none
   * retained) the marker posted unretained after its SUBACK.
   */
  const lateSubscriber = async (topic: string): Promise<{ payload: string; retain: boolean }> => {
    const c = await client(t, url);
    const first = new Promise<{ payload: string; retain: boolean }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nothing on ${topic} within 5 s`)), 5000);
      c.once('message', (_tp, payload, packet) => {
        clearTimeout(timer);
        resolve({ payload: payload.toString(), retain: packet.retain });
      });
    });
    await c.subscribeAsync(topic, { qos: 0 });
    assert.equal((await post(lan, `/topics/${topic}`, 'marker')).status, 200);
    const got = await first;
    await c.endAsync(true);
    return got;
  };

  const one = await post(lan, '/topics/shelly/kitchen?retain=true', '{"t":21}', { headers: { 'content-type': 'application/json' } });
  assert.equal(one.status, 200, one.body);
  assert.deepEqual(await lateSubscriber('shelly/kitchen'), { payload: '{"t":21}', retain: true });

  // An NDJSON batch: each line published in order, the last one is what stays.
  const batch = await post(lan, '/topics/telegraf/cpu?retain=TRUE', '{"cpu":1}\n{"cpu":2}\n{"cpu":3}\n', {
    headers: { 'content-type': 'application/x-ndjson' },
  });
  assert.equal(batch.status, 200, batch.body);
  assert.deepEqual(await lateSubscriber('telegraf/cpu'), { payload: '{"cpu":3}', retain: true });

  // retain=false (and no retain) publishes unretained: the late subscriber's first message is the marker.
  assert.equal((await post(lan, '/topics/shelly/hall?retain=false', '{"t":19}')).status, 200);
  assert.deepEqual(await lateSubscriber('shelly/hall'), { payload: 'marker', retain: false });

  // Within the broker's bounds: 2 topics retained, a third is stored and delivered, not retained (counted).
  assert.equal((await post(lan, '/topics/shelly/cellar?retain=true', '{"t":12}')).status, 200);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_retained_refused_total'), 1);
  assert.deepEqual(await lateSubscriber('shelly/cellar'), { payload: 'marker', retain: false });

  // An empty body clears the topic's retained message (MQTT's rule); the topic is then free again.
  assert.equal((await post(lan, '/topics/shelly/kitchen?retain=true', '')).status, 200);
  assert.deepEqual(await lateSubscriber('shelly/kitchen'), { payload: 'marker', retain: false });

  // Without publishLocal there is no local publish to retain: 400 saying so, nothing submitted.
  const refused = await post(plain, '/topics/shelly/kitchen?retain=true', '{"t":22}');
  assert.equal(refused.status, 400);
  assert.match(refused.json().message as string, /retain=true needs publishLocal: true on this source/);
  assert.equal((await post(lan, '/topics/x?retain=yes', '1')).status, 400);
  assert.equal(await metricValue(registry, 'gatehouse_http_source_requests_total', { source: 'plain', outcome: 'bad-request' }), 1);
  assert.equal(await metricValue(registry, 'gatehouse_http_source_messages_total', { source: 'plain' }), 0);
  // retain=false asks for nothing to retain: taken without publishLocal
  assert.equal((await post(plain, '/topics/shelly/kitchen?retain=false', '{"t":22}')).status, 200);
});

test('http source ?retain=true: the message submitted carries the retain flag (rules and the input log see it as an MQTT retained publish)', async (t) => {
  const { port, intake } = await httpRig(t, { publishLocal: true });
  assert.equal((await post(port, '/topics/a?retain=true', '1')).status, 200);
  assert.equal((await post(port, '/topics/a?retain=false', '2')).status, 200);
  assert.deepEqual(
    intake.messages.map((m) => m.retain),
    [true, undefined],
  );
});
