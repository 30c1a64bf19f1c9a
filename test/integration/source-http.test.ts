// The `type: http` source with node's real HTTP client against the real server over a REAL store
// (test/helpers/http-post.ts: the intake is the store's, without the rules engine, recording each
// message and able to hold a submit: a test double of the pipeline's Intake contract, as in the
// MQTT source's tests). What each case proves is in its name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { request } from 'node:http';
import { join } from 'node:path';
import { writeFile, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { metricValue, waitUntil, withTimeout } from '../helpers/index.js';
import { readAll } from '../helpers/store-intake.js';
import { httpRig, post } from '../helpers/http-post.js';
import { hashPassword } from '../../gateway/broker/password.js';
import { httpSourceSchema } from '../../gateway/pipeline/sources/http/options.js';
import { ERRORS } from '../../core/errors.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { noDualStack } from '../helpers/ipv6.js';

const TOKEN = 'f3b1c2d4e5f60718293a4b5c6d7e8f90';

test('http source: POST /topics/<topic> is committed, then answered 200; the message carries sourceip, principal and content type', async (t) => {
  const { port, store, intake, source, deps } = await httpRig(t);
  const r = await post(port, '/topics/shelly/kitchen%20left/temp?qos=1', '{"temp":21.5}', { headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(r.json(), { message: 'OK', topic: 'shelly/kitchen left/temp', messages: 1 });
  const recs = await readAll(store, 'in');
  assert.deepEqual(
    recs.map((x) => [x.topic, x.payload.toString()]),
    [['shelly/kitchen left/temp', '{"temp":21.5}']],
  );
  const m = intake.messages[0]!;
  assert.equal(m.source.kind, 'http');
  assert.equal(m.source.ip, '127.0.0.1');
  assert.equal(m.source.principal, undefined); // anonymous on loopback
  assert.equal(m.properties?.contentType, 'application/json');
  assert.equal(await metricValue(deps.registry, 'gatehouse_http_source_requests_total', { outcome: 'accepted' }), 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_http_source_messages_total'), 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_http_source_bytes_total'), 13);
  assert.equal(source.status().state, 'running');
});

test('http source: the 200 is never sent before the commit: a held submit holds the answer', async (t) => {
  const { port, store, intake } = await httpRig(t);
  intake.hold();
  const submitted = intake.nextSubmit();
  let answered = false;
  const first = post(port, '/topics/held', 'payload').then((r) => {
    answered = true;
    return r;
  });
  await withTimeout(submitted, 5000, 'the submit');
  // A request answered after it on another connection: the server had every chance to answer the first.
  assert.equal((await post(port, '/nowhere')).status, 404);
  assert.equal(answered, false, 'answered before its commit');
  assert.equal((await readAll(store, 'in')).length, 0);
  intake.release();
  const r = await withTimeout(first, 5000, 'the 200');
  assert.equal(r.status, 200);
  assert.equal((await readAll(store, 'in')).length, 1);
});

test('http source: an NDJSON body is one message per line, all committed before the 200; a bad line refuses the whole request before anything is submitted', async (t) => {
  const { port, store, intake } = await httpRig(t, { maxBatchMessages: 3 });
  const ndjson = { 'content-type': 'application/x-ndjson' };
  const ok = await post(port, '/topics/telegraf/cpu', '{"a":1}\r\n{"a":2}\n\n{"a":3}\n', { headers: ndjson });
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.json().messages, 3);
  assert.deepEqual(
    (await readAll(store, 'in')).map((x) => x.payload.toString()),
    ['{"a":1}', '{"a":2}', '{"a":3}'],
  );
  const bad = await post(port, '/topics/telegraf/cpu', '{"a":4}\n{"a":5\n{"a":6}\n', { headers: ndjson });
  assert.equal(bad.status, 400);
  assert.match(bad.json().message as string, /NDJSON line 2 is not JSON/);
  assert.equal((bad.json().error as { code: string }).code, 'GH_HTTP_SOURCE_REQUEST');
  const many = await post(port, '/topics/telegraf/cpu', '1\n2\n3\n4\n', { headers: ndjson });
  assert.equal(many.status, 413);
  assert.equal(intake.messages.length, 3, 'nothing of the refused bodies was submitted');
  assert.equal((await readAll(store, 'in')).length, 3);
});

test('http source: wrong path 404 naming the route, wrong method 405 with Allow, bad topics and query 400: nothing submitted', async (t) => {
  const { port, intake, deps } = await httpRig(t);
  const nf = await post(port, '/api/publish', 'x');
  assert.equal(nf.status, 404);
  assert.match(nf.json().message as string, /POST \/topics\/<topic>/);
  const m = await post(port, '/topics/a', '', { method: 'PUT' });
  assert.equal(m.status, 405);
  assert.equal(m.headers.allow, 'POST');
  for (const path of [
    '/topics/',
    '/topics/a/%23',
    '/topics/a/+/b',
    '/topics/%24SYS/x',
    '/topics/%E0%A4%A',
    `/topics/${'x'.repeat(1025)}`,
    '/topics/a?qos=2',
    '/topics/a?retain=true',
    `/topics/a?${Array.from({ length: 17 }, (_, i) => `p${i}=1`).join('&')}`,
  ]) {
    const r = await post(port, path, 'x');
    assert.equal(r.status, 400, `${path}: ${r.body}`);
  }
  const gz = await post(port, '/topics/a', 'x', { headers: { 'content-encoding': 'br' } });
  assert.equal(gz.status, 415);
  assert.equal(intake.messages.length, 0);
  assert.equal(await metricValue(deps.registry, 'gatehouse_http_source_requests_total', { outcome: 'bad-request' }), 10);
  // other query parameters are the message's user properties (ChirpStack's ?event=up)
  assert.equal((await post(port, '/topics/chirpstack?event=up&qos=1', '{}')).status, 200);
  assert.deepEqual(intake.messages[0]?.properties?.userProperties, { event: 'up' });
});

test('http source: tokens (from a file) and Basic users; refused credentials 401 and not counted as data; a topic outside the credential 403; repeated failures banned 429', async (t) => {
  const { tempDir } = await import('../helpers/index.js');
  const dir = await tempDir(t);
  await writeFile(join(dir, 'token'), `${TOKEN}\n`);
  const other = 'a'.repeat(32);
  const { port, intake, store, deps } = await httpRig(t, {
    auth: {
      tokens: [
        { name: 'shelly-fleet', tokenFile: join(dir, 'token'), topics: ['shelly/#'] },
        { name: 'ops', sha256: createHash('sha256').update(other).digest('hex') },
      ],
      users: [{ username: 'telegraf', password: hashPassword('s3cret-pass'), topics: ['telegraf/#'] }],
      maxFailures: 3,
    },
  });
  const none = await post(port, '/topics/shelly/1', 'x');
  assert.equal(none.status, 401);
  assert.match(String(none.headers['www-authenticate']), /Bearer/);
  assert.equal((none.json().error as { code: string }).code, 'GH_HTTP_SOURCE_UNAUTHORIZED');
  assert.equal((await post(port, '/topics/shelly/1', 'x', { headers: { authorization: 'Bearer wrong-token-000000000' } })).status, 401);
  assert.equal((await post(port, '/topics/shelly/1', 'x', { headers: { authorization: `bearer ${TOKEN}` } })).status, 200);
  assert.equal((await post(port, '/topics/other/1', 'x', { headers: { authorization: `Bearer ${TOKEN}` } })).status, 403);
  assert.equal((await post(port, '/topics/anything', 'x', { headers: { authorization: `Bearer ${other}` } })).status, 200);
  const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
  assert.equal((await post(port, '/topics/telegraf/cpu', 'x', { headers: basic('telegraf', 's3cret-pass') })).status, 200);
  assert.equal((await post(port, '/topics/telegraf/cpu', 'x', { headers: basic('telegraf', 's3cret-pass') })).status, 200); // remembered
  assert.deepEqual(
    intake.messages.map((m) => m.source.principal),
    ['shelly-fleet', 'ops', 'telegraf', 'telegraf'],
  );
  assert.equal((await readAll(store, 'in')).length, 4);
  // 3 failures in a row from 127.0.0.1 within the minute (a success starts the count again, as the broker's): banned, even with a good token.
  assert.equal((await post(port, '/topics/telegraf/cpu', 'x', { headers: basic('telegraf', 'wrong') })).status, 401);
  assert.equal((await post(port, '/topics/telegraf/cpu', 'x', { headers: basic('nobody', 'wrong') })).status, 401);
  assert.equal((await post(port, '/topics/telegraf/cpu', 'x')).status, 401);
  const banned = await post(port, '/topics/shelly/1', 'x', { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(banned.status, 429);
  assert.ok(Number(banned.headers['retry-after']) > 0);
  assert.equal(await metricValue(deps.registry, 'gatehouse_http_source_requests_total', { outcome: 'unauthorized' }), 5);
  assert.equal(await metricValue(deps.registry, 'gatehouse_http_source_messages_total'), 4);
});

test('http source: beyond loopback without credentials the configuration is refused; a token file with no token is refused at start', async (t) => {
  const r = httpSourceSchema.safeParse({ type: 'http', name: 'x', host: '0.0.0.0', port: 8080 });
  assert.equal(r.success, false);
  assert.match(JSON.stringify(r.error?.issues), /needs credentials/);
  assert.equal(
    httpSourceSchema.safeParse({ type: 'http', name: 'x', host: '::', port: 8080, auth: { tokens: [{ name: 'a', sha256: 'ab'.repeat(32) }] } }).success,
    true,
  );
  const { tempDir } = await import('../helpers/index.js');
  const dir = await tempDir(t);
  await writeFile(join(dir, 'empty'), '\n');
  await assert.rejects(httpRig(t, { auth: { tokens: [{ name: 'a', tokenFile: join(dir, 'empty') }] } }), /is empty/);
});

test('http source: a body over maxBodyBytes is answered 413 without reading it (Content-Length or chunked), nothing submitted', async (t) => {
  const { port, intake, deps } = await httpRig(t, { maxBodyBytes: 1000 });
  const declared = await post(port, '/topics/big', Buffer.alloc(1001));
  assert.equal(declared.status, 413);
  assert.equal(declared.headers.connection, 'close');
  // chunked, never ending: the answer comes while the client is still sending
  const answer = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/topics/big', method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', (e) => (e.message.includes('socket hang up') || (e as NodeJS.ErrnoException).code === 'EPIPE' ? undefined : reject(e)));
    const chunk = Buffer.alloc(512);
    const pump = (): void => {
      while (!req.destroyed && req.write(chunk));
      if (!req.destroyed) req.once('drain', pump);
    };
    pump();
  });
  assert.equal(answer, 413);
  assert.equal(intake.messages.length, 0);
  assert.equal(await metricValue(deps.registry, 'gatehouse_http_source_requests_total', { outcome: 'too-large' }), 2);
  assert.equal((await post(port, '/topics/small', Buffer.alloc(1000))).status, 200);
});

test('http source: a refused commit is a 5xx (503 + Retry-After for a full disk, 500 otherwise) and never a 200', async (t) => {
  const { port, intake, deps } = await httpRig(t, { retryAfterSeconds: 7 });
  intake.rejectWith(ERRORS.GH_STORE_DISK_FULL({ what: 'append', reason: 'test: free space under store.reserveBytes' }));
  const full = await post(port, '/topics/a', 'x');
  assert.equal(full.status, 503);
  assert.equal(full.headers['retry-after'], '7');
  assert.equal((full.json().error as { code: string }).code, 'GH_STORE_DISK_FULL');
  intake.rejectWith(new Error('test: append refused'));
  assert.equal((await post(port, '/topics/a', 'x')).status, 500);
  intake.rejectWith(undefined);
  assert.equal((await post(port, '/topics/a', 'x')).status, 200);
  assert.equal(await metricValue(deps.registry, 'gatehouse_http_source_requests_total', { outcome: 'store-refused' }), 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_http_source_messages_total'), 1);
});

test('http source: a client gone mid-body has nothing submitted; one gone while its commit is held has it committed (counted client-gone)', async (t) => {
  const { port, intake, store, deps, source } = await httpRig(t);
  const inFlight = () => (source.status().details as { inFlight: number }).inFlight;
  const sock = connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write('POST /topics/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789');
  await waitUntil(() => (inFlight() === 1 ? true : undefined), 'the request being read');
  sock.destroy();
  await waitUntil(
    async () => ((await metricValue(deps.registry, 'gatehouse_http_source_requests_total', { outcome: 'aborted' })) === 1 ? true : undefined),
    'aborted counted',
  );
  assert.equal(intake.messages.length, 0);
  intake.hold();
  const submitted = intake.nextSubmit();
  const sock2 = connect(port, '127.0.0.1');
  await new Promise((r) => sock2.once('connect', r));
  sock2.write('POST /topics/left HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok');
  await withTimeout(submitted, 5000, 'the submit');
  sock2.destroy();
  await waitUntil(
    async () => ((await metricValue(deps.registry, 'gatehouse_http_source_requests_total', { outcome: 'aborted' })) === 1 ? true : undefined),
    'still one',
  );
  intake.release();
  await waitUntil(
    async () => ((await metricValue(deps.registry, 'gatehouse_http_source_requests_total', { outcome: 'client-gone' })) === 1 ? true : undefined),
    'client-gone counted',
  );
  assert.deepEqual(
    (await readAll(store, 'in')).map((r) => r.topic),
    ['left'],
  );
});

test('http source: maxInFlight requests waiting on commits: one more is 503 with Retry-After; stop() waits for the held commit and its 200', async (t) => {
  const rig = await httpRig(t, { maxInFlight: 1 });
  const { port, intake } = rig;
  intake.hold();
  const submitted = intake.nextSubmit();
  const first = post(port, '/topics/a', '1');
  await withTimeout(submitted, 5000, 'the submit');
  const busy = await post(port, '/topics/a', '2');
  assert.equal(busy.status, 503);
  assert.equal(busy.headers['retry-after'], '5');
  let stopped = false;
  const stopping = rig.source.stop().then(() => {
    stopped = true;
  });
  // the listener is closed at once: a new connection is refused
  await assert.rejects(post(port, '/topics/a', '3'), /ECONNREFUSED|ECONNRESET|socket hang up/);
  assert.equal(stopped, false, 'stop resolved while a submit was pending');
  intake.release();
  assert.equal((await withTimeout(first, 5000, 'the held 200')).status, 200);
  await withTimeout(stopping, 5000, 'stop');
  assert.equal(rig.source.status().state, 'stopped');
  assert.equal((await readAll(rig.store, 'in')).length, 1);
});

test('http source: a commit held past stopDrainMs does not hold the stop: its request is closed unanswered, never a 200', async (t) => {
  const { port, intake, source } = await httpRig(t, { stopDrainMs: 300 });
  intake.hold();
  const submitted = intake.nextSubmit();
  const held = post(port, '/topics/held', 'x').then(
    (r) => r.status,
    (e: Error) => e.message,
  );
  await withTimeout(submitted, 5000, 'the submit');
  await withTimeout(source.stop(), 5000, 'stop');
  assert.match(String(await held), /socket hang up|ECONNRESET/);
  intake.release(); // the commit goes on (the gateway's own drain): the client, unanswered, sends it again
});

test('http source: slow headers are cut at requestTimeoutMs (408), connections over maxConnections closed at accept, garbage answered 400: the server keeps serving', async (t) => {
  const { port, deps } = await httpRig(t, { requestTimeoutMs: 1000, maxConnections: 3 });
  const slow = connect(port, '127.0.0.1');
  let slowText = '';
  slow.on('data', (d) => {
    slowText += d.toString();
  });
  slow.write('POST /topics/slow HTTP/1.1\r\nHost: x\r\n');
  const slowClosed = new Promise((r) => slow.once('close', r));
  const extra = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
  t.after(() => {
    for (const s of extra) s.destroy();
  });
  await waitUntil(
    async () => ((await metricValue(deps.registry, 'gatehouse_http_source_connections_dropped_total')) >= 1 ? true : undefined),
    'a dropped connection',
  );
  for (const s of extra) s.destroy();
  await withTimeout(slowClosed, 5000, 'the slow client cut');
  assert.match(slowText, /^HTTP\/1.1 408/);
  for (const junk of ['\x00\x01\x02garbage\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', `POST /topics/a HTTP/1.1\r\nHost: x\r\nX-A: ${'b'.repeat(20_000)}\r\n\r\n`]) {
    const s = connect(port, '127.0.0.1');
    let text = '';
    s.on('data', (d) => {
      text += d.toString();
    });
    s.on('error', () => undefined);
    s.write(junk);
    await new Promise((r) => s.once('close', r));
    // Headers over 16 KiB: node answers 431 and closes with the rest unread, so the kernel's reset may erase the answer: closed either way.
    if (junk.length < 16_384) assert.match(text, /^HTTP\/1.1 4\d\d/, JSON.stringify(junk.slice(0, 30)));
    else assert.match(text, /^$|^HTTP\/1.1 431/);
  }
  assert.equal((await post(port, '/topics/after', 'x')).status, 200);
});

test('http source: HTTPS with the certificate files; plain HTTP on its port is answered 400', async (t) => {
  const { tempDir } = await import('../helpers/index.js');
  const dir = await tempDir(t);
  const { cert, key } = opensslSelfSigned(dir);
  const { port, store } = await httpRig(t, { tls: { cert, key } });
  const r = await post(port, '/topics/secure', 'x', { ca: await readFile(cert) });
  assert.equal(r.status, 200);
  const plain = await post(port, '/topics/secure', 'x');
  assert.equal(plain.status, 400);
  assert.match(plain.body, /HTTPS only/);
  assert.equal((await readAll(store, 'in')).length, 1);
});

test('http source on :: (IPv6, dual stack): posts over ::1 and 127.0.0.1; sourceip() of an IPv4 client is its IPv4 address', {
  skip: await noDualStack(),
}, async (t) => {
  const { port, intake } = await httpRig(t, { host: '::', auth: { tokens: [{ name: 'lan', sha256: createHash('sha256').update(TOKEN).digest('hex') }] } });
  const headers = { authorization: `Bearer ${TOKEN}` };
  assert.equal((await post(port, '/topics/v6', 'x', { host: '::1', headers })).status, 200);
  assert.equal((await post(port, '/topics/v4', 'x', { host: '127.0.0.1', headers })).status, 200);
  assert.deepEqual(
    intake.messages.map((m) => [m.topic, m.source.ip]),
    [
      ['v6', '::1'],
      ['v4', '127.0.0.1'],
    ],
  );
});

test('http source: a body trickled past requestTimeoutMs is cut (408), nothing of it submitted, its place among maxInFlight given back', async (t) => {
  const { port, intake, source } = await httpRig(t, { requestTimeoutMs: 1000, maxInFlight: 1 });
  const s = connect(port, '127.0.0.1');
  let text = '';
  s.on('data', (d) => {
    text += d.toString();
  });
  s.on('error', () => undefined);
  const closed = new Promise((r) => s.once('close', r));
  s.write('POST /topics/trickle HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789');
  await withTimeout(closed, 5000, 'the trickling client cut');
  assert.match(text, /^HTTP\/1.1 408/);
  assert.equal(intake.messages.length, 0);
  await waitUntil(() => ((source.status().details as { inFlight: number }).inFlight === 0 ? true : undefined), 'its place given back');
  assert.equal((await post(port, '/topics/next', 'x')).status, 200);
});

test('http source: stop() during password checks ends: the requests cut while their credentials were checked are not waited for', async (t) => {
  const { port, source, intake } = await httpRig(t, { auth: { users: [{ username: 'u', password: hashPassword('pw-0123456789') }] } });
  const basic = { authorization: `Basic ${Buffer.from('u:pw-0123456789').toString('base64')}` };
  // Four scrypt checks (two run at once, two wait): tens of ms each, time for the stop to cut them.
  const posts = Array.from({ length: 4 }, () => post(port, '/topics/a', 'x', { headers: basic }).catch(() => undefined));
  await waitUntil(() => ((source.status().details as { inFlight: number }).inFlight === 4 ? true : undefined), 'four requests in their checks');
  await withTimeout(source.stop(), 5000, 'stop');
  await Promise.all(posts);
  assert.equal(intake.messages.length, 0);
});
