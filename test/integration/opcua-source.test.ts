// OPC UA source against a real node-opcua server started in the test (certificates in temp dirs),
// values committed to a real store: payload fields, Bad status codes, refused nodes, a server
// restart (session and every subscription rebuilt by themselves, gap reported), secure channel
// with user login, and writes through the command topic.
import { test, before, after, type TestContext } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SourceDeps } from '../../gateway/pipeline/sources/kind.js';
import { metricValue, tempDir, waitUntil } from '../helpers/index.js';
import { capturedLogger, localBus, storeIntake, tcpProxy, type StoreIntake } from '../helpers/industrial.js';
import { opcuaPeer } from '../helpers/opcua-server.js';
import { opcuaDetails, startOpcua, tagPayloads, type OpcuaRun } from '../helpers/opcua-source.js';
import { runCaptured } from '../helpers/cli-capture.js';

// Key generation is the slow part of an OPC UA start (seconds per RSA key on a busy machine): the
// tests of this file share one server PKI and one client PKI (each test still has its own server,
// port and data dir; the secure test uses the default <dataDir>/opcua/pki on purpose).
let shared = '';
before(async () => {
  shared = await mkdtemp(join(tmpdir(), 'gatehouse-opcua-pki-'));
});
after(() => rm(shared, { recursive: true, force: true }));
const serverPki = (): string => join(shared, 'server');
const clientPki = (): string => join(shared, 'client');

/** A source 'ua' with this file's defaults (the shared client PKI, a short backoff, a 5 s connect timeout) under `raw`. */
const startSource = (t: TestContext, raw: Record<string, unknown>, intake: StoreIntake, extra: Partial<SourceDeps> = {}): Promise<OpcuaRun> =>
  startOpcua(t, { pkiDir: clientPki(), backoff: { initialMs: 100, maxMs: 500 }, connectTimeoutMs: 5000, ...raw }, intake, extra);
const values = (intake: StoreIntake, tag: string): Promise<Record<string, unknown>[]> => tagPayloads(intake, tag);

const items = [
  { nodeId: 'ns=1;s=Speed', name: 'speed', samplingIntervalMs: 50 },
  { nodeId: 'ns=1;s=Count', name: 'count', samplingIntervalMs: 50 },
  { nodeId: 'ns=1;s=Label', name: 'label' },
  { nodeId: 'ns=1;s=Nope', name: 'nope' },
  { nodeId: 'ns=1;s=Setpoint', name: 'setpoint', writable: true },
];

test('subscribes, commits values with timestamps and status codes, flags refused nodes and Bad values', async (t) => {
  const peer = await opcuaPeer(t, {}, serverPki());
  const intake = await storeIntake(t);
  const { source, deps } = await startSource(t, { endpoint: peer.endpoint, subscriptions: [{ publishingIntervalMs: 100, items }] }, intake);
  await waitUntil(async () => (await values(intake, 'speed')).length >= 1 && (await values(intake, 'label')).length >= 1, 'first values', 20_000);
  const speed = (await values(intake, 'speed'))[0]!;
  assert.equal(speed.value, 1.5);
  assert.equal(speed.statusCode, 'Good');
  assert.ok(typeof speed.serverTimestamp === 'string');
  assert.ok('sourceTimestamp' in speed);
  assert.equal((await values(intake, 'label'))[0]!.value, 'line-1');
  const d = opcuaDetails(source);
  assert.match(d.tagErrors.nope ?? '', /BadNodeIdUnknown/);
  peer.values.Count = 42;
  await waitUntil(async () => (await values(intake, 'count')).some((v) => v.value === 42), 'the change is committed', 10_000);
  peer.bad.add('Count');
  await waitUntil(async () => (await values(intake, 'count')).some((v) => v.statusCode === 'BadDeviceFailure'), 'the Bad status reaches the message', 10_000);
  assert.ok((await metricValue(deps.registry, 'gatehouse_industrial_read_errors_total', { error: 'bad_status' })) >= 2);
  assert.equal(source.status().state, 'running');
});

test('an Uncertain value is sent with its status and counted as uncertain_status, not bad_status, and is no good read', async (t) => {
  const peer = await opcuaPeer(t, {}, serverPki());
  const intake = await storeIntake(t);
  const level = { nodeId: 'ns=1;s=Level', name: 'level', samplingIntervalMs: 50 };
  const { source, deps } = await startSource(t, { endpoint: peer.endpoint, subscriptions: [{ publishingIntervalMs: 100, items: [level] }] }, intake);
  await waitUntil(async () => (await values(intake, 'level')).some((v) => v.statusCode === 'Good'), 'a Good value', 20_000);
  const goodRead = opcuaDetails(source).lastGoodRead;
  assert.ok(goodRead, 'the Good value is a good read');
  peer.uncertain.add('Level');
  peer.values.Level = 4.5;
  await waitUntil(
    async () => (await values(intake, 'level')).some((v) => v.statusCode === 'UncertainLastUsableValue' && v.value === 4.5),
    'the Uncertain value is sent',
    10_000,
  );
  const d = opcuaDetails(source);
  assert.ok(d.uncertainStatus >= 1);
  assert.equal(d.badStatus, 0, 'an Uncertain value is not a Bad one');
  assert.match(d.tagErrors.level ?? '', /uncertain status UncertainLastUsableValue/);
  assert.equal(d.lastGoodRead, goodRead, 'an Uncertain value is no good read');
  assert.ok((await metricValue(deps.registry, 'gatehouse_industrial_read_errors_total', { error: 'uncertain_status' })) >= 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_industrial_read_errors_total', { error: 'bad_status' }), 0);
});

test('server restart: the session and every subscription come back by themselves and the gap is reported', async (t) => {
  const peer = await opcuaPeer(t, {}, serverPki());
  const intake = await storeIntake(t);
  const { source, deps } = await startSource(
    t,
    {
      endpoint: peer.endpoint,
      subscriptions: [
        { publishingIntervalMs: 100, items: items.slice(0, 2) },
        { name: 'second', publishingIntervalMs: 200, items: items.slice(2, 3) },
      ],
    },
    intake,
  );
  await waitUntil(async () => (await values(intake, 'label')).length >= 1 && (await values(intake, 'count')).length >= 1, 'subscribed', 20_000);
  const before = await intake.records();
  await peer.stop();
  await waitUntil(() => source.status().state === 'retrying', 'the loss is noticed', 20_000);
  peer.values.Count = 7;
  peer.values.Label = 'after-restart';
  await peer.start();
  await waitUntil(
    async () => (await values(intake, 'count')).some((v) => v.value === 7) && (await values(intake, 'label')).some((v) => v.value === 'after-restart'),
    'both subscriptions deliver again',
    30_000,
  );
  const d = opcuaDetails(source);
  assert.equal(d.reconnects, 1);
  assert.equal(d.gaps, 1, 'one outage, one gap');
  assert.ok(d.lastGap && d.lastGap.ms > 0);
  assert.equal(await metricValue(deps.registry, 'gatehouse_industrial_gaps_total'), 1);
  const after = await intake.records();
  for (const r of before) assert.deepEqual(after.find((a) => a.seq === r.seq)?.payload, r.payload, `record ${r.seq} kept`);
});

test('a server that stops answering (connection open, nothing flows) is detected by the keepalive watchdog and the session rebuilt', async (t) => {
  const peer = await opcuaPeer(t, {}, serverPki());
  const proxy = await tcpProxy(t, peer.port);
  const intake = await storeIntake(t);
  const { source } = await startSource(
    t,
    { endpoint: `opc.tcp://127.0.0.1:${proxy.port}/UA/Test`, connectTimeoutMs: 2000, subscriptions: [{ publishingIntervalMs: 100, items: items.slice(0, 2) }] },
    intake,
  );
  await waitUntil(async () => (await values(intake, 'count')).length >= 1, 'subscribed', 20_000);
  proxy.mute(true);
  await waitUntil(() => source.status().state === 'retrying', 'the frozen link is noticed', 20_000);
  peer.values.Count = 99;
  proxy.mute(false);
  await waitUntil(async () => (await values(intake, 'count')).some((v) => v.value === 99), 'values flow again', 30_000);
  const d = opcuaDetails(source);
  assert.equal(d.reconnects, 1);
  assert.equal(d.gaps, 1, 'one outage, one gap');
});

test("one gap per outage: the torn-down session's close ends with its connection at the teardown and does not end the restored one", async (t) => {
  // A server host that freezes and comes back: the watchdog gives up on the first session, whose
  // bounded close gets no answer on the frozen connection; the teardown then destroys that
  // connection, which completes the close: node-opcua emits session_closed on the old session.
  // Routed to whatever session is current, that event ended a running one (a second, spurious
  // gap of about a second), when the connection was left open and the close completed later, on
  // its end or node-opcua's 15 s transaction timeout: bound to its own session, it is ignored.
  const peer = await opcuaPeer(t, {}, serverPki());
  const proxy = await tcpProxy(t, peer.port);
  const intake = await storeIntake(t);
  const { logger, lines } = capturedLogger('debug');
  const { source, deps } = await startSource(
    t,
    { endpoint: `opc.tcp://127.0.0.1:${proxy.port}/UA/Test`, connectTimeoutMs: 2000, subscriptions: [{ publishingIntervalMs: 100, items: items.slice(0, 2) }] },
    intake,
    { logger },
  );
  await waitUntil(async () => (await values(intake, 'count')).length >= 1, 'subscribed', 20_000);
  assert.equal(proxy.snapshot().size, 1, "the first session's one connection");
  proxy.mute(true);
  await waitUntil(() => source.status().state === 'retrying', 'the frozen link is noticed', 20_000);
  peer.values.Count = 99;
  proxy.mute(false);
  await waitUntil(async () => (await values(intake, 'count')).some((v) => v.value === 99), 'values flow again', 30_000);
  const restored = opcuaDetails(source);
  assert.deepEqual([restored.reconnects, restored.gaps], [1, 1]);
  // The first session's connection was destroyed by its teardown, before the reconnection: only
  // the restored session's is open.
  assert.equal(proxy.snapshot().size, 1, "the torn-down session's connection is closed");
  const lost = (): number => lines.filter((l) => l.msg === 'opcua session lost; rebuilding client, session and subscriptions').length;
  assert.equal(lost(), 1, `the running session was not ended: ${JSON.stringify(lines.filter((l) => l.level === 40).map((l) => l.reason ?? l.msg))}`);
  const ignored = lines.filter((l) => l.msg === 'opcua event of a torn-down session ignored');
  assert.ok(
    ignored.some((l) => /session closed/.test(String(l.reason))),
    `the old session's close completed and its event was ignored: ${JSON.stringify(ignored.map((l) => l.reason))}`,
  );
  peer.values.Count = 100;
  await waitUntil(async () => (await values(intake, 'count')).some((v) => v.value === 100), 'the restored session still delivers', 10_000);
  const d = opcuaDetails(source);
  assert.deepEqual([d.reconnects, d.gaps], [1, 1], 'exactly one gap for the one outage');
  assert.equal(await metricValue(deps.registry, 'gatehouse_industrial_gaps_total'), 1);
});

test('Basic256Sha256 SignAndEncrypt with user/password; PKI under <dataDir>/opcua/pki; a wrong password retries with a clear error', async (t) => {
  const peer = await opcuaPeer(t, { secure: true, users: { op: 'secret' } }, serverPki());
  const intake = await storeIntake(t);
  const secure = {
    pkiDir: undefined,
    endpoint: peer.endpoint,
    securityMode: 'SignAndEncrypt',
    securityPolicy: 'Basic256Sha256',
    trustUnknownServer: true,
    subscriptions: [{ publishingIntervalMs: 100, items: items.slice(0, 1) }],
  };
  const { source, deps } = await startSource(t, { ...secure, auth: { type: 'username', username: 'op', password: 'secret' } }, intake);
  await waitUntil(async () => (await values(intake, 'speed')).length >= 1, 'values over the encrypted channel', 30_000);
  assert.ok(existsSync(join(deps.dataDir, 'opcua', 'pki', 'own')), 'application certificate under the data dir');
  assert.equal(source.status().state, 'running');
  const { source: wrong } = await startSource(t, { ...secure, name: 'wrong', auth: { type: 'username', username: 'op', password: 'nope' } }, intake);
  await waitUntil(() => wrong.status().state === 'retrying' && opcuaDetails(wrong).lastError, 'refused login', 30_000);
  assert.match(String(opcuaDetails(wrong).lastError), /session|Bad/i);
  assert.match(opcuaDetails(wrong).lastErrorAt ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test('writes a node through the command topic and replies with the server status code', async (t) => {
  const peer = await opcuaPeer(t, {}, serverPki());
  const intake = await storeIntake(t);
  const bus = localBus();
  const mode = { nodeId: 'ns=1;s=Mode', name: 'mode', writable: true };
  const { source } = await startSource(
    t,
    { endpoint: peer.endpoint, commands: { topic: 'cmd/ua' }, subscriptions: [{ publishingIntervalMs: 100, items: [...items, mode] }] },
    intake,
    bus.deps,
  );
  await waitUntil(async () => (await values(intake, 'setpoint')).length >= 1, 'subscribed', 20_000);
  let reply = bus.next('cmd/ua/reply', 10_000);
  bus.send('cmd/ua', { id: 'a', tag: 'setpoint', value: 12.5 });
  const ok = await reply;
  assert.equal(ok.ok, true, JSON.stringify(ok));
  assert.equal(ok.statusCode, 'Good');
  assert.equal(peer.values.Setpoint, 12.5);
  reply = bus.next('cmd/ua/reply');
  bus.send('cmd/ua', { id: 'b', tag: 'speed', value: 1 });
  assert.match(String((await reply).error), /not a writable item/);
  // A typo in the tag names the items that can be written (before: told to set writable: true on it).
  reply = bus.next('cmd/ua/reply');
  bus.send('cmd/ua', { id: 'b2', tag: 'setpiont', value: 1 });
  assert.match(String((await reply).error), /^source '[^']+' has no item named 'setpiont'; its writable items are '[a-z]+'(, '[a-z]+')*$/);
  // node-opcua would send 1.5 to an Int16 node as 1: refused instead, nothing written.
  reply = bus.next('cmd/ua/reply', 10_000);
  bus.send('cmd/ua', { id: 'c', tag: 'mode', value: 1.5 });
  const inexact = await reply;
  assert.equal(inexact.ok, false, JSON.stringify(inexact));
  assert.equal(inexact.code, 'GH_WRITE_VALUE_INVALID');
  assert.match(String(inexact.error), /cannot write 1\.5 to tag 'mode' \(node ns=1;s=Mode, Int16\): .*Fix: write a whole number, e\.g\. 1 or 2/);
  assert.equal(peer.values.Mode, 0, 'nothing written');
  reply = bus.next('cmd/ua/reply', 10_000);
  bus.send('cmd/ua', { id: 'd', tag: 'mode', value: 3 });
  assert.equal((await reply).ok, true);
  assert.equal(peer.values.Mode, 3);
  assert.deepEqual(opcuaDetails(source).writes, { ok: 2, refused: 3, failed: 0 });
});

test('gatehouse opcua browse lists node ids, data types and values; PKI under --data-dir', async (t) => {
  const { main } = await import('../../gateway/cli/main.js');
  const peer = await opcuaPeer(t, {}, serverPki());
  const dataDir = await tempDir(t, 'gatehouse-opcua-cli-');
  const run = (argv: string[]) => runCaptured(main, argv);
  // -5 as node-opcua holds an Int64: [high, low] 32-bit words; shown as the number, as the source publishes it.
  peer.values.Big = [4294967295, 4294967291];
  const r = await run(['opcua', 'browse', '--endpoint', peer.endpoint, '--data-dir', dataDir]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /ns=1;s=Speed\s+Variable\s+1:Speed\s+Double = 1\.5/);
  assert.match(r.out, /ns=1;s=Big\s+Variable\s+1:Big\s+Int64 = -5\n/);
  assert.match(r.out, /ns=1;s=Label\s+Variable\s+1:Label\s+String = "line-1"/);
  assert.ok(existsSync(join(dataDir, 'opcua', 'pki')));
  const json = await run(['opcua', 'browse', '--endpoint', peer.endpoint, '--node', 'ns=0;i=84', '--data-dir', dataDir, '--json']);
  assert.ok((JSON.parse(json.out) as { browseName: string }[]).some((row) => row.browseName === 'Objects'));
  const bad = await run(['opcua', 'browse', '--endpoint', 'opc.tcp://127.0.0.1:1/x', '--data-dir', dataDir, '--timeout', '2000']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /GH_SOURCE_CONNECT/);
  const typo = await run(['opcua', 'browse', '--endpoint', peer.endpoint, '--node', 'Line1.Speed', '--data-dir', dataDir]);
  assert.equal(typo.code, 2, typo.err);
  assert.match(typo.err, /GH_ARG_INVALID: --node 'Line1\.Speed' is not an OPC UA node id\. Fix: write ns=<index>;s=<name>/);
});
