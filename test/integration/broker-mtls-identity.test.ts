// Devices that authenticate with X.509 certificates (tls.identity, as mosquitto's
// use_identity_as_username): the certificate's CN is the client's user name for the ACL (%u),
// principal() and the clients list; a CONNECT user name cannot override it; a certificate without
// a CN is refused; tls.clientIdMustMatchIdentity binds the client id to it. Real clients: Debian's
// mosquitto_pub with --cert/--key/--cafile and mqtt.js (3.1.1 and 5), certificates from `openssl ca`.
// Before: every device was anonymous to the ACL whatever its certificate, and dev1 published on
// devices/dev2/... (measured with mosquitto_pub).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { createBroker, type Broker } from '../../gateway/broker/index.js';
import type { BrokerOptionsInput } from '../../gateway/broker/options.js';
import type { Message } from '../../core/message.js';
import { capturingLogger } from '../helpers/fuzz.js';
import { metricValue, needBinary, tempDir, testDeps, waitUntil, withTimeout } from '../helpers/index.js';
import { deviceCa } from '../helpers/device-ca.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';

const skip = needBinary('openssl', 'openssl') ?? needBinary('mosquitto_pub', 'mosquitto-clients');

interface Rig {
  broker: Broker;
  port: number;
  got: Message[];
  registry: ReturnType<typeof testDeps>['registry'];
  lines: Array<Record<string, unknown>>;
  server: { cert: string; key: string };
  dir: string;
  ca: ReturnType<typeof deviceCa>;
}

async function rig(t: import('node:test').TestContext, tls: Record<string, unknown>, more: Partial<BrokerOptionsInput> = {}): Promise<Rig> {
  const dir = await tempDir(t);
  const server = opensslSelfSigned(dir, 1, 'server');
  const ca = deviceCa(dir);
  const { logger, lines } = capturingLogger('warn');
  const deps = { ...testDeps(), logger };
  const got: Message[] = [];
  const broker = await createBroker(
    {
      // devices on mutual TLS beyond the ACL's reach would need allowAnonymous; here nobody is anonymous
      allowAnonymous: false,
      listeners: [{ host: '127.0.0.1', port: 0, tls: { cert: server.cert, key: server.key, ca: ca.cert, requestCert: true, ...tls } }],
      acl: { patterns: [{ topic: 'devices/%u/#', access: 'readwrite' }] },
      ...more,
    },
    { ...deps, onPublish: (m) => void got.push(m) },
  );
  await broker.start();
  t.after(() => broker.stop());
  return { broker, port: broker.addresses()[0]!.port, got, registry: deps.registry, lines, server, dir, ca };
}

/** mosquitto_pub one QoS 1 message with a device certificate: its exit code and output. */
function mosquittoPub(r: Rig, device: { cert: string; key: string }, topic: string, extra: string[] = []): Promise<{ code: number; out: string }> {
  const args = ['-h', '127.0.0.1', '-p', String(r.port), '--cafile', r.server.cert, '--cert', device.cert, '--key', device.key, '-q', '1'];
  return new Promise((resolve) =>
    execFile('mosquitto_pub', [...args, '-t', topic, '-m', 'x', ...extra], { timeout: 15_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    ),
  );
}

function device(r: Rig, d: { cert: string; key: string }, opts: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  return withTimeout(
    mqtt.connectAsync(`mqtts://127.0.0.1:${r.port}`, {
      ca: readFileSync(r.server.cert),
      cert: readFileSync(d.cert),
      key: readFileSync(d.key),
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      ...opts,
    }),
    15_000,
    'the CONNACK',
  );
}

test("tls.identity cn: the certificate's CN is the user name for the ACL (%u), principal() and clients(); a CONNECT user name cannot override it", {
  skip,
}, async (t) => {
  const r = await rig(t, { identity: 'cn' });
  const dev1 = r.ca.issue('dev1', '/O=Acme/CN=dev1');
  const dev2 = r.ca.issue('dev2', '/CN=dev2');

  // mosquitto_pub: its own topic passes, another device's closes the connection (3.1.1 cannot refuse a PUBLISH)
  assert.equal((await mosquittoPub(r, dev1, 'devices/dev1/temp', ['-i', 'dev1'])).code, 0);
  await waitUntil(() => r.got.find((m) => m.topic === 'devices/dev1/temp'), 'the own topic published');
  assert.equal(r.got[0]!.source.principal, 'dev1', 'principal() is the CN (the user name), not the thumbprint');
  assert.notEqual((await mosquittoPub(r, dev1, 'devices/dev2/temp', ['-i', 'dev1'])).code, 0, "dev1 cannot publish on dev2's topics");
  // a user name (and password) in CONNECT is not read: not dev2, and no password needed
  assert.notEqual((await mosquittoPub(r, dev1, 'devices/dev2/temp', ['-i', 'dev1b', '-u', 'dev2', '-P', 'anything'])).code, 0, 'nor as -u dev2');
  assert.equal((await mosquittoPub(r, dev1, 'devices/dev1/ok', ['-i', 'dev1c', '-u', 'dev2'])).code, 0, 'with -u dev2 it is still dev1');
  assert.equal(await metricValue(r.registry, 'gatehouse_mqtt_acl_denied_total', { action: 'publish' }), 2);
  assert.deepEqual(
    r.got.map((m) => m.topic),
    ['devices/dev1/temp', 'devices/dev1/ok'],
  );

  // mqtt.js, 3.1.1 and 5: the clients list names the CN; MQTT 5 gets a negative PUBACK for another's topic
  for (const protocolVersion of [4, 5] as const) {
    const c = await device(r, dev2, { clientId: `dev2-v${protocolVersion}`, protocolVersion, username: 'dev1', password: 'x' });
    t.after(() => c.endAsync(true));
    const info = r.broker.clients().find((x) => x.id === `dev2-v${protocolVersion}`);
    assert.equal(info?.user, 'dev2', 'clients() shows the identity, not the user name sent');
    await withTimeout(c.publishAsync('devices/dev2/v', `${protocolVersion}`, { qos: 1 }), 10_000, 'the PUBACK');
    if (protocolVersion === 5)
      await assert.rejects(withTimeout(c.publishAsync('devices/dev1/v', 'spoof', { qos: 1 }), 10_000, 'the negative PUBACK'), /Not authorized|135/i);
  }
  assert.ok(!r.got.some((m) => m.topic === 'devices/dev1/v'), 'the spoofed publish is not taken');
  assert.equal(r.got.filter((m) => m.topic === 'devices/dev2/v' && m.source.principal === 'dev2').length, 2);
});

test('tls.identity cn: a certificate without a CN is refused (CONNACK 0x05 / 0x87), counted and logged with its subject', { skip }, async (t) => {
  const r = await rig(t, { identity: 'cn' });
  const nameless = r.ca.issue('nameless', '/O=Acme/OU=line 2');
  for (const protocolVersion of [4, 5] as const) {
    await assert.rejects(device(r, nameless, { clientId: `n${protocolVersion}`, protocolVersion }), (err: Error & { code?: number }) => {
      assert.equal(err.code, protocolVersion === 5 ? 0x87 : 5, err.message);
      return true;
    });
  }
  assert.equal(await metricValue(r.registry, 'gatehouse_mqtt_auth_failures_total'), 2);
  const line = r.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('client certificate without a common name (CN)'));
  assert.equal(line?.subject, 'OU=line 2,O=Acme', 'the subject, RFC 2253 order');
  assert.equal(r.broker.clients().length, 0);
});

test('tls.identity subject and clientIdMustMatchIdentity: the whole subject is the user name (acl.users); a client id other than the identity gets CONNACK 0x02 / 0x85', {
  skip,
}, async (t) => {
  const r = await rig(t, { identity: 'subject' }, { acl: { users: { 'CN=dev1,O=Acme': [{ topic: 'acme/dev1/#', access: 'write' }] } } });
  const dev1 = r.ca.issue('dev1', '/O=Acme/CN=dev1');
  const c = await device(r, dev1, { clientId: 'anything' });
  t.after(() => c.endAsync(true));
  assert.equal(r.broker.clients()[0]?.user, 'CN=dev1,O=Acme');
  await withTimeout(c.publishAsync('acme/dev1/t', '1', { qos: 1 }), 10_000, 'the PUBACK');
  assert.equal(r.got[0]?.source.principal, 'CN=dev1,O=Acme');

  const bound = await rig(t, { identity: 'cn', clientIdMustMatchIdentity: true });
  const dev7 = bound.ca.issue('dev7', '/CN=dev7');
  for (const protocolVersion of [4, 5] as const) {
    await assert.rejects(device(bound, dev7, { clientId: 'dev8', protocolVersion }), (err: Error & { code?: number }) => {
      assert.equal(err.code, protocolVersion === 5 ? 0x85 : 2, err.message);
      return true;
    });
    const ok = await device(bound, dev7, { clientId: 'dev7', protocolVersion });
    await ok.endAsync();
  }
  assert.ok(
    bound.lines.some((l) => l.identity === 'dev7' && l.client === 'dev8'),
    'the refusal is logged with both',
  );
});
