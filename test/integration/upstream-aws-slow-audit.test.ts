// The AWS destinations (kinesis, firehose, s3) against an endpoint that answers slowly: status line
// at once, then the body a byte every 200 ms. requestTimeoutMs ("a timed-out call is retried by the
// exporter loop") must bound the whole call, not only the silence between two bytes, or such an
// endpoint (a broken proxy, a VPC endpoint in trouble) holds the exporter for as long as it trickles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { errorMessage } from '../../core/errors.js';
import { createDestination } from '../../gateway/upstream/registry.js';
import { testDeps, withTimeout } from '../helpers/index.js';

async function trickleServer(t: TestContext, contentType: string): Promise<string> {
  const timers = new Set<NodeJS.Timeout>();
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    req.resume();
    open.add(res);
    res.writeHead(200, { 'content-type': contentType });
    let n = 0;
    const timer = setInterval(() => {
      if (++n > 100 || res.destroyed) {
        clearInterval(timer);
        timers.delete(timer);
        res.end(contentType.includes('json') ? '{}' : '');
        return;
      }
      res.write(' ');
    }, 200);
    timers.add(timer);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const tm of timers) clearInterval(tm);
    server.closeAllConnections();
    server.close();
  });
  const addr = server.address();
  return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
}

const creds = { accessKeyId: 'AKID', secretAccessKey: 'SECRET', requestTimeoutMs: 1000 };

for (const [kind, contentType, options] of [
  ['kinesis', 'application/x-amz-json-1.1', { streamName: 'telemetry' }],
  ['firehose', 'application/x-amz-json-1.1', { deliveryStreamName: 'telemetry' }],
  ['s3', 'application/xml', { bucket: 'archive', forcePathStyle: true }],
] as const) {
  test(`${kind}: a reply trickled a byte every 200 ms fails after requestTimeoutMs (the whole call), retryably`, { timeout: 30_000 }, async (t) => {
    const endpoint = await trickleServer(t, contentType);
    const block: { type: typeof kind } & Record<string, unknown> = { type: kind, endpoint, ...creds, ...options };
    const dest = createDestination(block, testDeps());
    await dest.start();
    t.after(() => dest.stop());
    const started = Date.now();
    const outcome = await withTimeout(
      dest.send([{ stream: 's', seq: 1, topic: 't', receivedAt: Date.now(), payload: Buffer.from('x') }], new AbortController().signal).then(
        (r) => ({ results: r }),
        (err: unknown) => ({ error: errorMessage(err) }),
      ),
      8000,
      'the send to end (requestTimeoutMs is 1000 ms)',
    );
    const took = Date.now() - started;
    assert.ok('error' in outcome, `the send failed as a whole (got ${JSON.stringify(outcome)})`);
    assert.match(outcome.error, /GH_EXPORT_RETRYABLE: .*no complete response within 10\d\d ms/);
    assert.ok(took < 4000, `failed after ${took} ms`);
  });
}
