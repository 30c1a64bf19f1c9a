// Slow consumers: a real mqtt.js subscriber whose socket is paused (it stops reading, so the
// kernel buffers fill and the broker's writes back up) while a real QoS 1 publisher keeps going.
// The publisher must never wait on that socket (drainTimeoutMs is set to 10 minutes here, so a
// publisher that did wait would hang the test), QoS 0 deliveries are dropped first, and the
// subscriber is disconnected (logged, counted) once its queue overflows with QoS 1 messages.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { createBroker, type Broker, type BrokerOptionsInput } from '../../gateway/broker/index.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { metricValue, testDeps, waitUntil, withTimeout } from '../helpers/index.js';
import { capturedLogger } from '../helpers/industrial.js';

async function start(
  t: TestContext,
  limits: BrokerOptionsInput = { drainTimeoutMs: 600_000, outbound: { maxQueueMessages: 200, maxQueueBytes: 512 * 1024 } },
  logger?: RuntimeDeps['logger'],
): Promise<{ broker: Broker; deps: RuntimeDeps; url: string }> {
  const deps = logger ? { ...testDeps(), logger } : testDeps();
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }], ...limits }, { ...deps, onPublish: () => Promise.resolve() });
  await broker.start();
  t.after(() => broker.stop());
  return { broker, deps, url: `mqtt://127.0.0.1:${broker.addresses()[0]!.port}` };
}

async function pausedSubscriber(t: TestContext, url: string, filter: string, qos: 0 | 1, clientId = `slow-${qos}`): Promise<MqttClient> {
  const sub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId });
  t.after(() => sub.endAsync(true).catch(() => undefined));
  await sub.subscribeAsync(filter, { qos });
  // Stop reading: nothing more is taken from the socket, so the TCP windows and then the broker's buffers fill.
  (sub.stream as unknown as { pause(): void }).pause();
  return sub;
}

test('a paused QoS 1 subscriber: the publisher gets every PUBACK, the subscriber is disconnected and counted', async (t) => {
  const { broker, deps, url } = await start(t);
  await pausedSubscriber(t, url, 'big/#', 1);
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'pub' });
  t.after(() => pub.endAsync(true));
  const payload = Buffer.alloc(64 * 1024, 7);
  const N = 400; // 25 MiB: more than loopback socket buffers plus the 512 KiB queue
  const worst: number[] = [];
  await withTimeout(
    (async () => {
      for (let i = 0; i < N; i++) {
        const t0 = Date.now();
        await pub.publishAsync('big/x', payload, { qos: 1 });
        worst.push(Date.now() - t0);
      }
    })(),
    120_000,
    'publisher PUBACKs (a publisher waiting on the frozen subscriber would stall here)',
  );
  await waitUntil(
    async () => (await metricValue(deps.registry, 'gatehouse_mqtt_slow_consumer_disconnects_total')) === 1,
    'slow subscriber disconnected',
    10_000,
  );
  assert.equal(
    broker.clients().some((c) => c.id === 'slow-1'),
    false,
    'the slow subscriber is gone',
  );
  console.log(`# publisher: ${N} x 64 KiB QoS 1, slowest PUBACK ${Math.max(...worst)} ms while a subscriber was frozen`);
});

test('a paused QoS 0 subscriber: deliveries are dropped (counted), it stays connected, the publisher never waits', async (t) => {
  const { broker, deps, url } = await start(t);
  await pausedSubscriber(t, url, 'big/#', 0);
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'pub0' });
  t.after(() => pub.endAsync(true));
  const payload = Buffer.alloc(64 * 1024, 7);
  await withTimeout(
    (async () => {
      for (let i = 0; i < 400; i++) await pub.publishAsync('big/x', payload, { qos: 1 });
    })(),
    120_000,
    'publisher PUBACKs',
  );
  const dropped = await metricValue(deps.registry, 'gatehouse_mqtt_outbound_dropped_total');
  assert.ok(dropped > 0, 'QoS 0 deliveries to the frozen subscriber were dropped');
  assert.equal(await metricValue(deps.registry, 'gatehouse_mqtt_slow_consumer_disconnects_total'), 0);
  assert.ok(
    broker.clients().some((c) => c.id === 'slow-0'),
    'a QoS 0 subscriber is not disconnected for being slow',
  );
  console.log(`# QoS 0 deliveries dropped to the frozen subscriber: ${dropped} of 400`);
});

test('a paused subscriber within the queue limits is disconnected after drainTimeoutMs (logged, counted); the publisher never waited', async (t) => {
  const { broker, deps, url } = await start(t, { drainTimeoutMs: 300, outbound: { maxQueueMessages: 100_000, maxQueueBytes: 256 * 1024 * 1024 } });
  await pausedSubscriber(t, url, 'big/#', 1);
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'pub-drain' });
  t.after(() => pub.endAsync(true));
  const payload = Buffer.alloc(64 * 1024, 7);
  // publish until the broker gives up on the frozen subscriber (its socket stays full)
  await withTimeout(
    (async () => {
      while ((await metricValue(deps.registry, 'gatehouse_mqtt_slow_consumer_disconnects_total')) === 0) await pub.publishAsync('big/x', payload, { qos: 1 });
    })(),
    60_000,
    'the drain timeout to disconnect the subscriber',
  );
  await waitUntil(() => !broker.clients().some((c) => c.id === 'slow-1'), 'the slow subscriber to be gone', 5000);
});

test('a slow subscriber disconnected again and again (a dashboard on a slow link reconnecting) is one warning a minute, not a line per disconnect', async (t) => {
  // Each disconnect was a warning of its own: under steady traffic a reconnecting slow subscriber
  // wrote one every few seconds for hours to the journal on the SD card (round 32).
  const { logger, lines } = capturedLogger();
  const { deps, url } = await start(t, { drainTimeoutMs: 300, outbound: { maxQueueMessages: 100_000, maxQueueBytes: 256 * 1024 * 1024 } }, logger);
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'pub-again' });
  t.after(() => pub.endAsync(true));
  const payload = Buffer.alloc(64 * 1024, 7);
  for (let round = 1; round <= 3; round++) {
    await pausedSubscriber(t, url, 'big/#', 1, `slow-again-${round}`);
    await withTimeout(
      (async () => {
        while ((await metricValue(deps.registry, 'gatehouse_mqtt_slow_consumer_disconnects_total')) < round)
          await pub.publishAsync('big/x', payload, { qos: 1 });
      })(),
      60_000,
      `disconnect ${round} of the slow subscriber`,
    );
  }
  const warned = lines.filter((l) => String(l.msg).startsWith('slow subscriber'));
  assert.equal(warned.length, 1, `three disconnects, one line: ${JSON.stringify(warned)}`);
});
