// MQTT 5 delayed wills end with their session: the broker publishes a will when its Will Delay
// Interval has passed or the session ends, whichever comes first [MQTT-3.1.3.2.2]. A session removed
// to make room (mqtt5.maxSessions) is a session ending: its will went on waiting for its delay, up
// to 0xFFFFFFFF s (136 years) for a session that never expires, its timer and its will (up to
// maxPayloadBytes) held under a client id that may never come back: devices churning under new ids
// grew the broker's pending wills without bound, past maxSessions. Real mqtt.js clients against the
// real broker.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createBroker } from '../../gateway/broker/index.js';
import { metricValue, testDeps, waitForEvent, withTimeout } from '../helpers/index.js';

async function startBroker(t: TestContext, maxSessions: number) {
  const deps = testDeps();
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }], mqtt5: { maxSessions } }, { ...deps, onPublish: () => undefined });
  await broker.start();
  t.after(() => broker.stop());
  return { deps, url: `mqtt://127.0.0.1:${broker.addresses()[0]!.port}` };
}

async function client(t: TestContext, url: string, opts: IClientOptions): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5, ...opts });
  t.after(() => c.endAsync(true).catch(() => undefined));
  return c;
}

test("a delayed will is published when its session is removed to make room (mqtt5.maxSessions), not kept for the will's delay", async (t) => {
  const s = await startBroker(t, 2);
  const watcher = await client(t, s.url, { clientId: 'watcher' }); // no session expiry: its session ends with it, never evicted
  await watcher.subscribeAsync('wills/#', { qos: 1 });
  const wills: string[] = [];
  watcher.on('message', (topic) => wills.push(topic));

  // A device with a session that never expires and a will delayed for a day drops off the network.
  const device = await client(t, s.url, {
    clientId: 'device-1',
    clean: false,
    properties: { sessionExpiryInterval: 0xffffffff },
    will: { topic: 'wills/device-1', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 86_400 } },
  });
  device.stream.destroy(); // no DISCONNECT: the will is due after its delay
  await withTimeout(waitForEvent(device, 'close'), 5000, 'the device connection closed');

  // The table (2: the watcher's and device-1's) is full: a new device's session takes the room of
  // device-1's (the one disconnected longest ago). device-1's session ended: its will is due now.
  await client(t, s.url, { clientId: 'device-2', clean: false, properties: { sessionExpiryInterval: 3600 } });
  assert.equal(await metricValue(s.deps.registry, 'gatehouse_mqtt5_sessions_evicted_total'), 1, "device-1's session was removed to make room");
  await withTimeout(
    (async () => {
      while (!wills.includes('wills/device-1')) await waitForEvent(watcher, 'message', 5000);
    })(),
    5000,
    "device-1's will, published when its session ended",
  );
  assert.deepEqual(wills, ['wills/device-1'], 'published once');
});

test('a delayed will is not published when its client comes back within the delay and resumes its session', async (t) => {
  const s = await startBroker(t, 10);
  const watcher = await client(t, s.url, { clientId: 'watcher' });
  await watcher.subscribeAsync('wills/#', { qos: 1 });
  const wills: string[] = [];
  watcher.on('message', (topic) => wills.push(topic));
  const will = { topic: 'wills/d', payload: Buffer.from('gone'), qos: 1 as const, retain: false, properties: { willDelayInterval: 86_400 } };
  const first = await client(t, s.url, { clientId: 'd', clean: false, properties: { sessionExpiryInterval: 3600 }, will });
  first.stream.destroy();
  await withTimeout(waitForEvent(first, 'close'), 5000, 'the device connection closed');
  const back = await client(t, s.url, { clientId: 'd', clean: false, properties: { sessionExpiryInterval: 3600 } });
  assert.equal(back.connected, true);
  // A message sent after the reconnect reaches the watcher: had the will been published it would be first.
  const marker = await client(t, s.url, { clientId: 'marker' });
  await marker.publishAsync('wills/marker', 'm', { qos: 1 });
  await withTimeout(
    (async () => {
      while (!wills.includes('wills/marker')) await waitForEvent(watcher, 'message', 5000);
    })(),
    5000,
    'the marker',
  );
  assert.deepEqual(wills, ['wills/marker'], 'no will: the client resumed its session within the delay');
});
