// The sparkplug source's writes in a real in-process gateway on its embedded broker: edge nodes are
// real mqtt.js clients whose births are encoded by protoc (test/helpers/sparkplug.ts) and who
// subscribe to their NCMD and DCMD topics; what they receive is decoded by protoc, not by the
// gateway's encoder. JSON commands come from an MQTT client and from a rule's republish on the
// command topic (a wildcard, whose default reply topic is inside it: the replies are not taken as
// commands); refusals (an unknown metric, a node gone offline with its NDEATH, garbage) are
// answered on the reply topic and send nothing. Then the source as a host on a plant broker
// (Debian's mosquitto): the DCMD goes out on its connection there, and a command that comes while
// that broker is down is refused, not sent after the reconnect.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { describeSource } from '../../gateway/cli/sources.js';
import { metricValue, needBinary, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import { storeIntake } from '../helpers/store-intake.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { sparkplugSourceSchema } from '../../gateway/pipeline/sources/sparkplug/options.js';
import { SparkplugSource } from '../../gateway/pipeline/sources/sparkplug/source.js';
import { edgeNode, skipProtoc, sparkplugDecoder, sparkplugEncoder, type EdgeNode, type Encode } from '../helpers/sparkplug.js';
import type { Registry } from 'prom-client';
import type { SourceStatus } from '../../gateway/pipeline/contract.js';

interface Rig {
  gw: Gateway;
  url: string;
  registry: Registry;
  encode: Encode;
  decode: (bytes: Buffer) => string;
  status(): SourceStatus;
  /** A client on the command topic's side: sends commands, collects the replies. */
  send(command: unknown, topic?: string): Promise<void>;
  replies: Array<Record<string, unknown>>;
  reply(n: number): Promise<Record<string, unknown>>;
}

async function rig(t: TestContext): Promise<Rig> {
  const encode = await sparkplugEncoder(t);
  const decode = await sparkplugDecoder(t);
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}
exporters: []
sources:
  - type: sparkplug
    name: spb
    reconnectMinMs: 50
    reconnectMaxMs: 200
    commands: { topic: 'cmd/spb/#' }
rules:
  version: 1
  rules:
    - name: setpoint
      sql: "SELECT 'edge7' AS node, 'press3' AS device, 'Setpoint' AS metric, sp AS value, id FROM 'ops/setpoint'"
      actions: [ { republish: { topic: 'cmd/spb/from-rule' } } ]
`,
  );
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const registry = createMetricsRegistry('test', 'gw-test');
  const gw = await startGateway(config, { logger: testDeps().logger, registry, version: 'test' });
  t.after(() => gw.stop());
  const status = (): SourceStatus => gw.sources.status().find((s) => s.name === 'spb')!;
  await waitUntil(() => {
    const s = status();
    return s.state === 'connected' && ((s.details?.subscriptions ?? []) as Array<{ qos: number | null }>).every((x) => x.qos !== null);
  }, 'the sparkplug source subscribed');
  const url = `mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`;
  const cloud = await mqtt.connectAsync(url, { clientId: 'cloud', reconnectPeriod: 0 });
  t.after(() => cloud.endAsync(true));
  const replies: Array<Record<string, unknown>> = [];
  cloud.on('message', (topic, payload) => {
    if (topic === 'cmd/spb/reply') replies.push(JSON.parse(payload.toString('utf8')) as Record<string, unknown>);
  });
  await cloud.subscribeAsync('cmd/spb/reply', { qos: 0 });
  return {
    gw,
    url,
    registry,
    encode,
    decode,
    status,
    replies,
    async send(command, topic = 'cmd/spb/cloud') {
      await cloud.publishAsync(topic, typeof command === 'string' ? command : JSON.stringify(command), { qos: 1 });
    },
    reply: (n) => waitUntil(() => replies[n], `reply ${n + 1}`, 10_000),
  };
}

/** An edge node edge7 of plant1 with its NBIRTH and the DBIRTH of press3. */
async function born(t: TestContext, r: Rig): Promise<EdgeNode> {
  const edge = await edgeNode(t, r.url, r.encode, 'plant1', 'edge7');
  await edge.send(
    'NBIRTH',
    'metrics { name: "Node Control/Rebirth" datatype: 11 boolean_value: false } metrics { name: "Mode" alias: 3 datatype: 12 string_value: "auto" }',
  );
  await edge.send(
    'DBIRTH',
    'metrics { name: "Setpoint" alias: 7 datatype: 9 float_value: 3 } metrics { name: "Total" alias: 8 datatype: 4 long_value: 0 } metrics { name: "Trim" alias: 9 datatype: 1 int_value: 0 }',
    'press3',
  );
  await waitUntil(() => (r.status().details?.devices as { online: number } | undefined)?.online === 1, 'the device born');
  return edge;
}

const skip = skipProtoc;

test("sparkplug writes: a DCMD by alias with the birth's datatypes reaches the edge node (decoded by protoc), QoS 0, no seq; an NCMD by name", {
  skip,
}, async (t) => {
  const r = await rig(t);
  const edge = await born(t, r);
  await r.send({ node: 'edge7', device: 'press3', metrics: { Setpoint: 42.5, Total: '-9223372036854775808', Trim: -3 }, id: 'c1' });
  const dcmd = await waitUntil(() => edge.deviceCommands[0], 'the DCMD at the edge node');
  assert.equal(dcmd.device, 'press3');
  assert.deepEqual([dcmd.qos, dcmd.retain], [0, false], 'QoS 0, not retained (Sparkplug commands)');
  const text = r.decode(dcmd.payload);
  const ts = /^timestamp: (\d+)$/m.exec(text)?.[1];
  assert.ok(ts && Math.abs(Number(ts) - Date.now()) < 60_000, `the payload's timestamp is now: ${text}`);
  assert.doesNotMatch(text, /seq/, 'a command has no seq');
  const metrics = [...text.matchAll(/metrics \{\n([\s\S]*?)\n\}/g)].map((m) => m[1]!.replace(/\s+/g, ' ').trim());
  assert.deepEqual(metrics, [
    `alias: 7 timestamp: ${ts} datatype: 9 float_value: 42.5`,
    // Int64 -2^63 as its 64-bit two's complement in the uint64 field.
    `alias: 8 timestamp: ${ts} datatype: 4 long_value: 9223372036854775808`,
    // Int8 -3 as its 32-bit two's complement in the uint32 field.
    `alias: 9 timestamp: ${ts} datatype: 1 int_value: 4294967293`,
  ]);
  const ok = await r.reply(0);
  assert.deepEqual(ok, {
    id: 'c1',
    node: 'edge7',
    device: 'press3',
    metrics: { Setpoint: 42.5, Total: '-9223372036854775808', Trim: -3 },
    group: 'plant1',
    topic: 'spBv1.0/plant1/DCMD/edge7/press3',
    timestamp: Number(ts),
    ok: true,
  });
  await r.send({ node: 'edge7', metric: 'Node Control/Rebirth', value: true, id: 'c2' });
  const ncmd = await waitUntil(() => edge.commands[0], 'the NCMD at the edge node');
  assert.match(r.decode(ncmd).replace(/\s+/g, ' '), /metrics \{ name: "Node Control\/Rebirth" timestamp: \d+ datatype: 11 boolean_value: true \}/);
  assert.equal((await r.reply(1)).ok, true);
  // The default reply topic (cmd/spb/reply) is inside the command topic (cmd/spb/#): the replies were not taken as commands.
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(r.replies.length, 2, 'one reply per command');
  assert.deepEqual(r.status().details!.writes, { ok: 2, refused: 0, failed: 0 });
  assert.equal(await metricValue(r.registry, 'gatehouse_industrial_writes_total', { kind: 'sparkplug', source: 'spb', outcome: 'ok' }), 2);
  assert.match(describeSource(r.status()).join('\n'), /2 commands sent/);
});

test("sparkplug writes: a rule's republish to the command topic writes the device", { skip }, async (t) => {
  const r = await rig(t);
  const edge = await born(t, r);
  const ops = await mqtt.connectAsync(r.url, { clientId: 'ops', reconnectPeriod: 0 });
  t.after(() => ops.endAsync(true));
  await ops.publishAsync('ops/setpoint', JSON.stringify({ sp: 12.25, id: 'from-ops' }), { qos: 1 });
  const dcmd = await waitUntil(() => edge.deviceCommands[0], 'the DCMD at the edge node');
  assert.match(r.decode(dcmd.payload).replace(/\s+/g, ' '), /metrics \{ alias: 7 timestamp: \d+ datatype: 9 float_value: 12.25 \}/);
  const reply = await r.reply(0);
  assert.deepEqual([reply.id, reply.ok, reply.metric, reply.value], ['from-ops', true, 'Setpoint', 12.25]);
});

test('sparkplug writes: refusals (unknown metric, garbage, a node offline after its NDEATH) send nothing; the source writes on', { skip }, async (t) => {
  const r = await rig(t);
  const edge = await born(t, r);
  await r.send({ node: 'edge7', device: 'press3', metrics: { SetPoint: 1 }, id: 'typo' });
  const typo = await r.reply(0);
  assert.deepEqual([typo.id, typo.ok, typo.code], ['typo', false, 'GH_WRITE_TARGET_UNKNOWN']);
  assert.match(
    String(typo.error),
    /metric 'SetPoint' of device 'press3' of edge node 'plant1\/edge7': its birth has no such metric \(did you mean 'Setpoint'\?\): its metrics are 'Setpoint', 'Total', 'Trim'/,
  );
  await r.send({ node: 'edge7', device: 'press3', metric: 'Trim', value: 128 });
  assert.match(
    String((await r.reply(1)).error),
    /GH_WRITE_VALUE_INVALID: cannot write 128 to metric 'Trim' of device 'press3' of edge node 'plant1\/edge7' \(Int8\): 128 is outside Int8/,
  );
  await r.send('not json at all');
  await r.send(Buffer.from([0x00, 0xff, 0x13]).toString('latin1'));
  await r.send('null');
  for (const n of [2, 3, 4]) assert.equal((await r.reply(n)).code, 'GH_WRITE_COMMAND_INVALID');
  // Still writing after the garbage.
  await r.send({ node: 'edge7', metric: 'Mode', value: 'manual' });
  const ncmd = await waitUntil(() => edge.commands[0], 'the NCMD');
  assert.match(r.decode(ncmd).replace(/\s+/g, ' '), /alias: 3 timestamp: \d+ datatype: 12 string_value: "manual"/);
  assert.equal((await r.reply(5)).ok, true);
  // The edge node's connection dies: the broker publishes its NDEATH (its will); the node is offline, nothing is written to it.
  edge.client.stream.destroy();
  await waitUntil(() => (r.status().details?.nodes as { offline: number } | undefined)?.offline === 1, 'the node offline');
  const watcher = await mqtt.connectAsync(r.url, { clientId: 'watcher', reconnectPeriod: 0 });
  t.after(() => watcher.endAsync(true));
  const seen: string[] = [];
  watcher.on('message', (topic) => seen.push(topic));
  await watcher.subscribeAsync(['spBv1.0/plant1/NCMD/#', 'spBv1.0/plant1/DCMD/#'], { qos: 0 });
  await r.send({ node: 'edge7', device: 'press3', metric: 'Setpoint', value: 5, id: 'late' });
  const late = await r.reply(6);
  assert.deepEqual([late.id, late.ok, late.code], ['late', false, 'GH_WRITE_TARGET_UNKNOWN']);
  assert.match(
    String(late.error),
    /cannot write to edge node 'plant1\/edge7': it is offline \(its NDEATH came at \d{4}-\d\d-\d\dT[\d:.]+Z\)\. Fix: send the command again once its birth has come \(gatehouse sources counts the nodes and devices online\); this one is not kept$/,
  );
  await r.send({ node: 'edge7', metric: 'Mode', value: 'auto' });
  await r.reply(7);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(seen, [], 'nothing published to the offline node');
  assert.deepEqual(r.status().details!.writes, { ok: 1, refused: 7, failed: 0 });
  assert.equal(await metricValue(r.registry, 'gatehouse_industrial_writes_total', { kind: 'sparkplug', source: 'spb', outcome: 'refused' }), 7);
  assert.match(describeSource(r.status()).join('\n'), /1 command sent, 7 refused/);
});

test("sparkplug writes on a plant broker (mosquitto): the DCMD on the source's connection; refused while the broker is down, not sent later", {
  skip: skip || needBinary('mosquitto', 'mosquitto'),
}, async (t) => {
  const peer = await startMosquitto(t);
  const encode = await sparkplugEncoder(t);
  const decode = await sparkplugDecoder(t);
  const dir = await tempDir(t);
  const deps = testDeps();
  const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 'spb', maxBytes: 1 << 24, onFull: 'reject' });
  // The local broker's side (the command topic, the replies) as the runtime gives it to a source.
  let onCommand: ((topic: string, payload: Buffer) => void) | undefined;
  const replies: Array<Record<string, unknown>> = [];
  const o = sparkplugSourceSchema.parse({
    type: 'sparkplug',
    name: 'plant',
    url: peer.url,
    clientId: 'spb-host',
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
    commands: { topic: 'cmd/plant' },
  });
  const source = new SparkplugSource(o, {
    ...deps,
    dataDir: dir,
    subscribe: (filter, handler) => {
      assert.equal(filter, 'cmd/plant');
      onCommand = handler;
      return () => {
        onCommand = undefined;
      };
    },
    publish: (topic, payload) => {
      assert.equal(topic, 'cmd/plant/reply');
      replies.push(JSON.parse(payload.toString('utf8')) as Record<string, unknown>);
    },
  });
  t.after(() => source.stop());
  await source.start(storeIntake(store, 'spb', 'plant'));
  await waitUntil(() => source.status().state === 'connected', 'the source connected to mosquitto');
  const edge = await edgeNode(t, peer.url, encode, 'north', 'rtu1');
  await edge.send('NBIRTH', '');
  await edge.send(
    'DBIRTH',
    'metrics { name: "Valve" alias: 4 datatype: 11 boolean_value: false } metrics { name: "Count" alias: 5 datatype: 8 long_value: 0 }',
    'pump1',
  );
  await waitUntil(() => (source.status().details?.devices as { online: number } | undefined)?.online === 1, 'the device born');
  const command = (c: unknown): void => onCommand!('cmd/plant', Buffer.from(JSON.stringify(c)));
  command({ node: 'rtu1', device: 'pump1', metrics: { Valve: 1, Count: '18446744073709551615' }, id: 'open' });
  const dcmd = await waitUntil(() => edge.deviceCommands[0], 'the DCMD through mosquitto');
  const metrics = [...decode(dcmd.payload).matchAll(/metrics \{\n([\s\S]*?)\n\}/g)].map((m) =>
    m[1]!
      .replace(/\s+/g, ' ')
      .replace(/timestamp: \d+ /, '')
      .trim(),
  );
  assert.deepEqual(metrics, ['alias: 4 datatype: 11 boolean_value: true', 'alias: 5 datatype: 8 long_value: 18446744073709551615']);
  assert.deepEqual(await waitUntil(() => replies[0], 'the reply'), {
    id: 'open',
    node: 'rtu1',
    device: 'pump1',
    metrics: { Valve: 1, Count: '18446744073709551615' },
    group: 'north',
    topic: 'spBv1.0/north/DCMD/rtu1/pump1',
    timestamp: replies[0]!.timestamp as number,
    ok: true,
  });
  // The plant broker goes away: a command now is refused at once, and not sent once it is back.
  await peer.down();
  await waitUntil(() => source.status().state !== 'connected', 'the source disconnected');
  command({ node: 'rtu1', device: 'pump1', metric: 'Valve', value: false, id: 'while-down' });
  const down = await waitUntil(() => replies[1], 'the refusal');
  assert.deepEqual([down.id, down.ok, down.code], ['while-down', false, 'GH_WRITE_NOT_SENT']);
  assert.match(String(down.error), new RegExp(`command not sent: the source is not connected to mqtt://127\\.0\\.0\\.1:${peer.port} \\(reconnecting\\)`));
  await peer.up();
  await waitUntil(() => source.status().state === 'connected', 'the source reconnected');
  const again = await edgeNode(t, peer.url, encode, 'north', 'rtu1', 1, { clientId: 'edge-north-rtu1-again' });
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(again.deviceCommands.length, 0, 'the refused command was not sent after the reconnect');
  assert.deepEqual(source.status().details!.writes, { ok: 1, refused: 1, failed: 0 });
});
