// The NATS JetStream destination through the site's HTTP proxy: a real tinyproxy (Debian package
// tinyproxy), a real nats-server -js (Debian package nats-server), real stores and exporters. How a
// test knows the traffic went through the proxy: tinyproxy logs the CONNECT of each tunnel
// (`CONNECT 127.0.0.1:PORT HTTP/1.1`), and with the proxy down nothing is exported while the
// server is up. The JetStream side is read by a direct connection of the test's (the library's
// own connect(), which also sets the client's process-wide transport: the proxied connections must
// keep dialling through the proxy regardless).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { hungServer, metricValue, needBinary, tempDir, waitUntil, which } from '../helpers/index.js';
import { portOpen, startNats } from '../helpers/peers.js';
import { onRestartablePort } from '../helpers/ports.js';
import { append, assertAll, assertHeld, openStreams, passwordFile, startExporter } from '../helpers/exporter-rig.js';
import { startTinyproxy, tinyproxySkip } from '../helpers/tinyproxy.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { loggedDeps } from '../helpers/logged-deps.js';

const skip = tinyproxySkip ?? needBinary('nats-server', 'nats-server');
const PASSWORD = 'nats-pr0xy-s3cret-ZxC';

const nats = (servers: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: 'nats',
  servers,
  createStream: true,
  stream: 'GH',
  reconnectWaitMs: 100,
  ackTimeoutMs: 2000,
  connectTimeoutMs: 2000,
  ...extra,
});

/** A direct connection of the test's to the server (the library's connect()), closed after the test. */
async function reader(t: TestContext, servers: string, tls?: { caFile: string }): Promise<NatsConnection> {
  const nc = await connect({ servers, reconnectTimeWait: 100, maxReconnectAttempts: -1, ...(tls ? { tls } : {}) });
  t.after(() => nc.close());
  return nc;
}

/** The seqs of the gateway's stream `up` in JetStream stream `stream` (from each message's Nats-Msg-Id, `<installation>:up:<seq>`). */
async function seqsIn(nc: NatsConnection, stream = 'GH'): Promise<number[]> {
  const jsm = await nc.jetstreamManager();
  let state: { first_seq: number; last_seq: number; messages: number };
  try {
    state = (await jsm.streams.info(stream)).state;
  } catch {
    return []; // not made yet: nothing arrived
  }
  const out: number[] = [];
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    out.push(Number(m.header.get('Nats-Msg-Id').split(':').pop()));
  }
  return out;
}

const connects = async (proxy: { requests(): Promise<string[]> }, port: number): Promise<number> =>
  (await proxy.requests()).filter((r) => r === `CONNECT 127.0.0.1:${port} HTTP/1.1`).length;

test('nats:// with HTTP_PROXY in the environment: JetStream gets every record through a CONNECT tunnel; beside it a direct one (proxy: false) goes direct; both reconnect their own way after a restart of the server, the library connect() of the test in between', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const proxy = await startTinyproxy(t);
  const server = await startNats(t);
  const { deps, log } = loggedDeps({ env: { HTTP_PROXY: proxy.url } });
  const streams = await openStreams(t);
  await append(streams, 20);
  const exporter = await startExporter(t, streams, nats(server.url), deps);
  const nc = await reader(t, server.url);
  await waitUntil(async () => new Set(await seqsIn(nc)).size >= 20, 'all 20 in JetStream', 30_000, 50);
  assertAll(await seqsIn(nc), 20, 'nats through the proxy');
  assert.equal(await connects(proxy, server.port), 1, 'tinyproxy took the CONNECT to the server');
  assert.match(log(), new RegExp(`upstream through the proxy ${proxy.url.replace(/[.]/g, '\\.')} \\(from HTTP_PROXY\\)`));
  assert.equal(exporter.status().deadLetters, 0);

  // A second NATS exporter in the same process, direct: its connection takes no tunnel.
  const other = await openStreams(t);
  await append(other, 5);
  const direct = loggedDeps({ env: { HTTP_PROXY: proxy.url } });
  await startExporter(t, other, nats(server.url, { proxy: false, stream: 'DIRECT', subject: 'direct.${stream}' }), direct.deps);
  await waitUntil(async () => new Set(await seqsIn(nc, 'DIRECT')).size >= 5, 'the direct 5 in JetStream', 30_000, 50);
  assert.equal(await connects(proxy, server.port), 1, 'no CONNECT for the direct exporter');
  assert.match(direct.log(), /upstream direct \(the destination's proxy: false\)/);

  // The library's connect() (a connection of the test's) set its own transport for the process:
  // after a restart of the server the proxied connection reconnects through the proxy all the same.
  await reader(t, server.url);
  await server.restart();
  await append(streams, 10);
  await append(other, 5);
  await waitUntil(async () => new Set(await seqsIn(nc)).size >= 30, 'all 30 in JetStream after the restart', 30_000, 50);
  await waitUntil(async () => new Set(await seqsIn(nc, 'DIRECT')).size >= 10, 'the direct 10 after the restart', 30_000, 50);
  assertAll(await seqsIn(nc), 30, 'through the proxy after the restart');
  assert.ok((await connects(proxy, server.port)) >= 2, 'the reconnect went through the proxy again');
});

test('through a proxy with Basic credentials (network.proxy username and passwordFile): every record arrives; the password nowhere in log or status', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const proxy = await startTinyproxy(t, { user: { name: 'gw', password: PASSWORD } });
  const server = await startNats(t);
  const { deps, log } = loggedDeps({ proxy: { url: proxy.url, username: 'gw', passwordFile: await passwordFile(t, PASSWORD) }, env: {} });
  const streams = await openStreams(t);
  await append(streams, 10);
  const exporter = await startExporter(t, streams, nats(server.url), deps);
  const nc = await reader(t, server.url);
  await waitUntil(async () => new Set(await seqsIn(nc)).size >= 10, 'all 10 in JetStream', 30_000, 50);
  assertAll(await seqsIn(nc), 10, 'through the proxy with credentials');
  assert.ok((await connects(proxy, server.port)) >= 1);
  assert.ok(!JSON.stringify(exporter.status()).includes(PASSWORD), 'the password is not in the status');
  assert.ok(!log().includes(PASSWORD), 'the password is not in the log');
  assert.match(log(), /through the proxy http:\/\/127\.0\.0\.1:\d+ as user gw \(from network\.proxy\.url\)/);
});

test('a proxy wanting credentials (407) or forbidding the port (403, ConnectPort): held as GH_UPSTREAM_PROXY, a setup fault counted as auth, one log line, nothing dead-lettered; delivered once the credentials are given', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const proxy = await startTinyproxy(t, { user: { name: 'gw', password: PASSWORD } });
  const server = await startNats(t);
  const nc = await reader(t, server.url);
  const { deps, log } = loggedDeps({ env: { HTTP_PROXY: proxy.url } });
  const streams = await openStreams(t);
  await append(streams, 5);
  const exporter = await startExporter(t, streams, nats(server.url), deps);
  await assertHeld(exporter, streams, 5, /GH_UPSTREAM_PROXY|HTTP 407/, /network\.proxy\.username/);
  assert.match(JSON.stringify(exporter.status().lastError), /HTTP 407/);
  await waitUntil(async () => (await connects(proxy, server.port)) >= 3, 'several connect attempts, each refused by the proxy', 20_000, 20);
  assert.ok((await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'nats', outcome: 'retryable', reason: 'auth' })) >= 1);
  const lines = log()
    .split('\n')
    .filter((l) => l.includes('NATS connection failed'));
  assert.equal(lines.length, 1, `one line for the refusals, not one per attempt: ${lines.length}`);
  assert.deepEqual(await seqsIn(nc), [], 'nothing reached JetStream');
  await exporter.stop();
  // The credentials given (a restart with them): the held records go out.
  const fixed = loggedDeps({ env: { HTTP_PROXY: `http://gw:${PASSWORD}@127.0.0.1:${proxy.port}` } });
  await startExporter(t, streams, nats(server.url), fixed.deps);
  await waitUntil(async () => new Set(await seqsIn(nc)).size >= 5, 'all 5 in JetStream', 30_000, 50);
  assertAll(await seqsIn(nc), 5, 'after the credentials were given');

  // A proxy whose rules allow CONNECT to 443 only: 403, the hint names ConnectPort.
  const strict = await startTinyproxy(t, { connectPorts: [443] });
  const refused = loggedDeps({ env: { HTTP_PROXY: strict.url } });
  const other = await openStreams(t);
  await append(other, 3);
  const forbidden = await startExporter(t, other, nats(server.url), refused.deps);
  await assertHeld(forbidden, other, 3, /HTTP 403/, /ConnectPort/);
});

test('the proxy down, then up: records held (GH_UPSTREAM_PROXY, the server up all along), then delivered, none lost; down at the start too; NO_PROXY names the server: direct, no CONNECT', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const proxy = await startTinyproxy(t);
  const server = await startNats(t);
  const nc = await reader(t, server.url);
  const { deps, log } = loggedDeps({ env: { HTTP_PROXY: proxy.url } });
  const streams = await openStreams(t);
  await append(streams, 5);
  const exporter = await startExporter(t, streams, nats(server.url), deps);
  await waitUntil(async () => new Set(await seqsIn(nc)).size >= 5, 'the first 5', 30_000, 50);
  await proxy.down();
  await append(streams, 10);
  // Held while the proxy is down (the server is up: the gateway has no other way out here).
  await waitUntil(() => /GH_UPSTREAM_PROXY/.test(JSON.stringify(exporter.status().lastError)), 'GH_UPSTREAM_PROXY while the proxy is down', 30_000, 20);
  assert.match(JSON.stringify(exporter.status().lastError), /unreachable/);
  assert.equal(new Set(await seqsIn(nc)).size, 5, 'nothing went out while the proxy was down');
  await proxy.up();
  await waitUntil(async () => new Set(await seqsIn(nc)).size >= 15, 'all 15 after the proxy came back', 30_000, 50);
  assertAll(await seqsIn(nc), 15, 'proxy down then up');
  assert.equal(exporter.status().deadLetters, 0);
  assert.match(log(), /the proxy did not open the tunnel; reconnecting/);
  await exporter.stop();

  // Down when the exporter starts: its first connect waits for the proxy, then delivers.
  await proxy.down();
  await append(streams, 5);
  const late = loggedDeps({ env: { HTTP_PROXY: proxy.url } });
  const second = await startExporter(t, streams, nats(server.url), late.deps);
  await waitUntil(() => /GH_UPSTREAM_PROXY/.test(JSON.stringify(second.status().lastError)), 'GH_UPSTREAM_PROXY at the first connect', 30_000, 20);
  assert.equal(new Set(await seqsIn(nc)).size, 15, 'nothing went out before the proxy was up');
  await proxy.up();
  await waitUntil(async () => new Set(await seqsIn(nc)).size >= 20, 'all 20', 30_000, 50);
  assertAll(await seqsIn(nc), 20, 'proxy down at the start');
  await second.stop();

  // NO_PROXY matching the server: direct, the proxy takes no CONNECT for it.
  const before = await connects(proxy, server.port);
  const direct = loggedDeps({ env: { HTTP_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.1' } });
  const other = await openStreams(t);
  await append(other, 5);
  await startExporter(t, other, nats(server.url, { stream: 'DIRECT', subject: 'direct.${stream}' }), direct.deps);
  await waitUntil(async () => new Set(await seqsIn(nc, 'DIRECT')).size >= 5, 'the 5 of the direct exporter', 30_000, 50);
  assert.equal(await connects(proxy, server.port), before, 'no CONNECT for a server NO_PROXY names');
  assert.match(direct.log(), /upstream direct \(127\.0\.0\.1:\d+ matches '127\.0\.0\.1' of NO_PROXY/);
});

test('a proxy that takes the connection and never answers the CONNECT: each attempt given up at connectTimeoutMs with its connection closed (not one left open per attempt), the error says so; a server that never sends its INFO, direct, the same', {
  timeout: 60_000,
}, async (t) => {
  const hung = await hungServer(t);
  const { deps } = loggedDeps({ env: { HTTP_PROXY: `http://127.0.0.1:${hung.port}` } });
  const streams = await openStreams(t);
  await append(streams, 3);
  // The server's address is never reached (the proxy holds every CONNECT): port 9 is as good as any.
  const exporter = await startExporter(t, streams, nats('nats://127.0.0.1:9', { connectTimeoutMs: 200 }), deps);
  await waitUntil(() => hung.taken() >= 6, 'six connect attempts', 40_000, 20);
  // At most the attempt in flight is open.
  assert.ok(hung.open() <= 1, `connections left open to the hung proxy: ${hung.open()} of ${hung.taken()}`);
  await waitUntil(
    () => /no answer to the CONNECT within 200 ms/.test(JSON.stringify(exporter.status().lastError)),
    'the error names the hung CONNECT',
    10_000,
    20,
  );
  assert.match(JSON.stringify(exporter.status().lastError), /GH_UPSTREAM_PROXY/);
  assert.equal(exporter.status().deadLetters, 0);
  await exporter.stop();

  // Direct to a "server" that takes the connection and never sends its INFO: the same bound.
  const silent = await hungServer(t);
  const other = await openStreams(t);
  await append(other, 3);
  await startExporter(t, other, nats(`nats://127.0.0.1:${silent.port}`, { connectTimeoutMs: 200 }), loggedDeps({ env: {} }).deps);
  await waitUntil(() => silent.taken() >= 6, 'six connect attempts', 40_000, 20);
  assert.ok(silent.open() <= 1, `connections left open to the silent server: ${silent.open()} of ${silent.taken()}`);
});

/** nats-server -js with TLS required (its certificate for `san`), on a restartable port, stopped after the test. */
async function startTlsNats(t: TestContext, san: string): Promise<{ port: number; ca: string }> {
  const dir = await tempDir(t, 'gatehouse-nats-tls-');
  const { cert, key } = opensslSelfSigned(dir, 1, 'nats', san);
  let child: ChildProcess | undefined;
  t.after(async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill('SIGKILL');
    await exited;
  });
  const bin = which('nats-server') ?? 'nats-server';
  const port = await onRestartablePort(t, async (p) => {
    const c = spawn(bin, ['-js', '-a', '127.0.0.1', '-p', String(p), '-sd', join(dir, 'js'), '--tls', '--tlscert', cert, '--tlskey', key], { stdio: 'ignore' });
    child = c;
    let gone = false;
    c.once('exit', () => {
      gone = true;
    });
    await waitUntil(async () => gone || portOpen(p), `nats-server (TLS) listening on ${p}`, 10_000, 20);
    if (gone) throw new Error(`nats-server (TLS) exited with ${c.exitCode} (port ${p} taken?)`);
    return p;
  });
  return { port, ca: cert };
}

test("tls:// to an IP address through the proxy (HTTPS_PROXY): TLS inside the tunnel, the server's certificate checked against that address (node takes 'localhost' for a socket it did not open with a host name); direct too; a wrong CA is the server's fault, not the proxy's", {
  skip: skip ?? needBinary('openssl', 'openssl'),
  timeout: 60_000,
}, async (t) => {
  const proxy = await startTinyproxy(t);
  // A certificate for the address alone: checked against anything else it fails. (The library's own
  // connect() fails there too, direct: what arrived is read from the exporter's checkpoint, which
  // moves only on JetStream's acknowledgements.)
  const server = await startTlsNats(t, 'IP:127.0.0.1');
  const url = `tls://127.0.0.1:${server.port}`;
  const { deps } = loggedDeps({ env: { HTTPS_PROXY: proxy.url } });
  const streams = await openStreams(t);
  await append(streams, 5);
  // Trusting another CA: the certificate is refused, and it is not blamed on the proxy.
  const dir = await tempDir(t);
  const { cert: otherCa } = opensslSelfSigned(dir, 1, 'other', 'IP:127.0.0.1');
  const untrusted = await startExporter(t, streams, nats(url, { tls: { caFile: otherCa } }), deps);
  await waitUntil(() => /certificate|self.signed|verify/i.test(JSON.stringify(untrusted.status().lastError)), 'a certificate error', 30_000, 20);
  assert.doesNotMatch(JSON.stringify(untrusted.status().lastError), /GH_UPSTREAM_PROXY/, 'the proxy let the tunnel through: not its fault');
  await untrusted.stop();
  const exporter = await startExporter(t, streams, nats(url, { tls: { caFile: server.ca } }), deps);
  await waitUntil(() => exporter.status().lastExportedSeq === 5, 'all 5 acknowledged by JetStream over TLS', 30_000, 20);
  assert.ok((await proxy.requests()).includes(`CONNECT 127.0.0.1:${server.port} HTTP/1.1`), 'tinyproxy took the CONNECT to the server');
  assert.equal(exporter.status().deadLetters, 0);
  // Direct (proxy: false), the same certificate check.
  const other = await openStreams(t);
  await append(other, 3);
  const direct = await startExporter(t, other, nats(url, { tls: { caFile: server.ca }, proxy: false, stream: 'DIRECT', subject: 'direct.${stream}' }), deps);
  await waitUntil(() => direct.status().lastExportedSeq === 3, 'the direct 3 acknowledged over TLS', 30_000, 20);
});
