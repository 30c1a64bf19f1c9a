// The per-client publish budget (gateway/broker/rate-limit.ts): the token bucket's arithmetic and
// the throttle bookkeeping (counters, one warning per client per minute, a global cap).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { Client } from 'aedes';
import { ConnState } from '../../gateway/broker/connection.js';
import { BrokerStats } from '../../gateway/broker/metrics.js';
import { brokerOptionsSchema } from '../../gateway/broker/options.js';
import {
  createThrottleNotes,
  MAX_LOGS_PER_INTERVAL,
  MAX_WAIT_MS,
  MIN_WAIT_MS,
  PublishBucket,
  publishRateLimits,
  publishRateLimitsByUser,
} from '../../gateway/broker/rate-limit.js';

test('defaults: 1,000 publishes/s and 1 MiB/s per client with a 3 s burst; both 0: no limit', () => {
  const o = brokerOptionsSchema.parse({});
  assert.deepEqual(publishRateLimits(o), { msgsPerSec: 1000, bytesPerSec: 1024 * 1024, burstSeconds: 3 });
  assert.equal(publishRateLimits(brokerOptionsSchema.parse({ maxPublishRatePerClient: 0, maxPublishBytesPerSecPerClient: 0 })), undefined);
  assert.throws(() => brokerOptionsSchema.parse({ maxPublishRatePerClient: -1 }));
});

test("users[] override the limits for their connections; others get the broker's", () => {
  const hash = 'scrypt$16384$8$1$c2FsdA==$aGFzaA==';
  const o = brokerOptionsSchema.parse({
    maxPublishRatePerClient: 100,
    users: [
      { username: 'bridge', password: hash, maxPublishRatePerClient: 0, maxPublishBytesPerSecPerClient: 0 },
      { username: 'fast', password: hash, maxPublishRatePerClient: 5000 },
      { username: 'plain', password: hash },
    ],
  });
  const of = publishRateLimitsByUser(o);
  assert.equal(of('bridge'), undefined, 'both 0: no limit');
  assert.deepEqual(of('fast'), { msgsPerSec: 5000, bytesPerSec: 1024 * 1024, burstSeconds: 3 });
  assert.deepEqual(of('plain'), { msgsPerSec: 100, bytesPerSec: 1024 * 1024, burstSeconds: 3 });
  assert.deepEqual(of(undefined), of('plain'));
});

test('the bucket lets a burst through, then the rate', () => {
  const b = new PublishBucket({ msgsPerSec: 100, bytesPerSec: 0, burstSeconds: 2 }, 0);
  let n = 0;
  while (b.take(10, 0)) n++;
  assert.equal(n, 200, 'the burst: 2 s of 100/s');
  assert.ok(b.waitMs() >= MIN_WAIT_MS && b.waitMs() <= MAX_WAIT_MS);
  // one second later: 100 more, no more
  n = 0;
  while (b.take(10, 1000)) n++;
  assert.ok(n >= 99 && n <= 101, String(n));
  // a long idle time refills to the burst only
  n = 0;
  while (b.take(10, 1_000_000)) n++;
  assert.equal(n, 200);
});

test('a publish larger than the byte burst passes, and its debt is waited off', () => {
  const b = new PublishBucket({ msgsPerSec: 0, bytesPerSec: 1000, burstSeconds: 1 }, 0);
  assert.ok(b.take(5000, 0), 'the budget was above zero: it passes');
  assert.equal(b.take(1, 0), false);
  assert.equal(b.waitMs(), MAX_WAIT_MS, 'waits in steps of at most MAX_WAIT_MS');
  assert.equal(b.take(1, 3999), false, '4 s of debt: still waiting');
  assert.ok(b.take(1, 4002));
});

test('no limit on a dimension: only the other one counts', () => {
  const b = new PublishBucket({ msgsPerSec: 10, bytesPerSec: 0, burstSeconds: 1 }, 0);
  for (let i = 0; i < 10; i++) assert.ok(b.take(100 * 1024 * 1024, 0));
  assert.equal(b.take(0, 0), false);
});

test('throttle notes: counted, one warning per client per minute, at most 10 a minute overall', () => {
  const lines: Array<{ client: string; otherClientsNotLogged?: number }> = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const stats = new BrokerStats();
  const notes = createThrottleNotes(stats, log);
  const st = (id: string): ConnState => new ConnState({ id } as Client, 'mqtt', '127.0.0.1');
  const a = st('a');
  notes.started(a, 0);
  assert.equal(stats.clientsThrottled, 1);
  notes.tick(a, 500);
  notes.ended(a, 700);
  assert.equal(stats.clientsThrottled, 0);
  assert.equal(stats.throttledMs, 700);
  assert.equal(a.throttledMs, 700);
  notes.started(a, 1000);
  notes.ended(a, 1100);
  assert.equal(stats.throttles, 2);
  assert.equal(lines.length, 1, 'the same client again within the minute: not logged');
  // many clients: the global cap
  const many = Array.from({ length: 30 }, (_, i) => st(`c${i}`));
  for (const c of many) notes.started(c, 2000);
  assert.equal(lines.length, MAX_LOGS_PER_INTERVAL, 'at most 10 a minute');
  // the next minute: the count of those not told comes with the next line
  notes.started(a, 61_000);
  assert.equal(lines.length, MAX_LOGS_PER_INTERVAL + 1);
  assert.equal(lines.at(-1)!.client, 'a');
  assert.equal(lines.at(-1)!.otherClientsNotLogged, 30 - (MAX_LOGS_PER_INTERVAL - 1));
});
