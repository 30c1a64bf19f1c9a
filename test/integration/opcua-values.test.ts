// OPC UA values as the rules see them and as commands write them, against a real node-opcua
// server: 64-bit integers are numbers (or exact decimal strings beyond 2^53, like Modbus int64),
// not node-opcua's internal [high, low] pairs of 32-bit words, both ways.
import { test, before, after } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { opcuaOptionsSchema } from '../../gateway/pipeline/sources/opcua/index.js';
import { metricValue, waitUntil } from '../helpers/index.js';
import { localBus, storeIntake } from '../helpers/industrial.js';
import { opcuaPeer } from '../helpers/opcua-server.js';
import { opcuaDetails, startOpcua, tagPayloads as values } from '../helpers/opcua-source.js';

let shared = '';
before(async () => {
  shared = await mkdtemp(join(tmpdir(), 'gatehouse-opcua-pki-'));
});
after(() => rm(shared, { recursive: true, force: true }));

/** The options every source of this file has: the shared client PKI, and `rest`. */
const withPki = (rest: Record<string, unknown>): Record<string, unknown> => ({ pkiDir: join(shared, 'client'), ...rest });
/** The server: its own port, the shared server PKI (key generation is the slow part of a start). */
const peerOf = (t: import('node:test').TestContext) => opcuaPeer(t, {}, join(shared, 'server'));

test('Int64 and UInt64 values are published as numbers (exact decimal strings beyond 2^53), never as [high, low] words', async (t) => {
  const peer = await peerOf(t);
  peer.values.Big = [0xffffffff, 0xfffffffb]; // -5
  peer.values.UBig = [0, 7];
  const intake = await storeIntake(t);
  await startOpcua(
    t,
    withPki({
      endpoint: peer.endpoint,
      backoff: { initialMs: 100, maxMs: 500 },
      subscriptions: [
        {
          publishingIntervalMs: 100,
          items: [
            { nodeId: 'ns=1;s=Big', name: 'big', samplingIntervalMs: 50 },
            { nodeId: 'ns=1;s=UBig', name: 'ubig', samplingIntervalMs: 50 },
          ],
        },
      ],
    }),
    intake,
  );
  await waitUntil(async () => (await values(intake, 'big')).length >= 1 && (await values(intake, 'ubig')).length >= 1, 'first values', 20_000);
  assert.equal((await values(intake, 'big'))[0]!.value, -5);
  assert.equal((await values(intake, 'ubig'))[0]!.value, 7);
  // Beyond 2^53 a JSON number is not exact: a decimal string, like a Modbus int64.
  peer.values.UBig = [0xffffffff, 0xffffffff];
  peer.values.Big = [0x80000000, 0]; // -2^63
  await waitUntil(async () => (await values(intake, 'ubig')).length >= 2 && (await values(intake, 'big')).length >= 2, 'changed values', 10_000);
  assert.equal((await values(intake, 'ubig')).at(-1)!.value, '18446744073709551615');
  assert.equal((await values(intake, 'big')).at(-1)!.value, '-9223372036854775808');
});

test('writes to an Int64 node are exact over the whole documented range (+-(2^53 - 1)), negatives included', async (t) => {
  const peer = await peerOf(t);
  const intake = await storeIntake(t);
  const bus = localBus();
  await startOpcua(
    t,
    withPki({
      endpoint: peer.endpoint,
      backoff: { initialMs: 100, maxMs: 500 },
      commands: { topic: 'cmd/ua' },
      subscriptions: [{ publishingIntervalMs: 100, items: [{ nodeId: 'ns=1;s=Big', name: 'big', writable: true }] }],
    }),
    intake,
    bus.deps,
  );
  await waitUntil(async () => (await values(intake, 'big')).length >= 1, 'subscribed', 20_000);
  const cases: [number, number[]][] = [
    [-5, [0xffffffff, 0xfffffffb]],
    [2 ** 40, [0x100, 0]],
    [-(2 ** 40), [0xffffff00, 0]], // node-opcua asserted on a number below -2^32: the write failed with an empty error
    [Number.MIN_SAFE_INTEGER, [0xffe00000, 1]],
    [Number.MAX_SAFE_INTEGER, [0x1fffff, 0xffffffff]],
  ];
  for (const [value, words] of cases) {
    const reply = bus.next('cmd/ua/reply', 10_000);
    bus.send('cmd/ua', { id: String(value), tag: 'big', value });
    const r = await reply;
    assert.equal(r.ok, true, `write ${value}: ${JSON.stringify(r)}`);
    assert.deepEqual(peer.values.Big, words, `write ${value}`);
  }
});

test('a store refusing every commit is counted per value and logged at a bounded rate, not once per value', async (t) => {
  const peer = await peerOf(t);
  const intake = await storeIntake(t);
  intake.failing = true;
  const { source, logs: lines } = await startOpcua(
    t,
    withPki({
      endpoint: peer.endpoint,
      subscriptions: [{ publishingIntervalMs: 50, items: [{ nodeId: 'ns=1;s=Count', name: 'count', samplingIntervalMs: 10 }] }],
    }),
    intake,
  );
  const tick = setInterval(() => (peer.values.Count = (peer.values.Count as number) + 1), 10);
  t.after(() => clearInterval(tick));
  await waitUntil(() => opcuaDetails(source).commitErrors >= 30, '30 values not committed', 20_000);
  const warned = lines.filter((l) => l.msg === 'opcua value not committed').length;
  assert.ok(warned >= 1 && warned <= 2, `${warned} warnings for 30 refused commits`);
});

test('a Bad value is committed and counted but is no good read: lastGoodRead stays at the last Good one', async (t) => {
  const peer = await peerOf(t);
  const intake = await storeIntake(t);
  let tick = 0;
  const { source, deps } = await startOpcua(
    t,
    withPki({
      endpoint: peer.endpoint,
      subscriptions: [{ publishingIntervalMs: 50, items: [{ nodeId: 'ns=1;s=Count', name: 'count', samplingIntervalMs: 20 }] }],
    }),
    intake,
    { now: () => Date.UTC(2026, 0, 1) + ++tick * 1000 }, // every reading of the wall clock a second later
  );
  const lastGoodRead = (): string | null => opcuaDetails(source).lastGoodRead;
  await waitUntil(async () => (await values(intake, 'count')).length >= 1 && lastGoodRead(), 'a Good value committed', 20_000);
  const good = lastGoodRead();
  peer.bad.add('Count');
  await waitUntil(async () => (await values(intake, 'count')).some((v) => v.statusCode === 'BadDeviceFailure'), 'the Bad value committed', 10_000);
  await waitUntil(() => opcuaDetails(source).inFlight === 0, 'its commit settled');
  assert.equal(lastGoodRead(), good, 'a Bad value is no good read');
  assert.equal(await metricValue(deps.registry, 'gatehouse_industrial_last_good_read_timestamp_seconds'), Date.parse(good as string) / 1000);
});

test('a value over maxValueBytes (a huge string node) is dropped, counted and shown on its tag; the next one that fits is sent', async (t) => {
  const peer = await peerOf(t);
  peer.values.Label = 'x'.repeat(300_000);
  const intake = await storeIntake(t);
  const {
    source,
    deps,
    logs: lines,
  } = await startOpcua(
    t,
    withPki({
      endpoint: peer.endpoint,
      backoff: { initialMs: 100, maxMs: 500 },
      subscriptions: [
        {
          publishingIntervalMs: 100,
          items: [
            { nodeId: 'ns=1;s=Label', name: 'label', samplingIntervalMs: 50 },
            { nodeId: 'ns=1;s=Speed', name: 'speed', samplingIntervalMs: 50 },
          ],
        },
      ],
    }),
    intake,
  );
  await waitUntil(
    () => metricValue(deps.registry, 'gatehouse_industrial_dropped_total', { reason: 'too_large' }).then((v) => v >= 1),
    'the big value dropped',
    20_000,
  );
  await waitUntil(async () => (await values(intake, 'speed')).length >= 1, 'the other tag still read');
  assert.equal((await values(intake, 'label')).length, 0, 'nothing of the 300 KB value in the store');
  const details = opcuaDetails(source);
  assert.match(details.tagErrors.label ?? '', /^value of 300\d{3} bytes over maxValueBytes \(262144\): dropped$/);
  assert.ok(details.dropped >= 1);
  assert.equal(lines.filter((l) => l.msg.startsWith('opcua value too large')).length, 1);
  peer.values.Label = 'line-2';
  await waitUntil(async () => (await values(intake, 'label')).length >= 1, 'a value that fits', 10_000);
  assert.equal((await values(intake, 'label'))[0]!.value, 'line-2');
  assert.equal(opcuaDetails(source).tagErrors.label, undefined);
});

test('a node id the client cannot read is refused by the config, and one that gets through is a tag error: the other items are read', async (t) => {
  // 'Line1.Speed' (the ns=2;s= forgotten) passed check-config, then failed every session: no item read.
  const item = (nodeId: string) => ({ type: 'opcua', name: 'ua', endpoint: 'opc.tcp://h:4840', subscriptions: [{ items: [{ nodeId, name: 'x' }] }] });
  const refused = opcuaOptionsSchema.safeParse(item('Line1.Speed'));
  assert.match(refused.error?.issues[0]?.message ?? '', /^not an OPC UA node id: write ns=<index>;s=<name>/);
  for (const ok of ['ns=2;s=Line1.Speed', 'i=2258', 'ns=3;g=09087e75-8e5e-499b-954f-f2a9603db28a', 'ns=1;b=AQID', 'Server_ServerStatus_CurrentTime'])
    assert.equal(opcuaOptionsSchema.safeParse(item(ok)).success, true, ok);
  // A bare name is let through as a standard node's name; 'Speed' is none.
  const peer = await peerOf(t);
  const intake = await storeIntake(t);
  const { source } = await startOpcua(
    t,
    withPki({
      endpoint: peer.endpoint,
      backoff: { initialMs: 100, maxMs: 500 },
      subscriptions: [
        {
          publishingIntervalMs: 100,
          items: [
            { nodeId: 'ns=1;s=Speed', name: 'speed', samplingIntervalMs: 50 },
            { nodeId: 'Speed', name: 'bare', samplingIntervalMs: 50 },
          ],
        },
      ],
    }),
    intake,
  );
  await waitUntil(async () => (await values(intake, 'speed')).length >= 1, 'the valid item read', 20_000);
  assert.equal(source.status().state, 'running');
  const details = opcuaDetails(source);
  assert.match(details.tagErrors.bare ?? '', /^monitored item refused: not a node id the client can read \(.*Speed\): fix the nodeId/);
  assert.equal(details.reconnects, 0);
});
