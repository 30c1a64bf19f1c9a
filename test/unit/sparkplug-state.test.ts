// The sparkplug source's decoder and host state (gateway/pipeline/sources/sparkplug/): payloads
// encoded by protoc (test/helpers/sparkplug.ts) decoded with the built-in schema, every datatype
// typed; births give names to aliases; seq gaps, data before a birth, unknown aliases and stale
// NDEATHs counted and answered as the state machine says; the bounds; garbage kept, not thrown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePayload, encodePayload } from '../../gateway/pipeline/sources/sparkplug/schema.js';
import { SparkplugState, type Outcome } from '../../gateway/pipeline/sources/sparkplug/state.js';
import { parseTopic, topicMaker } from '../../gateway/pipeline/sources/sparkplug/topic.js';
import { sparkplugSourceSchema } from '../../gateway/pipeline/sources/sparkplug/options.js';
import { localBrokerUrl } from '../../gateway/pipeline/sources/sparkplug/source.js';
import type { RawPayload } from '../../gateway/pipeline/sources/sparkplug/schema.js';
import { skipProtoc, sparkplugEncoder } from '../helpers/sparkplug.js';

const OPTS = { maxNodes: 10, maxDevicesPerNode: 10, maxMetricsPerNode: 100, rebirth: true, rebirthIntervalMs: 10_000 };

function birth(seq: number, bdSeq: number, metrics: RawPayload['metrics'] = []): RawPayload {
  return { timestamp: '1700000000000', seq: String(seq), metrics: [{ name: 'bdSeq', datatype: 8, longValue: String(bdSeq) }, ...(metrics ?? [])] };
}
const data = (seq: number, metrics: RawPayload['metrics']): RawPayload => ({ timestamp: '1700000000001', seq: String(seq), metrics });
const N = { group: 'plant1', node: 'edge7' } as const;
const metricsOf = (o: Outcome) => o.json.metrics as Array<Record<string, unknown>>;

test('sparkplug state: a birth names the aliases of later data, datatypes from the birth type the values', () => {
  const s = new SparkplugState(OPTS);
  const b = s.message(
    { ...N, type: 'NBIRTH' },
    birth(0, 3, [
      { name: 'Line1/Temp', alias: '1', datatype: 10, doubleValue: 20.5 },
      { name: 'Line1/Level', alias: '2', datatype: 1, intValue: 5 },
    ]),
    1000,
  );
  assert.deepEqual(b.problems, []);
  assert.equal(b.birth, 'node');
  assert.equal(b.json.bdSeq, 3);
  // Int8 -1 travels as the uint32 4294967295; the data message leaves datatype out.
  const d = s.message(
    { ...N, type: 'NDATA' },
    data(1, [
      { alias: '1', doubleValue: 21 },
      { alias: '2', intValue: 4294967295 },
    ]),
    1001,
  );
  assert.deepEqual(d.problems, []);
  assert.equal(d.rebirth, false);
  assert.deepEqual(metricsOf(d), [
    { name: 'Line1/Temp', alias: 1, datatype: 'Double', value: 21 },
    { name: 'Line1/Level', alias: 2, datatype: 'Int8', value: -1 },
  ]);
  assert.equal(d.json.unresolved, undefined);
  const db = s.message({ ...N, type: 'DBIRTH', device: 'pump3' }, data(2, [{ name: 'rpm', alias: '10', datatype: 3, intValue: 0 }]), 1002);
  assert.equal(db.birth, 'device');
  const dd = s.message({ ...N, type: 'DDATA', device: 'pump3' }, data(3, [{ alias: '10', intValue: 4294967196 }]), 1003);
  assert.deepEqual(metricsOf(dd), [{ name: 'rpm', alias: 10, datatype: 'Int32', value: -100 }]);
  assert.deepEqual(s.counts(), { nodes: { online: 1, offline: 0 }, devices: { online: 1, offline: 0 } });
  assert.deepEqual(s.nodeView('plant1', 'edge7'), { online: true, bdSeq: '3', lastSeq: 3, devices: { pump3: true }, defs: 4 });
});

test('sparkplug state: a seq gap is counted once, said once per episode, and asks for one rebirth per interval', () => {
  const s = new SparkplugState(OPTS);
  s.message({ ...N, type: 'NBIRTH' }, birth(0, 0, [{ name: 'a', alias: '1', datatype: 3 }]), 1000);
  s.message({ ...N, type: 'NDATA' }, data(1, [{ alias: '1', intValue: 1 }]), 1001);
  const gap = s.message({ ...N, type: 'NDATA' }, data(5, [{ alias: '1', intValue: 2 }]), 1002);
  assert.deepEqual(gap.problems, ['seq-gap']);
  assert.deepEqual(gap.json.seqGap, { expected: 2, got: 5 });
  assert.equal(gap.rebirth, true);
  assert.match(gap.log ?? '', /edge node 'plant1\/edge7': NDATA with seq 5 where 2 was next.*rebirth is requested/);
  // Resynchronised: the next one in order is no gap; the node still waits for its birth, held by the interval.
  const next = s.message({ ...N, type: 'NDATA' }, data(6, [{ alias: '1', intValue: 3 }]), 2000);
  assert.deepEqual(next.problems, []);
  assert.equal(next.rebirth, false);
  const again = s.message({ ...N, type: 'NDATA' }, data(9, [{ alias: '1', intValue: 3 }]), 3000);
  assert.deepEqual(again.problems, ['seq-gap']);
  assert.equal(again.rebirth, false);
  assert.equal(again.rebirthHeld, true);
  assert.equal(again.log, undefined, 'said once per episode');
  // Past the interval, any message of the node still waiting asks again (the request or the birth was lost).
  const later = s.message({ ...N, type: 'NDATA' }, data(10, [{ alias: '1', intValue: 3 }]), 12_500);
  assert.equal(later.rebirth, true);
  // Wraps at 255 -> 0 without a gap; the new birth ends the episode.
  s.message({ ...N, type: 'NBIRTH' }, birth(254, 1, [{ name: 'a', alias: '1', datatype: 3 }]), 13_000);
  assert.deepEqual(s.message({ ...N, type: 'NDATA' }, data(255, []), 13_001).problems, []);
  const wrapped = s.message({ ...N, type: 'NDATA' }, data(0, []), 13_002);
  assert.deepEqual(wrapped.problems, []);
  assert.equal(wrapped.rebirth, false);
});

test('sparkplug state: data before any birth is kept with its aliases as numbers and asks for a rebirth', () => {
  const s = new SparkplugState(OPTS);
  const d = s.message(
    { ...N, type: 'DDATA', device: 'pump3' },
    data(17, [
      { alias: '10', intValue: 7 },
      { name: 'named', intValue: 1 },
    ]),
    1000,
  );
  assert.deepEqual(d.problems, ['before-birth']);
  assert.equal(d.json.beforeBirth, true);
  assert.equal(d.json.unresolved, true);
  assert.equal(d.unresolved, 1);
  assert.deepEqual(metricsOf(d), [
    { alias: 10, value: 7, unresolved: true },
    { name: 'named', value: 1 },
  ]);
  assert.equal(d.rebirth, true);
  assert.deepEqual(s.counts().nodes, { online: 0, offline: 1 });
  // rebirth: false: counted and said, never asked.
  const quiet = new SparkplugState({ ...OPTS, rebirth: false });
  const q = quiet.message({ ...N, type: 'NDATA' }, data(1, [{ alias: '1', intValue: 7 }]), 1000);
  assert.deepEqual(q.problems, ['before-birth']);
  assert.equal(q.rebirth, false);
  assert.doesNotMatch(q.log ?? '', /rebirth/);
});

test('sparkplug state: an alias the birth did not name, a DDATA of a device with no DBIRTH', () => {
  const s = new SparkplugState(OPTS);
  s.message({ ...N, type: 'NBIRTH' }, birth(0, 0, [{ name: 'a', alias: '1', datatype: 3 }]), 1000);
  const u = s.message(
    { ...N, type: 'NDATA' },
    data(1, [
      { alias: '1', intValue: 1 },
      { alias: '99', intValue: 2 },
    ]),
    1001,
  );
  assert.deepEqual(u.problems, ['unknown-alias']);
  assert.equal(u.unresolved, 1);
  assert.deepEqual(metricsOf(u)[1], { alias: 99, value: 2, unresolved: true });
  assert.equal(u.rebirth, true);
  const d = s.message({ ...N, type: 'DDATA', device: 'ghost' }, data(2, [{ alias: '5', intValue: 1 }]), 1002);
  assert.deepEqual(d.problems, ['before-birth']);
});

test('sparkplug state: NDEATH with the birth bdSeq takes the node and its devices offline; another bdSeq is stale and ignored', () => {
  const s = new SparkplugState(OPTS);
  s.message({ ...N, type: 'NBIRTH' }, birth(0, 4), 1000);
  s.message({ ...N, type: 'DBIRTH', device: 'pump3' }, data(1, []), 1001);
  s.message({ ...N, type: 'DBIRTH', device: 'pump4' }, data(2, []), 1001);
  const stale = s.message({ ...N, type: 'NDEATH' }, { metrics: [{ name: 'bdSeq', datatype: 8, longValue: '3' }] }, 1002);
  assert.deepEqual(stale.problems, ['bdseq-mismatch']);
  assert.equal(stale.json.stale, true);
  assert.equal(stale.rebirth, false);
  assert.deepEqual(s.counts().devices, { online: 2, offline: 0 });
  const death = s.message({ ...N, type: 'NDEATH' }, { metrics: [{ name: 'bdSeq', datatype: 8, longValue: '4' }] }, 1003);
  assert.deepEqual(death.problems, []);
  assert.equal(death.death, 'node');
  assert.deepEqual(death.json.devicesOffline, ['pump3', 'pump4']);
  assert.deepEqual(s.counts(), { nodes: { online: 0, offline: 1 }, devices: { online: 0, offline: 2 } });
  // A dead node is asked nothing until it sends data again.
  assert.equal(s.message({ ...N, type: 'NDEATH' }, { metrics: [{ name: 'bdSeq', datatype: 8, longValue: '4' }] }, 30_000).rebirth, false);
  const dd = s.message({ ...N, type: 'DDEATH', device: 'pump3' }, data(3, []), 30_001);
  assert.deepEqual(dd.problems, []);
});

test('sparkplug state: bounds keep the message and leave the state out, and ask no rebirth for what they left out', () => {
  const s = new SparkplugState({ ...OPTS, maxNodes: 2, maxDevicesPerNode: 1, maxMetricsPerNode: 2 });
  s.message({ group: 'g', node: 'n1', type: 'NBIRTH' }, birth(0, 0), 1);
  s.message({ group: 'g', node: 'n2', type: 'NBIRTH' }, birth(0, 0), 2);
  const third = s.message({ group: 'g', node: 'n3', type: 'NBIRTH' }, birth(0, 0), 3);
  assert.deepEqual(third.bounds, ['max-nodes']);
  assert.equal(third.json.untracked, true);
  assert.equal(metricsOf(third).length, 1, 'the birth is kept whole');
  // An offline node is forgotten to make room.
  s.message({ group: 'g', node: 'n1', type: 'NDEATH' }, { metrics: [{ name: 'bdSeq', datatype: 8, longValue: '0' }] }, 4);
  assert.deepEqual(s.message({ group: 'g', node: 'n3', type: 'NBIRTH' }, birth(0, 0), 5).bounds, []);
  assert.equal(s.nodeView('g', 'n1'), undefined);
  // Devices: one per node.
  s.message({ group: 'g', node: 'n2', type: 'DBIRTH', device: 'd1' }, data(1, []), 6);
  assert.deepEqual(s.message({ group: 'g', node: 'n2', type: 'DBIRTH', device: 'd2' }, data(2, []), 7).bounds, ['max-devices']);
  // Metrics: two definitions per node (bdSeq is one).
  const big = s.message(
    { group: 'g', node: 'n3', type: 'NBIRTH' },
    birth(0, 1, [
      { name: 'a', alias: '1', datatype: 3 },
      { name: 'b', alias: '2', datatype: 3 },
    ]),
    8,
  );
  assert.deepEqual(big.bounds, ['max-metrics']);
  const d = s.message(
    { group: 'g', node: 'n3', type: 'NDATA' },
    data(1, [
      { alias: '1', intValue: 1 },
      { alias: '2', intValue: 2 },
    ]),
    9,
  );
  assert.equal(metricsOf(d)[0]!.name, 'a');
  assert.equal(metricsOf(d)[1]!.unresolved, true);
  assert.equal(d.rebirth, false, 'the gateway left it out: no rebirth would bring it');
});

test('sparkplug topics and the topic template', () => {
  assert.deepEqual(parseTopic('spBv1.0/plant1/DDATA/edge7/pump3'), { kind: 'message', group: 'plant1', type: 'DDATA', node: 'edge7', device: 'pump3' });
  assert.deepEqual(parseTopic('spBv1.0/plant1/NDATA/edge7'), { kind: 'message', group: 'plant1', type: 'NDATA', node: 'edge7' });
  assert.deepEqual(parseTopic('spBv1.0/STATE/scada1'), { kind: 'state', hostId: 'scada1' });
  assert.equal(parseTopic('spBv1.0/plant1/NDATA/edge7/extra').kind, 'other');
  assert.equal(parseTopic('spBv1.0/plant1/DDATA/edge7').kind, 'other');
  assert.equal(parseTopic('spBv1.0/plant1/HELLO/edge7').kind, 'other');
  const make = topicMaker('sparkplug/${group}/${type}/${node}/${device}', 'spb');
  assert.equal(make({ group: 'g', type: 'NDATA', node: 'n' }), 'sparkplug/g/NDATA/n');
  assert.equal(make({ group: 'g', type: 'DDATA', node: 'n', device: 'd' }), 'sparkplug/g/DDATA/n/d');
  assert.equal(topicMaker('${source}/${node}-${device}', 'spb')({ group: 'g', type: 'NDATA', node: 'n' }), 'spb/n-');
  const bad = sparkplugSourceSchema.safeParse({ type: 'sparkplug', name: 's', topic: 'spBv1.0/${group}' });
  assert.equal(bad.success, false);
  assert.match(JSON.stringify(bad.error?.issues), /must not start with spBv1.0/);
  assert.equal(sparkplugSourceSchema.safeParse({ type: 'sparkplug', name: 's', groups: ['a/b'] }).success, false);
  assert.equal(sparkplugSourceSchema.safeParse({ type: 'sparkplug', name: 's', topic: 'x/${tag}' }).success, false);
  assert.equal(localBrokerUrl([{ host: '0.0.0.0', port: 1883, tls: false }]), 'mqtt://127.0.0.1:1883');
  assert.equal(
    localBrokerUrl([
      { host: '::', port: 8883, tls: true },
      { host: '::', port: 1883, tls: false },
    ]),
    'mqtt://[::1]:1883',
  );
  assert.equal(localBrokerUrl([{ host: '::', port: 8883, tls: true }]), undefined);
});

test('sparkplug decoder: protoc-encoded payloads, every datatype typed', { skip: skipProtoc }, async (t) => {
  const encode = await sparkplugEncoder(t);
  const s = new SparkplugState(OPTS);
  const raw = decodePayload(
    encode(
      [
        'timestamp: 1700000000000 seq: 0 uuid: "u-1" body: "\\001\\002"',
        'metrics { name: "bdSeq" datatype: 8 long_value: 18446744073709551615 }',
        'metrics { name: "i16" alias: 1 datatype: 2 int_value: 4294934528 }',
        'metrics { name: "u32" alias: 2 datatype: 7 long_value: 4294967295 }',
        'metrics { name: "i64" alias: 3 datatype: 4 long_value: 18446744073709551615 }',
        'metrics { name: "u64" alias: 4 datatype: 8 long_value: 18446744073709551615 }',
        'metrics { name: "f" alias: 5 datatype: 9 float_value: 0.1 }',
        'metrics { name: "nan" alias: 6 datatype: 10 double_value: nan }',
        'metrics { name: "b" alias: 7 datatype: 11 boolean_value: true }',
        'metrics { name: "s" alias: 8 datatype: 12 string_value: "hi" }',
        'metrics { name: "t" alias: 9 datatype: 13 long_value: 1700000000123 }',
        'metrics { name: "raw" alias: 10 datatype: 17 bytes_value: "\\377\\000" }',
        'metrics { name: "i16s" alias: 11 datatype: 23 bytes_value: "\\377\\377\\002\\000" }',
        'metrics { name: "bools" alias: 12 datatype: 32 bytes_value: "\\003\\000\\000\\000\\240" }',
        'metrics { name: "strs" alias: 13 datatype: 33 bytes_value: "ab\\000c\\000" }',
        'metrics { name: "null" alias: 14 datatype: 3 is_null: true }',
        'metrics { name: "old" alias: 15 datatype: 3 int_value: 1 is_historical: true timestamp: 1600000000000 }',
        'metrics { name: "ds" alias: 16 datatype: 16 dataset_value { num_of_columns: 2 columns: "x" columns: "y" types: 3 types: 12 rows { elements { int_value: 4294967295 } elements { string_value: "a" } } } }',
        'metrics { name: "tpl" alias: 17 datatype: 19 template_value { version: "1" template_ref: "Motor" metrics { name: "amps" datatype: 9 float_value: 1.5 } parameters { name: "rated" type: 3 int_value: 10 } } }',
        'metrics { name: "p" alias: 18 datatype: 3 int_value: 1 properties { keys: "engUnit" keys: "limits" values { type: 12 string_value: "C" } values { type: 20 propertyset_value { keys: "hi" values { type: 10 double_value: 9.5 } } } } }',
      ].join(' '),
    ),
  );
  const out = s.message({ ...N, type: 'NBIRTH' }, raw, 1);
  assert.deepEqual(out.problems, []);
  assert.equal(out.json.uuid, 'u-1');
  assert.equal(out.json.body, 'AQI=');
  assert.equal(out.json.bdSeq, '18446744073709551615');
  const v = Object.fromEntries(metricsOf(out).map((m) => [m.name, m.value]));
  assert.equal(v.i16, -32768);
  assert.equal(v.u32, 4294967295);
  assert.equal(v.i64, -1);
  assert.equal(v.u64, '18446744073709551615');
  assert.equal(v.f, 0.1);
  assert.equal(v.nan, 'NaN');
  assert.equal(v.b, true);
  assert.equal(v.s, 'hi');
  assert.equal(v.t, 1700000000123);
  assert.equal(v.raw, '/wA=');
  assert.deepEqual(v.i16s, [-1, 2]);
  assert.deepEqual(v.bools, [true, false, true]);
  assert.deepEqual(v.strs, ['ab', 'c']);
  assert.equal(v.null, null);
  assert.deepEqual(v.ds, { columns: ['x', 'y'], types: ['Int32', 'String'], rows: [[-1, 'a']] });
  assert.deepEqual(v.tpl, {
    version: '1',
    templateRef: 'Motor',
    metrics: [{ name: 'amps', datatype: 'Float', value: 1.5 }],
    parameters: [{ name: 'rated', type: 'Int32', value: 10 }],
  });
  const old = metricsOf(out).find((m) => m.name === 'old')!;
  assert.equal(old.isHistorical, true);
  assert.equal(old.timestamp, 1600000000000);
  assert.deepEqual(metricsOf(out).find((m) => m.name === 'p')!.properties, { engUnit: 'C', limits: { hi: 9.5 } });
  assert.equal(metricsOf(out).find((m) => m.name === 'null')!.isNull, true);
  // The NCMD the source sends, read back (our own schema round trip).
  const ncmd = decodePayload(encodePayload({ timestamp: 5, metrics: [{ name: 'Node Control/Rebirth', datatype: 11, booleanValue: true }] }));
  assert.deepEqual(ncmd.metrics, [{ name: 'Node Control/Rebirth', datatype: 11, booleanValue: true }]);
  // proto2: a field set to zero is on the wire (field 3, seq, varint 0), as protoc writes it.
  assert.equal(encodePayload({ seq: 0 }).toString('hex'), encode('seq: 0').toString('hex'));
  assert.equal(encodePayload({ seq: 0 }).toString('hex'), '1800');
});

test('sparkplug decoder: garbage throws, and the state keeps it as undecodable', () => {
  assert.throws(() => decodePayload(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])));
  const s = new SparkplugState(OPTS);
  const out = s.message({ ...N, type: 'NDATA' }, undefined, 1, 'not a Sparkplug B payload: index out of range');
  assert.deepEqual(out.problems, ['undecodable']);
  assert.match(String(out.json.undecodable), /index out of range/);
});

// Found by a user's trial (round 39): on a plant broker, the QoS 1 data queued in the host's
// persistent session while the gateway was down arrived after the node's new NBIRTH (interleaved
// with the live QoS 0 data): each was taken as a seq gap of the new session, resynchronised the seq
// on it (so the next live message was a gap too) and asked for rebirths until the queue drained.
test('sparkplug state: data of an earlier session delivered after the NBIRTH is late: no gap, no rebirth, no state change', () => {
  const s = new SparkplugState(OPTS);
  const at = (seq: number, ts: number, metrics: RawPayload['metrics']): RawPayload => ({ timestamp: String(ts), seq: String(seq), metrics });
  s.message(
    { ...N, type: 'NBIRTH' },
    at(0, 1_700_000_010_000, [
      { name: 'bdSeq', datatype: 8, longValue: '1' },
      { name: 'Count', alias: '1', datatype: 8 },
    ]),
    1000,
  );
  s.message({ ...N, type: 'DBIRTH', device: 'd1' }, at(1, 1_700_000_010_001, [{ name: 'Temp', alias: '5', datatype: 10 }]), 1001);
  const live = s.message({ ...N, type: 'NDATA' }, at(2, 1_700_000_010_002, [{ alias: '1', longValue: '300' }]), 1002);
  assert.deepEqual(live.problems, []);
  // seq 169, sent 10 s before the birth: the broker's queue from the earlier session.
  const old = s.message({ ...N, type: 'NDATA' }, at(169, 1_700_000_000_000, [{ alias: '1', longValue: '169' }]), 1003);
  assert.deepEqual(old.problems, ['late']);
  assert.equal(old.json.late, true);
  assert.equal(old.json.seqGap, undefined);
  assert.equal(old.rebirth, false);
  assert.equal(old.log, undefined);
  assert.deepEqual(metricsOf(old), [{ name: 'Count', alias: 1, datatype: 'UInt64', value: 169 }]);
  const oldDevice = s.message({ ...N, type: 'DDEATH', device: 'd1' }, at(170, 1_700_000_000_001, []), 1004);
  assert.deepEqual(oldDevice.problems, ['late']);
  assert.equal(oldDevice.death, 'device', 'counted as the message it is');
  assert.deepEqual(s.nodeView('plant1', 'edge7')?.devices, { d1: true }, 'a late DDEATH takes no device of this session offline');
  // The live data goes on in sequence, no gap.
  const next = s.message({ ...N, type: 'DDATA', device: 'd1' }, at(3, 1_700_000_010_003, [{ alias: '5', doubleValue: 1 }]), 1005);
  assert.deepEqual(next.problems, []);
  assert.equal(s.nodeView('plant1', 'edge7')?.lastSeq, 3);
  // A DBIRTH is a birth whatever its timestamp (births are QoS 0: never queued).
  const oldBirth = s.message({ ...N, type: 'DBIRTH', device: 'd2' }, at(4, 1_700_000_000_002, [{ name: 'Level', alias: '6', datatype: 10 }]), 1005);
  assert.deepEqual(oldBirth.problems, []);
  assert.equal(oldBirth.birth, 'device');
  // The timestamp decides, not the seq: a queued message whose seq is the next one is late too.
  const sameSeq = s.message({ ...N, type: 'NDATA' }, at(5, 1_700_000_000_004, [{ alias: '1', longValue: '4' }]), 1006);
  assert.deepEqual(sameSeq.problems, ['late']);
  assert.equal(s.nodeView('plant1', 'edge7')?.lastSeq, 4);
  // Out of sequence and sent after the birth: a gap as before.
  const gap = s.message({ ...N, type: 'NDATA' }, at(9, 1_700_000_010_009, []), 1007);
  assert.deepEqual(gap.problems, ['seq-gap']);
  assert.equal(gap.rebirth, true);
});

// Found by a user's trial (round 39): a DBIRTH again took twice the device's names off the node's
// count (names and aliases), so a device reborn a few times let the node past maxMetricsPerNode.
test('sparkplug state: a device born again keeps the node within maxMetricsPerNode', () => {
  const s = new SparkplugState({ ...OPTS, maxMetricsPerNode: 8 });
  s.message({ ...N, type: 'NBIRTH' }, birth(0, 0), 1000);
  const defs = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}`, alias: String(100 + i), datatype: 3 }));
  let seq = 1;
  for (let i = 0; i < 3; i++) s.message({ ...N, type: 'DBIRTH', device: 'd1' }, data(seq++, defs(4, 'a')), 1001 + i);
  assert.equal(s.nodeView('plant1', 'edge7')?.defs, 5, "bdSeq and the device's four");
  const d2 = s.message({ ...N, type: 'DBIRTH', device: 'd2' }, data(seq++, defs(4, 'b')), 1010);
  assert.deepEqual(d2.bounds, ['max-metrics']);
  assert.equal(s.nodeView('plant1', 'edge7')?.defs, 8);
});
