// What an OPC UA source's lastError (gatehouse sources, the status page, the log) says for each
// cause of a failed connect, with every security mode: a real node-opcua client against node-opcua's
// real server, a port nothing listens on, or a TCP server that closes each connection (another
// service on the port). One cause must read the same whatever the security mode: node-opcua's own
// texts did not (a stopped server was "premature disconnection 4" with Sign or SignAndEncrypt).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { opcuaKind, opcuaOptionsSchema } from '../../gateway/pipeline/sources/opcua/index.js';
import { freePort, tempDir, waitUntil } from '../helpers/index.js';
import { sourceDeps, storeIntake } from '../helpers/industrial.js';
import { opcuaPeer } from '../helpers/opcua-server.js';

const MODES = [
  { securityMode: 'None', securityPolicy: 'None' },
  { securityMode: 'Sign', securityPolicy: 'Basic256Sha256' },
  { securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256' },
] as const;
type Mode = (typeof MODES)[number]['securityMode'];

/**
 * The first lastError of a source started with these options (endpoint, security, auth...), and
 * its PKI folder. Short timeouts: a failed connect here is refused at once, never waited out.
 */
async function firstError(t: TestContext, options: Record<string, unknown>): Promise<{ lastError: string; pkiDir: string }> {
  const dataDir = await tempDir(t, 'gatehouse-opcua-data-');
  const pkiDir = join(dataDir, 'pki');
  const source = await opcuaKind.create(
    opcuaOptionsSchema.parse({
      type: 'opcua',
      name: 'ua',
      pkiDir,
      connectTimeoutMs: 5000,
      backoff: { initialMs: 100, maxMs: 200 },
      subscriptions: [{ items: [{ nodeId: 'ns=1;s=Speed', name: 'speed' }] }],
      ...options,
    }),
    sourceDeps(t, { dataDir }),
  );
  await source.start(await storeIntake(t));
  t.after(() => source.stop());
  const lastError = await waitUntil(() => (source.status().details as { lastError: string | null }).lastError, 'a connect error', 20_000);
  assert.equal(source.status().state, 'retrying');
  await source.stop();
  return { lastError, pkiDir };
}

/** The lastError of each security mode, for one cause. */
async function byMode(t: TestContext, options: (mode: Mode) => Record<string, unknown>): Promise<Record<Mode, string>> {
  const out: Partial<Record<Mode, string>> = {};
  for (const m of MODES) out[m.securityMode] = (await firstError(t, { ...m, ...options(m.securityMode) })).lastError;
  return out as Record<Mode, string>;
}

test('a stopped server (a port nothing listens on): every security mode says nothing accepts connections there, and how to fix', async (t) => {
  const port = await freePort(t);
  const endpoint = `opc.tcp://127.0.0.1:${port}/UA/Test`;
  const errors = await byMode(t, () => ({ endpoint }));
  const expected = `GH_SOURCE_CONNECT: cannot reach ${endpoint}: nothing accepts connections at that host and port (connect ECONNREFUSED 127.0.0.1:${port}) (at ${endpoint}). Fix: check that the OPC UA server runs and the port of the endpoint URL`;
  // Before: Sign and SignAndEncrypt said "Fail to connect to server at ... to collect server's
  // certificate (in findEndpoint) (err =premature disconnection 4)", with a fix about certificates.
  assert.deepEqual(errors, { None: expected, Sign: expected, SignAndEncrypt: expected });
});

test('a host name that does not resolve: every security mode says so', async (t) => {
  const endpoint = 'opc.tcp://no-such-host.invalid:4840/UA/Test';
  const errors = await byMode(t, () => ({ endpoint }));
  for (const [mode, lastError] of Object.entries(errors))
    assert.match(
      lastError,
      /^GH_SOURCE_CONNECT: cannot reach opc\.tcp:\/\/no-such-host\.invalid:4840\/UA\/Test: the host name (does not resolve|could not be resolved now \(DNS\)) \(getaddrinfo (ENOTFOUND|EAI_AGAIN) no-such-host\.invalid\) .*Fix: check the (host of the endpoint URL|DNS servers)/,
      mode,
    );
});

test('a port of another service (it closes each connection): every security mode says the same', async (t) => {
  const other = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => other.close(() => resolve())));
  const port = (other.address() as { port: number }).port;
  const endpoint = `opc.tcp://127.0.0.1:${port}/UA/Test`;
  const errors = await byMode(t, () => ({ endpoint }));
  const expected = `GH_SOURCE_CONNECT: cannot reach ${endpoint}: the server closed the connection before the OPC UA handshake finished (at ${endpoint}). Fix: check that this port is the OPC UA server (not another service or a proxy) and that it takes one more client (its connection limit)`;
  // Before: None said "The connection may have been rejected by server, Err = (Connection aborted -
  // ended by server: ClientTCP_transport10: socket has been disconnected by third party )", the others "premature disconnection 4".
  assert.deepEqual(errors, { None: expected, Sign: expected, SignAndEncrypt: expected });
});

test('a port of a service that answers something else (an HTTP server): every security mode says the same as for one that closes', async (t) => {
  const other = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'));
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => other.close(() => resolve())));
  const endpoint = `opc.tcp://127.0.0.1:${(other.address() as { port: number }).port}/UA/Test`;
  const errors = await byMode(t, () => ({ endpoint }));
  const expected = `GH_SOURCE_CONNECT: cannot reach ${endpoint}: the server closed the connection before the OPC UA handshake finished (at ${endpoint}). Fix: check that this port is the OPC UA server (not another service or a proxy) and that it takes one more client (its connection limit)`;
  // Before: None said "cannot open an OPC UA session: The connection may have been rejected by
  // server, Err = (ERROR in waiting for data on socket(timeout was = 60000 ms) hadErrortrue )".
  assert.deepEqual(errors, { None: expected, Sign: expected, SignAndEncrypt: expected });
});

test('a wrong password: every security mode says the server refused the login of that user, and which options to check', async (t) => {
  const peer = await opcuaPeer(t, { secure: true, users: { op: 'secret' } }, join(await tempDir(t, 'gatehouse-opcua-srv-'), 'server'));
  const errors = await byMode(t, () => ({ endpoint: peer.endpoint, trustUnknownServer: true, auth: { type: 'username', username: 'op', password: 'wrong' } }));
  // Before: "cannot open an OPC UA session at ...: BadUserAccessDenied (0x801f0000)", with a fix naming the endpoint and certificates first.
  const expected = `GH_SOURCE_CONNECT: cannot reach ${peer.endpoint}: the server refused the login of user 'op' (BadUserAccessDenied) (at ${peer.endpoint}). Fix: check auth.username and auth.password (opcua browse: --user, --password) against the server's users`;
  assert.deepEqual(errors, { None: expected, Sign: expected, SignAndEncrypt: expected });
});

test('an anonymous login to a server that wants a user: every security mode says so and names auth', async (t) => {
  const peer = await opcuaPeer(t, { secure: true, users: { op: 'secret' } }, join(await tempDir(t, 'gatehouse-opcua-srv-'), 'server'));
  const errors = await byMode(t, () => ({ endpoint: peer.endpoint, trustUnknownServer: true }));
  // Before: "Cannot find ANONYMOUS user token policy in end point description".
  for (const lastError of Object.values(errors))
    assert.equal(
      lastError,
      `GH_SOURCE_CONNECT: cannot reach ${peer.endpoint}: the server does not accept anonymous logins (at ${peer.endpoint}). Fix: set auth to a login the server accepts (anonymous, { type: username, ... } or { type: certificate, ... }; opcua browse: --user, --password; what a server accepts can differ by securityMode), or enable that login on the server`,
    );
});

test('a server certificate not trusted yet (Sign, SignAndEncrypt): the error says so and where to move it, and it is there', async (t) => {
  const peer = await opcuaPeer(t, { secure: true }, join(await tempDir(t, 'gatehouse-opcua-srv-'), 'server'));
  for (const m of MODES.filter((x) => x.securityMode !== 'None')) {
    const { lastError, pkiDir } = await firstError(t, { ...m, endpoint: peer.endpoint });
    // Before: "server Certificate verification failed with err BadCertificateUntrusted (0x801a0000)" and a generic fix.
    assert.equal(
      lastError,
      `GH_SOURCE_CONNECT: cannot reach ${peer.endpoint}: the gateway does not trust the server's certificate (BadCertificateUntrusted) (at ${peer.endpoint}). Fix: move the server's certificate from ${join(pkiDir, 'rejected')} to ${join(pkiDir, 'trusted', 'certs')} (or set trustUnknownServer: true, on a closed network only); the source retries by itself`,
      m.securityMode,
    );
    assert.equal(readdirSync(join(pkiDir, 'rejected')).filter((f) => f.endsWith('.pem')).length, 1, 'the server certificate is in rejected/');
  }
});

test("a server that does not trust the gateway's certificate (Sign, SignAndEncrypt): the error says so and names the certificate file to trust", async (t) => {
  const peer = await opcuaPeer(t, { secure: true, rejectUnknownClients: true }, join(await tempDir(t, 'gatehouse-opcua-srv-'), 'server'));
  for (const m of MODES.filter((x) => x.securityMode !== 'None')) {
    const { lastError, pkiDir } = await firstError(t, { ...m, endpoint: peer.endpoint, trustUnknownServer: true });
    const own = join(pkiDir, 'own', 'certs', 'client_certificate.pem');
    // Before: "The connection has been rejected by server: BadSecurityChecksFailed (0x80130000)" and a fix about the server's certificate.
    assert.equal(
      lastError,
      `GH_SOURCE_CONNECT: cannot reach ${peer.endpoint}: the server refused the gateway's certificate (BadSecurityChecksFailed) (at ${peer.endpoint}). Fix: trust the gateway's certificate on the server (${own}; most servers list it as rejected: accept it there); the source retries by itself`,
      m.securityMode,
    );
    assert.ok(existsSync(own), `${own} exists`);
  }
});

test('a server that accepts the connection and never answers: every security mode says the connect did not finish, and names connectTimeoutMs', async (t) => {
  const held = new Set<Socket>();
  const silent = createServer((socket) => {
    held.add(socket);
    socket.on('close', () => held.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    silent.close();
    for (const socket of held) socket.destroy();
  });
  const endpoint = `opc.tcp://127.0.0.1:${(silent.address() as { port: number }).port}/UA/Test`;
  const errors = await byMode(t, () => ({ endpoint, connectTimeoutMs: 300 }));
  // Before: "connect at <endpoint> did not finish within 300 ms", its fix naming no option.
  const expected = `GH_SOURCE_CONNECT: cannot reach ${endpoint}: the connect did not finish within 300 ms (at ${endpoint}). Fix: check the endpoint URL (host and port of the OPC UA server: it answers at once), the network, and connectTimeoutMs (opcua browse: --timeout)`;
  assert.deepEqual(errors, { None: expected, Sign: expected, SignAndEncrypt: expected });
});
