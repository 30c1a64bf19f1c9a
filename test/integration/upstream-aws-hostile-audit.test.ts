// AWS destinations (kinesis, firehose, s3) against an endpoint that is not the service and answers
// 200 with a body that does not end (a captive portal, a broken proxy, a hostile peer: a small
// node:http peer written here, no real part answers like this). The AWS SDK collects a body whole:
// a few seconds of it took GBs, then crashed the gateway (RangeError: Invalid typed array length).
// The body is read up to 1 MiB; then the call fails as a setup fault naming the endpoint, the
// backlog is held, and the peer could push only a few MiB before the connection closed.
// And an https endpoint certified by a private CA (a TLS proxy written here in front of a real
// s3rver): the error said only 'self-signed certificate. Fix: the records wait...', and nothing
// in the destination could trust that CA; caFile does, like the http destination's.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { append, assertHeld, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { tempDir, waitUntil, which } from '../helpers/index.js';
import { startS3rver } from '../helpers/peers.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { s3Sink } from '../helpers/upstream-e2e.js';

/** Bytes the peer may send per answer: far over the 1 MiB bound, small enough for a test that fails. */
const PEER_CAP = 96 * 1024 * 1024;

/** A peer answering 200 with up to PEER_CAP bytes of JSON whitespace; `written()`: the most one answer got out. */
async function endlessPeer(t: TestContext): Promise<{ url: string; written: () => number }> {
  let most = 0;
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      let sent = 0;
      const pump = (): void => {
        while (!res.destroyed && sent < PEER_CAP) {
          sent += chunk.length;
          most = Math.max(most, sent);
          if (!res.write(chunk)) return;
        }
        if (!res.destroyed) res.end();
      };
      res.on('drain', pump);
      pump();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, written: () => most };
}

const destinations: Record<string, Record<string, unknown>> = {
  kinesis: { type: 'kinesis', streamName: 'fleet' },
  firehose: { type: 'firehose', deliveryStreamName: 'fleet' },
  s3: { type: 's3', bucket: 'archive', forcePathStyle: true },
};

for (const [kind, destination] of Object.entries(destinations)) {
  test(`${kind}: an endpoint answering an endless body fails the call past 1 MiB, held as a setup fault`, { timeout: 60_000 }, async (t) => {
    const peer = await endlessPeer(t);
    const streams = await openStreams(t);
    const exporter = await startExporter(t, streams, {
      ...destination,
      endpoint: peer.url,
      accessKeyId: 'AKID',
      secretAccessKey: 'SECRET',
      requestTimeoutMs: 20_000,
    });
    await append(streams, 2);
    await assertHeld(exporter, streams, 2, /ResponseTooLarge: response from http:\/\/127\.0\.0\.1:\d+ over 1 MiB .*check the destination's endpoint/);
    assert.ok(peer.written() < 16 * 1024 * 1024, `the peer got ${peer.written()} bytes out before the gateway closed the connection`);
  });
}

test('s3 behind an https endpoint certified by a private CA: held with a hint naming caFile, delivered once caFile names that CA', {
  skip: which('openssl') ? false : 'openssl is not installed',
  timeout: 60_000,
}, async (t) => {
  const peer = await startS3rver(t, ['archive']);
  const dir = await tempDir(t, 'gatehouse-aws-ca-');
  const { cert, key } = opensslSelfSigned(dir);
  // TLS in front of s3rver: each connection piped to it.
  const sockets = new Set<Socket>();
  const proxy = createTlsServer({ cert: readFileSync(cert), key: readFileSync(key) }, (tls) => {
    const plain = connect(peer.port, '127.0.0.1');
    for (const s of [tls, plain]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    tls.pipe(plain).pipe(tls);
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    proxy.close();
  });
  const addr = proxy.address();
  const endpoint = `https://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const streams = await openStreams(t);
  const base = { type: 's3', bucket: 'archive', endpoint, forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', requestTimeoutMs: 3000 };
  const untrusting = await startExporter(t, streams, base);
  await append(streams, 3);
  await waitUntil(() => untrusting.status().retries >= 6, 'several failed sends', 15_000);
  const st = untrusting.status();
  assert.equal(st.deadLetters, 0);
  assert.equal(st.lastExportedSeq, 0);
  assert.match(st.lastError?.message ?? '', /self-signed certificate.*set the destination's caFile to that CA's PEM/);
  await untrusting.stop();

  await startExporter(t, streams, { ...base, caFile: cert });
  const sink = await s3Sink(t, peer.url, 'archive');
  const got = await waitUntil(async () => ((await sink.read()).length >= 3 ? sink.read() : undefined), '3 records in the bucket', 15_000);
  assert.equal(got.length, 3);
});
