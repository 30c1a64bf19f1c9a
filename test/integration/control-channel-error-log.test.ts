// The control channel's client error while its broker is down or refuses it: the first failure is
// logged at once with its reason and the option to check (control.upstream.url), then one line a
// minute per error with the count since (`suppressed`), on the injected monotonic clock
// (core/rate-log.ts, as the MQTT bridge's). Before round 33: a line per failed reconnect, once a
// minute only because of the default reconnectMaxMs (720 an hour at reconnectMaxMs 5000).
// Real mqtt.js client (upstreamChannel) against real sockets: a port nothing listens on, and a TCP
// server that resets each connection (a broker's host up, the broker gone, a firewall's RST); the
// clock is a counter the test moves as the attempts come, so no test waits a minute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { upstreamChannel } from '../../gateway/control/channel.js';
import { controlUpstreamSchema } from '../../gateway/control/options.js';
import { capturedLogger } from '../helpers/industrial.js';
import { freePort, testDeps, waitUntil } from '../helpers/index.js';

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
