// The cases the Paho MQTT 3.1.1 and MQTT 5 interoperability suites have in the same steps and
// assertions (client_test.py and client_test5.py), written once: each suite passes the SUBSCRIBE
// entry of its version (MQTT 5's carries its subscription options).
import type { ISubscription } from 'mqtt-packet';
import { assert, quiet, waitFor, type ConformanceTest, type Ctx } from './harness.js';

type Sub = (topic: string, qos?: 0 | 1 | 2) => ISubscription;
const connect = (ctx: Ctx, c: ReturnType<Ctx['client']>, opts: Parameters<ReturnType<Ctx['client']>['connect']>[2] = {}) =>
  c.connect(ctx.target.host, ctx.target.port, opts);

export function pahoCommonTests(sub: Sub): Record<'overlapping_subscriptions' | 'subscribe_failure' | 'dollar_topics', ConformanceTest> {
  return {
    async overlapping_subscriptions(ctx) {
      const a = ctx.client('a');
      await connect(ctx, a);
      await a.subscribe([sub(ctx.wild[6]!, 2), sub(ctx.wild[0]!, 1)]);
      await a.publish(ctx.topics[3]!, 'overlapping topic filters', 2);
      await waitFor(() => a.count() >= 2, 1000);
      const q = a.messages.map((m) => m.qos).sort();
      assert(a.count() === 1 ? q[0] === 2 : a.count() === 2 && q[0] === 1 && q[1] === 2, `got qos ${q}`);
      await a.disconnect();
    },

    async subscribe_failure(ctx) {
      const a = ctx.client('a');
      await connect(ctx, a);
      const ack = await a.subscribe([sub(ctx.target.noSubscribe)]);
      assert(ack.granted[0] === 0x80, `SUBACK ${JSON.stringify(ack.granted)}`);
      await a.disconnect();
    },

    async dollar_topics(ctx) {
      const b = ctx.client('b');
      await connect(ctx, b, { clean: true, keepalive: 0 });
      await b.subscribe([sub(ctx.wild[5]!)]);
      await quiet(200);
      b.clear();
      await b.publish(`$${ctx.topics[1]!}`, '', 1).catch(() => undefined);
      await quiet(200);
      assert(b.count() === 0, 'a wildcard subscription received a $ topic');
      await b.disconnect();
    },
  };
}
