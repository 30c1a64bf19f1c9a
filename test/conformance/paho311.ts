// The 10 tests of the Eclipse Paho MQTT 3.1.1 interoperability suite (paho.mqtt.testing,
// interoperability/client_test.py), ported like paho5.ts.
import { assert, fails, quiet, waitFor, type ConformanceTest, type Ctx } from './harness.js';
import { pahoCommonTests } from './paho-common.js';

const sub = (topic: string, qos: 0 | 1 | 2 = 2) => ({ topic, qos });
type C = ReturnType<Ctx['client']>;
const connect = (ctx: Ctx, c: C, opts: Parameters<C['connect']>[2] = {}) => c.connect(ctx.target.host, ctx.target.port, opts);

const common = pahoCommonTests(sub);

export const paho311Tests: Record<string, ConformanceTest> = {
  async basic(ctx) {
    const a = ctx.client('a');
    await connect(ctx, a);
    await a.disconnect();
    const connack = await connect(ctx, a);
    assert(!connack.sessionPresent, 'session present');
    await a.subscribe([sub(ctx.topics[0]!)]);
    await a.publish(ctx.topics[0]!, 'qos 0');
    await a.publish(ctx.topics[0]!, 'qos 1', 1);
    await a.publish(ctx.topics[0]!, 'qos 2', 2);
    await waitFor(() => a.count() >= 3, 2000);
    await a.disconnect();
    assert(a.count() === 3, `expected 3, got ${a.count()}`);
    await connect(ctx, a);
    assert(await fails(a.sendConnect()), 'a second CONNECT was accepted');
    assert(await fails(connect(ctx, a, { protocolId: 'hj' })), 'a wrong protocol name was accepted');
  },

  async retained_messages(ctx) {
    const a = ctx.client('a');
    let connack = await connect(ctx, a, { clean: true });
    assert(!connack.sessionPresent, 'session present');
    await a.publish(ctx.topics[1]!, 'qos 0', 0, { retain: true });
    await a.publish(ctx.topics[2]!, 'qos 1', 1, { retain: true });
    await a.publish(ctx.topics[3]!, 'qos 2', 2, { retain: true });
    await a.subscribe([sub(ctx.wild[5]!)]);
    await waitFor(() => a.count() >= 3, 1000);
    await a.disconnect();
    assert(a.count() === 3, `expected 3 retained, got ${a.count()}`);
    a.clear();
    connack = await connect(ctx, a, { clean: true });
    assert(!connack.sessionPresent, 'session present');
    await a.publish(ctx.topics[1]!, '', 0, { retain: true });
    await a.publish(ctx.topics[2]!, '', 1, { retain: true });
    await a.publish(ctx.topics[3]!, '', 2, { retain: true });
    await a.subscribe([sub(ctx.wild[5]!)]);
    await quiet(500);
    await a.disconnect();
    assert(a.count() === 0, `retained messages not cleared: ${a.count()}`);
  },

  async zero_length_clientid(ctx) {
    const c = ctx.client('');
    assert(await fails(connect(ctx, c, { clean: false })), 'zero-length id with clean session 0 was accepted');
    await connect(ctx, c, { clean: true });
    await c.disconnect();
  },

  async offline_message_queueing(ctx) {
    const a = ctx.client('a');
    const b = ctx.client('b');
    await connect(ctx, a, { clean: false });
    await a.subscribe([sub(ctx.wild[5]!)]);
    await a.disconnect();
    const cb = await connect(ctx, b, { clean: true });
    assert(!cb.sessionPresent, 'session present for b');
    await b.publish(ctx.topics[1]!, 'qos 0', 0);
    await b.publish(ctx.topics[2]!, 'qos 1', 1);
    await b.publish(ctx.topics[3]!, 'qos 2', 2);
    await b.disconnect();
    const ca = await connect(ctx, a, { clean: false });
    assert(ca.sessionPresent, 'no session present for a');
    await waitFor(() => a.count() >= 3, 2000);
    await a.disconnect();
    assert([2, 3].includes(a.count()), `expected 2 or 3 queued, got ${a.count()}`);
    await connect(ctx, a, { clean: true }); // end the persistent session
    await a.disconnect();
  },

  overlapping_subscriptions: common.overlapping_subscriptions,

  async keepalive(ctx) {
    const a = ctx.client('a');
    const b = ctx.client('b');
    await connect(ctx, a, { clean: true, keepalive: 5, will: { topic: ctx.topics[4]!, payload: Buffer.from('keepalive expiry'), qos: 0, retain: false } });
    await connect(ctx, b, { clean: true, keepalive: 0 });
    await b.subscribe([sub(ctx.topics[4]!)]);
    await waitFor(() => b.count() >= 1, 15_000);
    await b.disconnect();
    assert(b.count() === 1, `expected the will, got ${b.count()}`);
  },

  async redelivery_on_reconnect(ctx) {
    const b = ctx.client('b');
    await connect(ctx, b, { clean: false });
    await b.subscribe([sub(ctx.wild[6]!)]);
    b.paused = true;
    await b.publish(ctx.topics[1]!, '', 1, { waitAck: false });
    await b.publish(ctx.topics[3]!, '', 2, { waitAck: false });
    await quiet(500);
    await b.disconnect();
    assert(b.count() === 0, 'messages arrived while paused');
    b.paused = false;
    await connect(ctx, b, { clean: false });
    await waitFor(() => b.count() >= 2, 3000);
    assert(b.count() === 2, `expected 2 redelivered, got ${b.count()}`);
    await b.disconnect();
    await connect(ctx, b, { clean: true });
    await b.disconnect();
  },

  subscribe_failure: common.subscribe_failure,

  dollar_topics: common.dollar_topics,

  async unsubscribe(ctx) {
    const a = ctx.client('a');
    const b = ctx.client('b');
    await connect(ctx, b, { clean: true });
    await b.subscribe([sub(ctx.topics[0]!)]);
    await b.subscribe([sub(ctx.topics[1]!)]);
    await b.subscribe([sub(ctx.topics[2]!)]);
    await b.unsubscribe([ctx.topics[0]!]);
    await connect(ctx, a, { clean: true });
    await a.publish(ctx.topics[0]!, '', 1);
    await a.publish(ctx.topics[1]!, '', 1);
    await a.publish(ctx.topics[2]!, '', 1);
    await waitFor(() => b.count() >= 2, 2000);
    await quiet(200);
    await b.disconnect();
    await a.disconnect();
    assert(b.count() === 2, `expected 2, got ${b.count()}`);
  },
};
