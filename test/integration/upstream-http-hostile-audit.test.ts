// The http destination against endpoints that misbehave (small node:http peers written here: no
// real receiver answers like this on purpose, but rate limiters, proxies and broken apps do):
// - 429 or 503 with Retry-After: the loop waits what the endpoint asked (up to backoff.maxMs)
//   instead of knocking again after initialMs, doubling (several calls a second at a server that
//   said "come back in 2 s");
// - a 200 whose body never ends or is far larger than the protocol's answer: the send fails as
//   soon as the body passes the 64 KiB read limit, saying so, instead of reading it until timeoutMs
//   and then calling it "no response" (or "not JSON" for a large complete one).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { createHttpDestination } from '../../gateway/upstream/destinations/http.js';
import { httpDestinationSchema } from '../../gateway/upstream/options.js';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { testDeps, waitUntil, withTimeout } from '../helpers/index.js';

interface Peer {
  url: string;
  /** performance.now() of each request's arrival. */
  arrivals: number[];
}

/** A node:http peer that answers request n (0-based) with `answer(n, req, res)`. */
async function peer(t: TestContext, answer: (n: number, req: IncomingMessage, res: ServerResponse) => void): Promise<Peer> {
  const arrivals: number[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      arrivals.push(performance.now());
      answer(arrivals.length - 1, req, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`, arrivals };
}

function accept(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ requestId: req.headers['x-amz-firehose-request-id'], timestamp: Date.now() }));
}

for (const status of [429, 503]) {
  test(`http: ${status} with Retry-After: 2 is waited out before the next try (not initialMs later)`, { timeout: 30_000 }, async (t) => {
    const p = await peer(t, (n, req, res) => {
      if (n > 0) return accept(req, res);
      res.writeHead(status, { 'retry-after': '2' });
      res.end('{"errorMessage":"slow down"}');
    });
    const streams = await openStreams(t);
    await append(streams, 3);
    const exporter = await startExporter(t, streams, { type: 'http', url: p.url }, testDeps(), {
      batch: { maxRecords: 5, lingerMs: 0 },
      backoff: { initialMs: 20, maxMs: 10_000, outageMaxMs: 100 },
    });
    await waitUntil(() => exporter.status().lastExportedSeq === 3, 'the records delivered after the wait', 15_000);
    const gap = p.arrivals[1]! - p.arrivals[0]!;
    assert.ok(gap >= 1900, `the second try came ${Math.round(gap)} ms after the ${status} that said Retry-After: 2`);
    assert.equal(exporter.status().deadLetters, 0);
  });
}

test('http: a Retry-After longer than backoff.maxMs waits maxMs', { timeout: 30_000 }, async (t) => {
  const p = await peer(t, (n, req, res) => {
    if (n > 0) return accept(req, res);
    res.writeHead(429, { 'retry-after': '3600' });
    res.end();
  });
  const streams = await openStreams(t);
  await append(streams, 1);
  const exporter = await startExporter(t, streams, { type: 'http', url: p.url }, testDeps(), {
    batch: { maxRecords: 5, lingerMs: 0 },
    backoff: { initialMs: 20, maxMs: 300, outageMaxMs: 100 },
  });
  await waitUntil(() => exporter.status().lastExportedSeq === 1, 'the record delivered after maxMs', 10_000);
  assert.match(exporter.status().lastError?.message ?? '', /HTTP 429 .*Retry-After 3600 s/);
});

test('http: a 200 whose body never ends fails at once past 64 KiB, saying so, not after timeoutMs', { timeout: 30_000 }, async (t) => {
  const chunk = Buffer.alloc(16 * 1024, 0x20);
  const p = await peer(t, (_n, _req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    // JSON whitespace for as long as the client reads.
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk));
    };
    res.on('drain', pump);
    pump();
  });
  const dest = createHttpDestination(httpDestinationSchema.parse({ url: p.url, timeoutMs: 10_000 }), testDeps());
  await dest.start();
  t.after(() => dest.stop());
  const started = performance.now();
  const results = await withTimeout(
    dest.send([{ stream: 'up', seq: 1, topic: 't', receivedAt: Date.now(), payload: Buffer.from('x') }], new AbortController().signal),
    15_000,
    'the send to end',
  );
  const took = performance.now() - started;
  const r = results[0]!;
  assert.ok(!r.ok && r.retryable, `a retryable failure (got ${JSON.stringify(r)})`);
  assert.match(r.error, /HTTP 200 with a body over 64 KiB .*check that the url is the Firehose HTTP endpoint/);
  assert.ok(took < 3000, `failed after ${Math.round(took)} ms (timeoutMs is 10 s)`);
});

test('http: a 400 with a 20 MiB error page is judged by its status, with the start of the page', { timeout: 30_000 }, async (t) => {
  const p = await peer(t, (_n, _req, res) => {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`bad request ${'x'.repeat(20 * 1024 * 1024)}`);
  });
  const dest = createHttpDestination(httpDestinationSchema.parse({ url: p.url, timeoutMs: 10_000 }), testDeps());
  await dest.start();
  t.after(() => dest.stop());
  const results = await dest.send([{ stream: 'up', seq: 1, topic: 't', receivedAt: Date.now(), payload: Buffer.from('x') }], new AbortController().signal);
  const r = results[0]!;
  assert.ok(!r.ok && !r.retryable, `a permanent failure (got ${JSON.stringify(r)})`);
  assert.match(r.error, /HTTP 400 from .*: bad request x/);
});

test('http: a 200 that is not the protocol answer (a generic server) says what a Firehose endpoint answers and to check the url', {
  timeout: 30_000,
}, async (t) => {
  const p = await peer(t, (n, _req, res) => {
    res.writeHead(200, { 'content-type': n === 0 ? 'application/json' : 'text/html' });
    res.end(n === 0 ? '{"ok":true}' : '<html>welcome</html>');
  });
  const dest = createHttpDestination(httpDestinationSchema.parse({ url: p.url, timeoutMs: 5000 }), testDeps());
  await dest.start();
  t.after(() => dest.stop());
  for (const what of [/requestId undefined instead of/, /not JSON/]) {
    const [r] = await dest.send([{ stream: 'up', seq: 1, topic: 't', receivedAt: Date.now(), payload: Buffer.from('x') }], new AbortController().signal);
    assert.ok(r && !r.ok && r.retryable, `a retryable failure (got ${JSON.stringify(r)})`);
    assert.match(r.error, what);
    assert.match(r.error, /a Firehose HTTP endpoint answers \{"requestId".*check that the url is one/);
  }
});

test('http: a 201, 202 or 204 (a web hook, AWS IoT\'s HTTP action ported as http) is held as not the protocol, saying to use webhook (was dead-lettered as "HTTP 204")', {
  timeout: 30_000,
}, async (t) => {
  const statuses = [204, 201, 202];
  const p = await peer(t, (n, _req, res) => {
    res.writeHead(statuses[n % statuses.length]!);
    res.end();
  });
  const dest = createHttpDestination(httpDestinationSchema.parse({ url: p.url, timeoutMs: 5000 }), testDeps());
  await dest.start();
  t.after(() => dest.stop());
  for (const status of statuses) {
    const [r] = await dest.send([{ stream: 'up', seq: 1, topic: 't', receivedAt: Date.now(), payload: Buffer.from('x') }], new AbortController().signal);
    assert.ok(r && !r.ok && r.retryable, `${status}: held, not dead-lettered (got ${JSON.stringify(r)})`);
    assert.match(r.error, new RegExp(`HTTP ${status} from .*not the protocol's 200`));
    assert.match(r.error, /use type webhook \(a `webhook` action in a rule\) instead of http/);
  }
});

test('http: a receiver whose body limit is below the batch (413) costs a few refused uploads once, not at every batch', { timeout: 60_000 }, async (t) => {
  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  // Like nginx's client_max_body_size: any request carrying more than 100 KB of records is refused.
  rx.rejectWhen((recs) => recs.reduce((n, r) => n + r.length, 0) > 100_000, 413);
  const streams = await openStreams(t);
  const RECORDS = 1500;
  for (let i = 0; i < RECORDS; i++) await streams.append('up', { topic: 'dev/d1/data', payload: Buffer.alloc(2000, 0x61 + (i % 26)), receivedAt: Date.now() });
  const exporter = await startExporter(t, streams, { type: 'http', url: rx.url }, testDeps(), {
    batch: { maxRecords: 500, lingerMs: 0 },
    backoff: { initialMs: 20, maxMs: 200, outageMaxMs: 100 },
  });
  await waitUntil(() => exporter.status().lastExportedSeq === RECORDS, `all ${RECORDS} records delivered`, 30_000);
  assert.equal(exporter.status().deadLetters, 0);
  assert.equal(rx.acceptedRecords, RECORDS);
  const refused = rx.requests.filter((r) => r.status === 413);
  const refusedBytes = refused.reduce((n, r) => n + r.records.reduce((m, b) => m + b.length, 0), 0);
  // The first 1 MB batch is halved until it fits (1.9 MB of refused uploads); the later batches go
  // under the learned size. Before, every batch was refused down to that size again: 5.5 MB of
  // refused uploads for 3 MB delivered (on a metered uplink, paid for).
  assert.ok(refusedBytes < 2_500_000, `${refused.length} uploads of ${refusedBytes} payload bytes refused as too large`);
});
