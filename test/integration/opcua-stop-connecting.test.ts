// A stop while the OPC UA source is still opening its session, against a real node-opcua server:
// - behind a TCP proxy (test/helpers/industrial.ts) that lets the connection open and then
//   forwards nothing: the server host that hangs, the link that drops packets (the connect);
// - whose login is held (the server's user check, a slow directory): the session's creation; the
//   server offers security (`secure`) because node-opcua offers no password login without it
//   (direct: behind the proxy, the endpoint the server describes is not the one the source asked
//   for, and a login needs that description's user token policy).
// - behind the proxy that holds the session's CreateSubscription request (the server that never
//   answers it, a link lost at that moment): the subscriptions' creation.
// The stop must not wait for any of them (connectTimeoutMs, here far longer than the test), must
// close the connection, and must not report the abandoned connect as a connect failure.
// And a stop of a running source whose server froze (the proxy forwards nothing any more): the
// connection is closed when stop() returns, not when node-opcua's request times out (~16 s later:
// a file descriptor and one of the few sessions a PLC allows, held after the source said it stopped).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { opcuaKind, opcuaOptionsSchema } from '../../gateway/pipeline/sources/opcua/index.js';
import type { Source } from '../../gateway/pipeline/contract.js';
import { waitUntil } from '../helpers/index.js';
import { sourceDeps, storeIntake, tcpProxy, type TcpProxy } from '../helpers/industrial.js';
import { opcuaPeer, type OpcuaPeer, type OpcuaPeerOptions } from '../helpers/opcua-server.js';

/** Far longer than the stop may take: a stop that waits for the connect fails the test. */
const CONNECT_TIMEOUT_MS = 120_000;
const STOP_BOUND_MS = 10_000;
/** A connection still open this long after stop() returned is one the stop left behind. */
const CLOSED_AFTER_STOP_MS = 1000;

interface Rig {
  source: Source;
  proxy: TcpProxy;
  peer: OpcuaPeer;
  warnings: () => unknown[];
  /** Stop, and say whether the stop ended within STOP_BOUND_MS. */
  stop: () => Promise<'stopped' | 'still stopping'>;
}

async function rig(t: TestContext, peerOpts: OpcuaPeerOptions, raw: Record<string, unknown>, direct = false): Promise<Rig> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-opcua-data-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const peer = await opcuaPeer(t, peerOpts, join(dataDir, 'server'));
  const proxy = await tcpProxy(t, peer.port);
  const intake = await storeIntake(t);
  const lines: Array<Record<string, unknown>> = [];
  const { default: pino } = await import('pino');
  const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const source = await opcuaKind.create(
    opcuaOptionsSchema.parse({
      type: 'opcua',
      name: 'ua',
      endpoint: direct ? peer.endpoint : `opc.tcp://127.0.0.1:${proxy.port}/UA/Test`,
      pkiDir: join(dataDir, 'client'),
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      subscriptions: [{ items: [{ nodeId: 'ns=1;s=Speed', name: 'speed' }] }],
      ...raw,
    }),
    sourceDeps(t, { dataDir, logger }),
  );
  let stopped: Promise<void> | undefined;
  t.after(() => stopped ?? source.stop());
  await source.start(intake);
  return {
    source,
    proxy,
    peer,
    warnings: () => lines.filter((l) => l.level === 40).map((l) => l.msg),
    async stop() {
      stopped = source.stop();
      let bound: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        stopped.then(() => 'stopped' as const),
        new Promise<'still stopping'>((r) => {
          bound = setTimeout(() => r('still stopping'), STOP_BOUND_MS);
        }),
      ]);
      clearTimeout(bound);
      return outcome;
    },
  };
}

test('a stop while the connect hangs ends at once and closes the connection, without waiting for connectTimeoutMs', async (t) => {
  const r = await rig(t, {}, {});
  r.proxy.mute(true);
  await waitUntil(() => r.proxy.snapshot().size === 1, 'the source opened its connection (the proxy forwards nothing)', 20_000);
  assert.equal(r.source.status().state, 'connecting');
  assert.equal(await r.stop(), 'stopped', `the stop waited for the connect (connectTimeoutMs ${CONNECT_TIMEOUT_MS} ms)`);
  assert.equal(r.source.status().state, 'stopped');
  await waitUntil(() => r.proxy.snapshot().size === 0, 'the connection of the abandoned connect is closed', 10_000);
  // A stop is no connect failure: nothing warns of one.
  assert.deepEqual(r.warnings(), []);
});

test("a stop while the server holds the session's login ends at once and closes the connection", async (t) => {
  let loginAsked: () => void = () => undefined;
  const asked = new Promise<void>((resolve) => {
    loginAsked = resolve;
  });
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  // At the test's end (after hooks run in registration order: this one first), so that a source
  // still stopping (the test failed) and the server can end.
  t.after(() => release());
  const r = await rig(
    t,
    {
      users: { operator: 'secret' },
      secure: true,
      holdLogin: () => {
        loginAsked();
        return held;
      },
    },
    { auth: { type: 'username', username: 'operator', password: 'secret' } },
    true,
  );
  let loginSeen = false;
  void asked.then(() => (loginSeen = true));
  await waitUntil(() => loginSeen, 'the server asked to check the login', 20_000);
  assert.equal(r.peer.channels, 1);
  assert.equal(r.source.status().state, 'connecting');
  assert.equal(await r.stop(), 'stopped', `the stop waited for the session's creation (connectTimeoutMs ${CONNECT_TIMEOUT_MS} ms)`);
  assert.equal(r.source.status().state, 'stopped');
  await waitUntil(() => r.peer.channels === 0, 'the channel of the abandoned session is closed', 10_000);
  assert.deepEqual(r.warnings(), []);
});

/**
 * A chunk of OPC UA's binary protocol carrying a CreateSubscriptionRequest: a MSG chunk (security
 * None: not encrypted) whose body's type id is ns=0;i=787 in the four-byte encoding (0x01, ns 0,
 * id as UInt16 LE), after the 24 bytes of message, security and sequence headers.
 */
function isCreateSubscription(chunk: Buffer): boolean {
  return chunk.length >= 28 && chunk.toString('latin1', 0, 3) === 'MSG' && chunk.subarray(24, 28).equals(Buffer.from([0x01, 0x00, 0x13, 0x03]));
}

test("a stop while the server holds the subscription's creation ends without waiting for it", async (t) => {
  const r = await rig(t, {}, {});
  await r.proxy.muteAt(isCreateSubscription);
  // The session is open: the source is creating its subscription (it reports 'running' after).
  assert.equal(r.source.status().state, 'connecting');
  assert.equal(r.proxy.snapshot().size, 1);
  // The session's close and the client's disconnect are each given 2 s against a server that no
  // longer answers (teardown); then the connection is destroyed, not left to node-opcua (~16 s later).
  assert.equal(await r.stop(), 'stopped', `the stop waited for the subscription's creation (connectTimeoutMs ${CONNECT_TIMEOUT_MS} ms)`);
  assert.equal(r.source.status().state, 'stopped');
  await waitUntil(() => r.proxy.snapshot().size === 0, 'no connection to the server is left once stop() returned', CLOSED_AFTER_STOP_MS);
  assert.deepEqual(r.warnings(), []);
});

test('a stop of a running source whose server froze leaves no connection to it once stop() returns', async (t) => {
  const r = await rig(t, {}, { subscriptions: [{ publishingIntervalMs: 100, items: [{ nodeId: 'ns=1;s=Speed', name: 'speed' }] }] });
  await waitUntil(() => r.source.status().state === 'running', 'the source runs', 20_000);
  assert.equal(r.proxy.snapshot().size, 1);
  // The server accepts but no longer answers: the session's close and the disconnect get no reply.
  r.proxy.mute(true);
  assert.equal(await r.stop(), 'stopped', 'the stop waited for the frozen server');
  assert.equal(r.source.status().state, 'stopped');
  await waitUntil(() => r.proxy.snapshot().size === 0, 'no connection to the server is left once stop() returned', CLOSED_AFTER_STOP_MS);
  assert.deepEqual(r.warnings(), []);
});
