// The broker across wall clock steps (a Raspberry Pi has no RTC: NTP steps its clock by hours or
// years, a bad server backwards). Real mqtt.js clients; the broker gets two injected clocks: the
// wall clock, stepped a year back or forward by the test, and the monotonic clock, advanced by the
// test as time passing. Bans, the rate-limited refusal warning and MQTT 5 message expiry must
// follow the monotonic clock only; receivedAt follows the wall clock. The refusal warning's words
// (what the client was told) are checked here too, where its rate limit can be stepped past.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type IPublishPacket } from 'mqtt';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createBroker, hashPassword, type Broker, type BrokerOptionsInput } from '../../gateway/broker/index.js';
import type { Message } from '../../core/message.js';
import { GatehouseError } from '../../core/errors.js';
import { waitForEvent, waitUntil } from '../helpers/index.js';

const YEAR = 365 * 24 * 3600 * 1000;

interface Rig {
  broker: Broker;
  url: string;
  clock: { wall: number; mono: number };
  warnings: Array<Record<string, unknown>>;
  received: Message[];
}

async function startBroker(t: TestContext, options: Partial<BrokerOptionsInput>, onPublish?: (m: Message) => Promise<void> | undefined): Promise<Rig> {
  const clock = { wall: Date.UTC(2030, 0, 1), mono: 5_000 };
  const warnings: Array<Record<string, unknown>> = [];
  const received: Message[] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => warnings.push(JSON.parse(s) as Record<string, unknown>) });
  const broker = await createBroker(
    { listeners: [{ host: '127.0.0.1', port: 0 }], ...options },
    {
      logger,
      registry: new Registry(),
      now: () => clock.wall,
      monotonic: () => clock.mono,
      onPublish: (m) => {
        received.push(m);
        return onPublish?.(m);
      },
    },
  );
  await broker.start();
  t.after(() => broker.stop());
  return { broker, url: `mqtt://127.0.0.1:${broker.addresses()[0]!.port}`, clock, warnings, received };
}

/** Connect once: 'ok' on CONNACK 0, 'refused' on a refusal or a close without CONNACK. */
function tryConnect(url: string, password: string): Promise<'ok' | 'refused'> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { username: 'dev', password, reconnectPeriod: 0, connectTimeout: 5000 });
    let settled = false;
    const timer = setTimeout(() => done(undefined), 5000);
    // The first event decides (end() below emits 'close' too).
    function done(r: 'ok' | 'refused' | undefined): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      c.end(true);
      if (r) resolve(r);
      else reject(new Error('no answer to CONNECT within 5 s'));
    }
    c.once('connect', () => done('ok'));
    c.once('error', () => done('refused'));
    c.once('close', () => done('refused'));
  });
}

const banned = { maxFailures: 2, windowMs: 60_000, banMs: 60_000, maxBanMs: 60_000 };
const users = { allowAnonymous: false, users: [{ username: 'dev', password: hashPassword('secret') }], authBackoff: banned };

async function ban(rig: Rig): Promise<void> {
  assert.equal(await tryConnect(rig.url, 'wrong'), 'refused');
  assert.equal(await tryConnect(rig.url, 'wrong'), 'refused');
  assert.equal(await tryConnect(rig.url, 'secret'), 'refused', 'banned: even the right password is refused');
}

test('a ban ends after banMs of elapsed time when the wall clock steps a year back (the device is not locked out for a year)', async (t) => {
  const rig = await startBroker(t, users);
  await ban(rig);
  rig.clock.wall -= YEAR;
  rig.clock.mono += 30_000;
  assert.equal(await tryConnect(rig.url, 'secret'), 'refused', 'half the ban: still banned');
  rig.clock.mono += 30_001;
  assert.equal(await tryConnect(rig.url, 'secret'), 'ok', 'banMs elapsed: the device gets in');
});

test('a ban does not end early when the wall clock steps a year forward', async (t) => {
  const rig = await startBroker(t, users);
  await ban(rig);
  rig.clock.wall += YEAR;
  rig.clock.mono += 1_000;
  assert.equal(await tryConnect(rig.url, 'secret'), 'refused', 'a second of the ban elapsed: still banned');
  rig.clock.mono += 59_001;
  assert.equal(await tryConnect(rig.url, 'secret'), 'ok');
});

test('the refused-publish warning appears once a minute of elapsed time across wall clock steps, with the refusals it stands for; receivedAt follows the wall clock', async (t) => {
  let refused = 0;
  const rig = await startBroker(t, {}, () => {
    refused++;
    throw new Error('store refuses');
  });
  const refusals = (): number => rig.warnings.filter((w) => w.msg === 'gateway refused a client publish (no PUBACK sent)').length;
  const c = await mqtt.connectAsync(rig.url, { reconnectPeriod: 0 });
  t.after(() => c.endAsync(true));
  // QoS 0: the refusal is logged (synchronously, right after onPublish threw) and the client stays.
  const publish = async (n: number): Promise<void> => {
    c.publish('data/x', '1', { qos: 0 });
    await waitUntil(() => refused === n, `publish ${n} refused`);
  };
  await publish(1);
  assert.equal(refusals(), 1);
  // A full stream refuses every publish for as long as the upstream is down: a line a second was
  // 3,600 an hour in the journal (round 32); a minute bounds it to 60, each with the count it stands for.
  rig.clock.mono += 1_001;
  await publish(2);
  assert.equal(refusals(), 1, 'a second elapsed: still rate limited (once a minute)');
  rig.clock.wall -= YEAR;
  rig.clock.mono += 59_000;
  await publish(3);
  assert.equal(refusals(), 2, 'a minute elapsed after a step back: the next warning appears');
  const second = rig.warnings.filter((w) => w.msg === 'gateway refused a client publish (no PUBACK sent)')[1];
  assert.equal(second?.suppressed, 1, 'the warning counts the refusal it did not log');
  rig.clock.wall += 2 * YEAR;
  rig.clock.mono += 10;
  await publish(4);
  assert.equal(refusals(), 2, '10 ms elapsed after a step forward: still rate limited');
  rig.clock.mono += 60_000;
  await publish(5);
  assert.equal(refusals(), 3);
  assert.equal(rig.received.at(-1)?.receivedAt, rig.clock.wall, 'receivedAt is wall time');
});

test('the refused-publish warning says what the client was told: MQTT 5 a negative PUBACK and its reason code, 3.1.1 no PUBACK (both read "no PUBACK sent")', async (t) => {
  const rig = await startBroker(t, {}, () => Promise.reject(new GatehouseError('GH_STREAM_FULL', "local stream 'archive' is full")));
  const refusals = (): Array<Record<string, unknown>> => rig.warnings.filter((w) => String(w.msg).startsWith('gateway refused a client publish'));
  const v5 = await mqtt.connectAsync(rig.url, { protocolVersion: 5, clientId: 'dev-v5', reconnectPeriod: 0 });
  t.after(() => v5.endAsync(true));
  const refused = (await v5.publishAsync('data/x', '1', { qos: 1 }).catch((x: unknown) => x)) as { code?: number };
  assert.equal(refused?.code, 0x97, 'the v5 client got PUBACK 0x97');
  assert.equal(v5.connected, true);
  assert.deepEqual(
    refusals().map((w) => [w.msg, w.client]),
    [['gateway refused a client publish (negative PUBACK 0x97 sent)', 'dev-v5']],
  );
  rig.clock.mono += 60_001; // past the warning's rate limit
  const old = await mqtt.connectAsync(rig.url, { protocolVersion: 4, clientId: 'dev-311', reconnectPeriod: 0 });
  t.after(() => old.endAsync(true));
  const closed = waitForEvent(old, 'close');
  old.publish('data/y', '1', { qos: 1 });
  await closed;
  assert.deepEqual(refusals().map((w) => [w.msg, w.client])[1], ['gateway refused a client publish (no PUBACK sent)', 'dev-311']);
});

/** Subscribe (MQTT 5) and take the first retained message. */
async function retainedExpiry(t: TestContext, url: string, topic: string): Promise<IPublishPacket | undefined> {
  const opts: IClientOptions = { protocolVersion: 5, reconnectPeriod: 0 };
  const c = await mqtt.connectAsync(url, opts);
  t.after(() => c.endAsync(true));
  const got: IPublishPacket[] = [];
  c.on('message', (_t, _p, packet) => got.push(packet));
  await c.subscribeAsync(topic, { qos: 1 });
  // The retained message, if any, comes before the SUBACK resolves: one round trip more to be sure.
  await c.publishAsync('sync/x', 'x', { qos: 1 });
  return got.find((p) => p.topic === topic);
}

test('MQTT 5 message expiry counts elapsed time: a wall clock step neither expires a message nor extends it', async (t) => {
  const rig = await startBroker(t, {});
  const pub = await mqtt.connectAsync(rig.url, { protocolVersion: 5, reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  await pub.publishAsync('status/a', 'on', { qos: 1, retain: true, properties: { messageExpiryInterval: 100 } });
  rig.clock.wall += YEAR;
  rig.clock.mono += 10_000;
  const forward = await retainedExpiry(t, rig.url, 'status/a');
  assert.ok(forward, 'a step forward did not expire it');
  assert.equal(forward.properties?.messageExpiryInterval, 90, 'the interval counted down by the elapsed 10 s');
  rig.clock.wall -= 2 * YEAR;
  rig.clock.mono += 80_000;
  const back = await retainedExpiry(t, rig.url, 'status/a');
  assert.equal(back?.properties?.messageExpiryInterval, 10, 'a step back did not extend it');
  rig.clock.mono += 10_000;
  assert.equal(await retainedExpiry(t, rig.url, 'status/a'), undefined, '100 s elapsed: expired');
});
