// What decode(*, 'proto', ...) costs per message: a Sparkplug B NDATA of 20 metrics (protoc writes the
// descriptor and encodes the message: needs protobuf-compiler), through engine.handle() with a no-op
// non-durable action, against the same data sent as JSON and read with `SELECT *`. Also the decode
// alone (protobufjs's decode and toObject for this proto2 type, the float rounding), and the rows form of docs/sparkplug.md
// (SET + nested SELECT over the metrics). Single core; figures are noisy on a shared machine.
//
// Run: node dist/test/bench/rules-proto.js
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import pino from 'pino';
import { compileRuleSet } from '../../rules/ruleset.js';
import { createRuleEngine } from '../../rules/engine.js';
import { ProtoDecoder } from '../../rules/sql/functions/proto.js';
import { protoDescriptorFolder } from '../../gateway/pipeline/proto-descriptors.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { SPARKPLUG_SUBSET_PROTO } from '../helpers/protoc.js';
import type { Message } from '../../core/message.js';
import type { RuleDefinition } from '../../rules/types.js';

const PAYLOAD = 'org.eclipse.tahu.protobuf.Payload';
const DECODE = `decode(*, 'proto', 'sparkplug', 'sparkplug_b.desc', 'sparkplug_b.proto', '${PAYLOAD}')`;
const METRICS = 20;

function protoc(args: string[], input?: string): Buffer {
  const r = spawnSync('protoc', args, { input });
  if (r.status !== 0) throw new Error(`protoc ${args.join(' ')}: ${r.stderr?.toString() ?? r.error}`);
  return r.stdout;
}

/** An NDATA as an edge node sends it: 20 metrics by alias, a mix of doubles, floats, longs and booleans. */
function ndataText(): string {
  const metrics: string[] = [];
  for (let i = 0; i < METRICS; i++) {
    const value = [
      `double_value: ${(20 + i * 1.37).toFixed(2)}`,
      `float_value: ${(0.1 * i).toFixed(1)}`,
      `long_value: ${1_000_000 + i}`,
      `boolean_value: ${i % 2 === 0}`,
    ][i % 4];
    metrics.push(`metrics { alias: ${i + 1} timestamp: ${1_700_000_000_000 + i} datatype: ${[10, 9, 8, 11][i % 4]} ${value} }`);
  }
  return `timestamp: 1700000000000 seq: 42 ${metrics.join(' ')}`;
}

let sink = 0;
const registry = createActionRegistry({
  noop: () => ({ kind: 'noop', resource: 'noop', durable: false, execute: (out: Buffer) => void (sink += out.length) }),
});

function rate(label: string, rules: RuleDefinition[], payload: Buffer, descriptors: string, seconds = 1.5): { label: string; rate: number } {
  const set = compileRuleSet({ version: 1, rules }, registry, { protoDescriptors: protoDescriptorFolder(descriptors) });
  const engine = createRuleEngine(set, { logger: pino({ level: 'silent' }), registry: new Registry() });
  const msgs: Message[] = [];
  for (let i = 0; i < 100; i++) {
    msgs.push({ topic: `spBv1.0/plant1/NDATA/edge${i}`, payload, qos: 0, source: { kind: 'mqtt', id: `edge${i}` }, receivedAt: Date.now() });
  }
  for (let i = 0; i < 20_000; i++) engine.handle(msgs[i % 100]!); // warm-up
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  let n = 0;
  while (process.hrtime.bigint() < deadline) {
    for (let i = 0; i < 100; i++) engine.handle(msgs[i]!);
    n += 100;
  }
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = engine.counters().get('r')!;
  if (c.errors > 0 || c.emitted === 0) throw new Error(`${label}: ${c.errors} errors, ${c.emitted} emitted (${c.lastError})`);
  engine.close();
  return { label, rate: n / dt };
}

function decodeAlone(payload: Buffer, descriptors: string, seconds = 1.5): number {
  const decoder = new ProtoDecoder(protoDescriptorFolder(descriptors));
  const t = decoder.resolve('sparkplug', 'sparkplug_b.desc', 'sparkplug_b.proto', PAYLOAD);
  for (let i = 0; i < 20_000; i++) sink += decoder.decode(t, payload) === undefined ? 0 : 1;
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  let n = 0;
  while (process.hrtime.bigint() < deadline) {
    for (let i = 0; i < 100; i++) sink += decoder.decode(t, payload) === undefined ? 0 : 1;
    n += 100;
  }
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-proto-'));
try {
  writeFileSync(join(dir, 'sparkplug_b.proto'), SPARKPLUG_SUBSET_PROTO);
  const descriptors = join(dir, 'descriptors');
  mkdirSync(join(descriptors, 'sparkplug'), { recursive: true });
  protoc(['--include_imports', `--descriptor_set_out=${join(descriptors, 'sparkplug', 'sparkplug_b.desc')}`, `-I${dir}`, join(dir, 'sparkplug_b.proto')]);
  const pb = protoc([`--encode=${PAYLOAD}`, `-I${dir}`, join(dir, 'sparkplug_b.proto')], ndataText());
  // The same message as JSON, in the form the decode gives (what a device sending JSON would send).
  const decoder = new ProtoDecoder(protoDescriptorFolder(descriptors));
  const json = Buffer.from(JSON.stringify(decoder.decode(decoder.resolve('sparkplug', 'sparkplug_b.desc', 'sparkplug_b.proto', PAYLOAD), pb)));

  const rule = (sql: string): RuleDefinition[] => [{ name: 'r', sql, actions: [{ noop: {} }] }];
  const rows = [
    rate('JSON payload, `SELECT *, topic(4) AS node`', rule("SELECT *, topic(4) AS node FROM 'spBv1.0/+/NDATA/+'"), json, descriptors),
    rate(`Protobuf, \`SELECT ${DECODE} AS p, topic(4) AS node\``, rule(`SELECT ${DECODE} AS p, topic(4) AS node FROM 'spBv1.0/+/NDATA/+'`), pb, descriptors),
    rate(
      'Protobuf, the rows form of docs/sparkplug.md (SET, nested SELECT)',
      rule(
        `SET @p = ${DECODE} SELECT topic(4) AS node, @p.seq AS seq, (SELECT name, alias, timestamp, datatype, longValue, floatValue, doubleValue, booleanValue FROM @p.metrics) AS metrics FROM 'spBv1.0/+/NDATA/+'`,
      ),
      pb,
      descriptors,
    ),
  ];
  const alone = decodeAlone(pb, descriptors);
  console.log(`Sparkplug B NDATA, ${METRICS} metrics: ${pb.length} bytes as Protobuf, ${json.length} as JSON; engine.handle() with a no-op action`);
  console.log('| case | msgs/s | us/msg |');
  console.log('| --- | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.label} | ${Math.round(r.rate).toLocaleString('en-US')} | ${(1e6 / r.rate).toFixed(1)} |`);
  console.log(
    `| the decode alone (protobufjs's decode and toObject, the float rounding) | ${Math.round(alone).toLocaleString('en-US')} | ${(1e6 / alone).toFixed(1)} |`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (sink < 0) console.log(sink);
