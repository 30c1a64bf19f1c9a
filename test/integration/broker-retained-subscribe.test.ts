// A SUBSCRIBE over more retained messages than broker.outbound.maxQueueMessages (1,000 by default):
// the whole retained set was handed to the subscriber's queue at once, so a reading client asking
// for 3,000 of them was dropped as a slow subscriber (QoS 1 retained) or lost all past the first
// few hundred (QoS 0), on every try. Real mqtt.js clients against the real broker, MQTT 3.1.1 and
// 5, QoS 0 and 1 subscriptions over retained messages stored at QoS 0 and 1: every retained
// message arrives, once per topic, while a client that does not read is still disconnected and
// counted (drainTimeoutMs), and other publishers keep their PUBACKs (the latency is printed).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { createBroker, type Broker, type BrokerOptionsInput } from '../../gateway/broker/index.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { metricValue, testDeps, waitUntil } from '../helpers/index.js';

const N = 20_000;

async function start(t: TestContext, opts: BrokerOptionsInput = {}): Promise<{ broker: Broker; deps: RuntimeDeps; url: string }> {
  const deps = testDeps();
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }], ...opts }, { ...deps, onPublish: () => Promise.resolve() });
  await broker.start();
  t.after(() => broker.stop());
  return { broker, deps, url: `mqtt://127.0.0.1:${broker.addresses()[0]!.port}` };
}

/** `count` retained messages on ret/<i>, half stored at QoS 0 and half at QoS 1, payload `v<i>.0` padded to `bytes`. */
async function retainSet(url: string, count: number, bytes: number): Promise<void> {
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'retainer' });
  const pad = 'x'.repeat(Math.max(0, bytes - 12));
  for (let i = 0; i < count; i += 500) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(count, i + 500); j++) batch.push(pub.publishAsync(`ret/${j}`, `v${j}.0 ${pad}`, { qos: j % 2 === 0 ? 0 : 1, retain: true }));
    await Promise.all(batch);
  }
  // the QoS 0 ones are in the store once a QoS 1 publish after them is acknowledged (one connection, in order)
  await pub.publishAsync('ret-done', 'x', { qos: 1 });
  await pub.endAsync();
}

for (const protocolVersion of [4, 5] as const) {
  for (const qos of [0, 1] as const) {
    test(`MQTT ${protocolVersion === 4 ? '3.1.1' : '5'}, QoS ${qos} subscription over ${N} retained messages (QoS 0 and 1): every one arrives, once, in order per topic`, async (t) => {
      const { deps, url } = await start(t);
      await retainSet(url, N, 64);
      const sub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `reader-${protocolVersion}-${qos}`, protocolVersion });
      t.after(() => sub.endAsync(true).catch(() => undefined));
      // per topic, the versions seen in order (a live update during the delivery comes after the retained one)
      const seen = new Map<string, number[]>();
      let received = 0;
      let lastAt = Date.now();
      sub.on('message', (topic, payload) => {
        received++;
        lastAt = Date.now();
        const m = /^v(\d+)\.(\d+) /.exec(payload.toString());
        assert.ok(m, `payload of ${topic}`);
        const list = seen.get(topic) ?? [];
        list.push(Number(m[2]));
        seen.set(topic, list);
      });
      const closed = new Promise<void>((resolve) => sub.once('close', () => resolve()));
      const t0 = Date.now();
      await sub.subscribeAsync('ret/#', { qos });
      // a publisher updating some topics (retained) while the set is delivered, and its PUBACK latency
      const other = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `other-${protocolVersion}-${qos}` });
      t.after(() => other.endAsync(true).catch(() => undefined));
      const latencies: number[] = [];
      const updated = new Set<number>();
      for (let k = 1; k <= 50; k++) {
        const i = (k * 397) % N;
        const t1 = process.hrtime.bigint();
        await other.publishAsync(`ret/${i}`, `v${i}.${k} live`, { qos: 1, retain: true });
        latencies.push(Number(process.hrtime.bigint() - t1) / 1e6);
        updated.add(i);
      }
      let disconnected = false;
      void closed.then(() => (disconnected = true));
      // done when every topic arrived and every live update after it, the subscriber was disconnected, or nothing came for 5 s
      await waitUntil(
        () => (seen.size === N && [...updated].every((i) => seen.get(`ret/${i}`)!.at(-1)! > 0)) || disconnected || Date.now() - lastAt > 5000,
        'retained delivery ends',
        120_000,
      );
      assert.equal(disconnected, false, `subscriber disconnected after ${received} message(s) on ${seen.size} topic(s)`);
      assert.equal(seen.size, N, `topics delivered (${received} messages)`);
      const ms = Date.now() - t0;
      latencies.sort((a, b) => a - b);
      console.log(
        `# ${protocolVersion === 4 ? '3.1.1' : 'v5'} QoS ${qos}: ${N} retained topics in ${ms} ms (${received} messages); another publisher's PUBACK during it: p50 ${latencies[25]!.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`,
      );
      for (const [topic, versions] of seen) {
        // (a topic updated during the delivery may come again as retained, with the same version)
        for (let k = 1; k < versions.length; k++) assert.ok(versions[k]! >= versions[k - 1]!, `${topic}: versions in order, got ${versions.join(',')}`);
      }
      for (let i = 0; i < N; i++) assert.ok(seen.has(`ret/${i}`), `ret/${i} delivered`);
      for (const i of updated) assert.ok(seen.get(`ret/${i}`)!.at(-1)! > 0, `ret/${i}: its live update arrived last, got ${seen.get(`ret/${i}`)!.join(',')}`);
      assert.equal(await metricValue(deps.registry, 'gatehouse_mqtt_slow_consumer_disconnects_total'), 0, 'no slow-subscriber disconnect');
    });
  }
}

async function pausedAfterSuback(t: TestContext, url: string, protocolVersion: 4 | 5): Promise<MqttClient> {
  const sub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `frozen-${protocolVersion}`, protocolVersion });
  t.after(() => sub.endAsync(true).catch(() => undefined));
  let received = 0;
  sub.on('message', () => received++);
  await sub.subscribeAsync('ret/#', { qos: 1 });
  // stop reading: the retained messages fill the kernel buffers, then the broker's
  (sub.stream as unknown as { pause(): void }).pause();
  t.after(() => console.log(`# the frozen subscriber read ${received} retained message(s) before it stopped`));
  return sub;
}

for (const protocolVersion of [4, 5] as const) {
  test(`MQTT ${protocolVersion === 4 ? '3.1.1' : '5'}: a subscriber that stops reading during a big retained delivery is still disconnected and counted`, async (t) => {
    const { broker, deps, url } = await start(t, { drainTimeoutMs: 1500 });
    // 3,000 x 8 KiB: 24 MiB, more than the loopback buffers hold
    await retainSet(url, 3000, 8 * 1024);
    const heap0 = process.memoryUsage().heapUsed;
    await pausedAfterSuback(t, url, protocolVersion);
    await waitUntil(
      async () => (await metricValue(deps.registry, 'gatehouse_mqtt_slow_consumer_disconnects_total')) === 1,
      'frozen subscriber disconnected and counted',
      30_000,
    );
    assert.equal(
      broker.clients().some((c) => c.id === `frozen-${protocolVersion}`),
      false,
      'the frozen subscriber is gone',
    );
    console.log(
      `# ${protocolVersion === 4 ? '3.1.1' : 'v5'} frozen subscriber: heap +${((process.memoryUsage().heapUsed - heap0) / 2 ** 20).toFixed(1)} MiB when dropped`,
    );
  });
}
