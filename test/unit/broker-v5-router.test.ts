// The MQTT 5 session file's write rate, and the MQTT 5 router's filter index (gateway/broker/v5/topic-trie.ts): it matches exactly what
// matchTopic matches, keeps the order filters were subscribed in, and routing does not grow with
// the number of subscriptions on the broker (broker audit: it scanned every filter per message).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Aedes } from 'aedes';
import { matchTopic } from '../../core/topic-filter.js';
import { TopicTrie } from '../../gateway/broker/v5/topic-trie.js';
import { V5Router, type RoutedPacket } from '../../gateway/broker/v5/router.js';
import { Session, SessionStore, type OutMsg, type SubEntry } from '../../gateway/broker/v5/session.js';
import { SessionFile } from '../../gateway/broker/v5/session-file.js';
import { join } from 'node:path';
import pino from 'pino';
import { clocksOf } from '../../core/clock.js';
import { tempDir, waitUntil } from '../helpers/index.js';
import { mulberry32 } from '../helpers/prng.js';

function entry(filter: string, opts: Partial<SubEntry> = {}): SubEntry {
  const shared = /^\$share\/([^/]+)\/(.*)$/.exec(filter);
  const topicFilter = shared ? shared[2]! : filter;
  return { filter, topicFilter, levels: topicFilter.split('/'), share: shared?.[1], qos: 1, nl: false, rap: false, rh: 0, id: undefined, ...opts };
}

function router(): { r: V5Router; got: Array<[string, OutMsg]> } {
  const got: Array<[string, OutMsg]> = [];
  const aedes = { subscribe: () => undefined, unsubscribe: () => undefined } as unknown as Aedes;
  const r = new V5Router({ aedes, deliver: (s, m) => got.push([s.clientId, m]), monotonic: () => performance.now() });
  return { r, got };
}

const publish = (topic: string): RoutedPacket => ({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, retain: false, dup: false });

test('TopicTrie matches what matchTopic matches, for random filters and topics (seed 7)', () => {
  const rnd = mulberry32(7);
  const words = ['a', 'b', '', '$SYS', '$x', 'c'];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const filters = new Set<string>(['#', '+', '+/#', '$SYS/#', 'a/#', 'a/+', '/+', '+/+/+']);
  for (let i = 0; i < 300; i++) {
    const n = 1 + Math.floor(rnd() * 4);
    const lv = Array.from({ length: n }, (_, j) => (j === n - 1 && rnd() < 0.2 ? '#' : rnd() < 0.3 ? '+' : pick(words)));
    filters.add(lv.join('/'));
  }
  const trie = new TopicTrie<string>();
  for (const f of filters) trie.set(f.split('/'), f);
  for (let i = 0; i < 2000; i++) {
    const topic = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => pick(words)).join('/');
    const want = [...filters].filter((f) => matchTopic(f.split('/'), topic)).sort();
    const got: string[] = [];
    trie.match(topic, (f) => got.push(f));
    assert.deepEqual(got.sort(), want, `topic '${topic}'`);
  }
  // deleting prunes, and leaves the others matching
  for (const f of filters) if (f !== 'a/#') trie.delete(f.split('/'));
  const left: string[] = [];
  trie.match('a/b', (f) => left.push(f));
  assert.deepEqual(left, ['a/#']);
});

test('V5Router: subscription identifiers of overlapping filters come in subscription order; unsubscribed filters stop matching', () => {
  const { r, got } = router();
  const s = new Session('c1');
  const e1 = entry('x/+/z', { id: 3 });
  const e2 = entry('x/#', { id: 1 });
  const e3 = entry('x/y/z', { id: 2 });
  for (const e of [e1, e2, e3]) r.add(s, e);
  r.route(publish('x/y/z'));
  assert.deepEqual(got[0]?.[1].subIds, [3, 1, 2]);
  r.remove(s, e2);
  r.route(publish('x/y/z'));
  assert.deepEqual(got[1]?.[1].subIds, [3, 2]);
  r.remove(s, e1);
  r.remove(s, e3);
  r.route(publish('x/y/z'));
  assert.equal(got.length, 2);
});

test('V5Router: $share groups get one member each, alongside plain subscribers', () => {
  const { r, got } = router();
  const a = new Session('a');
  const b = new Session('b');
  const c = new Session('c');
  r.add(a, entry('$share/g/t/#'));
  r.add(b, entry('$share/g/t/#'));
  r.add(c, entry('$share/h/t/+'));
  r.add(c, entry('t/1'));
  for (let i = 0; i < 4; i++) r.route(publish('t/1'));
  const to = got.map(([id]) => id);
  assert.equal(to.filter((x) => x === 'c').length, 4, 'c: group h and its plain subscription, one message each time');
  assert.equal(to.filter((x) => x === 'a').length + to.filter((x) => x === 'b').length, 4, 'group g: one of a, b each time');
  assert.ok(to.includes('a') && to.includes('b'), 'round robin');
});

test('V5Router: routing among 20,000 subscriptions of 10,000 sessions costs no more than among a few', () => {
  const { r, got } = router();
  for (let i = 0; i < 10_000; i++) {
    const s = new Session(`dev${i}`);
    r.add(s, entry(`devices/dev${i}/cmd`));
    r.add(s, entry(`devices/dev${i}/config/#`));
  }
  const t0 = performance.now();
  for (let i = 0; i < 2000; i++) r.route(publish(`fleet/t${i % 50}/engine`));
  r.route(publish('devices/dev42/config/a'));
  const ms = performance.now() - t0;
  assert.deepEqual(
    got.map(([id]) => id),
    ['dev42'],
  );
  // a scan of every filter took ~2 ms a message here (4.4 s for these 2,000); the index ~1 us
  assert.ok(ms < 1000, `2,001 messages routed in ${ms.toFixed(0)} ms`);
});

test('SessionStore: a message queued for an offline session with 600 queued costs its own line, not a rewrite of the 1.6 MB file', async (t) => {
  const dir = await tempDir(t);
  let file: SessionFile | undefined;
  const store = new SessionStore({
    persistence: (map) =>
      (file = new SessionFile(join(dir, 'mqtt5-sessions.json'), map, { log: pino({ level: 'silent' }), clocks: clocksOf({}), flushDelayMs: 0 })),
    log: pino({ level: 'silent' }),
    clocks: clocksOf({}),
    onExpire: () => undefined,
  });
  t.after(() => store.close());
  await store.load();
  const written = file!.journal.written;
  const s = store.create('offline-dev');
  s.expiryInterval = 3600;
  const msg = (): OutMsg => ({
    topic: 't',
    payload: Buffer.alloc(2048, 1),
    qos: 1,
    retain: false,
    properties: undefined,
    expiresAt: undefined,
    subIds: undefined,
  });
  for (let i = 0; i < 600; i++) s.enqueue(msg());
  store.changed(s);
  // the first batch (1.6 MB) is over 2x the last snapshot (empty): a snapshot of 1.6 MB follows
  await waitUntil(() => written.batches === 1 && written.snapshots === 2, 'the first batch and its compaction');
  const before = written.bytes;
  assert.ok(before > 3_200_000, `the session is ~1.6 MB, written twice (${before})`);
  // a trickle of 20 messages, each written on its own
  for (let n = 0; n < 20; n++) {
    s.enqueue(msg());
    store.changed(s);
    await waitUntil(() => written.batches === n + 2, `batch ${n + 2}`);
  }
  const per = (written.bytes - before) / 20;
  // every save rewrote the whole 1.6 MB before (paced to ~512 KiB/s); now one line of ~2.8 KB
  assert.ok(per < 3000, `${per} bytes written per message`);
});
