// A stolen device certificate revoked under a running gateway (the real CLI): the operator's CA
// revokes it (`openssl ca -revoke`, `-gencrl`), writes the CRL to tls.crl and runs `systemctl
// reload gatehouse` (SIGHUP). The device's open connection is closed at once (counted, logged with
// its client id and identity) and its next handshake fails (counted as revoked); the other devices
// keep their connections. Before there was no tls.crl: a revoked certificate connected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { needBinary, tempDir, waitForEvent, waitUntil, withTimeout } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { deviceCa } from '../helpers/device-ca.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';

const skip = needBinary('openssl', 'openssl') ?? needBinary('mosquitto_pub', 'mosquitto-clients');

test('SIGHUP with a CRL revoking a connected device closes its connection and refuses its next handshake; the others stay', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const dir = await tempDir(t);
  const server = opensslSelfSigned(dir, 1, 'server');
  const ca = deviceCa(dir);
  const dev1 = ca.issue('dev1', '/CN=dev1');
  const dev2 = ca.issue('dev2', '/CN=dev2');
  const crl = ca.crl(join(dir, 'crl.pem'));
  const file = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}
exporters: []
broker:
  acl: { patterns: [{ topic: 'devices/%u/#', access: readwrite }] }
  listeners:
    - { host: 127.0.0.1, port: 0 }
    - { host: 127.0.0.1, port: 0, tls: { cert: server.pem, key: server.key, ca: devices-ca.pem, requestCert: true, crl: crl.pem, identity: cn } }
`,
  );
  const gw = await startGatewayProcess(file);
  t.after(() => gw.stop());
  const started = gw.logs.find((l) => l.msg === 'gatehouse started') as { mqtt: Array<{ port: number; tls: boolean }> };
  const port = started.mqtt.find((a) => a.tls)!.port;
  const connect = (d: { cert: string; key: string }, clientId: string): Promise<mqtt.MqttClient> =>
    withTimeout(
      mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
        ca: readFileSync(server.cert),
        cert: readFileSync(d.cert),
        key: readFileSync(d.key),
        clientId,
        reconnectPeriod: 0,
      }),
      15_000,
      'the CONNACK',
    );
  const c1 = await connect(dev1, 'dev1');
  const c2 = await connect(dev2, 'dev2');
  t.after(() => c1.endAsync(true));
  t.after(() => c2.endAsync(true));
  await withTimeout(c1.publishAsync('devices/dev1/t', '1', { qos: 1 }), 10_000, "dev1's PUBACK");

  ca.revoke('dev1');
  ca.crl(crl);
  const closed = waitForEvent(c1, 'close', 15_000);
  const seen = gw.logs.length;
  gw.proc.kill('SIGHUP');
  const line = await waitUntil(
    () => gw.logs.slice(seen).find((l) => l.msg === 'TLS listener CRL reloaded: connected clients whose certificate it revokes were disconnected'),
    'the disconnect line',
    15_000,
  );
  assert.deepEqual(line.clients, [{ client: 'dev1', user: 'dev1' }]);
  await closed;
  await withTimeout(c2.publishAsync('devices/dev2/t', 'still here', { qos: 1 }), 10_000, "dev2's PUBACK after the reload");

  const pub = await new Promise<number>((resolve) =>
    execFile(
      'mosquitto_pub',
      ['-h', '127.0.0.1', '-p', String(port), '--cafile', server.cert, '--cert', dev1.cert, '--key', dev1.key, '-q', '1', '-t', 'devices/dev1/t', '-m', 'x'],
      { timeout: 15_000 },
      (err) => resolve(err ? 1 : 0),
    ),
  );
  assert.equal(pub, 1, "the revoked device's next connection is refused");
  const metrics = await waitUntil(async () => {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    return /gatehouse_broker_tls_handshake_failures_total\{listener="mqtts",reason="revoked"\} 1/.test(text) ? text : undefined;
  }, 'the refused handshake counted as revoked');
  assert.match(metrics, /^gatehouse_broker_tls_revoked_disconnects_total\{listener="mqtts"\} 1$/m);
  assert.match(metrics, /^gatehouse_broker_tls_crl_next_update_timestamp_seconds\{listener="mqtts"\} \d+$/m);
});
