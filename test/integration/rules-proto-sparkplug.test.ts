// Sparkplug B through a real in-process gateway: an mqtt.js client publishes NDATA and DDATA
// payloads made by protoc (never by protobufjs, which decodes them) on the gateway's broker; the
// rule of docs/sparkplug.md decodes them into a stream, read back from the store. A payload that is
// not a Sparkplug Payload goes to the rule's error action (acknowledged, counted); a rule set update
// naming a missing descriptor is refused over the admin API with the path and nothing changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { tempDir, testDeps, waitUntil, withTimeout } from '../helpers/index.js';
import { SPARKPLUG_SUBSET_PROTO, protoWorkspace, skipProtoc } from '../helpers/protoc.js';

const PAYLOAD = 'org.eclipse.tahu.protobuf.Payload';
const SQL =
  "SET @p = decode(*, 'proto', 'sparkplug', 'sparkplug_b.desc', 'sparkplug_b.proto', 'org.eclipse.tahu.protobuf.Payload') " +
  'SELECT topic(2) AS group, topic(3) AS type, topic(4) AS node, topic(5) AS device, @p.timestamp AS sent, @p.seq AS seq, ' +
  '(SELECT name, alias, timestamp, datatype, isNull, intValue, longValue, floatValue, doubleValue, booleanValue, stringValue FROM @p.metrics) AS metrics ' +
  "FROM 'spBv1.0/+/+/#' WHERE topic(3) = 'NDATA' OR topic(3) = 'DDATA'";

test('Sparkplug B NDATA and DDATA decoded into a stream; a non-Sparkplug payload to the error action; a missing descriptor refused', {
  skip: skipProtoc,
}, async (t) => {
  const dir = await tempDir(t);
  const data = join(dir, 'data');
  const ws = await protoWorkspace(t, { 'sparkplug_b.proto': SPARKPLUG_SUBSET_PROTO });
  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    `dataDir: ${JSON.stringify(data)}
protoDescriptorDir: ${JSON.stringify(ws.descriptors)}
exporters: []
admin: { token: 0123456789abcdef0123 }
streams:
  sparkplug: { maxBytes: 16777216 }
  spb_errors: { maxBytes: 16777216 }
rules:
  version: 1
  rules:
    - name: sparkplug_data
      sql: ${JSON.stringify(SQL)}
      actions: [ { stream: { name: sparkplug } } ]
      errorAction: { stream: { name: spb_errors } }
`,
  );
  await ws.describe('sparkplug', 'sparkplug_b.desc', 'sparkplug_b.proto');
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const deps = testDeps();
  const gw = await startGateway(config, { logger: deps.logger, registry: createMetricsRegistry('test', 'gw-test'), version: 'test' });
  t.after(() => gw.stop());

  const ndata = ws.encode(
    'sparkplug_b.proto',
    PAYLOAD,
    'timestamp: 1700000000000 seq: 1 metrics { name: "Line1/Temp" alias: 1 timestamp: 1700000000000 datatype: 10 double_value: 71.25 } metrics { name: "Line1/Count" alias: 2 datatype: 8 long_value: 18446744073709551615 }',
  );
  const ddata = ws.encode(
    'sparkplug_b.proto',
    PAYLOAD,
    'timestamp: 1700000000500 seq: 2 metrics { alias: 7 datatype: 11 boolean_value: true } metrics { alias: 8 datatype: 9 float_value: 0.1 is_null: false }',
  );
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0, clientId: 'edge7' });
  t.after(() => client.end(true));
  // QoS 1: the PUBACK means the decoded record is in the stream.
  await withTimeout(client.publishAsync('spBv1.0/plant1/NDATA/edge7', ndata, { qos: 1 }), 10_000, 'NDATA PUBACK');
  await withTimeout(client.publishAsync('spBv1.0/plant1/DDATA/edge7/press3', ddata, { qos: 1 }), 10_000, 'DDATA PUBACK');
  // Not a data message: the WHERE leaves it out (no decode).
  await withTimeout(client.publishAsync('spBv1.0/plant1/NBIRTH/edge7', ndata, { qos: 1 }), 10_000, 'NBIRTH PUBACK');
  // JSON published under spBv1.0/: not a Payload; acknowledged, to the error action.
  await withTimeout(client.publishAsync('spBv1.0/plant1/NDATA/edge8', '{"temp": 21}', { qos: 1 }), 10_000, 'bad NDATA PUBACK');

  const records = await gw.streams.read('sparkplug', 1);
  assert.deepEqual(
    records.map((r) => ({ topic: r.topic, payload: JSON.parse(r.payload.toString('utf8')) as unknown })),
    [
      {
        topic: 'spBv1.0/plant1/NDATA/edge7',
        payload: {
          group: 'plant1',
          type: 'NDATA',
          node: 'edge7',
          sent: '1700000000000',
          seq: '1',
          metrics: [
            { name: 'Line1/Temp', alias: '1', timestamp: '1700000000000', datatype: 10, doubleValue: 71.25 },
            { name: 'Line1/Count', alias: '2', datatype: 8, longValue: '18446744073709551615' },
          ],
        },
      },
      {
        topic: 'spBv1.0/plant1/DDATA/edge7/press3',
        payload: {
          group: 'plant1',
          type: 'DDATA',
          node: 'edge7',
          device: 'press3',
          sent: '1700000000500',
          seq: '2',
          metrics: [
            { alias: '7', datatype: 11, booleanValue: true },
            { alias: '8', datatype: 9, isNull: false, floatValue: 0.1 },
          ],
        },
      },
    ],
  );
  const errors = await gw.streams.read('spb_errors', 1);
  assert.equal(errors.length, 1);
  const failure = JSON.parse(errors[0]!.payload.toString('utf8')) as { topic: string; failures: Array<{ failedAction: string; errorMessage: string }> };
  assert.equal(failure.topic, 'spBv1.0/plant1/NDATA/edge8');
  assert.equal(failure.failures[0]!.failedAction, 'RuleEvaluation');
  assert.match(
    failure.failures[0]!.errorMessage,
    /^GH_RULE_EVAL: GH_PROTO_DECODE: cannot decode the payload \(12 bytes\) as org\.eclipse\.tahu\.protobuf\.Payload: /,
  );
  assert.equal(gw.rules.ruleCounters().get('sparkplug_data')?.errors, 1);

  // A rule set update naming a descriptor that is not there: refused, with the path; the set in force stays.
  const admin = `http://127.0.0.1:${gw.admin!.address().port}`;
  const update = {
    version: 2,
    rules: [{ name: 'sparkplug_data', sql: SQL.replace("'sparkplug_b.desc'", "'sparkplug_b_v2.desc'"), actions: [{ stream: { name: 'sparkplug' } }] }],
  };
  const res = await fetch(`${admin}/api/rules`, {
    method: 'PUT',
    headers: { authorization: 'Bearer 0123456789abcdef0123', 'content-type': 'application/json' },
    body: JSON.stringify(update),
  });
  const body = (await res.json()) as { error?: { code: string; message: string } };
  assert.equal(res.status, 400);
  assert.match(
    JSON.stringify(body),
    new RegExp(
      `GH_PROTO_DESCRIPTOR: the descriptor s3://sparkplug/sparkplug_b_v2\\.desc is read from ${join(ws.descriptors, 'sparkplug', 'sparkplug_b_v2.desc').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}, which does not exist`,
    ),
  );
  assert.equal(gw.rules.status().activeVersion, 1);
  // Once written there, the same update is taken (the descriptor is read when the set compiles).
  await ws.describe('sparkplug', 'sparkplug_b_v2.desc', 'sparkplug_b.proto');
  const ok = await fetch(`${admin}/api/rules`, {
    method: 'PUT',
    headers: { authorization: 'Bearer 0123456789abcdef0123', 'content-type': 'application/json' },
    body: JSON.stringify(update),
  });
  assert.equal(ok.status, 200, await ok.text());
  await waitUntil(() => gw.rules.status().activeVersion === 2, 'version 2 active', 10_000);
  await withTimeout(client.publishAsync('spBv1.0/plant1/NDATA/edge7', ndata, { qos: 1 }), 10_000, 'NDATA PUBACK after the update');
  assert.equal((await gw.streams.read('sparkplug', 1)).length, 3);
});
