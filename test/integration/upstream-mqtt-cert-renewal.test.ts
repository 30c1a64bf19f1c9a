// The MQTT bridge destination presents a client certificate renewed on disk at its next
// reconnect, without a restart. The peer is the embedded broker with mutual TLS (a real broker
// and TLS stack, not the client's library): first trusting only CA 1, then, after the renewal,
// restarted on the same port trusting only CA 2, so only the renewed certificate gets in.
// Before, the files were read once at start and the bridge kept offering the old certificate.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createBroker, type Broker } from '../../gateway/broker/index.js';
import { createMqttBridgeDestination, mqttBridgeOptionsSchema } from '../../gateway/upstream/destinations/mqtt.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import type { Message } from '../../core/message.js';
import { needBinary, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { onRestartablePort } from '../helpers/ports.js';

const skip = needBinary('openssl', 'openssl');

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA (self-signed) and a client certificate it signed, in dir: <name>-ca.pem, <name>.pem, <name>.key. */
function clientCert(dir: string, name: string): { ca: string; cert: string; key: string } {
  const ca = join(dir, `${name}-ca.pem`);
  const caKey = join(dir, `${name}-ca.key`);
  openssl(['req', '-x509', ...EC, '-keyout', caKey, '-out', ca, '-days', '2', '-subj', `/CN=${name} CA`]);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  openssl(['req', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
  openssl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2']);
  return { ca, cert, key };
}

async function peer(t: TestContext, server: { cert: string; key: string }, clientCa: string, port: number, got: Message[]): Promise<Broker> {
  const broker = await createBroker(
    { listeners: [{ host: '127.0.0.1', port, tls: { cert: server.cert, key: server.key, ca: clientCa, requestCert: true } }] },
    { ...testDeps(), onPublish: (m) => void got.push(m) },
  );
  await broker.start();
  t.after(() => broker.stop());
  return broker;
}

function rec(seq: number): StoredRecord {
  return { stream: 'telemetry', seq, topic: `fleet/d${seq}`, receivedAt: seq, payload: Buffer.from(`p${seq}`) };
}

test('mqtt bridge: a client certificate renewed on disk is presented at the next reconnect', { skip }, async (t) => {
  const dir = await tempDir(t);
  const server = { cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
  openssl(
    ['req', '-x509', ...EC, '-keyout', server.key, '-out', server.cert, '-days', '2', '-subj', '/CN=localhost'].concat([
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]),
  );
  const first = clientCert(dir, 'first');
  const renewed = clientCert(dir, 'renewed');
  const live = { cert: join(dir, 'client.pem'), key: join(dir, 'client.key') };
  await copyFile(first.cert, live.cert);
  await copyFile(first.key, live.key);

  const got: Message[] = [];
  // Restarted on this port below: a restartable one (test/helpers/ports.ts), no other test's meanwhile.
  const one = await onRestartablePort(t, (p) => peer(t, server, first.ca, p, got));
  const port = one.addresses()[0]!.port;
  const deps = testDeps();
  const dest = createMqttBridgeDestination(
    mqttBridgeOptionsSchema.parse({
      url: `mqtts://127.0.0.1:${port}`,
      clientId: 'gh-renewal',
      caFile: server.cert,
      certFile: live.cert,
      keyFile: live.key,
      reconnectMinMs: 50,
      reconnectMaxMs: 300,
      ackTimeoutMs: 3000,
    }),
    deps,
  );
  await dest.start();
  t.after(() => dest.stop());
  const sendUntilOk = (r: StoredRecord, what: string): Promise<unknown> =>
    waitUntil(
      async () => {
        try {
          return (await dest.send([r], AbortSignal.timeout(2000)))[0]!.ok;
        } catch {
          return false; // not connected yet: the exporter would retry
        }
      },
      what,
      20_000,
      50,
    );
  await sendUntilOk(rec(1), 'record 1 accepted by the peer trusting CA 1');
  assert.deepEqual(
    got.map((m) => m.topic),
    ['fleet/d1'],
  );

  // Renewal: new files from another CA; the peer now trusts only that CA.
  await copyFile(renewed.cert, live.cert);
  await copyFile(renewed.key, live.key);
  await one.stop();
  await peer(t, server, renewed.ca, port, got);
  await sendUntilOk(rec(2), 'record 2 accepted by the peer trusting only the renewed certificate');
  assert.ok(
    got.some((m) => m.topic === 'fleet/d2'),
    'the renewed certificate got in',
  );
});
