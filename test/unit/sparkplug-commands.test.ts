// The sparkplug source's writes (gateway/pipeline/sources/sparkplug/commands.ts, command-target.ts,
// write-value.ts): each datatype's value check and wire field (Int8..UInt64 ranges, two's
// complement in the unsigned fields, 64-bit values beyond 2^53 as decimal strings, Float range,
// Boolean, String, UUID, DateTime), and each refusal of a command with its code and message, over
// a host state fed real births; the bound on commands waiting for the socket. The wire itself
// (an edge node decoding the NCMD/DCMD with protoc) is test/integration/source-sparkplug-writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isGatehouseError } from '../../core/errors.js';
import { SparkplugCommands, MAX_WAITING, type CommandConnection } from '../../gateway/pipeline/sources/sparkplug/commands.js';
import { commandValue } from '../../gateway/pipeline/sources/sparkplug/write-value.js';
import { SparkplugState } from '../../gateway/pipeline/sources/sparkplug/state.js';
import { decodePayload, type RawPayload } from '../../gateway/pipeline/sources/sparkplug/schema.js';
import { DT } from '../../gateway/pipeline/sources/sparkplug/values.js';
import { industrialWrites } from '../../gateway/pipeline/sources/industrial-metrics.js';
import { sparkplugSourceSchema } from '../../gateway/pipeline/sources/sparkplug/options.js';
import { metricValue, testDeps } from '../helpers/index.js';

const P = "metric 'm' of edge node 'g/n'";

/** The refusal of commandValue: its message (asserting the code). */
function refusal(value: unknown, datatype: number): string {
  try {
    commandValue(value, datatype, P);
  } catch (err) {
    assert.ok(isGatehouseError(err, 'GH_WRITE_VALUE_INVALID'), String(err));
    return err.describe();
  }
  assert.fail(`${JSON.stringify(value)} to ${datatype} was taken`);
}

test("sparkplug write values: integers in range, in their wire field, two's complement; refused out of range, fractional or inexact", () => {
  assert.deepEqual(commandValue(-1, DT.Int8, P), { intValue: 4294967295 });
  assert.deepEqual(commandValue(-128, DT.Int8, P), { intValue: 4294967168 });
  assert.deepEqual(commandValue(127, DT.Int8, P), { intValue: 127 });
  assert.deepEqual(commandValue(-32768, DT.Int16, P), { intValue: 4294934528 });
  assert.deepEqual(commandValue(-2147483648, DT.Int32, P), { intValue: 2147483648 });
  assert.deepEqual(commandValue(255, DT.UInt8, P), { intValue: 255 });
  assert.deepEqual(commandValue(4294967295, DT.UInt32, P), { intValue: 4294967295 });
  assert.deepEqual(commandValue(-1, DT.Int64, P), { longValue: '18446744073709551615' });
  assert.deepEqual(commandValue('-9223372036854775808', DT.Int64, P), { longValue: '9223372036854775808' });
  assert.deepEqual(commandValue('9223372036854775807', DT.Int64, P), { longValue: '9223372036854775807' });
  assert.deepEqual(commandValue('18446744073709551615', DT.UInt64, P), { longValue: '18446744073709551615' });
  assert.deepEqual(commandValue(9007199254740991, DT.UInt64, P), { longValue: '9007199254740991' });
  assert.match(
    refusal(128, DT.Int8),
    /^GH_WRITE_VALUE_INVALID: cannot write 128 to metric 'm' of edge node 'g\/n' \(Int8\): 128 is outside Int8 \(-128\.\.127\)\. Fix: write a value within the range$/,
  );
  assert.match(refusal(-1, DT.UInt8), /-1 is outside UInt8 \(0\.\.255\)/);
  assert.match(refusal(65536, DT.UInt16), /outside UInt16 \(0\.\.65535\)/);
  assert.match(refusal(2147483648, DT.Int32), /outside Int32/);
  assert.match(refusal(1.5, DT.Int16), /1\.5 is not a whole number, and Int16 holds whole numbers only\. Fix: write a whole number, e\.g\. 1 or 2/);
  assert.match(refusal('9223372036854775808', DT.Int64), /outside Int64 \(-9223372036854775808\.\.9223372036854775807\)/);
  assert.match(refusal('-1', DT.UInt64), /-1 is outside UInt64/);
  // 2^53 + 1 parsed from JSON is 2^53: refused, with the string form to send.
  assert.match(refusal(9007199254740992, DT.Int64), /beyond 2\^53: a JSON number does not hold it exactly.*Fix: send the value as a decimal string/);
  assert.match(refusal('42', DT.Int32), /an Int32 metric needs a whole JSON number\. Fix: send a JSON number/);
  assert.match(refusal('4.2', DT.Int64), /needs a whole number \(a JSON number or a decimal string\)/);
  assert.match(refusal(true, DT.UInt8), /cannot write true to/);
  assert.match(refusal(null, DT.Int32), /cannot write null to/);
});

test('sparkplug write values: Float, Double, Boolean, strings, UUID, DateTime; the other datatypes refused', () => {
  assert.deepEqual(commandValue(0.1, DT.Float, P), { floatValue: 0.1 });
  assert.deepEqual(commandValue(-3.4e38, DT.Float, P), { floatValue: -3.4e38 });
  assert.deepEqual(commandValue(1e300, DT.Double, P), { doubleValue: 1e300 });
  assert.match(refusal(1e39, DT.Float), /1e\+39 is beyond a Float's range \(it would be sent as Infinity\)/);
  assert.match(refusal('NaN', DT.Double), /a Double metric needs a finite JSON number/);
  assert.deepEqual(commandValue(true, DT.Boolean, P), { booleanValue: true });
  assert.deepEqual(commandValue(0, DT.Boolean, P), { booleanValue: false });
  assert.match(refusal(2, DT.Boolean), /a Boolean takes only true\/false or 1\/0/);
  assert.match(refusal('true', DT.Boolean), /cannot write "true" to/);
  assert.deepEqual(commandValue('auto', DT.String, P), { stringValue: 'auto' });
  assert.deepEqual(commandValue('', DT.Text, P), { stringValue: '' });
  assert.match(refusal(5, DT.String), /a String metric needs a JSON string/);
  assert.deepEqual(commandValue('123E4567-e89b-12d3-a456-426614174000', DT.UUID, P), { stringValue: '123E4567-e89b-12d3-a456-426614174000' });
  assert.match(refusal('not-a-uuid', DT.UUID), /needs a UUID string/);
  assert.deepEqual(commandValue(1700000000000, DT.DateTime, P), { longValue: '1700000000000' });
  assert.deepEqual(commandValue('2023-11-14T22:13:20Z', DT.DateTime, P), { longValue: '1700000000000' });
  assert.deepEqual(commandValue('2023-11-14T23:13:20.5+01:00', DT.DateTime, P), { longValue: '1700000000500' });
  assert.match(refusal(-1, DT.DateTime), /-1 is outside DateTime/);
  assert.match(refusal('2023-11-14', DT.DateTime), /a DateTime is milliseconds since 1970 or an ISO 8601 date and time/);
  for (const dt of [DT.DataSet, DT.Bytes, DT.Template, DT.Int32Array, DT.Unknown, 99])
    assert.match(refusal(1, dt), /the gateway writes only the scalar datatypes \(Int8\.\.Int64, UInt8\.\.UInt64/);
});

// --- Commands over a host state fed births ---

const birth = (seq: number, metrics: RawPayload['metrics']): RawPayload => ({
  timestamp: '1700000000000',
  seq: String(seq),
  metrics: [{ name: 'bdSeq', datatype: 8, longValue: '0' }, ...(metrics ?? [])],
});
const dbirth = (seq: number, metrics: RawPayload['metrics']): RawPayload => ({ timestamp: '1700000000000', seq: String(seq), metrics });

interface Rig {
  cmds: SparkplugCommands;
  state: SparkplugState;
  conn: CommandConnection & { up: boolean; sent: Array<{ topic: string; payload: RawPayload }>; hold: boolean; held: Array<() => void> };
  replies: Array<Record<string, unknown>>;
  send(cmd: unknown): Record<string, unknown>;
  registry: ReturnType<typeof testDeps>['registry'];
}

function rig(): Rig {
  const deps = testDeps();
  const replies: Array<Record<string, unknown>> = [];
  const state = new SparkplugState({ maxNodes: 10, maxDevicesPerNode: 10, maxMetricsPerNode: 100, rebirth: true, rebirthIntervalMs: 10_000 });
  state.message(
    { group: 'plant1', type: 'NBIRTH', node: 'edge7' },
    birth(0, [
      { name: 'Node Control/Rebirth', datatype: DT.Boolean, booleanValue: false },
      { name: 'Mode', alias: '3', datatype: DT.String, stringValue: 'auto' },
    ]),
    1000,
  );
  state.message(
    { group: 'plant1', type: 'DBIRTH', node: 'edge7', device: 'press3' },
    dbirth(1, [
      { name: 'Setpoint', alias: '7', datatype: DT.Float, floatValue: 3 },
      { name: 'Offset', alias: '8', datatype: DT.Int8, intValue: 0 },
      { name: 'Total', alias: '9', datatype: DT.UInt64, longValue: '0' },
    ]),
    1000,
  );
  state.message({ group: 'plant2', type: 'NBIRTH', node: 'edge9' }, birth(0, [{ name: 'Speed', alias: '1', datatype: DT.Double, doubleValue: 0 }]), 1000);
  const conn = {
    up: true,
    hold: false,
    held: [] as Array<() => void>,
    sent: [] as Array<{ topic: string; payload: RawPayload }>,
    target: 'mqtt://plant:1883',
    connected() {
      return conn.up;
    },
    publish(topic: string, payload: Buffer): Promise<void> {
      conn.sent.push({ topic, payload: decodePayload(payload) });
      return conn.hold ? new Promise<void>((resolve) => conn.held.push(resolve)) : Promise.resolve();
    },
  };
  const cmds = new SparkplugCommands(
    'spb',
    { topic: 'cmd/spb' },
    { ...deps, dataDir: '/nonexistent', publish: (_t, p) => replies.push(JSON.parse(p.toString('utf8'))) },
    state,
    conn,
    industrialWrites(deps.registry),
  );
  return {
    cmds,
    state,
    conn,
    replies,
    registry: deps.registry,
    send(cmd) {
      const before = replies.length;
      cmds.onCommand(Buffer.from(typeof cmd === 'string' ? cmd : JSON.stringify(cmd)));
      return replies[before] ?? {};
    },
  };
}

test("sparkplug commands: a DCMD by alias with the birth's datatype, several metrics in one; an NCMD by name where the birth gave no alias", async () => {
  const r = rig();
  r.send({ node: 'edge7', device: 'press3', metrics: { Setpoint: 3.5, Offset: -1, Total: '18446744073709551615' }, id: 'c1' });
  r.send({ node: 'edge7', metric: 'Node Control/Rebirth', value: true });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(r.conn.sent.length, 2);
  const [dcmd, ncmd] = r.conn.sent as [Rig['conn']['sent'][0], Rig['conn']['sent'][0]];
  assert.equal(dcmd.topic, 'spBv1.0/plant1/DCMD/edge7/press3');
  assert.equal(dcmd.payload.seq, undefined, 'a command has no seq');
  const ts = dcmd.payload.timestamp;
  assert.ok(ts !== undefined && Number(ts) > 1.7e12);
  assert.deepEqual(dcmd.payload.metrics, [
    { alias: '7', timestamp: ts, datatype: DT.Float, floatValue: 3.5 },
    { alias: '8', timestamp: ts, datatype: DT.Int8, intValue: 4294967295 },
    { alias: '9', timestamp: ts, datatype: DT.UInt64, longValue: '18446744073709551615' },
  ]);
  assert.equal(ncmd.topic, 'spBv1.0/plant1/NCMD/edge7');
  assert.deepEqual(ncmd.payload.metrics, [{ name: 'Node Control/Rebirth', timestamp: ncmd.payload.timestamp, datatype: DT.Boolean, booleanValue: true }]);
  assert.deepEqual(r.replies[0], {
    id: 'c1',
    node: 'edge7',
    device: 'press3',
    metrics: { Setpoint: 3.5, Offset: -1, Total: '18446744073709551615' },
    group: 'plant1',
    topic: 'spBv1.0/plant1/DCMD/edge7/press3',
    timestamp: Number(ts),
    ok: true,
  });
  assert.deepEqual(r.replies[1], {
    id: null,
    node: 'edge7',
    metric: 'Node Control/Rebirth',
    value: true,
    group: 'plant1',
    topic: 'spBv1.0/plant1/NCMD/edge7',
    timestamp: Number(ncmd.payload.timestamp),
    ok: true,
  });
  assert.deepEqual(r.cmds.counts(), { ok: 2, refused: 0, failed: 0 });
  assert.equal(await metricValue(r.registry, 'gatehouse_industrial_writes_total', { kind: 'sparkplug', source: 'spb', outcome: 'ok' }), 2);
});

test('sparkplug commands: each refusal says what and how to fix, and nothing is sent', async () => {
  const r = rig();
  const refused = (cmd: unknown, code: string, error: RegExp): void => {
    const reply = r.send(cmd);
    assert.equal(reply.ok, false, JSON.stringify(cmd));
    assert.equal(reply.code, code, JSON.stringify(reply));
    assert.match(String(reply.error), error);
  };
  refused('{"node":', 'GH_WRITE_COMMAND_INVALID', /^GH_WRITE_COMMAND_INVALID: command refused: not JSON\. Fix: send \{"node","device","metrics"/);
  refused('[1]', 'GH_WRITE_COMMAND_INVALID', /not a JSON object/);
  refused({ metric: 'Mode', value: 'x' }, 'GH_WRITE_COMMAND_INVALID', /"node" \(the edge node id\) is missing/);
  refused({ node: 'edge7', devcie: 'press3', metric: 'Setpoint', value: 1 }, 'GH_WRITE_COMMAND_INVALID', /unknown field "devcie" \(did you mean "device"\?\)/);
  refused(
    { node: 'edge7', metrics: { Mode: 'x' }, metric: 'Mode', value: 'x' },
    'GH_WRITE_COMMAND_INVALID',
    /either "metrics" or "metric" and "value", not both/,
  );
  refused({ node: 'edge7', metrics: {} }, 'GH_WRITE_COMMAND_INVALID', /"metrics" names no metric/);
  refused({ node: 'edge7', metrics: [1] }, 'GH_WRITE_COMMAND_INVALID', /"metrics" is an object of metric names and values/);
  refused({ node: 'edge7', metric: 'Mode' }, 'GH_WRITE_COMMAND_INVALID', /"metric" 'Mode' has no "value"/);
  refused(
    { node: 'edge8', metric: 'Mode', value: 'x' },
    'GH_WRITE_TARGET_UNKNOWN',
    /cannot write to edge node 'edge8': the source knows no such node \(did you mean 'edge7'\?\): the nodes online are 'plant1\/edge7', 'plant2\/edge9'/,
  );
  refused(
    { node: 'edge7', group: 'plant2', metric: 'Mode', value: 'x' },
    'GH_WRITE_TARGET_UNKNOWN',
    /cannot write to edge node 'plant2\/edge7': the source knows no such node \(did you mean 'plant1\/edge7'\?\): the nodes online/,
  );
  refused(
    { node: 'edge7', device: 'press4', metric: 'Setpoint', value: 1 },
    'GH_WRITE_TARGET_UNKNOWN',
    /device 'press4' of edge node 'plant1\/edge7': the node has no such device \(did you mean 'press3'\?\): its devices online are 'press3'/,
  );
  refused(
    { node: 'edge7', device: 'press3', metrics: { Setpoint: 1, Pressure: 2 } },
    'GH_WRITE_TARGET_UNKNOWN',
    /metric 'Pressure' of device 'press3' of edge node 'plant1\/edge7': its birth has no such metric: its metrics are 'Setpoint', 'Offset', 'Total'/,
  );
  refused({ node: 'edge7', device: 'press3', metric: 'setpoint', value: 1 }, 'GH_WRITE_TARGET_UNKNOWN', /\(did you mean 'Setpoint'\?\)/);
  refused(
    { node: 'edge7', device: 'press3', metrics: { Setpoint: 1, Offset: 200 } },
    'GH_WRITE_VALUE_INVALID',
    /cannot write 200 to metric 'Offset' of device 'press3' of edge node 'plant1\/edge7' \(Int8\): 200 is outside Int8/,
  );
  // A device that died; then the node.
  r.state.message({ group: 'plant1', type: 'DDEATH', node: 'edge7', device: 'press3' }, { timestamp: '1700000000002', seq: '2' }, 2000);
  refused(
    { node: 'edge7', device: 'press3', metric: 'Setpoint', value: 1 },
    'GH_WRITE_TARGET_UNKNOWN',
    /device 'press3' of edge node 'plant1\/edge7': it is offline/,
  );
  r.state.message(
    { group: 'plant1', type: 'NDEATH', node: 'edge7' },
    { timestamp: '1700000000003', metrics: [{ name: 'bdSeq', datatype: 8, longValue: '0' }] },
    Date.parse('2026-01-02T03:04:05Z'),
  );
  refused(
    { node: 'edge7', metric: 'Mode', value: 'x' },
    'GH_WRITE_TARGET_UNKNOWN',
    /edge node 'plant1\/edge7': it is offline \(its NDEATH came at 2026-01-02T03:04:05\.000Z\)/,
  );
  r.conn.up = false;
  refused(
    { node: 'edge9', metric: 'Speed', value: 1 },
    'GH_WRITE_NOT_SENT',
    /command not sent: the source is not connected to mqtt:\/\/plant:1883 \(reconnecting\)\. Fix: send it again once the source is connected/,
  );
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(r.conn.sent.length, 0, 'nothing sent');
  assert.deepEqual(r.cmds.counts(), { ok: 0, refused: 17, failed: 0 });
  assert.equal(await metricValue(r.registry, 'gatehouse_industrial_writes_total', { kind: 'sparkplug', outcome: 'refused' }), 17);
});

test('sparkplug commands: two groups with a node of one name need "group"; with it, the right one is written', async () => {
  const r = rig();
  r.state.message({ group: 'plant2', type: 'NBIRTH', node: 'edge7' }, birth(0, [{ name: 'Mode', alias: '3', datatype: DT.String, stringValue: '' }]), 1000);
  const reply = r.send({ node: 'edge7', metric: 'Mode', value: 'x' });
  assert.equal(reply.code, 'GH_WRITE_TARGET_UNKNOWN');
  assert.match(String(reply.error), /edge node 'edge7': groups 'plant1', 'plant2' each have a node of that name: give "group"/);
  r.send({ group: 'plant2', node: 'edge7', metric: 'Mode', value: 'x' });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(
    r.conn.sent.map((s) => s.topic),
    ['spBv1.0/plant2/NCMD/edge7'],
  );
});

test(`sparkplug commands: at most ${MAX_WAITING} wait for the socket; the next is refused, and taken again once they are sent`, async () => {
  const r = rig();
  r.conn.hold = true;
  for (let i = 0; i < MAX_WAITING; i++) r.send({ node: 'edge9', metric: 'Speed', value: i });
  const over = r.send({ node: 'edge9', metric: 'Speed', value: -1, id: 'over' });
  assert.equal(over.code, 'GH_WRITE_NOT_SENT');
  assert.match(String(over.error), /100 commands are waiting to be sent \(the connection to mqtt:\/\/plant:1883 is slow\)/);
  assert.equal(r.conn.sent.length, MAX_WAITING);
  for (const sent of r.conn.held.splice(0)) sent();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(r.cmds.counts(), { ok: MAX_WAITING, refused: 1, failed: 0 });
  r.conn.hold = false;
  assert.equal(r.send({ node: 'edge9', metric: 'Speed', value: 1 }).ok, undefined, 'answered once published');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(r.replies.at(-1)?.ok, true);
});

test('sparkplug options: a reply topic that is the command topic is refused', () => {
  const bad = sparkplugSourceSchema.safeParse({ type: 'sparkplug', name: 's', commands: { topic: 'cmd/spb', replyTopic: 'cmd/spb' } });
  assert.equal(bad.success, false);
  assert.match(JSON.stringify(bad.error?.issues), /the reply topic is the command topic: give replies their own topic, e\.g\. 'cmd\/spb\/reply'/);
  const ok = sparkplugSourceSchema.parse({ type: 'sparkplug', name: 's', commands: { topic: 'cmd/spb/#' } });
  assert.deepEqual(ok.commands, { topic: 'cmd/spb/#' });
});

test('sparkplug commands: a node seen only in data (no birth since the start), or whose birth was too large, is not written', () => {
  const r = rig();
  r.state.message({ group: 'plant1', type: 'NDATA', node: 'edge5' }, { timestamp: '1700000000001', seq: '4', metrics: [{ alias: '1', intValue: 1 }] }, 1000);
  const before = r.send({ node: 'edge5', metric: 'x', value: 1 });
  assert.equal(before.code, 'GH_WRITE_TARGET_UNKNOWN');
  assert.match(
    String(before.error),
    /edge node 'plant1\/edge5': no NBIRTH of it has been seen since the source started\. Fix: send the command again once its birth has come/,
  );
  r.state.birthDropped('plant1', 'edge7', 2000);
  const big = r.send({ node: 'edge7', metric: 'Mode', value: 'x' });
  assert.match(
    String(big.error),
    /edge node 'plant1\/edge7': its last birth was over the source's maxMessageBytes and was dropped unread \(raise maxMessageBytes\)/,
  );
  assert.equal(r.conn.sent.length, 0);
});
