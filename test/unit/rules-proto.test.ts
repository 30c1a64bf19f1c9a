// decode(*, 'proto', bucket, key, file, type): the descriptor and the messages are made by protoc
// (Debian's protobuf-compiler), never by protobufjs, which decodes them. The JSON form is protobuf's
// canonical mapping (docs/rules-sql.md#protobuf-payloads); every error is a GatehouseError with its
// code, thrown when the rule compiles (literal arguments) or when a message is evaluated.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { compileSql, evaluateQuery } from '../../rules/sql/compiler.js';
import { EvalContext } from '../../rules/sql/context.js';
import { createFunctionRegistry } from '../../rules/sql/functions/index.js';
import { compileRuleSet } from '../../rules/ruleset.js';
import { PROTO_MAX_PAYLOAD_BYTES, PROTO_UNUSABLE_RETRY_MS, ProtoDecoder } from '../../rules/sql/functions/proto.js';
import { protoDescriptorFolder } from '../../gateway/pipeline/proto-descriptors.js';
import { isGatehouseError } from '../../core/errors.js';
import { sqlMessage } from '../helpers/rules-sql.js';
import { COMMON_PROTO, KITCHEN_PROTO, SPARKPLUG_SUBSET_PROTO, protoWorkspace, skipProtoc, type ProtoWorkspace } from '../helpers/protoc.js';

const KITCHEN = "decode(*, 'proto', 'plant', 'kitchen.desc', 'kitchen', 'Reading')";

async function kitchen(t: TestContext): Promise<ProtoWorkspace> {
  const ws = await protoWorkspace(t, { 'kitchen.proto': KITCHEN_PROTO, 'common.proto': COMMON_PROTO, 'sparkplug_b.proto': SPARKPLUG_SUBSET_PROTO });
  await ws.describe('plant', 'kitchen.desc', 'kitchen.proto');
  return ws;
}

/** Compile `sql` against the workspace's descriptor folder and run it on `payload`: the output as JSON. */
function run(ws: ProtoWorkspace, sql: string, payload: Buffer | string, topic = 'a/b'): unknown {
  const functions = createFunctionRegistry({ protoDescriptors: protoDescriptorFolder(ws.descriptors) });
  const q = compileSql(sql, { functions });
  const out = evaluateQuery(q, new EvalContext(sqlMessage(payload, topic)));
  return out === undefined ? undefined : JSON.parse(out.toString('utf8'));
}

function throwsCode(fn: () => unknown, code: 'GH_PROTO_DESCRIPTOR' | 'GH_PROTO_DECODE' | 'GH_SQL_SEMANTIC', text: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isGatehouseError(err, code), `expected ${code}, got ${String(err)}`);
    assert.match((err as Error).message, text);
    return true;
  });
}

test('scalars, floats, nested, repeated, map, enum, bytes, 64-bit integers, oneof and optional decode to canonical JSON', { skip: skipProtoc }, async (t) => {
  const ws = await kitchen(t);
  const bytes = ws.encode(
    'kitchen.proto',
    'test.kitchen.Reading',
    `device_id: "dev-7" temp: 21.5 ratio: 0.1 level: -3 offset: -70000 count: 4000000000
     big: -9007199254740993 ubig: 18446744073709551615 fbig: 12345678901234567 ok: true raw: "\\000\\001\\377"
     mode: MANUAL samples: [1, 2, 3] tags { key: "site" value: "north" } tags { key: "line" value: "2" }
     counters { key: "starts" value: 9007199254740993 } main { key: "k" } number: 42 maybe: 0
     floats: [21.7, 0.3] float_map { key: "a" value: 231.2 }`,
  );
  const out = run(ws, `SELECT ${KITCHEN} AS r FROM 'a/b'`, bytes) as { r: Record<string, unknown> };
  assert.deepEqual(out.r, {
    deviceId: 'dev-7',
    temp: 21.5,
    // A float as the decimal its sender wrote (the float32 0.1 widened would be 0.10000000149011612).
    ratio: 0.1,
    level: -3,
    offset: -70000,
    count: 4000000000,
    // 64-bit integers as decimal strings: exact beyond 2^53, as JSON numbers could not be.
    big: '-9007199254740993',
    ubig: '18446744073709551615',
    fbig: '12345678901234567',
    ok: true,
    raw: 'AAH/',
    mode: 'MANUAL',
    samples: [1, 2, 3],
    tags: [
      { key: 'site', value: 'north' },
      { key: 'line', value: '2' },
    ],
    counters: { starts: '9007199254740993' },
    main: { key: 'k' },
    number: 42,
    // proto3 `optional`: set, so written even at its default.
    maybe: 0,
    floats: [21.7, 0.3],
    floatMap: { a: 231.2 },
  });
  // Fields left at their proto3 defaults are omitted; the other branch of the oneof too.
  const sparse = run(ws, `SELECT ${KITCHEN} AS r FROM 'a/b'`, ws.encode('kitchen.proto', 'test.kitchen.Reading', 'text: "hi"')) as { r: unknown };
  assert.deepEqual(sparse.r, { text: 'hi' });
  // The decoded value is addressable like any JSON value.
  const fields = run(ws, `SELECT ${KITCHEN}.tags[1].value AS line, ${KITCHEN}.mode AS mode FROM 'a/b'`, bytes);
  assert.deepEqual(fields, { line: '2', mode: 'MANUAL' });
});

test('unknown fields are dropped; an enum number the descriptor does not name stays a number; an empty payload is the empty message', {
  skip: skipProtoc,
}, async (t) => {
  const ws = await kitchen(t);
  // Field 99 (unknown to Reading) then level: a message written with a newer schema.
  const newer = Buffer.concat([Buffer.from([0x98, 0x06, 0x05]), ws.encode('kitchen.proto', 'test.kitchen.Reading', 'level: 7')]);
  assert.deepEqual(run(ws, `SELECT VALUE ${KITCHEN} FROM 'a/b'`, newer), { level: 7 });
  // mode = 5: an open proto3 enum keeps a value it has no name for.
  assert.deepEqual(run(ws, `SELECT VALUE ${KITCHEN} FROM 'a/b'`, Buffer.from([0x60, 0x05])), { mode: 5 });
  assert.deepEqual(run(ws, `SELECT VALUE ${KITCHEN} FROM 'a/b'`, Buffer.alloc(0)), {});
});

test("the proto file and type are found as AWS's examples write them: with or without .proto, package-relative or fully qualified", {
  skip: skipProtoc,
}, async (t) => {
  const ws = await kitchen(t);
  await ws.describe('sparkplug', 'spb/sparkplug_b.desc', 'sparkplug_b.proto');
  const bytes = ws.encode('sparkplug_b.proto', 'org.eclipse.tahu.protobuf.Payload', 'seq: 3 metrics { name: "t" alias: 1 datatype: 10 double_value: 1.5 }');
  const want = { seq: '3', metrics: [{ name: 't', alias: '1', datatype: 10, doubleValue: 1.5 }] };
  for (const [file, type] of [
    ['sparkplug_b', 'Payload'],
    ['sparkplug_b.proto', 'org.eclipse.tahu.protobuf.Payload'],
    ['sparkplug_b.proto', '.org.eclipse.tahu.protobuf.Payload'],
  ]) {
    // A key with a folder in it: spb/ is a folder under the bucket's, as in the S3 console.
    assert.deepEqual(run(ws, `SELECT VALUE decode(*, 'proto', 'sparkplug', 'spb/sparkplug_b.desc', '${file}', '${type}') FROM 'a/b'`, bytes), want);
  }
  // A nested type, relative to the package.
  const metric = ws.encode('sparkplug_b.proto', 'org.eclipse.tahu.protobuf.Payload.Metric', 'name: "m" boolean_value: true');
  assert.deepEqual(run(ws, `SELECT VALUE decode(*, 'proto', 'sparkplug', 'spb/sparkplug_b.desc', 'sparkplug_b', 'Payload.Metric') FROM 'a/b'`, metric), {
    name: 'm',
    booleanValue: true,
  });
});

test('a base64 string of a message decodes as AWS documents (a field of a JSON payload); Undefined in, Undefined out', { skip: skipProtoc }, async (t) => {
  const ws = await kitchen(t);
  const b64 = ws.encode('kitchen.proto', 'test.kitchen.Reading', 'device_id: "d" level: 2').toString('base64');
  const payload = JSON.stringify({ pb: b64 });
  assert.deepEqual(run(ws, "SELECT decode(pb, 'proto', 'plant', 'kitchen.desc', 'kitchen', 'Reading') AS r FROM 'a/b'", payload), {
    r: { deviceId: 'd', level: 2 },
  });
  assert.deepEqual(run(ws, "SELECT decode(missing, 'proto', 'plant', 'kitchen.desc', 'kitchen', 'Reading') AS r FROM 'a/b'", payload), {});
  throwsCode(
    () => run(ws, "SELECT decode('not base64!', 'proto', 'plant', 'kitchen.desc', 'kitchen', 'Reading') AS r FROM 'a/b'", '{}'),
    'GH_PROTO_DECODE',
    /not base64/,
  );
  throwsCode(
    () => run(ws, "SELECT decode(n, 'proto', 'plant', 'kitchen.desc', 'kitchen', 'Reading') AS r FROM 'a/b'", '{"n":5}'),
    'GH_PROTO_DECODE',
    /a number/,
  );
});

test('descriptor arguments computed per message are read when a message needs them, and cached', { skip: skipProtoc }, async (t) => {
  const ws = await kitchen(t);
  const bytes = ws.encode('kitchen.proto', 'test.kitchen.Reading', 'level: 9');
  const sql = "SELECT VALUE decode(*, 'proto', topic(1), concat(topic(2), '.desc'), 'kitchen', 'Reading') FROM '+/+'";
  const functions = createFunctionRegistry({ protoDescriptors: protoDescriptorFolder(ws.descriptors) });
  const q = compileSql(sql, { functions });
  const evalOn = (topic: string) => evaluateQuery(q, new EvalContext(sqlMessage(bytes, topic)))?.toString();
  assert.equal(evalOn('plant/kitchen'), '{"level":9}');
  throwsCode(() => evalOn('plant/nothere'), 'GH_PROTO_DESCRIPTOR', /plant\/nothere\.desc, which does not exist/);
  // A file put there afterwards is read by the next message (failures are not cached).
  await ws.describe('plant', 'nothere.desc', 'kitchen.proto');
  assert.equal(evalOn('plant/nothere'), '{"level":9}');
});

test('a rule naming a missing descriptor, .proto file or type is refused when it compiles, with what the file holds', { skip: skipProtoc }, async (t) => {
  const ws = await kitchen(t);
  const folder = protoDescriptorFolder(ws.descriptors);
  const compile = (args: string) =>
    compileSql(`SELECT decode(*, 'proto', ${args}) AS r FROM 'a/b'`, { functions: createFunctionRegistry({ protoDescriptors: folder }) });
  throwsCode(() => compile("'plant', 'gone.desc', 'kitchen', 'Reading'"), 'GH_PROTO_DESCRIPTOR', /plant\/gone\.desc, which does not exist/);
  throwsCode(
    () => compile("'plant', 'kitchen.desc', 'kitchen', 'Readng'"),
    'GH_PROTO_DESCRIPTOR',
    /no message type 'Readng' in kitchen\.proto \(its message types: test\.kitchen\.Reading, test\.kitchen\.Deep\)/,
  );
  throwsCode(
    () => compile("'plant', 'kitchen.desc', 'kitchn', 'Reading'"),
    'GH_PROTO_DESCRIPTOR',
    /no \.proto file 'kitchn' \(it holds: common\.proto, kitchen\.proto\)/,
  );
  throwsCode(() => compile("'..', 'kitchen.desc', 'kitchen', 'Reading'"), 'GH_PROTO_DESCRIPTOR', /not a bucket name/);
  throwsCode(() => compile("'plant', '../plant/kitchen.desc', 'kitchen', 'Reading'"), 'GH_PROTO_DESCRIPTOR', /not a file name inside the bucket's folder/);
  throwsCode(() => compile("'plant', 'kitchen.desc', 'kitchen'"), 'GH_SQL_SEMANTIC', /takes 6 arguments/);
  throwsCode(() => compile("'plant', 'kitchen.desc', 'kitchen', 5"), 'GH_SQL_SEMANTIC', /message type must be a non-empty string/);
  // The error has the position of the call, as the other compile errors.
  assert.throws(
    () => compile("'plant', 'gone.desc', 'kitchen', 'Reading'"),
    (err: unknown) => (err as { where?: string }).where === 'line 1, column 8',
  );
  // In a rule set: GH_RULESET_INVALID, naming the rule and the code.
  assert.throws(
    () =>
      compileRuleSet(
        {
          version: 1,
          rules: [{ name: 'spb', sql: "SELECT decode(*, 'proto', 'plant', 'gone.desc', 'kitchen', 'Reading') AS r FROM 'a'", actions: [{ noop: {} }] }],
        },
        new Map([['noop', () => ({ kind: 'noop', resource: '', durable: false, execute: () => undefined })]]),
        { protoDescriptors: folder },
      ),
    (err: unknown) => isGatehouseError(err, 'GH_RULESET_INVALID') && /spb[\s\S]*GH_PROTO_DESCRIPTOR[\s\S]*gone\.desc/.test((err as Error).message),
  );
  // AWS has no Protobuf encode: refused.
  throwsCode(() => compileSql("SELECT encode(*, 'proto') AS r FROM 'a/b'"), 'GH_SQL_SEMANTIC', /only the 'base64' scheme/);
});

test('a file that is not a FileDescriptorSet, or one written without --include_imports, is refused with how to write it', { skip: skipProtoc }, async (t) => {
  const ws = await kitchen(t);
  const folder = protoDescriptorFolder(ws.descriptors);
  const compile = (key: string) =>
    compileSql(`SELECT decode(*, 'proto', 'plant', '${key}', 'kitchen', 'Reading') AS r FROM 'a/b'`, {
      functions: createFunctionRegistry({ protoDescriptors: folder }),
    });
  await writeFile(join(ws.descriptors, 'plant', 'source.desc'), KITCHEN_PROTO);
  throwsCode(() => compile('source.desc'), 'GH_PROTO_DESCRIPTOR', /source\.desc is not a Protobuf FileDescriptorSet/);
  await writeFile(join(ws.descriptors, 'plant', 'empty.desc'), Buffer.alloc(0));
  throwsCode(() => compile('empty.desc'), 'GH_PROTO_DESCRIPTOR', /describes no \.proto file/);
  await mkdir(join(ws.descriptors, 'plant', 'dir.desc'));
  throwsCode(() => compile('dir.desc'), 'GH_PROTO_DESCRIPTOR', /is not a file/);
  // Without --include_imports: common.Tag is not in the set.
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync('protoc', [`--descriptor_set_out=${join(ws.descriptors, 'plant', 'noimports.desc')}`, `-I${ws.src}`, join(ws.src, 'kitchen.proto')]);
  assert.equal(r.status, 0, r.stderr.toString());
  throwsCode(() => compile('noimports.desc'), 'GH_PROTO_DESCRIPTOR', /do not resolve/);
});

test('a payload that is not that message, too large, too large once decoded or nested too deep fails the evaluation with GH_PROTO_DECODE', {
  skip: skipProtoc,
}, async (t) => {
  const ws = await kitchen(t);
  const sql = `SELECT ${KITCHEN} AS r FROM 'a/b'`;
  // A JSON text is not a Reading (wire type 3 in '{').
  throwsCode(() => run(ws, sql, '{"temp": 21}'), 'GH_PROTO_DECODE', /cannot decode the payload \(12 bytes\) as test\.kitchen\.Reading: /);
  // A truncated message.
  const whole = ws.encode('kitchen.proto', 'test.kitchen.Reading', 'device_id: "a long device id"');
  throwsCode(() => run(ws, sql, whole.subarray(0, whole.length - 3)), 'GH_PROTO_DECODE', /index out of range|offset/);
  // Larger than AWS's 128 KiB: refused before decoding.
  const big = ws.encode('kitchen.proto', 'test.kitchen.Reading', `raw: "${'x'.repeat(PROTO_MAX_PAYLOAD_BYTES)}"`);
  throwsCode(() => run(ws, sql, big), 'GH_PROTO_DECODE', /larger than 131072 bytes/);
  // 30,000 bytes whose JSON is over 1 MiB (a packed enum of one byte each, named in 48 characters).
  const wordy = ws.encode(
    'kitchen.proto',
    'test.kitchen.Reading',
    `verbose: [${Array(30_000).fill('A_VALUE_WITH_A_NAME_FAR_LONGER_THAN_ITS_ONE_BYTE').join(', ')}]`,
  );
  assert.ok(wordy.length < 31_000);
  throwsCode(() => run(ws, sql, wordy), 'GH_PROTO_DECODE', /its JSON form has 15\d{5} characters, more than 1048576/);
  // Nested 150 deep (protoc writes it; protobufjs stops at 100 levels).
  let text = 'n: 1';
  for (let i = 0; i < 150; i++) text = `child { ${text} }`;
  const deep = ws.encode('kitchen.proto', 'test.kitchen.Deep', text);
  throwsCode(
    () => run(ws, "SELECT decode(*, 'proto', 'plant', 'kitchen.desc', 'kitchen', 'Deep') AS r FROM 'a/b'", deep),
    'GH_PROTO_DECODE',
    /max depth exceeded/,
  );
  // 90 deep is fine.
  text = 'n: 1';
  for (let i = 0; i < 90; i++) text = `child { ${text} }`;
  const ok = run(
    ws,
    "SELECT decode(*, 'proto', 'plant', 'kitchen.desc', 'kitchen', 'Deep') AS r FROM 'a/b'",
    ws.encode('kitchen.proto', 'test.kitchen.Deep', text),
  );
  assert.ok(JSON.stringify(ok).includes('"n":1'));
});

test('without a descriptor folder (rules sign, the state sweep) a rule compiles on its arguments alone and fails when it runs', () => {
  const q = compileSql("SELECT decode(*, 'proto', 'plant', 'kitchen.desc', 'kitchen', 'Reading') AS r FROM 'a/b'");
  throwsCode(() => evaluateQuery(q, new EvalContext(sqlMessage(Buffer.from([0x08, 0x01])))), 'GH_PROTO_DESCRIPTOR', /no folder is set/);
});

// Debian's protoc finds the well-known types in libprotobuf-dev (a Recommends of protobuf-compiler).
const skipWkt =
  skipProtoc ??
  (existsSync('/usr/include/google/protobuf/timestamp.proto') ? undefined : 'needs google/protobuf/timestamp.proto: apt-get install libprotobuf-dev');

test('a well-known type gets its JSON form: google.protobuf.Timestamp as an RFC 3339 string', { skip: skipWkt }, async (t) => {
  const ws = await protoWorkspace(t, {
    'ts.proto': 'syntax = "proto3";\npackage t;\nimport "google/protobuf/timestamp.proto";\nmessage E { google.protobuf.Timestamp at = 1; }\n',
  });
  await ws.describe('b', 'ts.desc', 'ts.proto');
  const bytes = ws.encode('ts.proto', 't.E', 'at { seconds: 1700000000 nanos: 5000000 }');
  assert.deepEqual(run(ws, "SELECT VALUE decode(*, 'proto', 'b', 'ts.desc', 'ts', 'E') FROM 'a/b'", bytes), { at: '2023-11-14T22:13:20.005Z' });
});

test('a proto2 message (as Sparkplug B) gets the same canonical JSON: names, 64-bit, enums, bytes, NaN, floats, maps; a closed enum drops a number it does not name', {
  skip: skipProtoc,
}, async (t) => {
  const ws = await protoWorkspace(t, {
    'p2.proto': `syntax = "proto2";
package p2;
enum Kind { K_ZERO = 0; K_ONE = 1; }
message Inner { optional string s = 1; }
message Rec {
  optional int64 big = 1;
  optional Kind kind = 2;
  optional bytes raw = 3;
  optional double d = 4;
  optional float f = 5;
  optional Inner inner = 6;
  repeated uint64 ids = 7;
  map<string, Inner> by = 8;
  optional string snake_case_name = 9;
  optional int32 zero = 10;
}
`,
  });
  await ws.describe('b', 'p2.desc', 'p2.proto');
  const sql = "SELECT VALUE decode(*, 'proto', 'b', 'p2.desc', 'p2', 'Rec') FROM 'a/b'";
  const bytes = ws.encode(
    'p2.proto',
    'p2.Rec',
    'big: -5 kind: K_ONE raw: "\\001" d: nan f: 0.1 inner { s: "x" } ids: [1, 18446744073709551615] by { key: "a" value { s: "y" } } snake_case_name: "z" zero: 0',
  );
  assert.deepEqual(run(ws, sql, bytes), {
    big: '-5',
    kind: 'K_ONE',
    raw: 'AQ==',
    d: 'NaN',
    f: 0.1,
    inner: { s: 'x' },
    ids: ['1', '18446744073709551615'],
    by: { a: { s: 'y' } },
    snakeCaseName: 'z',
    // proto2 `optional`: set, so written at its default.
    zero: 0,
  });
  // kind = 7: not a Kind (proto2 enums are closed: an unknown field, dropped).
  assert.deepEqual(run(ws, sql, Buffer.from([0x10, 0x07, 0x50, 0x01])), { zero: 1 });
});

test('a descriptor that does not parse is read again only after 10 s (a rule naming it per message does not parse it per message); a missing one at once', {
  skip: skipProtoc,
}, async (t) => {
  const ws = await kitchen(t);
  let now = 1_000;
  let reads = 0;
  const folder = protoDescriptorFolder(ws.descriptors);
  const read = (b: string, k: string): Buffer => {
    reads++;
    return folder.read(b, k);
  };
  const decoder = new ProtoDecoder({ pathOf: folder.pathOf, read }, () => now);
  const bad = join(ws.descriptors, 'plant', 'late.desc');
  await writeFile(bad, 'not a descriptor set');
  throwsCode(() => decoder.resolve('plant', 'late.desc', 'kitchen', 'Reading'), 'GH_PROTO_DESCRIPTOR', /is not a Protobuf FileDescriptorSet/);
  await ws.describe('plant', 'late.desc', 'kitchen.proto');
  now += PROTO_UNUSABLE_RETRY_MS - 1;
  throwsCode(() => decoder.resolve('plant', 'late.desc', 'kitchen', 'Reading'), 'GH_PROTO_DESCRIPTOR', /is not a Protobuf FileDescriptorSet/);
  assert.equal(reads, 1, 'not read again within 10 s');
  now += 1;
  assert.equal(decoder.resolve('plant', 'late.desc', 'kitchen', 'Reading').name, 'test.kitchen.Reading');
  assert.equal(reads, 2);
  // A missing file is looked at again by the next call.
  throwsCode(() => decoder.resolve('plant', 'gone.desc', 'kitchen', 'Reading'), 'GH_PROTO_DESCRIPTOR', /does not exist/);
  await ws.describe('plant', 'gone.desc', 'kitchen.proto');
  assert.equal(decoder.resolve('plant', 'gone.desc', 'kitchen', 'Reading').name, 'test.kitchen.Reading');
});
