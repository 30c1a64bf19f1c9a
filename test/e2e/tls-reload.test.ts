// A renewed TLS certificate taken by a running gateway (the real CLI): a renewal agent writes the
// new files and runs `systemctl reload gatehouse` (SIGHUP). New handshakes get the new certificate,
// a client connected before keeps its connection, a pair that does not load (a key of another
// certificate) is refused with the running certificate kept, and the expiry is in the log and
// the metrics. Before, the files were read once at start: a short-lived certificate expired under
// a running gateway and every device was locked out until a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqtt from 'mqtt';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { freePort, needBinary, tempDir, waitForEvent, waitUntil } from '../helpers/index.js';
import { cliCommand, startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';

const skip = needBinary('openssl', 'openssl');

const makeCert = (dir: string, days: number): { cert: string; key: string } => opensslSelfSigned(dir, days, 'cert');

/** The SHA-256 fingerprint of the certificate a new TLS handshake with the listener gets. */
async function servedFingerprint(port: number): Promise<string> {
  const socket: TLSSocket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  try {
    await waitForEvent(socket, 'secureConnect');
    return socket.getPeerX509Certificate()!.fingerprint256;
  } finally {
    socket.destroy();
  }
}

/** SIGHUP, then wait for a log line after it whose msg matches. */
async function hup(gw: GatewayProcess, msg: RegExp): Promise<Record<string, unknown>> {
  const seen = gw.logs.length;
  gw.proc.kill('SIGHUP');
  return waitUntil(() => gw.logs.slice(seen).find((l) => typeof l.msg === 'string' && msg.test(l.msg)), `a log line matching ${msg}`, 15_000);
}

async function metric(gw: GatewayProcess, name: string, labels: string): Promise<number | undefined> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

test('SIGHUP swaps in renewed TLS files for new handshakes, keeps connected clients, refuses a mismatched pair', { skip }, async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'old'));
  await mkdir(join(dir, 'new'));
  const old = makeCert(join(dir, 'old'), 1);
  const renewed = makeCert(join(dir, 'new'), 365);
  const live = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  await copyFile(old.cert, live.cert);
  await copyFile(old.key, live.key);
  const file = await writeConfig(
    dir,
    `dataDir: ${join(dir, 'data')}
exporters: []
broker:
  listeners:
    - { host: 127.0.0.1, port: 0 }
    - { host: 127.0.0.1, port: 0, tls: { cert: cert.pem, key: key.pem } }
`,
  );
  const gw = await startGatewayProcess(file);
  t.after(() => gw.stop());
  const started = gw.logs.find((l) => l.msg === 'gatehouse started') as { mqtt: Array<{ port: number; tls: boolean }> };
  const port = started.mqtt.find((a) => a.tls)!.port;
  const oldFp = new X509Certificate(await readFile(old.cert)).fingerprint256;
  const newX509 = new X509Certificate(await readFile(renewed.cert));

  // A certificate valid for one day, just made: not warned of (only in the last third of a short
  // lifetime; broker-tls-expiry.test.ts); its expiry is exported.
  assert.equal(
    gw.logs.find((l) => l.msg === 'TLS certificate expires soon'),
    undefined,
  );
  assert.equal(await servedFingerprint(port), oldFp);

  const before = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, { ca: await readFile(old.cert), reconnectPeriod: 0, clientId: 'before' });
  t.after(() => before.endAsync(true));
  await before.publishAsync('site/a', '{"n":1}', { qos: 1 });

  // Renewed: new handshakes get the new certificate, the connected client keeps its session.
  await copyFile(renewed.cert, live.cert);
  await copyFile(renewed.key, live.key);
  const reloaded = await hup(gw, /^TLS certificate reloaded/);
  assert.equal(reloaded.notAfter, new Date(Date.parse(newX509.validTo)).toISOString());
  assert.deepEqual(reloaded.changed, ['cert', 'key']);
  assert.equal(await servedFingerprint(port), newX509.fingerprint256);
  await before.publishAsync('site/a', '{"n":2}', { qos: 1 });
  assert.equal(before.connected, true);
  const after = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, { ca: await readFile(renewed.cert), reconnectPeriod: 0, clientId: 'after' });
  t.after(() => after.endAsync(true));
  await after.publishAsync('site/a', '{"n":3}', { qos: 1 });
  assert.equal(await metric(gw, 'gatehouse_broker_tls_cert_expiry_timestamp_seconds', 'listener="mqtts"'), Math.floor(Date.parse(newX509.validTo) / 1000));

  // The same files again: nothing swapped.
  await hup(gw, /^reload: the rule set did not change$/);
  assert.equal(await metric(gw, 'gatehouse_broker_tls_reloads_total', 'outcome="unchanged"'), 1);

  // Half-written renewal (the old key beside the new certificate): refused, the running one kept.
  await copyFile(old.key, live.key);
  const refused = await hup(gw, /^TLS reload refused/);
  assert.match(String(refused.err), /GH_BROKER_TLS/);
  assert.equal(await servedFingerprint(port), newX509.fingerprint256);
  await after.publishAsync('site/a', '{"n":4}', { qos: 1 });
  assert.equal(await metric(gw, 'gatehouse_broker_tls_reloads_total', 'outcome="refused"'), 1);
  assert.equal(await metric(gw, 'gatehouse_broker_tls_reloads_total', 'outcome="reloaded"'), 1);
  assert.equal((await fetch(`${gw.adminUrl}/healthz`)).status, 200);
});

test('admin.tls: the real CLI reaches the HTTPS admin API with --config, and SIGHUP renews its certificate', { skip }, async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'old'));
  await mkdir(join(dir, 'new'));
  // Made for the Pi's name only: the CLI dials 127.0.0.1 and trusts the file's certificate itself.
  const old = opensslSelfSigned(join(dir, 'old'), 30, 'admin', 'DNS:gw.example.lan');
  const renewed = opensslSelfSigned(join(dir, 'new'), 365, 'admin', 'DNS:gw.example.lan');
  const live = { cert: join(dir, 'admin.pem'), key: join(dir, 'admin.key') };
  await copyFile(old.cert, live.cert);
  await copyFile(old.key, live.key);
  const adminPort = await freePort(t);
  const file = await writeConfig(
    dir,
    `dataDir: ${join(dir, 'data')}
exporters: []
admin:
  port: ${adminPort}
  token: an-admin-token-of-32-characters-x
  tls: { cert: admin.pem, key: admin.key }
`,
  );
  // The CLI finds the admin API through the config file: its port, not the helper's port 0.
  const gw = await startGatewayProcess(file, ['--admin-port', String(adminPort)]);
  t.after(() => gw.stop());
  assert.match(gw.adminUrl, /^https:/);
  const cli = async (): Promise<{ code: number | null; out: string; err: string }> => {
    const { cmd, args } = cliCommand();
    const proc = spawn(cmd, [...args, 'streams', '--config', file], { env: { ...process.env, NODE_OPTIONS: '' } });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = (await once(proc, 'exit')) as [number | null];
    return { code, out, err };
  };
  const first = await cli();
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, /archive/);
  assert.equal(await servedFingerprint(adminPort), new X509Certificate(await readFile(old.cert)).fingerprint256);

  await copyFile(renewed.cert, live.cert);
  await copyFile(renewed.key, live.key);
  const reloaded = await hup(gw, /^TLS certificate reloaded/);
  assert.equal(reloaded.listener, 'admin');
  assert.equal(await servedFingerprint(adminPort), new X509Certificate(await readFile(renewed.cert)).fingerprint256);
  const second = await cli();
  assert.equal(second.code, 0, second.err);
});
