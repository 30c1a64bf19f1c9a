// TLS listener with a self-signed certificate made by openssl in the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { connect as tlsConnect } from 'node:tls';
import mqtt from 'mqtt';
import { createBroker } from '../../gateway/broker/index.js';
import type { Message } from '../../core/message.js';
import { metricValue, needBinary, tempDir, testDeps, waitForEvent, waitUntil } from '../helpers/index.js';

const skip = needBinary('openssl', 'openssl');

test('TLS listener: a client trusting the certificate connects and publishes; bad files are refused', { skip }, async (t) => {
  const dir = await tempDir(t);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
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
    (err: Error & { code?: string; where?: string }) => err.code === 'GH_BROKER_TLS' && err.where === 'broker.listeners[0].tls.cert',
  );
  await assert.rejects(
    createBroker({ listeners: [{ host: '127.0.0.1', port: 0, tls: { cert: key, key: cert } }] }, { ...testDeps(), onPublish: () => undefined }),
    (err: Error & { code?: string }) => err.code === 'GH_BROKER_TLS',
  );
});
