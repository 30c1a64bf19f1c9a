// The admin API against browser-borne attacks and oversized answers, with a real HTTP client
// (node:http, which lets a test set Host and Origin as a hostile page's browser would) against a
// real in-process gateway: DNS rebinding (unknown Host -> 421), CSRF (cross-origin state change
// -> 403), records streamed under a byte cap, case-insensitive bearer scheme.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'node:http';
import { connect } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { tempDir, testDeps, withTimeout } from '../helpers/index.js';

const TOKEN = 'a-test-token-of-32-characters-xx';

async function startInProcess(t: TestContext, extraYaml = ''): Promise<Gateway> {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n${extraYaml}`);
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const deps = testDeps();
  const gw = await startGateway(config, { logger: deps.logger, registry: createMetricsRegistry('test', 'gw-test'), version: 'test' });
  t.after(() => gw.stop());
  return gw;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(gw: Gateway, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  const port = gw.admin!.address().port;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('DNS rebinding: an unknown Host header is refused (421); loopback names and admin.allowedHosts pass', async (t) => {
  const gw = await startInProcess(t, 'admin: { allowedHosts: [gw.example.lan] }\n');
  const port = gw.admin!.address().port;
  for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1.evil.example:${port}`, `localhost.evil.example`]) {
    const r = await call(gw, 'GET', '/api/streams', { host });
    assert.equal(r.status, 421, `Host ${host}`);
    assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'GH_ADMIN_FORBIDDEN');
  }
  assert.equal((await call(gw, 'GET', '/healthz', { host: 'evil.example' })).status, 421);
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, `gw.example.lan:${port}`, 'localhost']) {
    assert.equal((await call(gw, 'GET', '/api/streams', { host })).status, 200, `Host ${host}`);
  }
  const metrics = await call(gw, 'GET', '/metrics');
  assert.match(metrics.body, /gatehouse_admin_refused_total\{reason="host"\} 5/);
});

test('CSRF: a cross-origin state change is refused (403) and changes nothing; same origin and non-browser clients pass', async (t) => {
  const gw = await startInProcess(t);
  const port = gw.admin!.address().port;
  const rs = (v: number): string =>
    JSON.stringify({ version: v, rules: [{ name: 'archive_all', sql: "SELECT * FROM '#'", actions: [{ stream: { name: 'archive' } }] }] });
  // Two versions so a rollback has somewhere to go.
  assert.equal((await call(gw, 'PUT', '/api/rules', { 'content-type': 'application/json' }, rs(2))).status, 200);
  const version = (): unknown => gw.rules.status().activeVersion;
  const before = version();
  assert.equal(before, 2);

  const evil = await call(gw, 'POST', '/api/rules/rollback', { origin: 'http://evil.example' });
  assert.equal(evil.status, 403);
  assert.equal((JSON.parse(evil.body) as { error: { code: string } }).error.code, 'GH_ADMIN_FORBIDDEN');
  assert.deepEqual(version(), before, 'the rollback did not happen');
  assert.equal((await call(gw, 'PUT', '/api/rules', { origin: 'http://evil.example', 'content-type': 'application/json' }, rs(3))).status, 403);
  assert.equal((await call(gw, 'POST', '/api/rules/rollback', { origin: 'null' })).status, 403, 'an opaque origin (sandboxed frame) is cross-origin');
  assert.equal((await call(gw, 'POST', '/api/rules/rollback', { origin: `http://127.0.0.1:${port + 1}` })).status, 403, 'another port is another origin');
  assert.equal((await call(gw, 'POST', '/api/rules/rollback', { 'sec-fetch-site': 'cross-site' })).status, 403);
  assert.deepEqual(version(), before);

  // The status page itself (same origin) and curl (no Origin) may change state.
  const same = await call(gw, 'PUT', '/api/rules', { origin: `http://127.0.0.1:${port}`, 'content-type': 'application/json' }, rs(3));
  assert.equal(same.status, 200, same.body);
  assert.equal(version(), 3);
  const curl = await call(gw, 'POST', '/api/rules/rollback');
  assert.equal(curl.status, 200, curl.body);
  assert.equal(version(), 2, 'a non-browser client rolled back');
  // Reads from another origin are not state changes (the browser's same-origin policy hides them).
  assert.equal((await call(gw, 'GET', '/api/rules', { origin: 'http://evil.example' })).status, 200);
});

test('records: streamed under a byte cap (?maxBytes and admin.maxResponseBytes), paged with next', async (t) => {
  const gw = await startInProcess(t, 'admin: { maxResponseBytes: 1048576 }\n');
  const N = 12;
  const big = 'x'.repeat(200 * 1024);
  for (let i = 0; i < N; i++) await gw.streams.append('archive', { topic: 'big', payload: Buffer.from(`${i}:${big}`), receivedAt: Date.now() });

  const capped = await call(gw, 'GET', '/api/streams/archive/records?limit=1000&maxBytes=500000');
  assert.equal(capped.status, 200);
  assert.equal(capped.headers['transfer-encoding'], 'chunked', 'streamed, not one buffered body');
  assert.ok(Buffer.byteLength(capped.body) <= 500_000, `body ${Buffer.byteLength(capped.body)} bytes under ?maxBytes`);
  const page = JSON.parse(capped.body) as { records: Array<{ payload: string }>; next: number; truncated: boolean };
  assert.equal(page.records.length, 2);
  assert.equal(page.truncated, true);
  assert.equal(page.next, 3);

  // Default cap from the config; page through everything with next.
  let from = 1;
  let seen = 0;
  let pages = 0;
  for (;;) {
    const r = await call(gw, 'GET', `/api/streams/archive/records?from=${from}&limit=1000`);
    assert.ok(Buffer.byteLength(r.body) <= 1048576, `page of ${Buffer.byteLength(r.body)} bytes under admin.maxResponseBytes`);
    const p = JSON.parse(r.body) as { records: Array<{ payload: string }>; next: number; truncated: boolean };
    if (p.records.length === 0) break;
    for (const rec of p.records) assert.ok(rec.payload.startsWith(`${seen++}:`), 'in order, none skipped');
    from = p.next;
    pages++;
  }
  assert.equal(seen, N);
  assert.ok(pages >= 3, `${pages} pages`);
  // A cap above the configured one is refused rather than silently served.
  assert.equal((await call(gw, 'GET', '/api/streams/archive/records?maxBytes=99999999')).status, 400);
  // One record larger than the cap still goes (alone), so a client always makes progress.
  const one = JSON.parse((await call(gw, 'GET', '/api/streams/archive/records?maxBytes=1000')).body) as { records: unknown[]; next: number };
  assert.equal(one.records.length, 1);
  assert.equal(one.next, 2);
});

test('beyond loopback (token required) any Host is accepted; cross-origin state changes are still refused', async (t) => {
  const gw = await startInProcess(t, `admin: { host: 0.0.0.0, token: ${TOKEN} }\n`);
  const auth = { authorization: `Bearer ${TOKEN}` };
  assert.equal((await call(gw, 'GET', '/api/streams', { ...auth, host: 'gateway.plant.example:9883' })).status, 200);
  assert.equal((await call(gw, 'POST', '/api/rules/rollback', { ...auth, host: 'gateway.plant.example:9883', origin: 'http://evil.example' })).status, 403);
});

test('bearer scheme is case-insensitive; a wrong token is still 401', async (t) => {
  const gw = await startInProcess(t, `admin: { token: ${TOKEN} }\n`);
  for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
    assert.equal((await call(gw, 'GET', '/api/streams', { authorization: `${scheme} ${TOKEN}` })).status, 200, scheme);
  }
  assert.equal((await call(gw, 'GET', '/api/streams', { authorization: `bearer ${TOKEN}x` })).status, 401);
  assert.equal((await call(gw, 'GET', '/api/streams', { authorization: TOKEN })).status, 401);
  assert.equal((await call(gw, 'GET', '/api/streams')).status, 401);
});

test('a client trickling its headers gets 408 and is closed 10 s after its first byte, at the next check of the timeouts (every 1 s)', async (t) => {
  // Before: node checked the timeout every 30 s, so a client connecting just after the gateway
  // started held its connection (one of admin.maxConnections) until ~30 s.
  // What the close depends on: headersTimeout (10 s), counted by the server's parser from the
  // first byte it read (after `sent`), and checked on a timer of the server every
  // connectionsCheckingInterval (1 s). So it comes 10 s or more after `sent` (exact: the same
  // monotonic clock), and then at the server's next check. That check is a timer of this process:
  // when load holds the event loop back, it runs late, and so does every timer of the test. The
  // upper bound is therefore counted in ticks of a 1 s timer of the test started at 10 s, not on
  // the wall clock: at most one tick (the server's check is due within one interval; one more for
  // the two timers not being held back alike). At 30 s between checks it took up to 20 ticks.
  const gw = await startInProcess(t);
  const port = gw.admin!.address().port;
  const socket = connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  const sent = performance.now();
  socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);
  const trickle = setInterval(() => socket.write('X-Slow: 1\r\n'), 500);
  t.after(() => clearInterval(trickle));
  let answer = '';
  socket.on('data', (d: Buffer) => {
    answer += d.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
  let ticks = 0;
  let ticker: NodeJS.Timeout | undefined;
  const startTicks = setTimeout(() => {
    ticker = setInterval(() => ticks++, 1000);
  }, 10_000);
  t.after(() => {
    clearTimeout(startTicks);
    clearInterval(ticker);
  });
  const closedAt = await withTimeout(closed, 40_000, 'the admin API closing the trickling connection');
  clearInterval(ticker);
  t.diagnostic(`closed ${((closedAt - sent) / 1000).toFixed(2)} s after the first byte, ${ticks} tick(s) after 10 s`);
  assert.match(answer, /^HTTP\/1\.1 408 /, 'answered 408 Request Timeout');
  assert.ok(closedAt - sent >= 10_000, `closed ${((closedAt - sent) / 1000).toFixed(2)} s after the first byte was sent, before the headers timeout`);
  assert.ok(
    ticks <= 1,
    `closed after ${ticks} ticks of 1 s counted from 10 s after the first byte (${((closedAt - sent) / 1000).toFixed(2)} s): later than the next check of the timeouts`,
  );
});
