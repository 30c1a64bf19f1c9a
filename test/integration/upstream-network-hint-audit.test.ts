// Destinations whose server cannot be reached for a reason the user fixes in the config: a
// certificate that does not verify (a private CA: small node:tls / node:https servers with an
// openssl self-signed certificate, written here) and a host name that does not resolve (.invalid,
// RFC 6761). The last error named the cause ('self-signed certificate', 'getaddrinfo ENOTFOUND')
// but its fix said 'check the broker URL and network' / 'check that the endpoint is reachable' /
// 'the records wait in the local stream': now it names the option to set (caFile, tls.caFile) or
// to check (url, servers, endpoint) and the gateway's DNS.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer as createTlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { freePort, tempDir, waitUntil, which } from '../helpers/index.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';

const noOpenssl = which('openssl') ? false : 'openssl is not installed';

/** A TLS server with a self-signed certificate for localhost (its handshake fails for a client that does not trust it). */
async function untrustedTls(t: TestContext): Promise<number> {
  const { cert, key } = opensslSelfSigned(await tempDir(t, 'gatehouse-hint-'));
  const server = createTlsServer({ cert: readFileSync(cert), key: readFileSync(key) }, (s) => s.on('error', () => undefined));
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

async function lastErrorOf(t: TestContext, destination: Record<string, unknown>, want: RegExp): Promise<void> {
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, destination);
  await append(streams, 1);
  await waitUntil(() => want.test(exporter.status().lastError?.message ?? ''), `a last error matching ${want}`, 15_000).catch((err: unknown) => {
    throw new Error(`${String(err)}; last error: ${exporter.status().lastError?.message}`);
  });
  assert.equal(exporter.status().deadLetters, 0);
}

const TLS_FIX = (option: string) =>
  new RegExp(`self-signed certificate.*Fix: the server's certificate does not verify: .*set the destination's ${option} to that CA's PEM`);
const DNS_FIX = (option: string) => new RegExp(`ENOTFOUND.*Fix: the host name does not resolve: check the destination's ${option} and the gateway's DNS`);

test('http: an untrusted certificate names caFile, an unknown host names url', { skip: noOpenssl, timeout: 60_000 }, async (t) => {
  const port = await untrustedTls(t);
  await lastErrorOf(t, { type: 'http', url: `https://localhost:${port}/`, timeoutMs: 3000 }, TLS_FIX('caFile'));
  await lastErrorOf(t, { type: 'http', url: 'https://ingest.no-such-host.invalid/', timeoutMs: 3000 }, DNS_FIX('url'));
});

test('mqtt: an untrusted certificate names caFile, an unknown host names url', { skip: noOpenssl, timeout: 60_000 }, async (t) => {
  const port = await untrustedTls(t);
  const base = { type: 'mqtt', clientId: 'gh-hint', connectTimeoutMs: 3000, reconnectMinMs: 50, reconnectMaxMs: 200 };
  await lastErrorOf(t, { ...base, url: `mqtts://localhost:${port}` }, TLS_FIX('caFile'));
  await lastErrorOf(t, { ...base, url: 'mqtt://broker.no-such-host.invalid:1883' }, DNS_FIX('url'));
});

test('nats: an unknown host names servers', { timeout: 60_000 }, async (t) => {
  await lastErrorOf(t, { type: 'nats', servers: 'nats://hub.no-such-host.invalid:4222', stream: 'UP', subject: 'up.${stream}' }, DNS_FIX('servers'));
});

const REFUSED_FIX = (option: string) =>
  new RegExp(
    `(ECONNREFUSED|CONNECTION_REFUSED).*Fix: nothing takes connections at that host and port: check the destination's ${option} \\(its port\\) and that the server runs there`,
  );

test('a port nothing listens on (a typo in it, the server not running) names the option to check: http url, mqtt url, nats servers', {
  timeout: 60_000,
}, async (t) => {
  const port = await freePort(t);
  await lastErrorOf(t, { type: 'http', url: `http://127.0.0.1:${port}/`, timeoutMs: 3000 }, REFUSED_FIX('url'));
  const mqtt = { type: 'mqtt', clientId: 'gh-hint', connectTimeoutMs: 3000, reconnectMinMs: 50, reconnectMaxMs: 200 };
  await lastErrorOf(t, { ...mqtt, url: `mqtt://127.0.0.1:${port}` }, REFUSED_FIX('url'));
  await lastErrorOf(t, { type: 'nats', servers: `nats://127.0.0.1:${port}`, stream: 'UP', subject: 'up.${stream}' }, REFUSED_FIX('servers'));
});

test('kinesis: an unknown host names endpoint', { timeout: 60_000 }, async (t) => {
  await lastErrorOf(
    t,
    {
      type: 'kinesis',
      streamName: 'fleet',
      endpoint: 'https://kinesis.no-such-host.invalid',
      accessKeyId: 'AKID',
      secretAccessKey: 'SECRET',
      requestTimeoutMs: 3000,
    },
    DNS_FIX('endpoint \\(or region\\)'),
  );
});
