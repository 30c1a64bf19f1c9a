// The http destination against an endpoint (or a proxy in front of it) that answers slowly: it
// sends the status line at once, then trickles the body a byte at a time. timeoutMs ("Request
// timeout; a timed-out request is retried with the same request id") must bound the whole
// request, not only the silence between two bytes, or one such endpoint stalls the exporter for as
// long as it keeps trickling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { createHttpDestination } from '../../gateway/upstream/destinations/http.js';
import { httpDestinationSchema } from '../../gateway/upstream/options.js';
import { errorMessage } from '../../core/errors.js';
import { testDeps, withTimeout } from '../helpers/index.js';

test('http: a response trickled a byte every 200 ms fails after timeoutMs (whole request), retryably', { timeout: 30_000 }, async (t) => {
  const open = new Set<ServerResponse>();
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    req.resume();
    open.add(res);
    res.writeHead(200, { 'content-type': 'application/json' });
    // JSON whitespace, one byte at a time, for up to 20 s: never silent for timeoutMs.
    let n = 0;
    const timer = setInterval(() => {
      if (++n > 100 || res.destroyed) {
        clearInterval(timer);
        timers.delete(timer);
        res.end('{}');
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
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;
  const dest = createHttpDestination(httpDestinationSchema.parse({ url, timeoutMs: 1000 }), testDeps());
  await dest.start();
  t.after(() => dest.stop());

  const started = Date.now();
  const outcome = await withTimeout(
    dest.send([{ stream: 's', seq: 1, topic: 't', receivedAt: Date.now(), payload: Buffer.from('x') }], new AbortController().signal).then(
      (r) => ({ results: r }),
      (err: unknown) => ({ error: errorMessage(err) }),
    ),
    8000,
    'the send to end (timeoutMs is 1000 ms)',
  );
  const took = Date.now() - started;
  assert.ok('error' in outcome, `the send failed (got ${JSON.stringify(outcome)})`);
  assert.match(outcome.error, /GH_EXPORT_RETRYABLE/);
  assert.match(outcome.error, /1000 ms/);
  assert.ok(took < 4000, `failed after ${took} ms`);
});
