// Fuzz the http source (gateway/pipeline/sources/http) for a bounded time with a deterministic,
// printed seed (FUZZ_SEED, FUZZ_MS override): real requests (single, NDJSON, with a token, chunked)
// mutated as bytes, written whole, in pieces or with the connection cut at a random point, many
// connections at once (past maxConnections), against the real server over a REAL store.
//
// Asserts: no crash (the test process is the server), every message the store holds was answered
// 200 or belongs to a request whose connection was cut after its body (client-gone: never a
// message of a refused request), every answer is an HTTP status line, the connections the fuzz
// leaves open are closed by the server within its bounds (requestTimeoutMs 1 s), nothing is in
// flight at the end, and a good request still gets its 200.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { createHash } from 'node:crypto';
import { metricValue, waitUntil, withTimeout } from '../helpers/index.js';
import { readAll } from '../helpers/store-intake.js';
import { httpRig, post } from '../helpers/http-post.js';
import { fuzzer, fuzzSettings } from '../helpers/fuzz.js';

const { seed: SEED, ms: DURATION_MS } = fuzzSettings(20261207, 3000);
const TOKEN = 'fuzz-token-0123456789abcdef';

function requests(): Buffer[] {
  const auth = `Authorization: Bearer ${TOKEN}\r\n`;
  const one = (path: string, body: string, extra = '') =>
    Buffer.from(`POST ${path} HTTP/1.1\r\nHost: gw\r\n${auth}${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  return [
    one('/topics/fuzz/a', '{"t":1}'),
    one('/topics/fuzz/b?qos=1&event=up', '{"t":2}', 'Content-Type: application/json\r\n'),
    one('/topics/fuzz/c', '{"a":1}\n{"a":2}\n', 'Content-Type: application/x-ndjson\r\n'),
    Buffer.from(`POST /topics/fuzz/d HTTP/1.1\r\nHost: gw\r\n${auth}Transfer-Encoding: chunked\r\n\r\n7\r\n{"t":4}\r\n0\r\n\r\n`),
    one('/topics/fuzz/e', 'x'.repeat(3000)),
  ];
}

test(`fuzz the http source (seed ${SEED}, ${DURATION_MS} ms)`, async (t) => {
  const f = fuzzer(SEED);
  const rig = await httpRig(t, {
    requestTimeoutMs: 1000,
    maxConnections: 24,
    maxBodyBytes: 2048,
    auth: { tokens: [{ name: 'fuzz', sha256: createHash('sha256').update(TOKEN).digest('hex') }], maxFailures: 1_000_000 },
  });
  const { port, store, deps, source } = rig;
  const seeds = requests();
  const end = performance.now() + DURATION_MS;
  let sent = 0;
  let answeredBadly = 0;
  const one = async (): Promise<void> => {
    const bytes = f.int(4) === 0 ? f.pick(seeds) : f.mutate(f.pick(seeds));
    const cutAt = f.int(3) === 0 ? f.int(bytes.length + 1) : -1;
    const s = connect(port, '127.0.0.1');
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    s.on('error', () => undefined);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    await new Promise<void>((r) => {
      s.once('connect', r);
      s.once('error', r);
    });
    if (cutAt >= 0) {
      s.write(bytes.subarray(0, cutAt));
      s.destroy();
    } else if (f.int(2) === 0) {
      s.end(bytes); // half-close after the request
    } else {
      let at = 0;
      while (at < bytes.length && !s.destroyed) {
        const n = 1 + f.int(64);
        s.write(bytes.subarray(at, at + n));
        at += n;
      }
    }
    sent++;
    // The server closes what it does not keep alive within its bounds; a kept-alive one the client closes.
    await Promise.race([closed, waitUntil(() => (text.includes('\r\n\r\n') ? true : undefined), 'an answer', 3000, 5).catch(() => undefined)]);
    if (text !== '' && !/^HTTP\/1\.1 \d{3} /.test(text)) answeredBadly++;
    s.destroy();
    await withTimeout(closed, 3000, 'the connection closed');
  };
  while (performance.now() < end) await Promise.all(Array.from({ length: 1 + f.int(32) }, one));
  assert.equal(answeredBadly, 0, 'every answer is an HTTP status line');
  await waitUntil(() => ((source.status().details as { inFlight: number }).inFlight === 0 ? true : undefined), 'nothing in flight', 5000);
  const ok = await post(port, '/topics/fuzz/after', '{"ok":true}', { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(ok.status, 200);
  // Every stored message was committed by a request the source counted as accepted or client-gone.
  const stored = (await readAll(store, 'in')).length;
  const committed = await metricValue(deps.registry, 'gatehouse_http_source_messages_total');
  assert.equal(stored, committed, 'the store holds exactly the messages the source committed');
  console.log(`# fuzz http source: seed ${SEED}, ${sent} connections, ${stored} messages stored`);
});
