// The sparkplug source in a real in-process gateway, on its embedded broker (the default url):
// edge nodes are real mqtt.js clients publishing payloads encoded by protoc (test/helpers/
// sparkplug.ts); the JSON messages go through a rule into a stream, read back from the store.
// Births name the aliases of later data; a seq gap and data before a birth make the edge node
// receive an NCMD rebirth request, and the new birth is taken; an NDEATH delivered as the will of
// a client whose socket was ended takes the node and its devices offline; one of an earlier
// session (bdSeq) changes nothing; the host's STATE is retained; bounds and garbage are counted.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { decodePayload } from '../../gateway/pipeline/sources/sparkplug/schema.js';
import { describeSource } from '../../gateway/cli/sources.js';
import { metricValue, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { edgeNode, skipProtoc, sparkplugEncoder, type Encode } from '../helpers/sparkplug.js';
import type { Registry } from 'prom-client';
import type { SourceStatus } from '../../gateway/pipeline/contract.js';

interface Rig {
  gw: Gateway;
  url: string;
  registry: Registry;
  encode: Encode;
  /** The stream's records (topic, parsed payload), once there are at least n. */
  records(n: number): Promise<Array<{ topic: string; p: Record<string, unknown> }>>;
  status(): SourceStatus;
}

async function rig(t: TestContext, options = ''): Promise<Rig> {
  const encode = await sparkplugEncoder(t);
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}
exporters: []
streams:
  sparkplug: { maxBytes: 16777216 }
sources:
  - type: sparkplug
    name: spb
    hostId: scada1
    reconnectMinMs: 50
    reconnectMaxMs: 200
${options
  .split('\n')
  .filter(Boolean)
  .map((l) => `    ${l}`)
  .join('\n')}
rules:
  version: 1
  rules:
    - name: spb
      sql: "SELECT * FROM 'sparkplug/#'"
      actions: [ { stream: { name: sparkplug } } ]
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
  return {
    gw,
    url: `mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`,
    registry,
    encode,
    status,
    records: (n) =>
      waitUntil(
        async () => {
          const r = await gw.streams.read('sparkplug', 1, { limit: 10_000 });
          return r.length >= n ? r.map((x) => ({ topic: x.topic, p: JSON.parse(x.payload.toString('utf8')) as Record<string, unknown> })) : undefined;
        },
        `${n} records in the stream`,
        10_000,
      ),
  };
}

const skip = skipProtoc;

test('sparkplug source: births then alias-only data, resolved to names and typed; STATE retained online', { skip }, async (t) => {
  const r = await rig(t);
  const edge = await edgeNode(t, r.url, r.encode, 'plant1', 'edge7');
  await edge.send('NBIRTH', 'metrics { name: "Line1/Temp" alias: 1 datatype: 10 double_value: 20 }');
  await edge.send(
    'DBIRTH',
    'metrics { name: "rpm" alias: 10 datatype: 3 int_value: 0 } metrics { name: "total" alias: 11 datatype: 8 long_value: 0 }',
    'pump3',
  );
  await edge.send('DDATA', 'metrics { alias: 10 int_value: 4294967196 } metrics { alias: 11 long_value: 18446744073709551615 }', 'pump3');
  await edge.send('NDATA', 'metrics { alias: 1 double_value: 21.5 is_historical: true timestamp: 1699999999000 }');
  const recs = await r.records(4);
  assert.deepEqual(
    recs.map((x) => x.topic),
    ['sparkplug/plant1/NBIRTH/edge7', 'sparkplug/plant1/DBIRTH/edge7/pump3', 'sparkplug/plant1/DDATA/edge7/pump3', 'sparkplug/plant1/NDATA/edge7'],
  );
  assert.deepEqual(recs[2]!.p, {
    group: 'plant1',
    node: 'edge7',
    device: 'pump3',
    type: 'DDATA',
    timestamp: 1700000000000,
    seq: 2,
    metrics: [
      { name: 'rpm', alias: 10, datatype: 'Int32', value: -100 },
      { name: 'total', alias: 11, datatype: 'UInt64', value: '18446744073709551615' },
    ],
  });
  assert.deepEqual(recs[3]!.p.metrics, [{ name: 'Line1/Temp', alias: 1, timestamp: 1699999999000, datatype: 'Double', value: 21.5, isHistorical: true }]);
  assert.equal(recs[0]!.p.bdSeq, 0);
  const d = r.status().details!;
  assert.deepEqual([d.nodes, d.devices, d.births, d.seqGaps], [{ online: 1, offline: 0 }, { online: 1, offline: 0 }, 2, 0]);
  assert.match(
    describeSource(r.status())[0]!,
    /spb \(sparkplug\) connected: mqtt:\/\/127.0.0.1:\d+; 1\/1 nodes online; 1\/1 devices online; 2 births, 0 deaths/,
  );
  assert.equal(await metricValue(r.registry, 'gatehouse_sparkplug_nodes', { source: 'spb', state: 'online' }), 1);
  assert.equal(edge.commands.length, 0, 'no rebirth asked');
  // The host's STATE, retained on the broker (Sparkplug 3.0).
  const watcher = await mqtt.connectAsync(r.url, { reconnectPeriod: 0 });
  t.after(() => watcher.endAsync(true));
  const state = new Promise<{ online: boolean; timestamp: number }>((resolve) => watcher.on('message', (_t, p) => resolve(JSON.parse(p.toString()))));
  await watcher.subscribeAsync('spBv1.0/STATE/scada1', { qos: 1 });
  const s = await state;
  assert.equal(s.online, true);
  assert.equal(typeof s.timestamp, 'number');
});

test('sparkplug source: a seq gap and data before a birth ask the edge node for a rebirth; the new birth is taken', { skip }, async (t) => {
  const r = await rig(t, 'rebirthIntervalMs: 0');
  const edge = await edgeNode(t, r.url, r.encode, 'plant1', 'edge8');
  // Before any birth: kept, aliases as numbers, and a rebirth asked.
  await edge.send('NDATA', 'metrics { alias: 1 double_value: 5 }', undefined, { seq: 40 });
  await waitUntil(() => edge.commands.length >= 1, 'a rebirth request');
  const cmd = decodePayload(edge.commands[0]!);
  assert.deepEqual(
    cmd.metrics?.map((m) => [m.name, m.datatype, m.booleanValue]),
    [['Node Control/Rebirth', 11, true]],
  );
  edge.seq = 0;
  await edge.send('NBIRTH', 'metrics { name: "temp" alias: 1 datatype: 10 double_value: 5 }');
  await edge.send('NDATA', 'metrics { alias: 1 double_value: 6 }');
  // A lost message: seq 3 where 2 was next.
  await edge.send('NDATA', 'metrics { alias: 1 double_value: 7 }', undefined, { seq: 3 });
  await waitUntil(() => edge.commands.length >= 2, 'a second rebirth request');
  edge.seq = 0;
  await edge.send('NBIRTH', 'metrics { name: "temp" alias: 1 datatype: 10 double_value: 7 }');
  await edge.send('NDATA', 'metrics { alias: 1 double_value: 8 }');
  const recs = await r.records(6);
  assert.equal(recs[0]!.p.beforeBirth, true);
  assert.equal(recs[0]!.p.unresolved, true);
  assert.deepEqual(recs[0]!.p.metrics, [{ alias: 1, value: 5, unresolved: true }]);
  assert.deepEqual(recs[3]!.p.seqGap, { expected: 2, got: 3 });
  assert.deepEqual(recs[3]!.p.metrics, [{ name: 'temp', alias: 1, datatype: 'Double', value: 7 }], 'still resolved with the birth it has');
  assert.deepEqual(recs[5]!.p.metrics, [{ name: 'temp', alias: 1, datatype: 'Double', value: 8 }]);
  assert.equal(recs[5]!.p.seqGap, undefined);
  assert.equal(await metricValue(r.registry, 'gatehouse_sparkplug_problems_total', { source: 'spb', problem: 'seq-gap' }), 1);
  assert.equal(await metricValue(r.registry, 'gatehouse_sparkplug_problems_total', { source: 'spb', problem: 'before-birth' }), 1);
  assert.equal(await metricValue(r.registry, 'gatehouse_sparkplug_rebirths_total', { source: 'spb', result: 'requested' }), 2);
  assert.equal(edge.commands.length, 2, 'nothing asked once the node was born again');
});

test('sparkplug source: NDEATH as the will of an ended socket takes the node and its devices offline; one of an earlier session is ignored', {
  skip,
}, async (t) => {
  const r = await rig(t);
  const old = await edgeNode(t, r.url, r.encode, 'plant1', 'edge9', 0);
  await old.send('NBIRTH', '');
  // The node came back in a new session (bdSeq 1) before its old connection's will was sent.
  const edge = await edgeNode(t, r.url, r.encode, 'plant1', 'edge9', 1);
  await edge.send('NBIRTH', '');
  await edge.send('DBIRTH', 'metrics { name: "x" alias: 5 datatype: 3 int_value: 1 }', 'dev1');
  await r.records(3);
  old.client.stream.destroy();
  const stale = await r.records(4);
  assert.equal(stale[3]!.topic, 'sparkplug/plant1/NDEATH/edge9');
  assert.equal(stale[3]!.p.stale, true);
  assert.equal(stale[3]!.p.bdSeq, 0);
  assert.deepEqual(r.status().details!.nodes, { online: 1, offline: 0 });
  assert.equal(await metricValue(r.registry, 'gatehouse_sparkplug_problems_total', { source: 'spb', problem: 'bdseq-mismatch' }), 1);
  edge.client.stream.destroy();
  const recs = await r.records(5);
  assert.deepEqual(recs[4]!.p, {
    group: 'plant1',
    node: 'edge9',
    type: 'NDEATH',
    timestamp: 1700000000000,
    bdSeq: 1,
    metrics: [{ name: 'bdSeq', datatype: 'UInt64', value: 1 }],
    devicesOffline: ['dev1'],
  });
  assert.deepEqual(
    [r.status().details!.nodes, r.status().details!.devices],
    [
      { online: 0, offline: 1 },
      { online: 0, offline: 1 },
    ],
  );
  assert.equal(await metricValue(r.registry, 'gatehouse_sparkplug_deaths_total', { source: 'spb', level: 'node' }), 1);
});

test('sparkplug source: bounds and garbage are counted, kept, and the source goes on', { skip }, async (t) => {
  const r = await rig(t, 'maxNodes: 1\nrebirth: false');
  const a = await edgeNode(t, r.url, r.encode, 'plant1', 'a');
  const b = await edgeNode(t, r.url, r.encode, 'plant1', 'b');
  await a.send('NBIRTH', 'metrics { name: "m" alias: 1 datatype: 3 int_value: 1 }');
  await b.send('NBIRTH', 'metrics { name: "m" alias: 1 datatype: 3 int_value: 1 }');
  // Garbage on a data topic, a JSON payload, a topic no Sparkplug message has.
  const raw = await mqtt.connectAsync(r.url, { reconnectPeriod: 0 });
  t.after(() => raw.endAsync(true));
  await raw.publishAsync('spBv1.0/plant1/NDATA/a', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), { qos: 1 });
  await raw.publishAsync('spBv1.0/plant1/DDATA/a/d', '{"temp": 21}', { qos: 1 });
  await raw.publishAsync('spBv1.0/plant1/HELLO/a', 'x', { qos: 1 });
  await a.send('NDATA', 'metrics { alias: 1 int_value: 2 }');
  const recs = await r.records(5);
  assert.equal(recs[1]!.p.untracked, true);
  assert.match(String(recs[2]!.p.undecodable), /^not a Sparkplug B payload/);
  assert.equal(recs[2]!.p.payloadBase64, 'Cv////8P');
  assert.equal(recs[3]!.topic, 'sparkplug/plant1/DDATA/a/d');
  assert.ok(recs[3]!.p.undecodable, 'JSON under spBv1.0 is no Sparkplug payload');
  assert.deepEqual(recs[4]!.p.metrics, [{ name: 'm', alias: 1, datatype: 'Int32', value: 2 }], 'the source goes on');
  assert.equal(await metricValue(r.registry, 'gatehouse_sparkplug_untracked_total', { source: 'spb', bound: 'max-nodes' }), 1);
  assert.equal(await metricValue(r.registry, 'gatehouse_sparkplug_problems_total', { source: 'spb', problem: 'undecodable' }), 2);
  assert.equal(r.status().state, 'connected');
  assert.equal(a.commands.length + b.commands.length, 0, 'rebirth: false asks nothing');
});

test('sparkplug source: the gateway stopped while an edge node publishes at QoS 1: every acknowledged publish is in the store', { skip }, async (t) => {
  const encode = await sparkplugEncoder(t);
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}
exporters: []
streams:
  raw: { maxBytes: 16777216 }
  sparkplug: { maxBytes: 16777216 }
sources:
  - type: sparkplug
    name: spb
rules:
  version: 1
  rules:
    - name: raw
      sql: "SELECT encode(*, 'base64') AS b FROM 'spBv1.0/#'"
      actions: [ { stream: { name: raw } } ]
    - name: spb
      sql: "SELECT * FROM 'sparkplug/#'"
      actions: [ { stream: { name: sparkplug } } ]
`,
  );
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger: testDeps().logger, registry: createMetricsRegistry('test', 'gw-test'), version: 'test' });
  t.after(() => gw.stop());
  await waitUntil(() => gw.sources.status().find((s) => s.name === 'spb')?.state === 'connected', 'the source connected');
  await waitUntil(
    () => ((gw.sources.status().find((s) => s.name === 'spb')?.details?.subscriptions ?? []) as Array<{ qos: number | null }>)[0]?.qos === 1,
    'subscribed',
  );
  const edge = await edgeNode(t, `mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, encode, 'plant1', 'edge1');
  await edge.send('NBIRTH', 'metrics { name: "n" alias: 1 datatype: 3 int_value: 0 }', undefined, { qos: 1 });
  const acked: number[] = [];
  let stopped = false;
  void (async () => {
    for (let i = 1; i <= 2000 && !stopped; i++) {
      await edge.send('NDATA', `metrics { name: "n" alias: 1 datatype: 3 int_value: ${i} }`, undefined, { qos: 1 });
      acked.push(i);
    }
  })().catch(() => undefined);
  await waitUntil(() => acked.length >= 50, '50 publishes acknowledged', 20_000);
  stopped = true;
  await gw.stop();
  // A publish in flight at the stop is never acknowledged (mqtt.js keeps it for a reconnect).
  await edge.client.endAsync(true);
  // The store, opened again: every acknowledged publish is there raw; its JSON is there unless the
  // broker had not yet delivered it to the source (QoS 1 to the source, but the stop ended both).
  const { openLocalStreams } = await import('../../gateway/store/index.js');
  const store = await openLocalStreams({ path: join(dir, 'data', 'store'), durability: 'os' }, testDeps());
  t.after(() => store.close());
  for (const name of ['raw', 'sparkplug']) await store.defineStream({ name, maxBytes: 16777216, onFull: 'reject' });
  const decodeN = (b64: string): number | undefined => decodePayload(Buffer.from(b64, 'base64')).metrics?.find((m) => m.name === 'n')?.intValue;
  const raw = new Set((await store.read('raw', 1, { limit: 10_000 })).map((r) => decodeN((JSON.parse(r.payload.toString()) as { b: string }).b)));
  for (const i of acked) assert.ok(raw.has(i), `acknowledged publish ${i} stored`);
  const json = (await store.read('sparkplug', 1, { limit: 10_000 })).map((r) => JSON.parse(r.payload.toString()) as { metrics: Array<{ value: number }> });
  const values = json.flatMap((p) => p.metrics.map((m) => m.value));
  t.diagnostic(`acknowledged ${acked.length}, raw ${raw.size}, JSON records ${json.length}`);
  assert.ok(values.length >= 1 && values.every((v) => raw.has(v) || v === 0), 'each JSON record is of a stored publish');
});
