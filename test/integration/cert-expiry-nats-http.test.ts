// An expired certificate said as such by the NATS destination and the HTTP-based ones, from a user's
// seat with real peers: a nats-server requiring client certificates (tls { verify: true }) and an
// exporter whose client certificate expired yesterday; an https receiver whose certificate chains
// to a CA whose certificate (the one caFile holds) expired yesterday. Before, the exporter's
// lastError was the bare handshake failure (NATS: "NATS is not connected (...)", HTTP: "POST ...
// failed: certificate has expired"); now GH_UPSTREAM_CERT_EXPIRED names the file and its date.
// The records are held (never dead-lettered) and go out once the file is renewed: the NATS client
// reads its files at each connect; the HTTP destination at its next start (restart).
// Certificates with chosen dates: test/helpers/cert-dates.ts (openssl ca).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { CreateStreamCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { once } from 'node:events';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort, needBinary, tempDir, waitUntil, which } from '../helpers/index.js';
import { testCa, type TestCa } from '../helpers/cert-dates.js';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { startKinesalite } from '../helpers/peers.js';
import { startHttpsFirehoseReceiver } from '../helpers/firehose-receiver.js';
import type { Exporter } from '../../gateway/upstream/exporter.js';
import type { LocalStreams } from '../../gateway/store/types.js';

const DAY = 86_400_000;
/** A certificate's date as the gateway says it (whole seconds). */
const iso = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString();
const opensslSkip = needBinary('openssl', 'openssl');

/**
 * The CA's own certificate again (same name, same key), valid only until `notAfter`: what a caFile
 * holds when the CA was re-issued and the gateway kept the old one. A server certificate the CA
 * issues chains to it, and no longer verifies once it is past its date.
 */
function caCopy(ca: TestCa, name: string, notBefore: Date, notAfter: Date): string {
  const csr = join(ca.dir, `${name}.csr`);
  const out = join(ca.dir, `${name}.pem`);
  const asn1 = (d: Date): string => `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  // The CA's extensions in the request (the CA's config copies them: copy_extensions).
  run([
    'req',
    '-new',
    '-key',
    ca.key,
    '-out',
    csr,
    '-subj',
    '/CN=test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=keyCertSign,cRLSign',
  ]);
  run([
    'ca',
    '-batch',
    '-selfsign',
    '-config',
    join(ca.dir, 'test-ca.cnf'),
    '-keyfile',
    ca.key,
    '-in',
    csr,
    '-out',
    out,
    '-notext',
    '-startdate',
    asn1(notBefore),
    '-enddate',
    asn1(notAfter),
  ]);
  return out;
}

/** The exporter's state in a line, for a failed wait. */
const shown = (e: Exporter): string => JSON.stringify({ lastError: e.status().lastError?.message, backlog: e.status().backlog, dead: e.status().deadLetters });

/** Several failed sends, nothing dead-lettered, the checkpoint held: the expired certificate holds the records. */
async function assertHeldBy(exporter: Exporter, streams: LocalStreams, n: number, error: RegExp): Promise<void> {
  await waitUntil(() => exporter.status().retries >= 3 || exporter.status().deadLetters > 0, 'several failed sends', 20_000, 20);
  await waitUntil(() => error.test(exporter.status().lastError?.message ?? ''), `the last error to match ${error}`, 20_000, 20).catch(() => {
    assert.fail(`the last error: ${shown(exporter)}`);
  });
  const st = exporter.status();
  assert.equal(st.deadLetters, 0, `nothing dead-lettered: ${shown(exporter)}`);
  assert.equal(streams.info('up-dlq').lastSeq, 0, 'the dead-letter stream is empty');
  assert.equal(st.lastExportedSeq, 0, 'the checkpoint held');
  assert.equal(st.backlog.records, n);
}

/** nats-server with JetStream on TLS (`server`'s certificate), client certificates of `caCert` required when `verify`; its port. */
async function startTlsNats(t: TestContext, dir: string, server: { cert: string; key: string }, caCert: string, verify: boolean): Promise<number> {
  const port = await freePort(t);
  const conf = join(dir, 'nats.conf');
  await writeFile(
    conf,
    `listen: 127.0.0.1:${port}\njetstream { store_dir: "${join(dir, 'js')}" }\n` +
      `tls { cert_file: "${server.cert}", key_file: "${server.key}", ca_file: "${caCert}", verify: ${verify}, timeout: 2 }\n`,
  );
  const child = spawn(which('nats-server')!, ['-c', conf], { stdio: 'ignore' });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  });
  return port;
}

/** The NATS destination of these tests: tls://127.0.0.1:port with the given tls files, quick retries. */
function natsOverTls(port: number, tls: Record<string, string>): Record<string, unknown> {
  return { type: 'nats', servers: `tls://127.0.0.1:${port}`, stream: 'GH', createStream: true, reconnectWaitMs: 100, ackTimeoutMs: 2000, tls };
}

test("nats destination: a client certificate past its date is named in the exporter's error; renewed in place, the records get out", {
  skip: opensslSkip ?? needBinary('nats-server', 'nats-server'),
  timeout: 90_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-nats-cert-');
  const ca = testCa(dir);
  const now = Date.now();
  const server = ca.issue('server', 'localhost', new Date(now - DAY), new Date(now + 365 * DAY), 'IP:127.0.0.1,DNS:localhost');
  const expired = ca.issue('expired', 'gw', new Date(now - 30 * DAY), new Date(now - DAY));
  const renewed = ca.issue('renewed', 'gw', new Date(now - DAY), new Date(now + 365 * DAY));
  const cert = join(dir, 'live.pem');
  const key = join(dir, 'live.key');
  await copyFile(expired.cert, cert);
  await copyFile(expired.key, key);

  const port = await startTlsNats(t, dir, server, ca.cert, true);
  const streams = await openStreams(t);
  await append(streams, 4);
  const exporter = await startExporter(t, streams, natsOverTls(port, { caFile: ca.cert, certFile: cert, keyFile: key }));
  await assertHeldBy(exporter, streams, 4, /GH_UPSTREAM_CERT_EXPIRED/);
  t.diagnostic(`expired client certificate: ${exporter.status().lastError!.message}`);
  assert.match(
    exporter.status().lastError!.message,
    new RegExp(`the client certificate ${cert} expired on ${iso(now - DAY)} \\(1 day\\(s\\) ago, by this gateway's clock\\)`),
  );

  // The renewal agent writes the new files; the client reads them at its next connect.
  await copyFile(renewed.key, key);
  await copyFile(renewed.cert, cert);
  await waitUntil(() => exporter.status().lastExportedSeq === 4, 'the 4 records exported with the renewed certificate', 30_000, 50).catch(() =>
    assert.fail(`not exported: ${shown(exporter)}`),
  );
  assert.equal(exporter.status().deadLetters, 0);
});

test("nats destination: a CA bundle (tls.caFile) past its date is named in the exporter's error; renewed in place, the records get out", {
  skip: opensslSkip ?? needBinary('nats-server', 'nats-server'),
  timeout: 90_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-nats-ca-');
  const ca = testCa(dir);
  const now = Date.now();
  const server = ca.issue('server', 'localhost', new Date(now - DAY), new Date(now + 365 * DAY), 'IP:127.0.0.1,DNS:localhost');
  const caFile = join(dir, 'ca-bundle.pem');
  await copyFile(caCopy(ca, 'old-ca', new Date(now - 400 * DAY), new Date(now - DAY)), caFile);
  const port = await startTlsNats(t, dir, server, ca.cert, false);
  const streams = await openStreams(t);
  await append(streams, 2);
  const exporter = await startExporter(t, streams, natsOverTls(port, { caFile }));
  await assertHeldBy(exporter, streams, 2, /GH_UPSTREAM_CERT_EXPIRED/);
  t.diagnostic(`expired CA: ${exporter.status().lastError!.message}`);
  assert.match(exporter.status().lastError!.message, new RegExp(`the CA bundle ${caFile} holds a certificate that expired on ${iso(now - DAY)} `));

  await copyFile(ca.cert, caFile);
  await waitUntil(() => exporter.status().lastExportedSeq === 2, 'the 2 records exported with the current CA', 30_000, 50).catch(() =>
    assert.fail(`not exported: ${shown(exporter)}`),
  );
});

test("http destination: a CA bundle past its date is named in the exporter's error (not another CA, not a refused port); the current CA file and a restart get the records out", {
  skip: opensslSkip,
  timeout: 90_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-http-cert-');
  const ca = testCa(dir);
  const now = Date.now();
  const server = ca.issue('server', 'localhost', new Date(now - DAY), new Date(now + 365 * DAY), 'IP:127.0.0.1,DNS:localhost');
  const oldCa = caCopy(ca, 'old-ca', new Date(now - 400 * DAY), new Date(now - DAY));
  const caFile = join(dir, 'ca-bundle.pem');
  await copyFile(oldCa, caFile);
  const rx = await startHttpsFirehoseReceiver(t, server.cert, server.key);
  const streams = await openStreams(t);
  await append(streams, 5);

  const first = await startExporter(t, streams, { type: 'http', url: rx.url, timeoutMs: 2000, caFile });
  await assertHeldBy(first, streams, 5, /GH_UPSTREAM_CERT_EXPIRED/);
  t.diagnostic(`expired CA: ${first.status().lastError!.message}`);
  assert.match(
    first.status().lastError!.message,
    new RegExp(`the CA bundle ${caFile} holds a certificate that expired on ${iso(now - DAY)} .*get the CA's current certificate`),
  );
  assert.equal(rx.records(), 0);
  await first.stop();

  // A current CA that did not issue the server's certificate: not an expiry, the usual words.
  const other = testCa(join(dir), 'other');
  const stranger = await startExporter(t, streams, { type: 'http', url: rx.url, timeoutMs: 2000, caFile: other.cert });
  await assertHeldBy(stranger, streams, 5, /certificate|issuer/i);
  assert.doesNotMatch(stranger.status().lastError!.message, /GH_UPSTREAM_CERT_EXPIRED/);
  await stranger.stop();

  // The expired bundle, but nothing listens: the refused port is said, not the certificate.
  const closed = await freePort(t);
  const refused = await startExporter(t, streams, { type: 'http', url: `https://127.0.0.1:${closed}/firehose`, timeoutMs: 2000, caFile });
  await assertHeldBy(refused, streams, 5, /ECONNREFUSED/);
  assert.doesNotMatch(refused.status().lastError!.message, /GH_UPSTREAM_CERT_EXPIRED/);
  await refused.stop();

  // Renewed: the CA's current certificate in the file; the destination reads it when it is made.
  await copyFile(ca.cert, caFile);
  const renewed = await startExporter(t, streams, { type: 'http', url: rx.url, timeoutMs: 2000, caFile });
  await waitUntil(() => renewed.status().lastExportedSeq === 5, 'the 5 records exported with the current CA', 20_000, 20).catch(() =>
    assert.fail(`not exported: ${shown(renewed)}`),
  );
  assert.equal(rx.records(), 5);
});

/** TLS with `cert`/`key` in front of a plain TCP port (kinesalite's): what a load balancer before the service does. */
async function tlsFront(t: TestContext, cert: string, key: string, port: number): Promise<number> {
  const server = createTlsServer({ cert: await readFile(cert), key: await readFile(key) }, (s) => {
    const up = connect(port, '127.0.0.1');
    s.pipe(up).pipe(s);
    s.on('error', () => up.destroy());
    up.on('error', () => s.destroy());
    t.after(() => {
      s.destroy();
      up.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as { port: number }).port;
}

test("kinesis destination: a CA bundle past its date is named in the exporter's error; the current CA file and a restart get the records out", {
  skip: opensslSkip,
  timeout: 90_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-kinesis-cert-');
  const ca = testCa(dir);
  const now = Date.now();
  const server = ca.issue('server', 'localhost', new Date(now - DAY), new Date(now + 365 * DAY), 'IP:127.0.0.1,DNS:localhost');
  const caFile = join(dir, 'ca-bundle.pem');
  await copyFile(caCopy(ca, 'old-ca', new Date(now - 400 * DAY), new Date(now - DAY)), caFile);
  const peer = await startKinesalite(t);
  const creds = { accessKeyId: 'local', secretAccessKey: 'local-secret' };
  const admin = new KinesisClient({ region: 'us-east-1', endpoint: peer.url, credentials: { ...creds }, requestHandler: new NodeHttpHandler() });
  t.after(() => admin.destroy());
  await admin.send(new CreateStreamCommand({ StreamName: 'gh', ShardCount: 1 }));
  const port = await tlsFront(t, server.cert, server.key, peer.port);
  const streams = await openStreams(t);
  await append(streams, 3);
  const destination = {
    type: 'kinesis',
    streamName: 'gh',
    region: 'us-east-1',
    endpoint: `https://127.0.0.1:${port}`,
    ...creds,
    requestTimeoutMs: 3000,
    sdkMaxAttempts: 1,
    caFile,
  };

  const first = await startExporter(t, streams, destination);
  await assertHeldBy(first, streams, 3, /GH_UPSTREAM_CERT_EXPIRED/);
  t.diagnostic(`expired CA: ${first.status().lastError!.message}`);
  assert.match(
    first.status().lastError!.message,
    new RegExp(`PutRecords.* failed: the CA bundle ${caFile} holds a certificate that expired on ${iso(now - DAY)} `),
  );
  await first.stop();

  await copyFile(ca.cert, caFile);
  const renewed = await startExporter(t, streams, destination);
  await waitUntil(() => renewed.status().lastExportedSeq === 3, 'the 3 records exported with the current CA', 20_000, 20).catch(() =>
    assert.fail(`not exported: ${shown(renewed)}`),
  );
});
