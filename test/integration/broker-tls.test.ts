// TLS listener with a self-signed certificate made by openssl in the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { connect as tlsConnect } from 'node:tls';
import mqtt from 'mqtt';
import { createBroker } from '../../gateway/broker/index.js';
import type { Message } from '../../core/message.js';
import { metricValue, needBinary, tempDir, testDeps, waitForEvent, waitUntil } from '../helpers/index.js';
import { RawClient } from '../helpers/mqtt-raw.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';

const skip = needBinary('openssl', 'openssl');

/** A self-signed EC certificate for 127.0.0.1/localhost, made by openssl (cert.pem, key.pem). */
const selfSignedCert = (dir: string): { cert: string; key: string } => opensslSelfSigned(dir, 1, 'cert');

test('TLS listener: a client trusting the certificate connects and publishes; bad files are refused', { skip }, async (t) => {
  const dir = await tempDir(t);
  const { cert, key } = selfSignedCert(dir);
  const deps = testDeps();
  const received: Message[] = [];
  const broker = await createBroker(
    {
      listeners: [
        { host: '127.0.0.1', port: 0 },
        { host: '127.0.0.1', port: 0, tls: { cert, key } },
      ],
    },
    { ...deps, onPublish: (m) => void received.push(m) },
  );
  await broker.start();
  t.after(() => broker.stop());
  const tlsAddr = broker.addresses().find((a) => a.tls)!;
  assert.equal(tlsAddr.name, 'mqtts');
  const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsAddr.port}`, { ca: await readFile(cert), reconnectPeriod: 0, clientId: 'secure1' });
  t.after(() => c.endAsync(true));
  await c.publishAsync('fleet/secure/engine', '{"temp":1}', { qos: 1 });
  assert.equal(received[0]?.topic, 'fleet/secure/engine');
  assert.equal(broker.clients().find((x) => x.id === 'secure1')?.listener, 'mqtts');

  // a client that does not trust the certificate fails the handshake; counted as a protocol error
  const bad = tlsConnect({ host: '127.0.0.1', port: tlsAddr.port, rejectUnauthorized: true });
  const [err] = await waitForEvent<[Error & { code?: string }]>(bad, 'error');
  assert.equal(err.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  await waitUntil(async () => (await metricValue(deps.registry, 'gatehouse_mqtt_protocol_errors_total')) >= 1, 'handshake failure counted');

  await assert.rejects(
    createBroker({ listeners: [{ host: '127.0.0.1', port: 0, tls: { cert: join(dir, 'missing.pem'), key } }] }, { ...testDeps(), onPublish: () => undefined }),
    (err: Error & { code?: string; where?: string }) => err.code === 'GH_BROKER_TLS' && err.where === 'broker.listeners.0.tls.cert',
  );
  await assert.rejects(
    createBroker({ listeners: [{ host: '127.0.0.1', port: 0, tls: { cert: key, key: cert } }] }, { ...testDeps(), onPublish: () => undefined }),
    (err: Error & { code?: string }) => err.code === 'GH_BROKER_TLS',
  );
});

test('TLS listener: 100 silent TCP sockets from one address are shed and timed out; a real mqtts client still connects', { skip }, async (t) => {
  const dir = await tempDir(t);
  const { cert, key } = selfSignedCert(dir);
  const deps = testDeps();
  // small limits, as an edge gateway might have: the listener's own cap is 10 + 10 + 64 sockets
  const broker = await createBroker(
    {
      listeners: [{ host: '127.0.0.1', port: 0, tls: { cert, key } }],
      maxConnections: 10,
      maxPendingConnections: 10,
      maxPendingPerAddress: 5,
      connectTimeoutMs: 3000,
    },
    { ...deps, onPublish: () => undefined },
  );
  const silent: RawClient[] = [];
  // hooks run in order: close our ends first, so stop() never waits on a socket the broker kept
  t.after(() => {
    for (const s of silent) s.destroy();
  });
  await broker.start();
  t.after(() => broker.stop());
  const port = broker.addresses()[0]!.port;
  // TCP connections that never send a ClientHello (before: held by the TLS handshake for 120 s,
  // outside the pre-CONNECT limits, until they filled the listener and no device got in)
  for (let i = 0; i < 100; i++) silent.push(await RawClient.open(port));
  await waitUntil(() => silent.filter((s) => !s.closed).length <= 5, 'the silent sockets are shed to maxPendingPerAddress', 2000);
  assert.ok((await metricValue(deps.registry, 'gatehouse_mqtt_preconnect_shed_total', { limit: 'address' })) >= 1, 'shed and counted per address');

  const device = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
    ca: await readFile(cert),
    reconnectPeriod: 0,
    connectTimeout: 5000,
    clientId: 'device-tls',
  });
  t.after(() => device.endAsync(true));
  await device.publishAsync('fleet/tls/engine', '{"temp":1}', { qos: 1 });

  // the silent sockets left are closed after connectTimeoutMs; the device that sent CONNECT stays
  await waitUntil(() => silent.every((s) => s.closed), 'the remaining silent sockets are closed', 8000);
  assert.ok((await metricValue(deps.registry, 'gatehouse_mqtt_connect_timeouts_total')) >= 1, 'connect timeouts counted');
  assert.equal(device.connected, true);
});

test('TLS listener: connectTimeoutMs counts from accept: no ClientHello, half a ClientHello, or a handshake without CONNECT', { skip }, async (t) => {
  const dir = await tempDir(t);
  const { cert, key } = selfSignedCert(dir);
  const deps = testDeps();
  const connectTimeoutMs = 1000;
  const broker = await createBroker(
    { listeners: [{ host: '127.0.0.1', port: 0, tls: { cert, key } }], connectTimeoutMs },
    { ...deps, onPublish: () => undefined },
  );
  const opened: RawClient[] = [];
  // hooks run in order: close our ends first, so stop() never waits on a socket the broker kept
  t.after(() => {
    for (const s of opened) s.destroy();
  });
  await broker.start();
  t.after(() => broker.stop());
  const port = broker.addresses()[0]!.port;

  const quiet = await RawClient.open(port);
  const half = await RawClient.open(port);
  opened.push(quiet, half);
  half.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])); // a TLS record header and one byte of it

  // a slow device: its handshake starts late, then it sends nothing. Its time runs from accept,
  // so it is closed about connectTimeoutMs after the TCP connect, not that long after the handshake.
  const slow = await RawClient.open(port);
  opened.push(slow);
  const acceptedAt = Date.now();
  await new Promise((r) => setTimeout(r, 700)); // part of the scenario (the slow device), not a wait for the broker
  const secure = tlsConnect({ socket: slow.socket, ca: await readFile(cert), servername: 'localhost' });
  secure.on('error', () => undefined);
  await waitForEvent(secure, 'secureConnect');
  const secureAt = Date.now();

  await Promise.all([quiet.waitClosed(5000), half.waitClosed(5000), slow.waitClosed(5000)]);
  const closedAt = Date.now();
  console.log(`# handshake done after ${secureAt - acceptedAt} ms, closed ${closedAt - secureAt} ms later`);
  assert.ok(
    closedAt - secureAt < connectTimeoutMs - 200,
    `closed ${closedAt - secureAt} ms after the handshake: the handshake counts against connectTimeoutMs`,
  );
  assert.equal(await metricValue(deps.registry, 'gatehouse_mqtt_connect_timeouts_total'), 3, 'each counted once');
});
