// The broker on an IPv6 site, with real clients: listeners on ::1 and on :: (dual stack), and the
// addresses it keys security on. Skips only where the machine has no IPv6 loopback or no dual stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createBroker, hashPassword } from '../../gateway/broker/index.js';
import type { Message } from '../../core/message.js';
import { metricValue, tempDir, withTimeout } from '../helpers/index.js';
import { checkConfigFile, checkConfigText } from '../helpers/check-config.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { connectPacket } from '../helpers/mqtt-raw.js';
import { noDualStack, noIpv6Loopback } from '../helpers/ipv6.js';

const noV6 = await noIpv6Loopback();
const noDual = noV6 ?? (await noDualStack());

/** A raw MQTT 3.1.1 CONNECT from `localAddress`: the CONNACK's return code, or 'closed' when the broker closed first. */
async function connackFrom(port: number, host: string, localAddress: string, username: string, password: string): Promise<number | 'closed'> {
  const s = netConnect({ port, host, localAddress });
  s.on('error', () => undefined);
  let got = Buffer.alloc(0);
  s.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
  const closed = once(s, 'close');
  await Promise.race([once(s, 'connect'), closed]);
  s.write(connectPacket(`c-${Math.random().toString(36).slice(2)}`, { username, password }));
  try {
    return await withTimeout(
      (async () => {
        while (got.length < 4 && !s.destroyed) await Promise.race([once(s, 'data'), closed]);
        return got.length >= 4 && got[0] === 0x20 ? got[3]! : ('closed' as const);
      })(),
      5000,
      'a CONNACK or the close',
    );
  } finally {
    s.destroy();
  }
}

test("listeners and the admin API on '[::1]' (an IPv6 address in brackets, as in a URL) start as check-config said; MQTT 3.1.1 and 5 over [::1]; clients listed by their IPv6 address", {
  skip: noV6,
}, async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nbroker: { listeners: [{ host: '[::1]', port: 0 }] }\nadmin: { host: '[::1]', port: 0 }\n`,
  );
  const check = await checkConfigFile(config);
  assert.equal(check.code, 0, `check-config: ${check.out}${check.err}`);
  // before: check-config OK, then start: "GH_BROKER_LISTEN: cannot listen on [::1]:0: ENOTFOUND"
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const started = gw.logs.find((l) => l.msg === 'gatehouse started')!;
  assert.deepEqual(
    (started.mqtt as Array<{ host: string }>).map((l) => l.host),
    ['::1'],
  );
  for (const protocolVersion of [4, 5] as const) {
    const c = await mqtt.connectAsync(`mqtt://[::1]:${gw.mqttPort}`, { protocolVersion, reconnectPeriod: 0, clientId: `v6-${protocolVersion}` });
    t.after(() => c.endAsync(true));
    await c.publishAsync('fleet/v6/engine', JSON.stringify({ v: protocolVersion }), { qos: 1 });
  }
  const res = await fetch(`http://[::1]:${gw.adminPort}/api/clients`);
  assert.equal(res.status, 200);
  const { clients } = (await res.json()) as { clients: Array<{ id: string; ip: string; protocolVersion: number }> };
  assert.deepEqual(
    clients
      .filter((c) => c.id.startsWith('v6-'))
      .map((c) => [c.id, c.ip])
      .sort(),
    [
      ['v6-4', '::1'],
      ['v6-5', '::1'],
    ],
  );
});

test('a listener host with a port in it is refused by check-config, saying where the port goes', async (t) => {
  for (const [host, want] of [
    ['[::1]:1883', "write host: '::1' and port: 1883"],
    ['0.0.0.0:1883', "write host: '0.0.0.0' and port: 1883"],
    ['[fd00::2', 'not an IPv4 or IPv6 address'],
  ] as const) {
    const r = await checkConfigText(t, `broker: { listeners: [{ host: '${host}', port: 1883 }] }\nadmin: { enabled: false }\n`);
    assert.equal(r.code, 1, host);
    assert.match(r.err + r.out, /broker\.listeners\.0\.host/, host);
    assert.ok((r.err + r.out).includes(want), `${host}: ${r.err}${r.out}`);
  }
});

test("an IPv4 client on a dual-stack '::' listener is known by its IPv4 address: clients(), sourceip(), and an address ban taken on either listener holds on the other", {
  skip: noDual,
}, async (t) => {
  const registry = new Registry();
  const sources: Array<Message['source']> = [];
  const broker = await createBroker(
    {
      listeners: [
        { name: 'v4', host: '127.0.0.1', port: 0 },
        { name: 'dual', host: '::', port: 0 },
      ],
      allowAnonymous: false,
      users: [{ username: 'alice', password: hashPassword('alice-pass') }],
      authBackoff: { maxFailures: 3, banMs: 600_000, maxBanMs: 600_000 },
    },
    {
      logger: pino({ level: 'silent' }),
      registry,
      onPublish: (m) => {
        sources.push(m.source);
        return Promise.resolve();
      },
    },
  );
  await broker.start();
  t.after(() => broker.stop());
  const port = (name: string): number => broker.addresses().find((a) => a.name === name)!.port;

  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port('dual')}`, { username: 'alice', password: 'alice-pass', clientId: 'dev-v4', reconnectPeriod: 0 });
  t.after(() => c.endAsync(true));
  await c.publishAsync('fleet/a/engine', '{}', { qos: 1 });
  assert.deepEqual(
    broker.clients().map((x) => [x.id, x.ip, x.listener]),
    [['dev-v4', '127.0.0.1', 'dual']],
    'not ::ffff:127.0.0.1',
  );
  assert.equal(sources.at(-1)?.ip, '127.0.0.1', "sourceip() = '127.0.0.1' matches it on either listener");

  // banned on the IPv4 listener (three user names guessed from 127.0.0.2) ...
  for (const u of ['x1', 'x2', 'x3']) assert.equal(await connackFrom(port('v4'), '127.0.0.1', '127.0.0.2', u, 'guess'), 4, u);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_auth_bans_total', { scope: 'address' }), 1);
  const failures = await metricValue(registry, 'gatehouse_mqtt_auth_failures_total');
  // ... is banned on the dual-stack one: no password check there, even the right one is refused
  // (before: seen there as ::ffff:127.0.0.2, it got maxFailures more guesses, and alice got in)
  assert.notEqual(await connackFrom(port('dual'), '127.0.0.1', '127.0.0.2', 'x4', 'guess'), 4, 'no password check for a banned address');
  assert.notEqual(await connackFrom(port('dual'), '127.0.0.1', '127.0.0.2', 'alice', 'alice-pass'), 0, 'banned');
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_auth_failures_total'), failures, 'no password checked for the banned address');

  // and the reverse: banned on the dual-stack listener (from 127.0.0.3), refused on the IPv4 one
  for (const u of ['y1', 'y2', 'y3']) assert.equal(await connackFrom(port('dual'), '127.0.0.1', '127.0.0.3', u, 'guess'), 4, u);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_auth_bans_total', { scope: 'address' }), 2);
  assert.notEqual(await connackFrom(port('v4'), '127.0.0.1', '127.0.0.3', 'alice', 'alice-pass'), 0, 'banned');
  // an address nobody banned still gets in on both
  assert.equal(await connackFrom(port('v4'), '127.0.0.1', '127.0.0.4', 'alice', 'alice-pass'), 0);
  assert.equal(await connackFrom(port('dual'), '127.0.0.1', '127.0.0.4', 'alice', 'alice-pass'), 0);
});
