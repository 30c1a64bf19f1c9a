// The HTTP-based destinations (kinesis, s3, http; firehose shares the AWS client code of kinesis
// and s3) through the site's HTTP proxy: a real tinyproxy (Debian package tinyproxy), kinesalite,
// s3rver, the Firehose HTTP receiver, real stores and exporters.
//
// How a test knows the traffic went through the proxy: tinyproxy logs one line per request it
// takes (the CONNECT of a tunnel, or the absolute-form POST/PUT of a plain http request), the
// receiver sees tinyproxy's Via header on what it forwarded, and with the proxy down nothing is
// exported while the endpoint is up (the gateway had no other way out).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import mqtt from 'mqtt';
import { join } from 'node:path';
import { metricValue, needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { startKinesalite, startS3rver } from '../helpers/peers.js';
import { startFirehoseReceiver, type FirehoseReceiver } from '../helpers/firehose-receiver.js';
import { kinesisSink, s3Sink } from '../helpers/upstream-e2e.js';
import { append, assertAll as assertAllFrom, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { startTinyproxy, tinyproxySkip } from '../helpers/tinyproxy.js';
import { tlsFront } from '../helpers/tls-front.js';
import { loggedDeps } from '../helpers/logged-deps.js';
import { cliCommand, startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import type { Exporter } from '../../gateway/upstream/exporter.js';

const skip = tinyproxySkip ?? needBinary('openssl', 'openssl');
const PASSWORD = 'pr0xy-s3cret-XyZ';
const creds = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

async function receiver(t: TestContext): Promise<FirehoseReceiver> {
  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  return rx;
}

/** The records 0..n-1 each arrived (as `i` values, duplicates allowed) and none is missing. */
const assertAll = (got: number[], n: number, what: string): void => assertAllFrom(got, n, what, 0);

/** The exporter's status and log say nothing of the password. */
function assertNoPassword(exporter: Exporter, log: string): void {
  assert.ok(!JSON.stringify(exporter.status()).includes(PASSWORD), 'the password is not in the status');
  assert.ok(!log.includes(PASSWORD), 'the password is not in the log');
  assert.ok(!log.includes(Buffer.from(`gw:${PASSWORD}`).toString('base64')), 'nor its Basic form');
}

test('kinesis, s3 and http (Firehose HTTP) with HTTP_PROXY in the environment: every record goes through the proxy (its log has each call, the receiver its Via header)', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const proxy = await startTinyproxy(t);
  const kin = await startKinesalite(t);
  const s3 = await startS3rver(t, ['archive']);
  const rx = await receiver(t);
  const ksink = await kinesisSink(t, kin.url, 'k', 1);
  const ssink = await s3Sink(t, s3.url, 'archive');
  // The environment as a systemd drop-in gives it (Environment=HTTP_PROXY=...): the endpoints are http://.
  const { deps, log } = loggedDeps({ env: { HTTP_PROXY: proxy.url } });
  const streams = await openStreams(t);
  await append(streams, 10);
  await startExporter(t, streams, { type: 'kinesis', streamName: 'k', endpoint: kin.url, ...creds }, deps, { name: 'k' });
  await startExporter(t, streams, { type: 's3', bucket: 'archive', endpoint: s3.url, forcePathStyle: true, ...creds }, deps, { name: 's' });
  await startExporter(t, streams, { type: 'http', url: rx.url }, deps, { name: 'h' });
  await waitUntil(
    async () => (await ksink.read()).length >= 10 && (await ssink.read()).length >= 10 && rx.allRecords().length >= 10,
    'all three exported',
    30_000,
    50,
  );
  assertAll(
    (await ksink.read()).map((a) => a.i),
    10,
    'kinesis',
  );
  assertAll(
    (await ssink.read()).map((a) => a.i),
    10,
    's3',
  );
  assertAll(
    rx.uniqueRecords().map((s) => (JSON.parse(s) as { i: number }).i),
    10,
    'http',
  );
  const reqs = await proxy.requests();
  assert.ok(
    reqs.some((r) => r.startsWith(`POST http://127.0.0.1:${kin.port}/ `)),
    `kinesis PutRecords through the proxy: ${reqs.join(' | ')}`,
  );
  assert.ok(
    reqs.some((r) => r.startsWith(`PUT http://127.0.0.1:${s3.port}/archive/`)),
    's3 PutObject through the proxy',
  );
  assert.ok(
    reqs.some((r) => r.startsWith(`POST http://127.0.0.1:${rx.port}/ `)),
    'the http POST through the proxy',
  );
  assert.ok(
    rx.requests.length > 0 && rx.requests.every((r) => /tinyproxy/.test(String(r.headers.via))),
    'every request the receiver got came through tinyproxy (Via)',
  );
  // The start says which proxy each destination uses.
  assert.equal((log().match(/upstream through the proxy http:\/\/127\.0\.0\.1:\d+ \(from HTTP_PROXY\)/g) ?? []).length, 3, log());
});

test('kinesis and s3 at https endpoints (as AWS is reached): the AWS SDK through CONNECT tunnels, the endpoint verified against caFile through the tunnel', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const proxy = await startTinyproxy(t);
  const kin = await startKinesalite(t);
  const s3 = await startS3rver(t, ['archive']);
  const ksink = await kinesisSink(t, kin.url, 'k', 1);
  const ssink = await s3Sink(t, s3.url, 'archive');
  const kinTls = await tlsFront(t, kin);
  const s3Tls = await tlsFront(t, s3);
  const { deps } = loggedDeps({ env: { HTTPS_PROXY: proxy.url } });
  const streams = await openStreams(t);
  await append(streams, 10);
  const endpoint = (u: string): string => u.replace(/\/$/, '');
  await startExporter(t, streams, { type: 'kinesis', streamName: 'k', endpoint: endpoint(kinTls.url), caFile: kinTls.ca, ...creds }, deps, { name: 'k' });
  await startExporter(t, streams, { type: 's3', bucket: 'archive', endpoint: endpoint(s3Tls.url), caFile: s3Tls.ca, forcePathStyle: true, ...creds }, deps, {
    name: 's',
  });
  await waitUntil(async () => (await ksink.read()).length >= 10 && (await ssink.read()).length >= 10, 'both exported', 30_000, 50);
  assertAll(
    (await ksink.read()).map((a) => a.i),
    10,
    'kinesis over https',
  );
  assertAll(
    (await ssink.read()).map((a) => a.i),
    10,
    's3 over https',
  );
  const reqs = await proxy.requests();
  assert.ok(reqs.includes(`CONNECT 127.0.0.1:${kinTls.port} HTTP/1.1`), `kinesis through a tunnel: ${reqs.join(' | ')}`);
  assert.ok(reqs.includes(`CONNECT 127.0.0.1:${s3Tls.port} HTTP/1.1`), 's3 through a tunnel');
});

test('an https endpoint through a CONNECT tunnel with Basic auth (network.proxy url, username, passwordFile); a wrong password is GH_UPSTREAM_PROXY (the CONNECT refused: tinyproxy says 401, others 407), held, never in the status or log, and once fixed every record goes out once', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const proxy = await startTinyproxy(t, { user: { name: 'gw', password: PASSWORD } });
  const rx = await receiver(t);
  const front = await tlsFront(t, rx);
  const dir = await tempDir(t);
  const wrongFile = join(dir, 'wrong');
  const rightFile = join(dir, 'right');
  await writeFile(wrongFile, 'not-the-password\n');
  await writeFile(rightFile, `${PASSWORD}\n`);
  const streams = await openStreams(t);
  await append(streams, 12);

  const wrong = loggedDeps({ proxy: { url: proxy.url, username: 'gw', passwordFile: wrongFile }, env: {} });
  const held = await startExporter(t, streams, { type: 'http', url: front.url, caFile: front.ca, timeoutMs: 3000 }, wrong.deps);
  await waitUntil(() => held.status().retries >= 3 || held.status().deadLetters > 0, 'refused sends', 15_000);
  const st = held.status();
  assert.equal(st.deadLetters, 0, 'nothing dead-lettered for the proxy');
  assert.equal(streams.info('up-dlq').lastSeq, 0);
  assert.equal(st.lastExportedSeq, 0, 'the checkpoint held');
  assert.match(st.lastError?.message ?? '', /GH_UPSTREAM_PROXY: proxy http:\/\/127\.0\.0\.1:\d+ refused 127\.0\.0\.1:\d+: HTTP 40[17]/);
  assert.match(st.lastError?.message ?? '', /Fix: .*network\.proxy\.username and passwordFile/);
  assert.equal(st.outage, false, 'a refusal for credentials waits for a fix at the normal pace');
  assert.ok(
    (await metricValue(wrong.deps.registry, 'gatehouse_destination_calls_total', { kind: 'http', outcome: 'retryable', reason: 'auth' })) >= 1,
    'counted as auth',
  );
  assert.equal(rx.requests.length, 0, 'nothing reached the endpoint');
  assertNoPassword(held, wrong.log());
  assert.ok(!JSON.stringify(st).includes('not-the-password'), 'nor the wrong one');
  await held.stop();

  // Fixed (the password file replaced, then a restart or reload): all 12 out, each once.
  const right = loggedDeps({ proxy: { url: proxy.url, username: 'gw', passwordFile: rightFile }, env: {} });
  const ok = await startExporter(t, streams, { type: 'http', url: front.url, caFile: front.ca, timeoutMs: 3000 }, right.deps);
  await waitUntil(() => ok.status().lastExportedSeq === 12, '12 records exported', 15_000);
  assertAll(
    rx.uniqueRecords().map((s) => (JSON.parse(s) as { i: number }).i),
    12,
    'https through the tunnel',
  );
  assert.equal(rx.duplicates(), 0, 'each record once');
  const reqs = await proxy.requests();
  assert.ok(reqs.includes(`CONNECT 127.0.0.1:${front.port} HTTP/1.1`), `the tunnel is the proxy's: ${reqs.join(' | ')}`);
  assert.match(right.log(), /upstream through the proxy http:\/\/127\.0\.0\.1:\d+ as user gw \(from network\.proxy\.url\)/);
  assertNoPassword(ok, right.log());
});

test('kinesis (an http endpoint) through a proxy that wants a password: none is GH_UPSTREAM_PROXY 407, a wrong one (tinyproxy: 401) a setup fault naming the proxy; both held, never dead-lettered as a 4xx; the right one delivers', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const proxy = await startTinyproxy(t, { user: { name: 'gw', password: PASSWORD } });
  const kin = await startKinesalite(t);
  const ksink = await kinesisSink(t, kin.url, 'k', 1);
  const streams = await openStreams(t);
  await append(streams, 6);
  const block = { type: 'kinesis', streamName: 'k', endpoint: kin.url, ...creds, requestTimeoutMs: 3000 };
  const heldBy = async (proxyUrl: string, error: RegExp): Promise<void> => {
    const { deps, log } = loggedDeps({ env: { HTTP_PROXY: proxyUrl } });
    const held = await startExporter(t, streams, block, deps);
    await waitUntil(() => held.status().retries >= 3 || held.status().deadLetters > 0, 'refused sends', 15_000);
    const st = held.status();
    assert.equal(st.deadLetters, 0, 'nothing dead-lettered');
    assert.equal(streams.info('up-dlq').lastSeq, 0);
    assert.equal(st.backlog.records, 6);
    assert.match(st.lastError?.message ?? '', error);
    assert.ok(!JSON.stringify(st).includes('wrong-one') && !log().includes('wrong-one'), 'the password is in neither the status nor the log');
    await held.stop();
  };
  await heldBy(proxy.url, /GH_UPSTREAM_PROXY: proxy http:\/\/127\.0\.0\.1:\d+ refused .*HTTP 407.*Fix: the proxy wants credentials/);
  await heldBy(
    `http://gw:wrong-one@127.0.0.1:${proxy.port}`,
    /Fix: .*the calls go through the proxy http:\/\/127\.0\.0\.1:\d+: check its user and password too/,
  );
  // The right password in the environment (a restart): all 6 out.
  const right = loggedDeps({ env: { HTTP_PROXY: `http://gw:${PASSWORD}@127.0.0.1:${proxy.port}` } });
  await startExporter(t, streams, block, right.deps);
  await waitUntil(async () => (await ksink.read()).length >= 6, '6 records in the stream', 15_000);
  assertAll(
    (await ksink.read()).map((a) => a.i),
    6,
    'kinesis once the password is right',
  );
  assert.ok(!right.log().includes(PASSWORD));
});

test("a port the proxy's rules forbid for CONNECT (403): GH_UPSTREAM_PROXY naming the rule to change, held", { skip, timeout: 60_000 }, async (t) => {
  const proxy = await startTinyproxy(t, { connectPorts: [443] });
  const rx = await receiver(t);
  const front = await tlsFront(t, rx);
  const streams = await openStreams(t);
  await append(streams, 5);
  const { deps } = loggedDeps({ env: { HTTPS_PROXY: proxy.url } });
  const exporter = await startExporter(t, streams, { type: 'http', url: front.url, caFile: front.ca, timeoutMs: 3000 }, deps);
  await waitUntil(() => exporter.status().retries >= 3 || exporter.status().deadLetters > 0, 'refused sends', 15_000);
  const st = exporter.status();
  assert.equal(st.deadLetters, 0);
  assert.equal(st.backlog.records, 5);
  assert.match(st.lastError?.message ?? '', /GH_UPSTREAM_PROXY: .*HTTP 403/);
  assert.match(st.lastError?.message ?? '', /ConnectPort/);
  assert.equal(rx.requests.length, 0);
});

test('the proxy down, then up: nothing goes out while it is down (the endpoint is up), GH_UPSTREAM_PROXY says so; a proxy that dies under a call holds it too; no record lost', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const proxy = await startTinyproxy(t);
  // The endpoint: a Firehose HTTP answerer that can hold a request unanswered (to kill the proxy under it).
  const seen: number[] = [];
  let hold = false;
  let held: ((v?: unknown) => void) | undefined;
  const heldSeen = new Promise((r) => (held = r));
  const server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (hold) {
        held?.();
        return; // never answered: the proxy is killed under it
      }
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { requestId: string; records: Array<{ data: string }> };
      for (const r of body.records) seen.push((JSON.parse(Buffer.from(r.data, 'base64').toString()) as { i: number }).i);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ requestId: body.requestId, timestamp: Date.now() }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  const streams = await openStreams(t);
  const { deps } = loggedDeps({ proxy: { url: proxy.url }, env: {} });
  const exporter = await startExporter(t, streams, { type: 'http', url, timeoutMs: 20_000 }, deps);
  await append(streams, 5);
  await waitUntil(() => seen.length >= 5, 'the first 5 through the proxy', 10_000);

  // Down: 5 more wait; the endpoint is up all along.
  await proxy.down();
  await append(streams, 5);
  // The first failure may be a kept-alive socket to the proxy cut by its stop ('socket hang up');
  // while it stays down every attempt is refused: wait for that state, then check what it says.
  await waitUntil(
    () => exporter.status().retries >= 2 && /ECONNREFUSED/.test(exporter.status().lastError?.message ?? ''),
    'sends refused by the proxy that is down',
    15_000,
  );
  let st = exporter.status();
  assert.match(st.lastError?.message ?? '', /GH_UPSTREAM_PROXY: proxy http:\/\/127\.0\.0\.1:\d+ unreachable: .*ECONNREFUSED/);
  assert.match(st.lastError?.message ?? '', /Fix: nothing answers at the proxy/);
  assert.equal(st.outage, true, 'the proxy down is an outage');
  assert.equal(seen.length, 5, 'nothing went out around the proxy');
  assert.equal(st.deadLetters, 0);

  // Up, with the endpoint holding the next call: the proxy dies under it.
  hold = true;
  await proxy.up();
  await heldSeen;
  await proxy.down();
  await waitUntil(() => /closed the connection/.test(exporter.status().lastError?.message ?? ''), 'the call cut by the proxy', 15_000);
  st = exporter.status();
  assert.match(st.lastError?.message ?? '', /GH_UPSTREAM_PROXY: proxy http:\/\/127\.0\.0\.1:\d+ closed the connection/);
  assert.equal(st.deadLetters, 0);

  hold = false;
  await proxy.up();
  await waitUntil(() => exporter.status().lastExportedSeq === 10, 'all 10 exported once the proxy is back', 30_000);
  // append() numbers each call's records from 0: two calls of 5, each record once (the call the
  // proxy cut was never answered, so never counted; its records went again).
  assert.deepEqual(
    seen.sort((a, b) => a - b),
    [0, 0, 1, 1, 2, 2, 3, 3, 4, 4],
    'every record once across the proxy outage',
  );
  assert.equal(exporter.status().deadLetters, 0);
});

test('NO_PROXY: a listed endpoint goes direct (the proxy never sees it), the others through the proxy; a destination may say proxy: false', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const proxy = await startTinyproxy(t);
  const direct = await receiver(t);
  const proxied = await receiver(t);
  const own = await receiver(t);
  const streams = await openStreams(t);
  await append(streams, 4);
  // 127.0.0.1:<port of `direct`> listed, with a port: the same host on another port still goes through the proxy.
  const { deps, log } = loggedDeps({ env: { http_proxy: proxy.url, no_proxy: `example.com, 127.0.0.1:${direct.port}` } });
  await startExporter(t, streams, { type: 'http', url: direct.url }, deps, { name: 'direct' });
  await startExporter(t, streams, { type: 'http', url: proxied.url }, deps, { name: 'proxied' });
  await startExporter(t, streams, { type: 'http', url: own.url, proxy: false }, deps, { name: 'own' });
  await waitUntil(() => direct.allRecords().length >= 4 && proxied.allRecords().length >= 4 && own.allRecords().length >= 4, 'all three exported', 15_000);
  const reqs = await proxy.requests();
  assert.ok(!reqs.some((r) => r.includes(`:${direct.port}/`)), 'the NO_PROXY endpoint never went through the proxy');
  assert.ok(!reqs.some((r) => r.includes(`:${own.port}/`)), 'proxy: false never went through the proxy');
  assert.ok(
    reqs.some((r) => r.includes(`:${proxied.port}/`)),
    'the other went through it',
  );
  assert.ok(direct.requests.every((r) => r.headers.via === undefined));
  assert.ok(proxied.requests.every((r) => /tinyproxy/.test(String(r.headers.via))));
  assert.match(log(), new RegExp(`upstream direct \\(127\\.0\\.0\\.1:${direct.port} matches '127\\.0\\.0\\.1:${direct.port}' of NO_PROXY`));
  assert.match(log(), /upstream direct \(the destination's proxy: false\)/);
});

test("from a user's seat (HTTP_PROXY with the password and NO_PROXY in the environment, as a systemd drop-in gives them): check-config names each exporter's route, the start logs it, records go out, the password appears nowhere; a NATS exporter's route too, with no warning", {
  skip,
  timeout: 90_000,
}, async (t) => {
  const proxy = await startTinyproxy(t, { user: { name: 'gw', password: PASSWORD } });
  const cloud = await receiver(t);
  const local = await receiver(t);
  const dir = await tempDir(t);
  const config = await writeConfig(
    dir,
    [
      'dataDir: data',
      'streams: { up: { maxBytes: 16777216 } }',
      `rules: { version: 1, rules: [{ name: all, sql: "SELECT * FROM 'd/#'", actions: [{ stream: { name: up } }] }] }`,
      'exporters:',
      `  - { name: cloud, stream: up, destination: { type: http, url: "${cloud.url}" }, batch: { lingerMs: 20 } }`,
      `  - { name: local, stream: up, destination: { type: http, url: "${local.url}" }, batch: { lingerMs: 20 } }`,
      '  - { name: bridge, stream: up, destination: { type: mqtt, url: "mqtt://127.0.0.1:9", clientId: "gw-${installationId}" } }',
      '  - { name: events, stream: up, destination: { type: nats, servers: ["nats://127.0.0.1:9"], stream: GH } }',
      '',
    ].join('\n'),
  );
  const env = { HTTP_PROXY: `http://gw:${PASSWORD}@127.0.0.1:${proxy.port}`, NO_PROXY: `localhost,127.0.0.1:${local.port}` };
  const { cmd, args } = cliCommand();
  const checked = spawnSync(cmd, [...args, 'check-config', config], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_OPTIONS: '', ...env } });
  assert.equal(checked.status, 0, checked.stderr);
  assert.match(
    checked.stdout,
    new RegExp(`exporter 'cloud' \\(http\\) goes through the proxy http://127\\.0\\.0\\.1:${proxy.port} as user gw \\(from HTTP_PROXY\\)`),
  );
  assert.match(
    checked.stdout,
    new RegExp(`exporter 'local' \\(http\\) goes direct \\(127\\.0\\.0\\.1:${local.port} matches '127\\.0\\.0\\.1:${local.port}' of NO_PROXY`),
  );
  // The MQTT bridge and NATS go through the proxy too (upstream-proxy-mqtt.test.ts, upstream-nats-proxy.test.ts).
  assert.match(
    checked.stdout,
    new RegExp(`exporter 'bridge' \\(mqtt\\) goes through the proxy http://127\\.0\\.0\\.1:${proxy.port} as user gw \\(from HTTP_PROXY\\)`),
  );
  assert.match(
    checked.stdout,
    new RegExp(`exporter 'events' \\(nats\\) goes through the proxy http://127\\.0\\.0\\.1:${proxy.port} as user gw \\(from HTTP_PROXY\\)`),
  );
  assert.doesNotMatch(checked.stderr, /connects directly/, 'no warning: every destination uses the proxy');
  assert.ok(!`${checked.stdout}${checked.stderr}`.includes(PASSWORD), 'check-config never prints the password');

  const gw = await startGatewayProcess(config, [], 20_000, [], env);
  t.after(() => gw.kill9());
  const c = await mqtt.connectAsync(gw.mqttUrl);
  for (let i = 0; i < 5; i++) await c.publishAsync('d/1', JSON.stringify({ d: 'd1', i }), { qos: 1 });
  await c.endAsync();
  await waitUntil(() => cloud.allRecords().length >= 5 && local.allRecords().length >= 5, 'both http exporters delivered', 20_000);
  assert.ok(
    cloud.requests.every((r) => /tinyproxy/.test(String(r.headers.via))),
    'cloud through the proxy',
  );
  assert.ok(
    local.requests.every((r) => r.headers.via === undefined),
    'local direct',
  );
  const msgs = gw.logs.map((l) => String(l.msg));
  assert.ok(
    msgs.some((m) => /^upstream through the proxy http:\/\/127\.0\.0\.1:\d+ as user gw \(from HTTP_PROXY\)$/.test(m)),
    'the start logs the proxy',
  );
  assert.ok(!msgs.some((m) => /connects directly/.test(m)), 'no warning of the NATS exporter: it uses the proxy');
  const status = await (await fetch(`${gw.adminUrl}/api/streams`)).text();
  assert.ok(!JSON.stringify(gw.logs).includes(PASSWORD) && !status.includes(PASSWORD), 'the password in neither the log nor the status');
});
