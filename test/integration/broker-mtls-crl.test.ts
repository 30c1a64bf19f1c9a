// Revoked device certificates (tls.crl, as mosquitto's crlfile): a revoked certificate fails the
// handshake (counted by reason), a CRL reloaded as on SIGHUP (broker.reloadTls, what the SIGHUP
// handler runs) refuses the next handshake and closes the open connection of a certificate it
// newly revokes (a resumed TLS session is no way around it, nor a handshake made before the reload
// whose CONNECT comes after), a CRL file that does not parse or is
// of another CA is refused (the running one kept), and a CRL past its nextUpdate fails every
// handshake of its CA, said in the log and the gauge. Real clients (mosquitto_pub, mqtt.js, node's
// TLS client), certificates and CRLs from `openssl ca -revoke` / `-gencrl`.
// Before: a revoked certificate connected (measured with mosquitto_pub); there was no tls.crl.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqtt from 'mqtt';
import { createBroker, type Broker } from '../../gateway/broker/index.js';
import { capturingLogger } from '../helpers/fuzz.js';
import { metricValue, needBinary, tempDir, testDeps, waitForEvent, waitUntil, withTimeout } from '../helpers/index.js';
import { deviceCa, type DeviceCa } from '../helpers/device-ca.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { connectPacket } from '../helpers/mqtt-raw.js';
import { checkConfigFile } from '../helpers/check-config.js';

const skip = needBinary('openssl', 'openssl') ?? needBinary('mosquitto_pub', 'mosquitto-clients');

interface Rig {
  broker: Broker;
  port: number;
  registry: ReturnType<typeof testDeps>['registry'];
  lines: Array<Record<string, unknown>>;
  server: { cert: string; key: string };
}

async function setup(t: TestContext): Promise<{ dir: string; ca: DeviceCa; server: { cert: string; key: string }; crl: string }> {
  const dir = await tempDir(t);
  return { dir, ca: deviceCa(dir), server: opensslSelfSigned(dir, 1, 'server'), crl: join(dir, 'crl.pem') };
}

async function start(t: TestContext, s: Awaited<ReturnType<typeof setup>>, level = 'info'): Promise<Rig> {
  const { logger, lines } = capturingLogger(level);
  const deps = { ...testDeps(), logger };
  const broker = await createBroker(
    {
      listeners: [
        { host: '127.0.0.1', port: 0, tls: { cert: s.server.cert, key: s.server.key, ca: s.ca.cert, requestCert: true, crl: s.crl, identity: 'cn' } },
      ],
    },
    { ...deps, onPublish: () => undefined },
  );
  await broker.start();
  t.after(() => broker.stop());
  return { broker, port: broker.addresses()[0]!.port, registry: deps.registry, lines, server: s.server };
}

/** mosquitto_pub one QoS 1 message with a device certificate: its exit code. */
function mosquittoPub(r: Rig, d: { cert: string; key: string }): Promise<number> {
  const args = ['-h', '127.0.0.1', '-p', String(r.port), '--cafile', r.server.cert, '--cert', d.cert, '--key', d.key, '-q', '1', '-t', 't/x', '-m', 'x'];
  return new Promise((resolve) =>
    execFile('mosquitto_pub', args, { timeout: 15_000 }, (err) => resolve(err ? Number((err as { code?: unknown }).code ?? 1) : 0)),
  );
}

function device(r: Rig, d: { cert: string; key: string }, clientId: string, protocolVersion: 4 | 5 = 4): Promise<mqtt.MqttClient> {
  return withTimeout(
    mqtt.connectAsync(`mqtts://127.0.0.1:${r.port}`, {
      ca: readFileSync(r.server.cert),
      cert: readFileSync(d.cert),
      key: readFileSync(d.key),
      clientId,
      protocolVersion,
      reconnectPeriod: 0,
    }),
    15_000,
    'the CONNACK',
  );
}

const pair = (d: { cert: string; key: string }): { cert: Buffer; key: Buffer } => ({ cert: readFileSync(d.cert), key: readFileSync(d.key) });

const failures = (r: Rig, reason: string): Promise<number> => metricValue(r.registry, 'gatehouse_broker_tls_handshake_failures_total', { reason });

/** A raw TLS connection with a device certificate (and a session to resume): whether it was resumed, and the session the server gave. */
async function tlsSession(
  r: Rig,
  d: { cert: string; key: string },
  session?: Buffer,
): Promise<{ reused: boolean; session: Buffer | undefined; closedByServer: boolean }> {
  const sock: TLSSocket = tlsConnect({
    host: '127.0.0.1',
    port: r.port,
    ca: readFileSync(r.server.cert),
    servername: 'localhost',
    cert: readFileSync(d.cert),
    key: readFileSync(d.key),
    ...(session ? { session } : {}),
  });
  sock.on('error', () => undefined);
  let got: Buffer | undefined;
  sock.on('session', (s: Buffer) => (got = s));
  const closed = waitForEvent(sock, 'close', 10_000);
  await waitForEvent(sock, 'secureConnect', 10_000);
  const reused = sock.isSessionReused();
  // a certificate the server refuses is closed after the handshake (TLS 1.3: the client finished first)
  const closedByServer = await Promise.race([closed.then(() => true), new Promise<boolean>((res) => setTimeout(() => res(false), 1000))]);
  if (!closedByServer) await waitUntil(() => got, 'the session ticket', 5000).catch(() => undefined);
  sock.destroy();
  return { reused, session: got, closedByServer };
}

test('tls.crl: a revoked certificate fails the handshake; a reloaded CRL refuses the next one and closes the open connection (a resumed TLS session does not get around it)', {
  skip,
}, async (t) => {
  const s = await setup(t);
  const dev1 = s.ca.issue('dev1', '/CN=dev1');
  const dev2 = s.ca.issue('dev2', '/CN=dev2');
  const dev3 = s.ca.issue('dev3', '/CN=dev3');
  s.ca.revoke('dev2');
  s.ca.crl(s.crl);
  const r = await start(t, s);
  assert.ok(r.lines.some((l) => l.msg === 'TLS listener CRL loaded: revoked client certificates fail the handshake' && l.revoked === 1));

  assert.notEqual(await mosquittoPub(r, dev2), 0, 'the revoked certificate is refused');
  await waitUntil(async () => (await failures(r, 'revoked')) === 1, 'counted as revoked');
  assert.ok(
    r.lines.some((l) => l.certError === 'CERT_REVOKED' && l.listener === 'mqtts'),
    'logged with the reason',
  );
  assert.equal(await mosquittoPub(r, dev1), 0, 'the others connect');

  const c1 = await device(r, dev1, 'dev1', 5);
  const c3 = await device(r, dev3, 'dev3', 4);
  t.after(() => c1.endAsync(true));
  t.after(() => c3.endAsync(true));
  // a TLS session of dev1, resumable as long as the CRL does not change
  const first = await tlsSession(r, dev1);
  assert.ok(first.session, 'the server gave a session ticket');
  assert.equal((await tlsSession(r, dev1, first.session)).reused, true, 'resumed before the reload');

  // a handshake of dev1 done before the reload, its CONNECT after
  const late = tlsConnect({ host: '127.0.0.1', port: r.port, ca: readFileSync(s.server.cert), servername: 'localhost', ...pair(dev1) });
  late.on('error', () => undefined);
  t.after(() => late.destroy());
  const lateBytes: Buffer[] = [];
  late.on('data', (b: Buffer) => lateBytes.push(b));
  await waitForEvent(late, 'secureConnect', 10_000);

  // dev1 stolen: revoked, a new CRL written and read again (SIGHUP)
  s.ca.revoke('dev1');
  s.ca.crl(s.crl);
  const c1Closed = waitForEvent(c1, 'close', 10_000);
  const [outcome] = await r.broker.reloadTls();
  assert.equal(outcome?.outcome, 'reloaded');
  await c1Closed;
  assert.equal(await metricValue(r.registry, 'gatehouse_broker_tls_revoked_disconnects_total', { listener: 'mqtts' }), 1);
  const closedLine = r.lines.find((l) => l.msg === 'TLS listener CRL reloaded: connected clients whose certificate it revokes were disconnected');
  assert.deepEqual(closedLine?.clients, [{ client: 'dev1', user: 'dev1' }]);
  assert.ok(c3.connected, 'a device not revoked keeps its connection');
  await withTimeout(c3.publishAsync('t/3', 'still here', { qos: 1 }), 10_000, "dev3's PUBACK");
  assert.deepEqual(
    r.broker.clients().map((c) => c.id),
    ['dev3'],
  );

  late.write(connectPacket('dev1-late'));
  await waitUntil(() => Buffer.concat(lateBytes).length >= 4, 'the CONNACK of the late CONNECT');
  assert.deepEqual([...Buffer.concat(lateBytes).subarray(0, 4)], [0x20, 0x02, 0x00, 0x05], 'CONNACK not authorized: its certificate is revoked now');
  assert.equal(await metricValue(r.registry, 'gatehouse_broker_tls_revoked_disconnects_total', { listener: 'mqtts' }), 2);

  assert.notEqual(await mosquittoPub(r, dev1), 0, 'the next handshake is refused');
  const resumed = await tlsSession(r, dev1, first.session);
  assert.equal(resumed.reused, false, 'the old session is not resumed after the reload');
  assert.equal(resumed.closedByServer, true, 'and the full handshake is refused');
  await waitUntil(async () => (await failures(r, 'revoked')) === 3, 'both counted as revoked');
});

test("tls.crl: a file that is not a CRL of the listener's CA is refused at start and at a reload, the running CRL kept", { skip }, async (t) => {
  const s = await setup(t);
  const dev1 = s.ca.issue('dev1', '/CN=dev1');
  const dev2 = s.ca.issue('dev2', '/CN=dev2');
  const other = deviceCa(s.dir, 'other');
  const otherCrl = other.crl(join(s.dir, 'other-crl.pem'));
  const garbage = join(s.dir, 'garbage.pem');
  writeFileSync(garbage, '-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n');

  for (const [file, reason] of [
    [garbage, /does not parse/],
    [otherCrl, /not signed by a CA of tls.ca/],
    [s.server.cert, /holds a certificate, not a CRL/],
  ] as const) {
    copyFileSync(file, s.crl);
    await assert.rejects(start(t, s), (err: Error & { code?: string; where?: string }) => {
      assert.equal(err.code, 'GH_BROKER_TLS');
      assert.equal(err.where, 'broker.listeners.0.tls.crl');
      assert.match(err.message, reason);
      return true;
    });
  }

  s.ca.revoke('dev2');
  s.ca.crl(s.crl);
  const r = await start(t, s, 'warn');
  for (const file of [garbage, otherCrl]) {
    copyFileSync(file, s.crl);
    const [outcome] = await r.broker.reloadTls();
    assert.equal(outcome?.outcome, 'refused');
    assert.equal(outcome?.error?.code, 'GH_BROKER_TLS');
    assert.notEqual(await mosquittoPub(r, dev2), 0, 'the running CRL still refuses dev2');
    assert.equal(await mosquittoPub(r, dev1), 0, 'and takes dev1');
  }
  assert.ok(r.lines.some((l) => l.msg === 'TLS reload refused: the listener keeps serving its running certificate'));
});

test('tls.crl past its nextUpdate: every certificate of its CA fails the handshake (crl_expired), said at start and in the gauge; a renewed CRL on reload lets them in', {
  skip,
}, async (t) => {
  const s = await setup(t);
  const dev1 = s.ca.issue('dev1', '/CN=dev1');
  const lastUpdate = new Date(Date.now() - 10 * 86_400_000);
  const nextUpdate = new Date(Date.now() - 3 * 86_400_000);
  s.ca.crl(s.crl, { lastUpdate, nextUpdate });
  const r = await start(t, s, 'warn');
  const said = r.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('TLS listener CRL is past its nextUpdate'));
  assert.equal(said?.nextUpdate, new Date(Math.floor(nextUpdate.getTime() / 1000) * 1000).toISOString());
  assert.equal(
    await metricValue(r.registry, 'gatehouse_broker_tls_crl_next_update_timestamp_seconds', { listener: 'mqtts' }),
    Math.floor(nextUpdate.getTime() / 1000),
  );
  assert.notEqual(await mosquittoPub(r, dev1), 0, 'a valid certificate is refused: OpenSSL checks the CRL dates');
  await waitUntil(async () => (await failures(r, 'crl_expired')) === 1, 'counted as crl_expired');

  s.ca.crl(s.crl);
  assert.equal((await r.broker.reloadTls())[0]?.outcome, 'reloaded');
  assert.equal(await mosquittoPub(r, dev1), 0, 'renewed: dev1 connects');
});

test("check-config: a mutual-TLS listener's identity and CRL (revoked count, next update), a warning when its nextUpdate is near or past, a CRL of another CA a problem", {
  skip,
}, async (t) => {
  const s = await setup(t);
  s.ca.issue('dev1', '/CN=dev1');
  s.ca.revoke('dev1');
  s.ca.crl(s.crl, { lastUpdate: new Date(Date.now() - 6 * 86_400_000), nextUpdate: new Date(Date.now() + 86_400_000 / 2) });
  const file = join(s.dir, 'gatehouse.yaml');
  writeFileSync(
    file,
    `dataDir: ${JSON.stringify(join(s.dir, 'data'))}
exporters: []
admin: { enabled: false }
broker:
  allowAnonymous: false
  listeners:
    - { host: 0.0.0.0, port: 0, tls: { cert: server.pem, key: server.key, ca: devices-ca.pem, requestCert: true, crl: crl.pem, identity: cn, clientIdMustMatchIdentity: true } }
`,
  );
  const ok = await checkConfigFile(file);
  assert.equal(ok.code, 0, ok.err);
  assert.match(
    ok.out,
    /listener mqtts takes client certificates of .*devices-ca\.pem; a client's user name is its certificate's CN \(tls\.identity: cn\), and its client id must be it/,
  );
  assert.match(ok.out, /listener mqtts's CRL file \(.*crl\.pem\): 1 CRL\(s\), 1 revoked certificate\(s\), next update \S+ \(in \d+ hour\(s\)\)/);
  assert.match(ok.err, /warning: listener mqtts's CRL of CN=devices CA .* reaches its nextUpdate in \d+ hour\(s\)\. Fix: issue a new CRL/);

  deviceCa(s.dir, 'other').crl(s.crl);
  const bad = await checkConfigFile(file);
  assert.equal(bad.code, 1);
  assert.match(
    `${bad.out}${bad.err}`,
    /broker\.listeners\.0\.tls\.crl.*not signed by a CA of tls\.ca|not signed by a CA of tls\.ca[\s\S]*broker\.listeners\.0\.tls\.crl/,
  );
});
