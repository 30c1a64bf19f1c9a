// A 3.1.1 UNSUBSCRIBE, or a SUBSCRIBE again to the filter, ends the retained delivery of that filter
// (retained-subscribe.ts). aedes piped the retained set to the client until its end whatever the
// client did: a client that subscribed to ret/# over 20,000 retained messages and unsubscribed at
// once got 19,750 of them after its UNSUBACK, and a SUBSCRIBE again started a second delivery beside
// the first (19,750 duplicates). mosquitto 2.0.11 writes the whole set at the SUBSCRIBE: nothing
// after the UNSUBACK, no duplicates.
//
// Real mqtt.js 3.1.1 clients against the real broker, QoS 0 and 1 subscriptions over retained
// messages stored at QoS 0 and 1; the order of packets on the wire is taken from mqtt.js's
// 'packetreceive'. What may be in flight when the UNSUBSCRIBE or SUBSCRIBE arrives: the retained
// messages handed to aedes and not yet written, at most a quarter of outbound.maxQueueMessages (250
// by default; outbound.ts holds the next one below that mark). aedes writes each a turn after it is
// handed, and its UNSUBACK a turn after the UNSUBSCRIBE (when it drops the subscription), so all of
// them come before the UNSUBACK: none after it is asserted. A SUBACK is written as the SUBSCRIBE is
// handled, so up to those 250 may follow it: at most 250 duplicates is asserted (without the fix,
// about N). That no more comes is known by a marker published after the deliveries ended: it goes
// out behind anything handed before it. N is RETAINED_N (default 5,000). Every await is bounded.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import type { Packet } from 'mqtt-packet';
import type { Broker } from '../../gateway/broker/index.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { metricValue, waitUntil } from '../helpers/index.js';
import { closedOf, connectClient, retainSet, startBroker, within } from '../helpers/retained-broker.js';

const N = Number(process.env.RETAINED_N ?? 5_000);
const DELIVERIES = 'gatehouse_mqtt_retained_deliveries';
/** Retained messages in flight at most: a quarter of outbound.maxQueueMessages (1,000 by default). */
const IN_FLIGHT = 250;
/** Where in the delivery the client acts: after this many retained messages. */
const AT = 500;

/** A 3.1.1 client that records the packets it receives in order, subscribed to `mark` for the end marker. */
async function recordingClient(t: TestContext, url: string, clientId: string): Promise<{ c: MqttClient; packets: Packet[] }> {
  const c = await connectClient(t, url, { clientId, protocolVersion: 4 });
  const packets: Packet[] = [];
  c.on('packetreceive', (p) => packets.push(p));
  await within(10_000, 'SUBACK of mark', c.subscribeAsync('mark', { qos: 0 }));
  return { c, packets };
}

const publishes = (packets: Packet[], from = 0): { topic: string }[] =>
  packets.slice(from).filter((p): p is Packet & { topic: string } => p.cmd === 'publish' && p.topic !== 'mark');

/** Once every delivery ended: a marker published now arrives behind every retained message handed before it. */
async function drained(t: TestContext, broker: Broker, deps: RuntimeDeps, c: MqttClient, what: string): Promise<void> {
  await waitUntil(async () => (await metricValue(deps.registry, DELIVERIES)) === 0, `${what}: the deliveries ended`, 30_000);
  const marked = new Promise<void>((resolve) => c.on('message', (topic) => topic === 'mark' && resolve()));
  await within(10_000, `${what}: marker published`, broker.publish({ topic: 'mark', payload: Buffer.from(t.name), qos: 0, retain: false }));
  await within(10_000, `${what}: marker received`, marked);
}

/** Resolves when `n` packets matching `f` were received from packets[from] on (checked at each one). */
function packetCount(c: MqttClient, packets: Packet[], f: (p: Packet) => boolean, n: number, from = 0): Promise<void> {
  let count = packets.slice(from).filter(f).length;
  if (count >= n) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const check = (p: Packet): void => {
      if (f(p) && ++count >= n) {
        c.off('packetreceive', check);
        resolve();
      }
    };
    c.on('packetreceive', check);
  });
}

const isRet = (p: Packet): boolean => p.cmd === 'publish' && (p as { topic: string }).topic.startsWith('ret/');

for (const qos of [0, 1] as const) {
  test(`MQTT 3.1.1, QoS ${qos}: an UNSUBSCRIBE during the retained delivery of ${N} messages: none after its UNSUBACK, the client stays connected`, async (t) => {
    const { broker, deps, url } = await startBroker(t);
    await retainSet(broker, N, 64);
    const { c, packets } = await recordingClient(t, url, `unsub-${qos}`);
    let closed = false;
    void closedOf(c).then(() => (closed = true));
    const atAt = packetCount(c, packets, isRet, AT);
    await within(10_000, 'SUBACK of ret/#', c.subscribeAsync('ret/#', { qos }));
    await within(30_000, `${AT} retained messages`, atAt);
    await within(10_000, 'UNSUBACK', c.unsubscribeAsync('ret/#'));
    await drained(t, broker, deps, c, 'after the UNSUBSCRIBE');
    const unsuback = packets.findIndex((p) => p.cmd === 'unsuback');
    const before = publishes(packets.slice(0, unsuback)).length;
    const after = publishes(packets, unsuback).length;
    console.log(`# QoS ${qos}: ${before} retained message(s) before the UNSUBACK (the UNSUBSCRIBE sent at ${AT}), ${after} after it`);
    assert.equal(after, 0, 'no retained message after the UNSUBACK');
    assert.ok(before < N, `the delivery stopped (${before} of ${N})`);
    assert.equal(closed, false, 'the client is still connected');
    // the filter works again: a new SUBSCRIBE gets the set
    const all = packetCount(c, packets, isRet, before + N);
    await within(10_000, 'SUBACK of ret/# again', c.subscribeAsync('ret/#', { qos }));
    await within(60_000, `the ${N} retained messages of the new SUBSCRIBE`, all);
  });

  test(`MQTT 3.1.1, QoS ${qos}: a SUBSCRIBE again during the retained delivery of ${N} messages ends the first: each topic once after its SUBACK (at most ${IN_FLIGHT} in flight)`, async (t) => {
    const { broker, deps, url } = await startBroker(t);
    await retainSet(broker, N, 64);
    // at the first message the first delivery may have its 250 in flight (measured: 0 or 250 duplicates)
    for (const at of [1, AT]) {
      const { c, packets } = await recordingClient(t, url, `resub-${qos}-${at}`);
      const atAt = packetCount(c, packets, isRet, at);
      await within(10_000, `${at}: SUBACK of ret/#`, c.subscribeAsync('ret/#', { qos }));
      await within(30_000, `${at}: ${at} retained messages`, atAt);
      await within(10_000, `${at}: SUBACK of ret/# again`, c.subscribeAsync('ret/#', { qos }));
      const second = packets.findLastIndex((p) => p.cmd === 'suback');
      // the new delivery comes whole
      await within(60_000, `${at}: the ${N} retained topics after the second SUBACK`, packetCount(c, packets, isRet, N, second));
      await drained(t, broker, deps, c, `${at}: after the second SUBSCRIBE`);
      const seen = new Map<string, number>();
      for (const p of publishes(packets, second)) seen.set(p.topic, (seen.get(p.topic) ?? 0) + 1);
      let duplicates = 0;
      for (const n of seen.values()) duplicates += n - 1;
      console.log(
        `# QoS ${qos}, SUBSCRIBE again at ${at}: ${publishes(packets.slice(0, second)).length} retained before the second SUBACK, ${N + duplicates} after it, ${duplicates} duplicate(s)`,
      );
      assert.equal(seen.size, N, `${at}: every retained topic after the second SUBACK`);
      assert.ok(duplicates <= IN_FLIGHT, `${at}: at most the ${IN_FLIGHT} in flight come twice: ${duplicates} duplicates`);
      await within(10_000, `${at}: end`, c.endAsync(true));
    }
  });

  test(`MQTT 3.1.1, QoS ${qos}: unsubscribing one filter leaves the other's retained delivery whole (one SUBSCRIBE of both, and one each)`, async (t) => {
    const { broker, deps, url } = await startBroker(t);
    const M = Math.floor(N / 5);
    await retainSet(broker, N, 64);
    await retainSet(broker, M, 64, 'other');
    const isOther = (p: Packet): boolean => p.cmd === 'publish' && (p as { topic: string }).topic.startsWith('other/');
    for (const shape of ['one SUBSCRIBE', 'two SUBSCRIBEs'] as const) {
      const { c, packets } = await recordingClient(t, url, `${shape === 'one SUBSCRIBE' ? 'one' : 'two'}-${qos}`);
      const atAt = packetCount(c, packets, isRet, AT);
      // (aedes' store yields the set filter by filter: ret/ first, other/ after)
      if (shape === 'one SUBSCRIBE') await within(10_000, `${shape}: SUBACK`, c.subscribeAsync(['ret/#', 'other/#'], { qos }));
      else {
        await within(10_000, `${shape}: SUBACK of ret/#`, c.subscribeAsync('ret/#', { qos }));
        await within(10_000, `${shape}: SUBACK of other/#`, c.subscribeAsync('other/#', { qos }));
      }
      await within(30_000, `${shape}: ${AT} retained messages of ret/`, atAt);
      await within(10_000, `${shape}: UNSUBACK of ret/#`, c.unsubscribeAsync('ret/#'));
      const unsuback = packets.findIndex((p) => p.cmd === 'unsuback');
      await within(60_000, `${shape}: the ${M} retained messages of other/`, packetCount(c, packets, isOther, M));
      await drained(t, broker, deps, c, shape);
      const after = publishes(packets, unsuback);
      const others = new Set(
        publishes(packets)
          .filter((p) => p.topic.startsWith('other/'))
          .map((p) => p.topic),
      );
      console.log(
        `# QoS ${qos}, ${shape}: after the UNSUBACK of ret/#, ${after.filter((p) => p.topic.startsWith('ret/')).length} of ret/, ${others.size} of other/`,
      );
      assert.equal(after.filter((p) => p.topic.startsWith('ret/')).length, 0, `${shape}: no retained message of ret/# after its UNSUBACK`);
      assert.equal(others.size, M, `${shape}: every retained topic of other/#`);
      assert.equal(publishes(packets).filter((p) => p.topic.startsWith('other/')).length, M, `${shape}: each of other/ once`);
      await within(10_000, `${shape}: end`, c.endAsync(true));
    }
  });
}

test('MQTT 3.1.1: an UNSUBSCRIBE ends a retained delivery held by a subscriber that stopped reading (its socket full)', async (t) => {
  // drainTimeoutMs would end it by a disconnect: not within the test
  const { broker, deps, url } = await startBroker(t, { drainTimeoutMs: 120_000 });
  // 3,000 x 8 KiB: 24 MiB, more than the loopback buffers hold
  await retainSet(broker, 3000, 8 * 1024);
  const c = await connectClient(t, url, { clientId: 'frozen', protocolVersion: 4 });
  await within(10_000, 'SUBACK of ret/#', c.subscribeAsync('ret/#', { qos: 1 }));
  // stop reading (mqtt.js pipes its socket into its parser, and a pipe resumes a source paused alone)
  const stream = c.stream as unknown as { pause(): void; unpipe(): void };
  stream.unpipe();
  stream.pause();
  // held for sure: a live QoS 0 message is dropped once the queue is at half its bound, above the
  // quarter where the retained delivery waits. One a turn of the event loop: while the socket takes
  // them, each is written and off the queue the next turn, so the queue reaches half its bound only
  // when the socket takes no more (published at once, they were dropped before)
  const DROPPED = 'gatehouse_mqtt_outbound_dropped_total';
  const live = Buffer.alloc(8 * 1024, 'l');
  for (let k = 0; (await metricValue(deps.registry, DROPPED)) === 0; k++) {
    assert.ok(k < 20_000, 'a live message dropped: the subscriber socket full');
    await within(10_000, `live ${k}`, broker.publish({ topic: 'ret/live', payload: live, qos: 0, retain: false }));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  assert.equal(await metricValue(deps.registry, DELIVERIES), 1, 'the delivery in progress, held');
  // (its UNSUBACK is not read: the client stopped reading)
  c.unsubscribe('ret/#');
  await waitUntil(async () => (await metricValue(deps.registry, DELIVERIES)) === 0, 'the delivery ended at the UNSUBSCRIBE', 10_000);
  assert.ok(
    broker.clients().some((x) => x.id === 'frozen'),
    'the subscriber is still connected',
  );
});

test('MQTT 3.1.1: a retained message comes at most at the QoS its wildcard SUBSCRIBE granted', async (t) => {
  // [MQTT-3.8.4-6]: the minimum of the message's QoS and the QoS granted. aedes lowered it only for a
  // filter that is the topic itself: a QoS 0 subscription to q/# got the message retained at 1 at 1.
  const { broker, url } = await startBroker(t);
  for (const q of [0, 1, 2] as const)
    await within(10_000, `retain q/${q}`, broker.publish({ topic: `q/${q}`, payload: Buffer.from(`at ${q}`), qos: q, retain: true }));
  for (const sub of [0, 1, 2] as const) {
    const c = await connectClient(t, url, { clientId: `qos-${sub}`, protocolVersion: 4 });
    const got = new Map<string, number>();
    const all = new Promise<void>((resolve) =>
      c.on('packetreceive', (p) => {
        if (p.cmd !== 'publish') return;
        got.set(p.topic, p.qos);
        if (got.size === 3) resolve();
      }),
    );
    await within(10_000, `SUBACK of q/# at ${sub}`, c.subscribeAsync('q/#', { qos: sub }));
    await within(10_000, `the 3 retained messages at ${sub}`, all);
    assert.deepEqual(Object.fromEntries(got), { 'q/0': 0, 'q/1': Math.min(1, sub), 'q/2': Math.min(2, sub) }, `each at the minimum of its QoS and ${sub}`);
    await within(10_000, `end ${sub}`, c.endAsync(true));
  }
});
