// The control channel's client error while its broker is down or refuses it: the first failure is
// logged at once with its reason and the option to check (control.upstream.url), then one line a
// minute per error with the count since (`suppressed`), on the injected monotonic clock
// (core/rate-log.ts, as the MQTT bridge's). Before round 33: a line per failed reconnect, once a
// minute only because of the default reconnectMaxMs (720 an hour at reconnectMaxMs 5000).
// Real mqtt.js client (upstreamChannel) against real sockets: a port nothing listens on, and a TCP
// server that resets each connection (a broker's host up, the broker gone, a firewall's RST); the
// clock is a counter the test moves as the attempts come, so no test waits a minute. Also bounded
// so (round 34): 'control channel offline', which came at every failed reconnect, and 'control
// handler threw', at every message (real mosquitto).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { upstreamChannel } from '../../gateway/control/channel.js';
import { controlUpstreamSchema } from '../../gateway/control/options.js';
import { capturedLogger } from '../helpers/industrial.js';
import { freePort, needBinary, testDeps, waitUntil } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import mqtt from 'mqtt';

type Line = { msg: string; err?: string; hint?: string; url?: string; suppressed?: number };

test('control broker not listening: the first failure is logged at once, with the reason and control.upstream.url to check', async (t) => {
  const port = await freePort(t);
  const { logger, lines } = capturedLogger();
  const channel = upstreamChannel(controlUpstreamSchema.parse({ url: `mqtt://127.0.0.1:${port}`, reconnectMinMs: 100, reconnectMaxMs: 1000 }), {
    ...testDeps(),
    logger,
    gatewayId: 'gw-log',
  });
  await channel.start();
  t.after(() => channel.stop());
  const first = (await waitUntil(() => lines.find((l) => l.msg === 'control channel error'), 'the first error line', 5000)) as Line;
  assert.match(first.err ?? '', /ECONNREFUSED/);
  assert.equal(first.url, `mqtt://127.0.0.1:${port}`);
  assert.match(first.hint ?? '', /check control\.upstream\.url \(scheme, host, port\) and that the control broker runs there/);
});

test('control broker resetting every attempt: one error line a minute, the next with the attempts it stands for', async (t) => {
  const clock = { t: 5_000_000 };
  const start = clock.t;
  let attempts = 0;
  const server = createServer((socket: Socket) => {
    // each attempt 11 s later on the gateway's clock: 6 of them within a minute
    clock.t = start + 11_000 * attempts++;
    socket.resetAndDestroy();
  });
  const port = await freePort(t);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { logger, lines } = capturedLogger();
  const channel = upstreamChannel(controlUpstreamSchema.parse({ url: `mqtt://127.0.0.1:${port}`, reconnectMinMs: 100, reconnectMaxMs: 1000 }), {
    ...testDeps(),
    logger,
    monotonic: () => clock.t,
    gatewayId: 'gw-log',
  });
  await channel.start();
  t.after(() => channel.stop());
  const errors = (): Line[] => lines.filter((l) => l.msg === 'control channel error');
  // 8 attempts: at 0, 11, ... 77 s; logged at 0 and at 66 s (a minute after the first line)
  await waitUntil(() => attempts >= 8 && errors().length >= 2, '8 attempts', 20_000);
  await waitUntil(() => attempts >= 9, 'a 9th attempt (the 8th error handled)', 20_000);
  const said = errors().filter((l) => /ECONNRESET/.test(l.err ?? ''));
  assert.equal(said.length, 2, `${attempts} attempts: ${JSON.stringify(errors())}`);
  assert.equal(said[0]?.suppressed, undefined);
  assert.equal(said[1]?.suppressed, 5);
});

test("two gateways with one control client id on mosquitto (the session taken at each connect): 'control channel offline' once a minute per gateway, the next with the count", {
  skip: needBinary('mosquitto', 'mosquitto'),
}, async (t) => {
  const broker = await startMosquitto(t);
  const clock = { t: 9_000_000 };
  const { logger, lines } = capturedLogger('info');
  // 'offline' comes once per connection lost (mqtt.js), so at every session taken over
  const opts = controlUpstreamSchema.parse({ url: broker.url, clientId: 'gatehouse-control-shared', reconnectMinMs: 100, reconnectMaxMs: 1000 });
  const channels = ['a', 'b'].map((n) =>
    upstreamChannel(opts, { ...testDeps(), logger: logger.child({ gw: n }), monotonic: () => clock.t, gatewayId: 'gw-shared' }),
  );
  for (const c of channels) {
    await c.start();
    t.after(() => c.stop());
  }
  const connects = (): number => lines.filter((l) => l.msg === 'control channel connected').length;
  const offline = (): Line[] => lines.filter((l) => l.msg === 'control channel offline') as Line[];
  await waitUntil(() => connects() >= 8 || undefined, '8 connects, each taking the session from the other', 30_000);
  assert.ok(offline().length <= 2, `${connects()} connects, ${offline().length} offline lines (one per gateway at most)`);
  clock.t += 60_000;
  const seen = connects();
  await waitUntil(() => (connects() >= seen + 2 && offline().length > 2) || undefined, 'a line a minute later', 30_000);
  const later = offline().slice(2);
  assert.ok(
    later.some((l) => (l.suppressed ?? 0) >= 1),
    JSON.stringify(later),
  );
});

test('a control handler that throws at every message: one error line a minute, the next with the count', {
  skip: needBinary('mosquitto', 'mosquitto'),
}, async (t) => {
  const broker = await startMosquitto(t);
  const clock = { t: 1_000 };
  const { logger, lines } = capturedLogger();
  const channel = upstreamChannel(controlUpstreamSchema.parse({ url: broker.url }), {
    ...testDeps(),
    logger,
    monotonic: () => clock.t,
    gatewayId: 'gw-throws',
  });
  let calls = 0;
  channel.subscribe('gatehouse/gw-throws/rules/set', () => {
    calls++;
    throw new Error('a bug');
  });
  await channel.start();
  t.after(() => channel.stop());
  await waitUntil(() => channel.connected() || undefined, 'connected', 10_000);
  const office = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.after(() => office.endAsync(true));
  // (subscribed once a first message arrives)
  await waitUntil(
    async () => {
      await office.publishAsync('gatehouse/gw-throws/rules/set', 'x', { qos: 1 });
      return calls > 0 || undefined;
    },
    'the subscription',
    10_000,
    100,
  );
  const sent = calls;
  for (let i = 0; i < 40; i++) await office.publishAsync('gatehouse/gw-throws/rules/set', 'x', { qos: 1 });
  await waitUntil(() => calls >= sent + 40 || undefined, '40 more messages handled', 10_000);
  const threw = (): Line[] => lines.filter((l) => l.msg === 'control handler threw') as Line[];
  assert.equal(threw().length, 1, `${calls} messages`);
  clock.t += 60_000;
  await office.publishAsync('gatehouse/gw-throws/rules/set', 'x', { qos: 1 });
  await waitUntil(() => threw().length === 2 || undefined, 'the line a minute later', 10_000);
  assert.equal(threw()[1]!.suppressed, calls - 2);
});
