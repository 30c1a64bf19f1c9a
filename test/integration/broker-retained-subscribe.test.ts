// A SUBSCRIBE over more retained messages than broker.outbound.maxQueueMessages (1,000 by default):
// the whole retained set was handed to the subscriber's queue at once, so a reading 3.1.1 client
// was dropped as a slow subscriber before it got one, on every try, and an MQTT 5 client got
// ~1,280 of 20,000. Now the set is paced (outbound.ts, v5/subscribe.ts). Real mqtt.js clients
// against the real broker, MQTT 3.1.1 and 5, QoS 0 and 1 subscriptions over retained messages
// stored at QoS 0 and 1:
// - every retained message arrives, once per topic, in order with live updates made meanwhile,
//   and other publishers keep their PUBACKs (the latency is printed, not asserted);
// - every delivery ends (gatehouse_mqtt_retained_deliveries back to 0): at its last message, at a
//   client that stops reading (still disconnected and counted after drainTimeoutMs), a client that
//   disconnects halfway, a takeover, an MQTT 5 UNSUBSCRIBE, and the broker's stop (promptly); an
//   MQTT 5 takeover that keeps the session goes on with the new connection.
// N is RETAINED_N (default 5,000: five times maxQueueMessages; 20,000 for the figures in
// docs/benchmarks.md). Every await is bounded (within()): a step that never ends fails naming
// itself rather than holding the file (round 34's hang was an unbounded wait).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { metricValue, waitUntil } from '../helpers/index.js';
import { closedOf, connectClient as connect, retainSet, startBroker as start, within } from '../helpers/retained-broker.js';

const N = Number(process.env.RETAINED_N ?? 5_000);
const DELIVERIES = 'gatehouse_mqtt_retained_deliveries';
const SLOW = 'gatehouse_mqtt_slow_consumer_disconnects_total';
const v = (protocolVersion: 4 | 5): string => (protocolVersion === 4 ? '3.1.1' : '5');

for (const protocolVersion of [4, 5] as const) {
  for (const qos of [0, 1] as const) {
    test(`MQTT ${v(protocolVersion)}, QoS ${qos} subscription over ${N} retained messages (QoS 0 and 1): every one arrives, once, in order per topic`, async (t) => {
      const { broker, deps, url } = await start(t);
      await retainSet(broker, N, 64);
      const sub = await connect(t, url, { clientId: `reader-${protocolVersion}-${qos}`, protocolVersion });
      // per topic, the versions seen in order (a live update during the delivery comes after the retained one)
      const seen = new Map<string, number[]>();
      let received = 0;
      let bad: string | undefined;
      let lastAt = Date.now();
      sub.on('message', (topic, payload) => {
        received++;
        lastAt = Date.now();
        const m = /^v(\d+)\.(\d+) /.exec(payload.toString());
        if (!m) return void (bad ??= `${topic}: ${payload.toString().slice(0, 20)}`);
        const list = seen.get(topic) ?? [];
        list.push(Number(m[2]));
        seen.set(topic, list);
      });
      let disconnected = false;
      void closedOf(sub).then(() => (disconnected = true));
      const t0 = Date.now();
      await within(10_000, 'SUBACK', sub.subscribeAsync('ret/#', { qos }));
      // a publisher updating some topics (retained) while the set is delivered, and its PUBACK latency
      const other = await connect(t, url, { clientId: `other-${protocolVersion}-${qos}` });
      const latencies: number[] = [];
      const updated = new Set<number>();
      for (let k = 1; k <= 50; k++) {
        const i = (k * 397) % N;
        const t1 = process.hrtime.bigint();
        await within(10_000, `PUBACK ${k}`, other.publishAsync(`ret/${i}`, `v${i}.${k} live`, { qos: 1, retain: true }));
        latencies.push(Number(process.hrtime.bigint() - t1) / 1e6);
        updated.add(i);
      }
      await waitUntil(
        // (or nothing came for 10 s: the delivery stalled, asserted below)
        () => (seen.size === N && [...updated].every((i) => seen.get(`ret/${i}`)!.at(-1)! > 0)) || disconnected || Date.now() - lastAt > 10_000,
        `every retained topic delivered (${N}), or the delivery stalled`,
        120_000,
      );
      const ms = Date.now() - t0;
      assert.equal(bad, undefined, 'payloads as published');
      assert.equal(disconnected, false, `subscriber disconnected after ${received} message(s) on ${seen.size} topic(s)`);
      assert.equal(seen.size, N, `retained topics delivered before the delivery stalled (${received} messages)`);
      latencies.sort((a, b) => a - b);
      console.log(
        `# ${v(protocolVersion)} QoS ${qos}: ${N} retained topics in ${ms} ms (${received} messages); another publisher's PUBACK during it: p50 ${latencies[25]!.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`,
      );
      for (let i = 0; i < N; i++) {
        const versions = seen.get(`ret/${i}`);
        assert.ok(versions, `ret/${i} delivered`);
        // the retained message once; a topic updated during the delivery may come again, live and
        // as retained (read after the update), never an older version after a newer one
        assert.ok(updated.has(i) || versions.length === 1, `ret/${i} once, got ${versions.join(',')}`);
        for (let k = 1; k < versions.length; k++) assert.ok(versions[k]! >= versions[k - 1]!, `ret/${i}: versions in order, got ${versions.join(',')}`);
      }
      for (const i of updated) assert.ok(seen.get(`ret/${i}`)!.at(-1)! > 0, `ret/${i}: its live update arrived last, got ${seen.get(`ret/${i}`)!.join(',')}`);
      assert.equal(await metricValue(deps.registry, SLOW), 0, 'no slow-subscriber disconnect');
      await waitUntil(async () => (await metricValue(deps.registry, DELIVERIES)) === 0, 'the delivery ended', 10_000);
    });
  }
}

/** A subscriber to ret/# at QoS 1 that stops reading once it has `after` messages (0: after its SUBACK); `paused` then. */
async function freezingSubscriber(
  t: TestContext,
  url: string,
  protocolVersion: 4 | 5,
  after: number,
  clientId = `frozen-${protocolVersion}`,
): Promise<{ sub: MqttClient; paused: Promise<void> }> {
  const sub = await connect(t, url, { clientId, protocolVersion });
  let received = 0;
  // (mqtt.js pipes its socket into its parser, and a pipe resumes a source paused alone at its next 'drain')
  const stream = sub.stream as unknown as { pause(): void; unpipe(): void };
  let pause!: () => void;
  const paused = new Promise<void>((resolve) => {
    pause = () => {
      stream.unpipe();
      stream.pause();
      resolve();
    };
  });
  sub.on('message', () => {
    if (++received === after) pause();
  });
  t.after(() => console.log(`# ${clientId} read ${received} retained message(s) before it stopped`));
  await within(10_000, 'SUBACK', sub.subscribeAsync('ret/#', { qos: 1 }));
  // stop reading: the retained messages fill the kernel buffers, then the broker's
  if (after === 0) pause();
  return { sub, paused };
}

/** 3,000 x 8 KiB: 24 MiB, more than the loopback buffers hold: a client that stops reading holds its delivery. */
const BIG = 3000;

for (const protocolVersion of [4, 5] as const) {
  test(`MQTT ${v(protocolVersion)}: a subscriber that stops reading during a big retained delivery is still disconnected and counted, and the delivery ends`, async (t) => {
    const { broker, deps, url } = await start(t, { drainTimeoutMs: 1500 });
    await retainSet(broker, BIG, 8 * 1024);
    await freezingSubscriber(t, url, protocolVersion, 0);
    await waitUntil(
      async () =>
        (await metricValue(deps.registry, SLOW)) === 1 &&
        !broker.clients().some((c) => c.id === `frozen-${protocolVersion}`) &&
        (await metricValue(deps.registry, DELIVERIES)) === 0,
      'frozen subscriber disconnected, counted once, its delivery ended',
      30_000,
    );
  });

  test(`MQTT ${v(protocolVersion)}: a subscriber that disconnects halfway through ${N} retained messages ends its delivery`, async (t) => {
    const { broker, deps, url } = await start(t);
    await retainSet(broker, N, 64);
    const sub = await connect(t, url, { clientId: `half-${protocolVersion}`, protocolVersion });
    let received = 0;
    sub.on('message', () => {
      if (++received === Math.floor(N / 2)) sub.stream.destroy();
    });
    const closed = closedOf(sub);
    await within(10_000, 'SUBACK', sub.subscribeAsync('ret/#', { qos: 1 }));
    await within(60_000, 'the subscriber closes halfway', closed);
    assert.ok(received < N, `disconnected halfway (${received} of ${N})`);
    await waitUntil(async () => (await metricValue(deps.registry, DELIVERIES)) === 0, 'its delivery ended', 10_000);
    // the broker serves the next one as before
    const next = await connect(t, url, { clientId: `next-${protocolVersion}`, protocolVersion });
    const got = new Promise<string>((resolve) => next.once('message', (_topic, payload) => resolve(payload.toString())));
    await within(10_000, 'SUBACK', next.subscribeAsync('ret/7', { qos: 1 }));
    assert.match(await within(10_000, 'the retained ret/7', got), /^v7\.0 /);
    assert.equal(await metricValue(deps.registry, SLOW), 0, 'no slow-subscriber disconnect');
  });

  test(`MQTT ${v(protocolVersion)}: a delivery held by a subscriber that stopped reading ends at a takeover and at the broker's stop (promptly)`, async (t) => {
    // drainTimeoutMs (30 s) never ends these: the takeover and the stop do
    const { broker, deps, url } = await start(t);
    await retainSet(broker, BIG, 8 * 1024);
    const first = await freezingSubscriber(t, url, protocolVersion, 100);
    await within(10_000, 'the first subscriber stops reading', first.paused);
    await waitUntil(async () => (await metricValue(deps.registry, DELIVERIES)) === 1, 'a delivery in progress', 10_000);
    // the same client id again, a clean session: the held delivery ends with the connection taken over
    // (the first client does not read: it would not see its socket closed; the broker counts the takeover)
    await connect(t, url, { clientId: `frozen-${protocolVersion}`, protocolVersion });
    await waitUntil(async () => (await metricValue(deps.registry, 'gatehouse_mqtt_takeovers_total')) === 1, 'the first connection taken over', 10_000);
    await waitUntil(async () => (await metricValue(deps.registry, DELIVERIES)) === 0, 'the delivery ended at the takeover', 10_000);
    // and a stop while a subscriber's delivery is held
    const held = await freezingSubscriber(t, url, protocolVersion, 100, `held-${protocolVersion}`);
    await within(10_000, 'the second subscriber stops reading', held.paused);
    await waitUntil(async () => (await metricValue(deps.registry, DELIVERIES)) === 1, 'a delivery in progress', 10_000);
    const t0 = Date.now();
    await within(5_000, 'broker stop during a held delivery', broker.stop());
    const ms = Date.now() - t0;
    // (a stream closes a tick after its loop returns)
    await waitUntil(async () => (await metricValue(deps.registry, DELIVERIES)) === 0, 'the delivery ended at the stop', 2_000);
    console.log(`# ${v(protocolVersion)}: broker.stop() during a held retained delivery took ${ms} ms`);
  });
}

test(`MQTT 5: an UNSUBSCRIBE ends the retained delivery of its filter`, async (t) => {
  const { broker, deps, url } = await start(t);
  await retainSet(broker, BIG, 8 * 1024);
  const { sub, paused } = await freezingSubscriber(t, url, 5, 100);
  await within(10_000, 'the subscriber stops reading', paused);
  await waitUntil(async () => (await metricValue(deps.registry, DELIVERIES)) === 1, 'a delivery in progress', 10_000);
  // (its UNSUBACK is not read: the client stopped reading)
  sub.unsubscribe('ret/#');
  await waitUntil(async () => (await metricValue(deps.registry, DELIVERIES)) === 0, 'the delivery ended at the UNSUBSCRIBE', 10_000);
  assert.ok(
    broker.clients().some((c) => c.id === 'frozen-5'),
    'the subscriber is still connected',
  );
});

test(`MQTT 5: a takeover that keeps the session goes on with the retained delivery on the new connection`, async (t) => {
  const { broker, deps, url } = await start(t);
  await retainSet(broker, BIG, 8 * 1024);
  const session = { clean: false, properties: { sessionExpiryInterval: 60 } };
  const sub = await connect(t, url, { clientId: 'kept-5', protocolVersion: 5, ...session });
  let firstGot = 0;
  const stream = sub.stream as unknown as { pause(): void; unpipe(): void };
  sub.on('message', () => {
    if (++firstGot === 100) {
      stream.unpipe();
      stream.pause();
    }
  });
  await within(10_000, 'SUBACK', sub.subscribeAsync('ret/#', { qos: 1 }));
  await waitUntil(() => firstGot >= 100, 'the first connection stops reading', 10_000);
  // the same client id, the session kept: the rest of the set comes to the new connection
  const next = await connect(t, url, { clientId: 'kept-5', protocolVersion: 5, ...session });
  const seen = new Set<string>();
  next.on('message', (topic) => seen.add(topic));
  await waitUntil(() => seen.has(`ret/${BIG - 1}`), `the last retained topic (ret/${BIG - 1}) on the new connection`, 30_000);
  await waitUntil(async () => (await metricValue(deps.registry, DELIVERIES)) === 0, 'the delivery ended', 10_000);
  console.log(`# v5 takeover with the session kept: the first connection read ${firstGot}, the new one ${seen.size} topics`);
});
