// Security audit of the embedded broker with real mqtt.js clients: what one authenticated user can
// reach of another user's data (sessions, ACL), beyond the per-feature tests of broker-mqtt*.test.ts.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createBroker, hashPassword, type BrokerOptionsInput } from '../../gateway/broker/index.js';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { metricValue, needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';

const users = ['alice', 'bob', 'carol'].map((u) => ({ username: u, password: hashPassword(`${u}-pass`) }));

async function startBroker(t: TestContext, options: BrokerOptionsInput = {}) {
  const registry = new Registry();
  const broker = await createBroker(
    { listeners: [{ host: '127.0.0.1', port: 0 }], allowAnonymous: false, users, ...options },
    { logger: pino({ level: 'silent' }), registry, onPublish: () => Promise.resolve() },
  );
  await broker.start();
  t.after(() => broker.stop());
  return { url: `mqtt://127.0.0.1:${broker.addresses()[0]!.port}`, registry, broker };
}

/** Connect as `user` and collect every message it receives from the first packet on. */
async function client(t: TestContext, url: string, user: string, opts: mqtt.IClientOptions = {}) {
  const got: string[] = [];
  const c = mqtt.connect(url, { reconnectPeriod: 0, username: user, password: `${user}-pass`, ...opts });
  c.on('message', (topic, p) => got.push(`${topic}=${p.toString()}`));
  const connack = await new Promise<mqtt.IConnackPacket>((resolve, reject) => {
    c.once('connect', resolve);
    c.once('error', reject);
  });
  t.after(() => c.endAsync(true));
  return { c, got, connack };
}

const acl = {
  users: { alice: [{ topic: 'plant/#', access: 'readwrite' as const }], carol: [{ topic: '#', access: 'readwrite' as const }] },
  patterns: [{ topic: 'devices/%u/#', access: 'readwrite' as const }],
};

for (const version of [4, 5] as const) {
  test(`MQTT ${version === 5 ? 5 : '3.1.1'}: another user resuming a persistent session by its client id gets none of the messages the owner's ACL let it subscribe to`, async (t) => {
    const { url, registry } = await startBroker(t, { acl });
    const persistent = { clientId: 'dev-1', clean: false, protocolVersion: version, ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}) };
    const alice = await client(t, url, 'alice', persistent);
    assert.deepEqual(
      (await alice.c.subscribeAsync('plant/#', { qos: 1 })).map((g) => g.qos),
      [1],
    );
    await alice.c.endAsync();
    const carol = await client(t, url, 'carol', { clientId: 'carol-1' });
    await carol.c.publishAsync('plant/queued', 'for alice, queued', { qos: 1 });
    // bob knows (or guesses) alice's client id: he takes her session over
    const bob = await client(t, url, 'bob', persistent);
    await bob.c.subscribeAsync('devices/bob/#', { qos: 1 });
    await carol.c.publishAsync('plant/live', 'for alice, live', { qos: 1 });
    await carol.c.publishAsync('devices/bob/marker', 'end', { qos: 1 });
    await waitUntil(() => bob.got.includes('devices/bob/marker=end'), "bob's own message");
    assert.deepEqual(bob.got, ['devices/bob/marker=end'], "nothing of alice's topics reaches bob");
    assert.ok((await metricValue(registry, 'gatehouse_mqtt_acl_denied_total', { action: 'subscribe' })) >= 1, 'the dropped subscription is counted');
    // alice back on her session: her own messages flow again once she subscribes (hers to ask)
    await bob.c.endAsync();
    const back = await client(t, url, 'alice', persistent);
    await back.c.subscribeAsync('plant/#', { qos: 1 });
    await carol.c.publishAsync('plant/again', 'for alice', { qos: 1 });
    await waitUntil(() => back.got.includes('plant/again=for alice'), 'alice gets her topic again');
  });
}

/** Renegotiate a TLS 1.2 connection: 'ok', or why it did not happen (the server refused or closed). */
function renegotiate(sock: TLSSocket): Promise<string> {
  return new Promise((resolve) => {
    const onClose = (): void => resolve('closed');
    sock.once('close', onClose);
    const started = sock.renegotiate({ rejectUnauthorized: false }, (err) => {
      sock.off('close', onClose);
      resolve(err ? `refused: ${err.message}` : 'ok');
    });
    if (!started) resolve('closed');
  });
}

test('TLS listener: a client cannot renegotiate (each renegotiation is a full handshake of server CPU on one connection), also after a certificate reload', {
  skip: needBinary('openssl', 'openssl'),
}, async (t) => {
  const dir = await tempDir(t);
  const { cert, key } = opensslSelfSigned(dir);
  const { broker } = await startBroker(t, { listeners: [{ host: '127.0.0.1', port: 0, tls: { cert, key } }] });
  const port = broker.addresses()[0]!.port;
  const attempt = async (): Promise<string> => {
    const sock = tlsConnect({ port, host: '127.0.0.1', ca: readFileSync(cert), servername: 'localhost', maxVersion: 'TLSv1.2' });
    sock.on('error', () => undefined);
    t.after(() => sock.destroy());
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', resolve);
      sock.once('error', reject);
    });
    const got = await renegotiate(sock);
    sock.destroy();
    return got;
  };
  assert.notEqual(await attempt(), 'ok');
  opensslSelfSigned(dir); // a renewed certificate, read again as on SIGHUP
  assert.equal((await broker.reloadTls())[0]?.outcome, 'reloaded');
  assert.notEqual(await attempt(), 'ok', 'still refused with the reloaded certificate');
});
