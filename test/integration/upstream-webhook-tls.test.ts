// The webhook destination over https with mutual TLS: a stand-in https server (node's, written here:
// it asks for a client certificate of a private CA and records who presented one) trusted through
// caFile, the gateway's certificate and key in certFile/keyFile, directly and through a real proxy
// (tinyproxy: a CONNECT tunnel, the client certificate presented inside it).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { append, assertAll, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { deviceCa } from '../helpers/device-ca.js';
import { startTinyproxy, tinyproxySkip } from '../helpers/tinyproxy.js';

const skip = needBinary('openssl', 'openssl');

interface Files {
  serverCert: string;
  client: { cert: string; key: string };
}

/** An https receiver wanting a client certificate of `ca`; resolves to its url and the CNs it was shown per request, with the records' i + 1. */
async function mtlsReceiver(t: TestContext): Promise<{ url: string; port: number; files: Files; who: string[]; got: number[] }> {
  const dir = await tempDir(t);
  const server = opensslSelfSigned(dir, 1, 'server');
  const ca = deviceCa(dir, 'gateways');
  const client = ca.issue('gw7', '/CN=gw7');
  const who: string[] = [];
  const got: number[] = [];
  const https = createServer(
    { cert: readFileSync(server.cert), key: readFileSync(server.key), ca: readFileSync(ca.cert), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        who.push(String((req.socket as TLSSocket).getPeerCertificate().subject?.CN));
        for (const l of Buffer.concat(chunks).toString().trimEnd().split('\n')) got.push((JSON.parse(l) as { payload: { i: number } }).payload.i + 1);
        res.writeHead(202);
        res.end();
      });
    },
  );
  https.listen(0, '127.0.0.1');
  await once(https, 'listening');
  t.after(() => {
    https.closeAllConnections();
    https.close();
  });
  const addr = https.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { url: `https://127.0.0.1:${port}/ingest`, port, files: { serverCert: server.cert, client }, who, got };
}

test('webhook over https with mutual TLS: the private CA verifies the server, the client certificate is presented', { skip, timeout: 60_000 }, async (t) => {
  const rx = await mtlsReceiver(t);
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, {
    type: 'webhook',
    url: rx.url,
    caFile: rx.files.serverCert,
    certFile: rx.files.client.cert,
    keyFile: rx.files.client.key,
  });
  await append(streams, 7);
  await waitUntil(() => exporter.status().lastExportedSeq === 7, 'exported over mTLS', 15_000);
  assertAll(rx.got, 7, 'mTLS');
  assert.ok(rx.who.length > 0 && rx.who.every((cn) => cn === 'gw7'), `the client certificate presented: ${rx.who.join(', ')}`);
});

test('webhook over https without the client certificate the server wants: held (nothing dead-lettered), the TLS failure named', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const rx = await mtlsReceiver(t);
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, { type: 'webhook', url: rx.url, caFile: rx.files.serverCert, timeoutMs: 2000 });
  await append(streams, 3);
  await waitUntil(() => exporter.status().retries >= 3, 'several failed sends', 15_000);
  const st = exporter.status();
  assert.equal(st.deadLetters, 0);
  assert.equal(st.lastExportedSeq, 0);
  assert.match(st.lastError?.message ?? '', /POST https:\/\/127\.0\.0\.1:\d+\/ingest failed/);
  assert.equal(rx.got.length, 0);
});

test('webhook over https with mutual TLS through a proxy (tinyproxy CONNECT): the client certificate goes through the tunnel', {
  skip: skip ?? tinyproxySkip,
  timeout: 60_000,
}, async (t) => {
  const rx = await mtlsReceiver(t);
  const proxy = await startTinyproxy(t);
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, {
    type: 'webhook',
    url: rx.url,
    caFile: rx.files.serverCert,
    certFile: rx.files.client.cert,
    keyFile: rx.files.client.key,
    proxy: proxy.url,
  });
  await append(streams, 4);
  await waitUntil(() => exporter.status().lastExportedSeq === 4, 'exported through the proxy', 15_000);
  assertAll(rx.got, 4, 'mTLS via proxy');
  assert.ok(rx.who.every((cn) => cn === 'gw7'));
  assert.ok(
    (await proxy.requests()).some((l) => l.startsWith(`CONNECT 127.0.0.1:${rx.port}`)),
    'the request went through the proxy',
  );
});
