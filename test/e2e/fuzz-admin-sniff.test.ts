// Fuzz the plain-HTTP sniff of the HTTPS admin port (gateway/http/plain-http-sniff.ts: the first
// byte tells a TLS handshake from a plain HTTP request), for a bounded time with a deterministic,
// printed seed (FUZZ_SEED, FUZZ_MS override): a real ClientHello (recorded from node's TLS client)
// and real HTTP request starts, mutated as bytes, written whole, in pieces or a byte at a time
// with pauses, then the client waits, half-closes, or closes early (end or reset) at a random point.
//
// Asserts: no crash (the test process is the server), every connection the client leaves open is
// closed by the server within its bounds (first-byte and handshake timeout 300 ms, the 2 s linger
// after a 400), and the port still answers HTTPS and plain HTTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { createAdminServer } from '../../gateway/admin/server.js';
import { metricValue, needBinary, tempDir, testDeps } from '../helpers/index.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { emptyAdminSource } from '../helpers/admin-source.js';
import { fuzzer, fuzzSettings } from '../helpers/fuzz.js';

const skip = needBinary('openssl', 'openssl');
const { seed: SEED, ms: DURATION_MS } = fuzzSettings(20261211, 2500);
const FIRST_BYTE_MS = 300;
/** The server's longest bound on a connection after the client's last byte: the 2 s linger after a 400, with room for a loaded machine. */
const CLOSED_WITHIN_MS = 2000 + FIRST_BYTE_MS + 1500;

/** The first bytes node's TLS client sends (its ClientHello), recorded. */
async function clientHello(): Promise<Buffer> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const got = new Promise<Buffer>((resolve) =>
    server.once('connection', (s) =>
      s.once('data', (d: Buffer) => {
        resolve(Buffer.from(d));
        s.destroy();
      }),
    ),
  );
  const c = tlsConnect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false });
  c.on('error', () => undefined);
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

const HTTP_STARTS = [
  'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
  'POST /api/rules HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"version":',
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  'CONNECT 127.0.0.1:443 HTTP/1.1\r\n\r\n',
  '\r\n\r\n',
  'G',
];

test(`fuzz the HTTPS admin port's first-byte sniff: mutated ClientHellos and HTTP starts, trickled, cut (seed ${SEED})`, {
  skip,
  timeout: DURATION_MS + 60_000,
}, async (t) => {
  console.log(`# fuzz-admin-sniff seed ${SEED} (FUZZ_SEED to replay), duration ${DURATION_MS} ms (FUZZ_MS)`);
  const f = fuzzer(SEED);
  const dir = await tempDir(t, 'gatehouse-fuzz-sniff-');
  const tls = opensslSelfSigned(dir);
  const deps = testDeps();
  // (firstByteTimeoutMs: an option only tests set, as in admin-https-plain.test.ts)
  const options = { host: '127.0.0.1', port: 0, maxBodyBytes: 1024 * 1024, tls, firstByteTimeoutMs: FIRST_BYTE_MS };
  const admin = createAdminServer(options, { ...deps, source: emptyAdminSource });
  await admin.start();
  t.after(() => admin.stop());
  const port = admin.address().port;
  const hello = await clientHello();

  const counts = { connections: 0, tls: 0, http: 0, trickled: 0, clientClosed: 0, serverClosed: 0 };
  const slow: string[] = [];
  let open = 0;
  /** One connection: its bytes, how they are written, how the client ends. */
  async function one(): Promise<void> {
    const start = f.rnd() < 0.5 ? hello : Buffer.from(f.pick(HTTP_STARTS));
    const bytes = f.rnd() < 0.7 ? f.mutate(start) : start;
    if (bytes[0] === 0x16) counts.tls++;
    else counts.http++;
    const pieces: Buffer[] = [];
    const trickle = f.rnd() < 0.3;
    if (trickle) counts.trickled++;
    for (let at = 0; at < bytes.length; ) {
      const n = trickle ? 1 : 1 + f.int(bytes.length - at);
      pieces.push(bytes.subarray(at, at + n));
      at += n;
    }
    const cutAt = f.rnd() < 0.3 ? f.int(pieces.length + 1) : -1;
    const ending = f.pick(['wait', 'wait', 'end', 'destroy'] as const);
    const s = netConnect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    counts.connections++;
    open++;
    // (not events.once: it rejects on the 'error' a reset brings)
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    await Promise.race([new Promise<void>((r) => s.once('connect', () => r())), closed]);
    let lastWrite = performance.now();
    for (let i = 0; i < pieces.length && !s.destroyed; i++) {
      if (i === cutAt) break;
      s.write(pieces[i]!);
      lastWrite = performance.now();
      if (trickle && f.rnd() < 0.1) await new Promise((r) => setTimeout(r, f.int(FIRST_BYTE_MS / 2)));
    }
    if (cutAt >= 0 || ending !== 'wait') {
      if (ending === 'destroy') s.resetAndDestroy();
      else s.end();
      if (ending !== 'wait') counts.clientClosed++;
    }
    const bound = new Promise<'open'>((r) => setTimeout(() => r('open'), CLOSED_WITHIN_MS + 100).unref());
    const how = await Promise.race([closed.then(() => 'closed' as const), bound]);
    open--;
    if (how === 'open') {
      slow.push(`${bytes.subarray(0, 60).toString('hex')} (${bytes.length} bytes, ${trickle ? 'trickled' : 'whole'}, cut ${cutAt}, ${ending})`);
      s.destroy();
      return;
    }
    if (ending === 'wait') counts.serverClosed++;
    const ms = performance.now() - lastWrite;
    if (ms > CLOSED_WITHIN_MS) slow.push(`closed ${Math.round(ms)} ms after the last byte: ${bytes.subarray(0, 60).toString('hex')}`);
  }

  const deadline = Date.now() + DURATION_MS;
  const workers = Array.from({ length: 8 }, async () => {
    while (Date.now() < deadline && slow.length === 0) await one();
  });
  await Promise.all(workers);
  console.log(`# fuzz-admin-sniff: ${JSON.stringify(counts)}; answered plain ${await metricValue(deps.registry, 'gatehouse_admin_plain_http_total')}`);
  assert.deepEqual(slow.slice(0, 3), [], `every connection closed by the server within ${CLOSED_WITHIN_MS} ms of the client's last byte`);
  assert.equal(open, 0);

  // The port still answers both.
  const ca = await readFile(tls.cert);
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/healthz', ca, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 200, 'HTTPS answers after the fuzz');
  const plain = netConnect(port, '127.0.0.1');
  plain.on('error', () => undefined);
  let text = '';
  plain.on('data', (d: Buffer) => (text += d.toString()));
  plain.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  await once(plain, 'close');
  assert.match(text, /^HTTP\/1\.1 400 /, 'plain HTTP is answered 400 after the fuzz');
  assert.ok(counts.connections > 0 && counts.tls > 0 && counts.http > 0);
});
