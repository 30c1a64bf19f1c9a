// wss:// with client certificates (a browser or kiosk with a device certificate installed): the
// WebSocket listener's TLS is the same server as an mqtts listener's, so tls.requestCert,
// tls.identity and tls.crl hold over WebSockets: the certificate's CN is the user name for the ACL
// (%u) and principal(), a client without a certificate or with a revoked one never reaches HTTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { createBroker } from '../../gateway/broker/index.js';
import type { Message } from '../../core/message.js';
import { metricValue, needBinary, tempDir, testDeps, withTimeout } from '../helpers/index.js';
import { deviceCa } from '../helpers/device-ca.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';

test('wss:// with tls.identity cn and a CRL: the CN is the user for the ACL, no certificate or a revoked one is refused at the handshake', {
  skip: needBinary('openssl', 'openssl'),
}, async (t) => {
  const dir = await tempDir(t);
  const server = opensslSelfSigned(dir, 1, 'server');
  const ca = deviceCa(dir);
  const panel = ca.issue('panel1', '/O=Plant/CN=panel1');
  const stolen = ca.issue('panel2', '/CN=panel2');
  ca.revoke('panel2');
  const crl = ca.crl(join(dir, 'crl.pem'));
  const deps = testDeps();
  const got: Message[] = [];
  const broker = await createBroker(
    {
      allowAnonymous: false,
      listeners: [
        {
          host: '127.0.0.1',
          port: 0,
          protocol: 'websockets',
          tls: { cert: server.cert, key: server.key, ca: ca.cert, requestCert: true, crl, identity: 'cn' },
        },
      ],
      acl: { patterns: [{ topic: 'hmi/%u/#', access: 'readwrite' }] },
    },
    { ...deps, onPublish: (m) => void got.push(m) },
  );
  await broker.start();
  t.after(() => broker.stop());
  const url = `wss://localhost:${broker.addresses()[0]!.port}`;
  const trust = { ca: readFileSync(server.cert), reconnectPeriod: 0, connectTimeout: 10_000 };

  for (const protocolVersion of [4, 5] as const) {
    const c = await withTimeout(
      mqtt.connectAsync(url, {
        ...trust,
        cert: readFileSync(panel.cert),
        key: readFileSync(panel.key),
        clientId: `panel-v${protocolVersion}`,
        protocolVersion,
      }),
      15_000,
      'the CONNACK over wss',
    );
    t.after(() => c.endAsync(true));
    const info = broker.clients().find((x) => x.id === `panel-v${protocolVersion}`);
    assert.deepEqual([info?.user, info?.listener], ['panel1', 'wss'], 'the certificate CN is the user over WebSockets');
    await c.publishAsync('hmi/panel1/setpoint', String(protocolVersion), { qos: 1 });
    if (protocolVersion === 5) await assert.rejects(c.publishAsync('hmi/panel9/setpoint', 'spoof', { qos: 1 }), /Not authorized|135/i);
  }
  assert.deepEqual(
    got.map((m) => `${m.topic} ${m.source.principal}`),
    ['hmi/panel1/setpoint panel1', 'hmi/panel1/setpoint panel1'],
  );

  // no certificate, and a revoked one: refused in the TLS handshake, before any HTTP
  await assert.rejects(mqtt.connectAsync(url, { ...trust, clientId: 'anon' }));
  await assert.rejects(mqtt.connectAsync(url, { ...trust, cert: readFileSync(stolen.cert), key: readFileSync(stolen.key), clientId: 'stolen' }));
  assert.equal(await metricValue(deps.registry, 'gatehouse_broker_tls_handshake_failures_total', { listener: 'wss', reason: 'revoked' }), 1);
  assert.equal(broker.clients().length, 2);
});
