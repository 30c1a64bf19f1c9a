// gateway/broker/sys-topics.ts alone: the rounds it publishes (names and values from BrokerStats),
// mosquitto's load averages, and the subscriber's round held to one a second. The publish is a
// test double (an array): the broker's internal publish is tested in
// test/integration/broker-sys-topics.test.ts with real clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BrokerStats } from '../../gateway/broker/metrics.js';
import { startSysTopics } from '../../gateway/broker/sys-topics.js';
import type { BrokerPublishPacket } from '../../gateway/broker/internal-bus.js';
import { waitUntil } from '../helpers/index.js';

function rig(intervalSec: number) {
  const stats = new BrokerStats();
  const sent: BrokerPublishPacket[] = [];
  let mono = 1_000_000;
  const sys = startSysTopics(intervalSec, {
    stats,
    publish: async (p) => {
      sent.push(p);
    },
    version: 'gatehouse 1.2.3',
    monotonic: () => mono,
    onError: (err) => assert.fail(String(err)),
  });
  const figures = (): Map<string, string> => new Map(sent.map((p) => [p.topic.slice('$SYS/broker/'.length), p.payload.toString()]));
  return {
    stats,
    sent,
    sys,
    figures,
    advance: (ms: number) => {
      mono += ms;
    },
  };
}

test('a round names every figure as mosquitto does, with the counters of BrokerStats, at QoS 0 and not retained', (t) => {
  const r = rig(10);
  t.after(() => r.sys.stop());
  r.stats.clients = 3;
  r.stats.messagesIn[0] = 5;
  r.stats.messagesIn[1] = 7;
  r.stats.messagesOut = 11;
  r.stats.bytesIn = 1234;
  r.stats.retainedMessages = 2;
  r.stats.outboundDropped = 1;
  r.stats.offlineDropped = 4;
  r.advance(42_000);
  r.sys.subscribed();
  const f = r.figures();
  assert.equal(f.get('version'), 'gatehouse 1.2.3');
  assert.equal(f.get('uptime'), '42 seconds');
  assert.equal(f.get('clients/connected'), '3');
  assert.equal(f.get('clients/maximum'), '3');
  assert.equal(f.get('messages/received'), '12');
  assert.equal(f.get('publish/messages/received'), '12');
  assert.equal(f.get('messages/sent'), '11');
  assert.equal(f.get('publish/messages/dropped'), '5');
  assert.equal(f.get('bytes/received'), '1234');
  assert.equal(f.get('retained messages/count'), '2');
  assert.equal(f.get('load/messages/received/1min'), '0.00');
  assert.ok(r.sent.every((p) => p.qos === 0 && !p.retain));
  // The maximum is kept when clients leave.
  r.stats.clients = 1;
  r.advance(1000);
  r.sys.subscribed();
  assert.equal(r.figures().get('clients/maximum'), '3');
});

test("a subscriber's round within a second of the last comes once the second is over, one for all of them", async (t) => {
  const r = rig(3600);
  t.after(() => r.sys.stop());
  r.sys.subscribed();
  const first = r.sent.length;
  assert.ok(first > 10);
  r.advance(300);
  r.sys.subscribed();
  r.sys.subscribed();
  assert.equal(r.sent.length, first, 'not at once');
  // The timer waits out the rest of the second on the real clock; then one round for both.
  await waitUntil(() => r.sent.length >= 2 * first || undefined, 'the held round', 3000);
  assert.equal(r.sent.length, 2 * first, 'one round for both');
});

test('0 seconds: no round, ever', (t) => {
  const r = rig(0);
  t.after(() => r.sys.stop());
  r.sys.subscribed();
  assert.equal(r.sent.length, 0);
});
