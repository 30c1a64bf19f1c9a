// The http destination (Firehose HTTP endpoint protocol) when the gateway's setup is wrong: a
// mistyped accessKey (the receiver answers 401), a key the receiver forbids (403), a wrong URL path
// (404/405). No record is at fault and every record meets the same answer: the backlog must be held
// with a last error saying what to fix, never dead-lettered wholesale; once fixed, all arrive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { waitUntil } from '../helpers/index.js';
import { append, assertHeld, openStreams, startExporter } from '../helpers/exporter-rig.js';

test('http with a wrong accessKey (401): the backlog is held, then delivered once the key is fixed', { timeout: 60_000 }, async (t) => {
  const rx = await startFirehoseReceiver({ accessKey: 'right-key' });
  t.after(() => rx.close());
  const streams = await openStreams(t);
  const wrong = await startExporter(t, streams, { type: 'http', url: rx.url, accessKey: 'wrong-key', timeoutMs: 2000 });
  await append(streams, 12);
  await assertHeld(wrong, streams, 12, /HTTP 401/, /Fix: .*(accessKey|url)/);
  assert.equal(rx.acceptedRecords, 0);
  await wrong.stop();

  await startExporter(t, streams, { type: 'http', url: rx.url, accessKey: 'right-key', timeoutMs: 2000 });
  await waitUntil(() => rx.acceptedRecords >= 12, 'the 12 records are delivered', 15_000);
  assert.deepEqual(
    rx
      .uniqueRecords()
      .map((r) => (JSON.parse(r) as { i: number }).i)
      .sort((a, b) => a - b),
    [...Array(12).keys()],
  );
});

for (const status of [403, 404, 405]) {
  test(`http endpoint answering ${status} to every request (forbidden key, wrong path): held, not dead-lettered`, { timeout: 60_000 }, async (t) => {
    const web = createServer((req, res) => {
      req.resume();
      res.writeHead(status, { 'content-type': 'text/html' });
      res.end('<html><body>no</body></html>');
    });
    web.listen(0, '127.0.0.1');
    await once(web, 'listening');
    t.after(() => {
      web.closeAllConnections();
      web.close();
    });
    const addr = web.address();
    const streams = await openStreams(t);
    const exporter = await startExporter(t, streams, {
      type: 'http',
      url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/wrong/path`,
      timeoutMs: 2000,
    });
    await append(streams, 6);
    await assertHeld(exporter, streams, 6, new RegExp(`HTTP ${status}`), /Fix: .*(accessKey|url)/);
  });
}

test('http endpoint redirecting (301 to https://, as a plain-http port often does): held, and the error names where it points', {
  timeout: 60_000,
}, async (t) => {
  const web = createServer((req, res) => {
    req.resume();
    res.writeHead(301, { location: 'https://ingest.example.com/firehose' });
    res.end();
  });
  web.listen(0, '127.0.0.1');
  await once(web, 'listening');
  t.after(() => {
    web.closeAllConnections();
    web.close();
  });
  const addr = web.address();
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, {
    type: 'http',
    url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/firehose`,
    timeoutMs: 2000,
  });
  await append(streams, 6);
  await assertHeld(exporter, streams, 6, /HTTP 301/, /Fix: .*(accessKey|url)/);
  assert.match(exporter.status().lastError?.message ?? '', /https:\/\/ingest\.example\.com\/firehose/, 'names the redirect target');
});
