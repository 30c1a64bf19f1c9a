// Months of uptime on a subscription: the packet ids of the QoS 1 messages the broker sends a
// client are 16-bit and wrap after 65,535 (13 s at 5,000 msgs/s). An id still in flight (its PUBACK
// not received) must not be given to another message: the client's PUBACK of the new one would
// settle the old one. A raw client (test/conformance/raw-client.ts) holds the PUBACK of its first
// message while acknowledging the 65,540 after it, through the real broker (its own publish, as a
// client's are held to maxPublishRatePerClient). MQTT 5 (the v5 layer skips ids in flight) and a
// 3.1.1 persistent session (aedes gave the held id again, and the new message's PUBACK cleared the
// held one from the session: at the reconnect the message never acknowledged was not sent again,
// the acknowledged one was; session-queues.ts now gives such a delivery a free id).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBroker } from '../../gateway/broker/index.js';
import { testDeps, waitUntil, withTimeout } from '../helpers/index.js';
import { RawClient } from '../conformance/raw-client.js';

const N = 65_541;

test('MQTT 5: a packet id held in flight is skipped when the ids wrap past 65,535', async (t) => {
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...testDeps(), onPublish: () => Promise.resolve() });
  await broker.start();
  t.after(() => withTimeout(broker.stop(), 10_000, 'broker stop'));
  const sub = new RawClient('held-sub', 5, 10_000);
  t.after(() => sub.terminate());
  await sub.connect('127.0.0.1', broker.addresses()[0]!.port, { clean: true });
  await sub.subscribe([{ topic: 'w/#', qos: 1 }]);
  sub.autoAck = false;
  let acked = 0;
  let next = 1; // messages[0] is held
  const ackNew = (): void => {
    for (; next < sub.messages.length; next++) {
      sub.ack(sub.messages[next]!);
      acked++;
    }
  };
  for (let i = 0; i < N; i++) {
    await withTimeout(broker.publish({ topic: `w/${i}`, payload: Buffer.from(String(i)), qos: 1, retain: false }), 10_000, `publish ${i}`);
    if (i % 500 === 0) {
      await waitUntil(() => sub.count() > i || undefined, `message ${i} delivered`, 10_000, 1);
      ackNew();
    }
  }
  await waitUntil(() => sub.count() === N || undefined, 'every message delivered', 30_000, 5);
  ackNew();
  const held = sub.messages[0]!;
  const reused = sub.messages.slice(1).filter((m) => m.messageId === held.messageId);
  assert.deepEqual(
    reused.map((m) => m.topic),
    [],
    `id ${held.messageId} (held in flight since w/0) given again`,
  );
  // The ids did wrap: every other id came round again.
  const ids = new Set(sub.messages.map((m) => m.messageId));
  assert.equal(ids.size, 65_535, 'every id in use over the run');
  assert.equal(acked, N - 1);
  assert.equal(
    sub.messages.map((m) => Number(m.payload.toString())).join(','),
    Array.from({ length: N }, (_, i) => i).join(','),
    'each message once, in order',
  );
});

test('MQTT 3.1.1 persistent session: the message held in flight across the packet id wrap is sent again at the reconnect, the ones acknowledged are not', async (t) => {
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...testDeps(), onPublish: () => Promise.resolve() });
  await broker.start();
  t.after(() => withTimeout(broker.stop(), 10_000, 'broker stop'));
  const port = broker.addresses()[0]!.port;
  const sub = new RawClient('held-sub-311', 4, 10_000);
  t.after(() => sub.terminate());
  await sub.connect('127.0.0.1', port, { clean: false });
  await sub.subscribe([{ topic: 'w/#', qos: 1 }]);
  sub.autoAck = false;
  let next = 1; // messages[0] is held
  const ackNew = (): void => {
    for (; next < sub.messages.length; next++) sub.ack(sub.messages[next]!);
  };
  for (let i = 0; i < N; i++) {
    await withTimeout(broker.publish({ topic: `w/${i}`, payload: Buffer.from(String(i)), qos: 1, retain: false }), 10_000, `publish ${i}`);
    if (i % 500 === 0) {
      await waitUntil(() => sub.count() > i || undefined, `message ${i} delivered`, 10_000, 1);
      ackNew();
    }
  }
  await waitUntil(() => sub.count() === N || undefined, 'every message delivered', 30_000, 5);
  ackNew();
  const held = sub.messages[0]!;
  assert.deepEqual(
    sub.messages
      .slice(1)
      .filter((m) => m.messageId === held.messageId)
      .map((m) => m.topic),
    [],
    `id ${held.messageId} (held in flight since w/0) given again`,
  );
  // A PUBACK round trip after the last acknowledgement: the broker has read them all.
  await sub.subscribe([{ topic: 'probe/#', qos: 0 }]);
  // The connection drops and comes back: what the session still holds is sent again.
  sub.terminate();
  sub.clear();
  sub.autoAck = true;
  const connack = await sub.connect('127.0.0.1', port, { clean: false });
  assert.equal(connack.sessionPresent, true);
  await waitUntil(() => sub.count() >= 1 || undefined, 'the held message sent again', 10_000, 5);
  await sub.subscribe([{ topic: 'probe2/#', qos: 0 }]); // after the resends
  assert.deepEqual(
    sub.messages.map((m) => m.topic),
    ['w/0'],
    'the held message again, and none of those acknowledged',
  );
});
