// `gatehouse opcua browse` against an endpoint that refuses it, run as a user runs it (the real bin,
// a child process, so whatever reaches the console is seen) against a real node-opcua server: stderr
// is our one error line, what, where and how to fix. node-opcua's own lines ("Creating default
// certificate", [NODE-OPCUA-W27]'s advice to start node with --security-revert, [NODE-OPCUA-W06] of
// the endpoint probe) were printed besides it; they are its debug output, shown with --verbose. The
// OPC UA source of a running gateway keeps them at debug in its log, and its endpoint probe no
// longer makes the W06 one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { opcuaKind, opcuaOptionsSchema } from '../../gateway/pipeline/sources/opcua/index.js';
import { freePort, repoRoot, tempDir, waitUntil } from '../helpers/index.js';
import { capturedLogger, sourceDeps, storeIntake } from '../helpers/industrial.js';
import { opcuaPeer } from '../helpers/opcua-server.js';

const run = promisify(execFile);

/** `gatehouse opcua browse ARGS` in a child process, with a fresh data dir (the first run: it makes the client certificate). */
async function browse(t: import('node:test').TestContext, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const dataDir = await tempDir(t, 'gatehouse-opcua-cli-');
  try {
    const { stdout, stderr } = await run(process.execPath, [join(repoRoot, 'bin', 'gatehouse.js'), 'opcua', 'browse', '--data-dir', dataDir, ...args], {
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test('opcua browse with a security mode the server does not offer: stderr is our one error line', async (t) => {
  const peer = await opcuaPeer(t, {}, join(await tempDir(t, 'gatehouse-opcua-srv-'), 'server'));
  const r = await browse(t, ['--endpoint', peer.endpoint, '--security-mode', 'SignAndEncrypt']);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(
    r.stderr,
    `gatehouse opcua: GH_SOURCE_CONNECT: cannot reach ${peer.endpoint}: the server offers no endpoint with securityMode / securityPolicy SignAndEncrypt / Basic256Sha256; it offers None / None (at ${peer.endpoint}). Fix: set securityMode and securityPolicy (opcua browse: --security-mode) to a pair the server offers, or enable that security on the server\n`,
  );
  // --verbose: node-opcua's lines too, each prefixed, and not the probe's certificate mismatch
  const verbose = await browse(t, ['--endpoint', peer.endpoint, '--security-mode', 'SignAndEncrypt', '--verbose']);
  assert.equal(verbose.code, 1, verbose.stderr);
  assert.match(verbose.stderr, /^gatehouse opcua: node-opcua: Creating default certificate \.\.\. please wait$/m);
  assert.doesNotMatch(verbose.stderr, /W06|\[object Object\]/);
});

test('opcua browse of an endpoint where nothing listens: stderr is our one error line, naming the cause and the fix', async (t) => {
  const endpoint = `opc.tcp://127.0.0.1:${await freePort(t)}/UA/Test`;
  const r = await browse(t, ['--endpoint', endpoint, '--timeout', '5000']);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(
    r.stderr,
    `gatehouse opcua: GH_SOURCE_CONNECT: cannot reach ${endpoint}: nothing accepts connections at that host and port (connect ECONNREFUSED ${endpoint.slice('opc.tcp://'.length, endpoint.lastIndexOf('/UA'))}) (at ${endpoint}). Fix: check that the OPC UA server runs and the port of the endpoint URL\n`,
  );
});

test('opcua browse --security-mode SignAndEncrypt of an endpoint where nothing listens: the same line as with None', async (t) => {
  const endpoint = `opc.tcp://127.0.0.1:${await freePort(t)}/UA/Test`;
  const r = await browse(t, ['--endpoint', endpoint, '--security-mode', 'SignAndEncrypt', '--timeout', '5000']);
  assert.equal(r.code, 1, r.stderr);
  // Before: "cannot open an OPC UA session at ...: Fail to connect to server at ... to collect
  // server's certificate (in findEndpoint) (err =premature disconnection 4)".
  assert.equal(
    r.stderr,
    `gatehouse opcua: GH_SOURCE_CONNECT: cannot reach ${endpoint}: nothing accepts connections at that host and port (connect ECONNREFUSED ${endpoint.slice('opc.tcp://'.length, endpoint.lastIndexOf('/UA'))}) (at ${endpoint}). Fix: check that the OPC UA server runs and the port of the endpoint URL\n`,
  );
});

test("the gateway's OPC UA source refused for its security: node-opcua's lines at debug only, and no certificate mismatch of the endpoint probe", async (t) => {
  const dataDir = await tempDir(t, 'gatehouse-opcua-data-');
  const peer = await opcuaPeer(t, {}, join(dataDir, 'server'));
  const { logger, lines } = capturedLogger('debug');
  const source = await opcuaKind.create(
    opcuaOptionsSchema.parse({
      type: 'opcua',
      name: 'ua',
      endpoint: peer.endpoint,
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Basic256Sha256',
      backoff: { initialMs: 100, maxMs: 200 },
      subscriptions: [{ items: [{ nodeId: 'ns=1;s=Speed', name: 'speed' }] }],
    }),
    sourceDeps(t, { dataDir, logger }),
  );
  await source.start(await storeIntake(t));
  t.after(() => source.stop());
  // refused: the client certificate was made, then the endpoint probe listed what the server offers
  await waitUntil(() => (source.status().details as { lastError: string | null }).lastError, 'a refused connect', 30_000);
  const lib = lines.filter((l) => l.lib === 'node-opcua') as Array<{ msg: string; level?: number }>;
  assert.ok(lib.length > 0, "node-opcua's lines are in the log at debug");
  assert.deepEqual(
    lib.filter((l) => (l.level ?? 0) > 20 || /W06/.test(l.msg)).map((l) => l.msg),
    [],
  );
});
