// OPC UA connection failures as the status shows them (a real node-opcua client; no server, or a
// node-opcua server that does not offer the configured security).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { opcuaKind, opcuaOptionsSchema } from '../../gateway/pipeline/sources/opcua/index.js';
import type { Source } from '../../gateway/pipeline/contract.js';
import type { SourceDeps } from '../../gateway/pipeline/sources/kind.js';
import { freePort, waitUntil } from '../helpers/index.js';
import { capturedLogger, localBus, sourceDeps, storeIntake } from '../helpers/industrial.js';
import { opcuaPeer } from '../helpers/opcua-server.js';

/** How long a test watches for writes after a stop (a key pair takes ~0.1-0.5 s here). */
const AFTER_STOP_MS = 3000;

/** An OPC UA source started against a port where nothing listens (its data dir fresh: no PKI yet). */
async function refusedEndpointSource(t: TestContext, logger?: SourceDeps['logger']): Promise<{ source: Source; port: number; dataDir: string }> {
  const port = await freePort(t);
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-opcua-data-'));
  const intake = await storeIntake(t);
  const source = await opcuaKind.create(
    opcuaOptionsSchema.parse({
      type: 'opcua',
      name: 'ua',
      endpoint: `opc.tcp://127.0.0.1:${port}/UA/Test`,
      backoff: { initialMs: 100, maxMs: 200 },
      subscriptions: [{ items: [{ nodeId: 'ns=1;s=Speed', name: 'speed' }] }],
    }),
    sourceDeps(t, logger ? { dataDir, logger } : { dataDir }),
  );
  await source.start(intake);
  t.after(async () => {
    await source.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  return { source, port, dataDir };
}

test('a refused endpoint: retrying, with a one-line lastError naming the endpoint and the cause', async (t) => {
  const { source, port } = await refusedEndpointSource(t);
  await waitUntil(() => (source.status().details as { lastError: string | null }).lastError, 'a connect error', 20_000);
  assert.equal(source.status().state, 'retrying');
  const lastError = String((source.status().details as { lastError: string }).lastError);
  assert.match(lastError, new RegExp(`opc\\.tcp://127\\.0\\.0\\.1:${port}/UA/Test`));
  assert.match(lastError, /ECONNREFUSED/);
  // One line: the status page, `gatehouse sources` and the log show it as a line (node-opcua's text has line breaks).
  assert.doesNotMatch(lastError, /\n/);
});

test('a server that offers no endpoint with the configured security: the error names what it offers and how to fix', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-opcua-data-'));
  const peer = await opcuaPeer(t, {}, join(dataDir, 'server'));
  const intake = await storeIntake(t);
  const source = await opcuaKind.create(
    opcuaOptionsSchema.parse({
      type: 'opcua',
      name: 'ua',
      endpoint: peer.endpoint,
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Basic256Sha256',
      pkiDir: join(dataDir, 'client'),
      backoff: { initialMs: 100, maxMs: 200 },
      subscriptions: [{ items: [{ nodeId: 'ns=1;s=Speed', name: 'speed' }] }],
    }),
    sourceDeps(t, { dataDir }),
  );
  await source.start(intake);
  t.after(async () => {
    await source.stop();
    await peer.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  await waitUntil(() => (source.status().details as { lastError: string | null }).lastError, 'a connect error', 20_000);
  assert.equal(source.status().state, 'retrying');
  const lastError = String((source.status().details as { lastError: string }).lastError);
  // node-opcua said: "Cannot find an Endpoint matching  security mode: 3 policy: http://...#Basic256Sha256".
  assert.match(lastError, /offers no endpoint with securityMode \/ securityPolicy SignAndEncrypt \/ Basic256Sha256; it offers None \/ None/);
  assert.match(lastError, /Fix: set securityMode and securityPolicy .* to a pair the server offers/);
});

test('a wildcard command topic holds its default reply topic: a reply is not taken for a command', async (t) => {
  const port = await freePort(t);
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-opcua-data-'));
  const intake = await storeIntake(t);
  const bus = localBus();
  // A broker delivers the source's own replies to its subscription 'cmd/#' (bounded: the test ends before the fix).
  const publish = (topic: string, payload: Buffer): void => {
    bus.deps.publish?.(topic, payload);
    if (bus.published.length < 1000) bus.send(topic, JSON.parse(payload.toString()));
  };
  const source = await opcuaKind.create(
    opcuaOptionsSchema.parse({
      type: 'opcua',
      name: 'ua',
      endpoint: `opc.tcp://127.0.0.1:${port}/UA/Test`,
      backoff: { initialMs: 100, maxMs: 200 },
      commands: { topic: 'cmd/#' },
      subscriptions: [{ items: [{ nodeId: 'ns=1;s=Speed', name: 'speed' }] }],
    }),
    sourceDeps(t, { dataDir, publish, subscribe: bus.deps.subscribe }),
  );
  await source.start(intake);
  t.after(async () => {
    await source.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const reply = bus.next('cmd/reply');
  bus.send('cmd/x', { id: 1, tag: 'nope', value: 1 });
  assert.equal((await reply).ok, false);
  await new Promise((r) => setImmediate(r));
  assert.equal(bus.published.filter((p) => p.topic === 'cmd/reply').length, 1, 'one reply');
});

test("node-opcua's own log lines reach the gateway's log as their message, not the caller's context object ('[object Object]')", async (t) => {
  const { logger, lines } = capturedLogger('debug');
  await refusedEndpointSource(t, logger);
  // A fresh PKI folder: node-opcua says it creates the client's certificate (a warning of its own).
  const created = await waitUntil(
    () => lines.find((l) => l.lib === 'node-opcua' && /Creating default certificate/.test(l.msg)),
    "node-opcua's line about the certificate it creates",
    20_000,
  );
  assert.equal(created.msg, 'Creating default certificate ... please wait');
  const libLines = lines.filter((l) => l.lib === 'node-opcua');
  assert.ok(
    libLines.every((l) => !l.msg.includes('[object Object]')),
    libLines.map((l) => l.msg).join(' | '),
  );
});

test('a stop right after the start (the first connect not begun): nothing is written into the PKI folder after stop() returns', async (t) => {
  const { source, dataDir } = await refusedEndpointSource(t);
  await source.stop();
  const pki = join(dataDir, 'opcua', 'pki');
  const files = (): string[] => (existsSync(pki) ? readdirSync(pki, { recursive: true }).map(String).sort() : []);
  const atStop = files();
  // Before: the first connect was started with the stop's signal already aborted: given up on at
  // once, its certificate's creation went on and wrote the key pair and certificate after the stop
  // (in CI: the data dir's removal failed with ENOTEMPTY). A key pair takes ~0.1-0.5 s here.
  await new Promise((r) => setTimeout(r, AFTER_STOP_MS));
  assert.deepEqual(files(), atStop, 'the PKI folder changed after stop() returned');
});
