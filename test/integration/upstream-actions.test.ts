// Upstream rule actions (AWS IoT names: http, kinesis, ...) are shorthand for a local stream plus
// an exporter: durable before the PUBACK, delivered through the exporter loop. Real in-process
// gateway, real mqtt.js client, the Firehose-protocol receiver and kinesalite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { KinesisClient, GetShardIteratorCommand, GetRecordsCommand, CreateStreamCommand, DescribeStreamCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { main } from '../../gateway/cli/main.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { startKinesalite } from '../helpers/peers.js';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { Writable } from 'node:stream';
import { createHash } from 'node:crypto';
import { httpRig } from '../helpers/http-post.js';
import { readAll } from '../helpers/store-intake.js';

async function gatewayWith(t: import('node:test').TestContext, rulesYaml: string): Promise<Gateway> {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n${rulesYaml}`);
  const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), { ...testDeps(), version: 'test' });
  t.after(() => gw.stop());
  return gw;
}

async function publish(gw: Gateway, n: number): Promise<void> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  await Promise.all(Array.from({ length: n }, (_, i) => c.publishAsync(`fleet/truck${i % 3}/engine`, JSON.stringify({ temp: 100 + i, i }), { qos: 1 })));
  await c.endAsync();
}

test('http action: records reach a Firehose-protocol endpoint through a durable stream', async (t) => {
  const receiver = await startFirehoseReceiver();
  t.after(() => receiver.close());
  const gw = await gatewayWith(
    t,
    `rules:\n  version: 1\n  rules:\n    - name: hot\n      sql: "SELECT temp, topic(2) AS truck FROM 'fleet/+/engine' WHERE temp > 104"\n      actions:\n        - http: { url: "${receiver.url}", exporter: { batch: { lingerMs: 20 } } }\n`,
  );
  await publish(gw, 20);
  await waitUntil(() => receiver.uniqueRecords().length >= 15, '15 hot readings at the receiver', 15_000);
  const got = receiver.uniqueRecords().map((r) => JSON.parse(r) as { temp: number; truck: string });
  assert.equal(got.length, 15);
  assert.ok(got.every((r) => r.temp > 104 && /^truck\d$/.test(r.truck)));
  const stream = gw.streams.streamNames().find((n) => n.startsWith('http-'));
  assert.ok(stream, 'a local stream backs the action');
  assert.equal(gw.exporters.status().find((e) => e.name === stream)?.destination.kind, 'http');
});

test("webhook action in AWS IoT's HTTP action form (headers as key/value pairs) reaches another gateway's http source, which checks the token", async (t) => {
  // The receiver: a real http source over a real store (http-post.ts), taking only this bearer token.
  const token = 'webhook-action-token-0123456789';
  const rx = await httpRig(t, { auth: { tokens: [{ name: 'edge', sha256: createHash('sha256').update(token).digest('hex') }] } });
  const url = `http://127.0.0.1:${rx.port}/topics/hot/readings`;
  const gw = await gatewayWith(
    t,
    `rules:\n  version: 1\n  rules:\n    - name: hot\n      sql: "SELECT temp, topic(2) AS truck FROM 'fleet/+/engine' WHERE temp > 104"\n      actions:\n        - webhook: { url: "${url}", records: payload, headers: [{ key: Authorization, value: "Bearer ${token}" }], exporter: { batch: { lingerMs: 20 } } }\n`,
  );
  await publish(gw, 20);
  await waitUntil(async () => (await readAll(rx.store, 'in')).length >= 15, '15 hot readings at the receiver', 15_000);
  const got = (await readAll(rx.store, 'in')).map((m) => ({ topic: m.topic, ...(JSON.parse(m.payload.toString()) as { temp: number; truck: string }) }));
  assert.equal(got.length, 15);
  assert.ok(got.every((r) => r.topic === 'hot/readings' && r.temp > 104 && /^truck\d$/.test(r.truck)));
  const stream = gw.streams.streamNames().find((n) => n.startsWith('webhook-'));
  assert.ok(stream, 'a local stream backs the action');
  assert.equal(gw.exporters.status().find((e) => e.name === stream)?.destination.kind, 'webhook');
});

test("AWS IoT's HTTP action options that mean nothing here are refused with what to write, and a header template is refused", async (t) => {
  const dir = await tempDir(t);
  const check = async (action: string): Promise<string> => {
    const file = join(dir, 'rules.yaml');
    await writeFile(file, `version: 1\nrules:\n  - name: a\n    sql: "SELECT * FROM 'x'"\n    actions: [${action}]\n`);
    let err = '';
    const sink = (into: 'err' | 'out') =>
      new Writable({
        write(c: Buffer, _e, cb) {
          if (into === 'err') err += c.toString();
          cb();
        },
      });
    assert.equal(await main(['rules', 'check', file], { stdout: sink('out'), stderr: sink('err') }), 1, action);
    return err;
  };
  assert.match(await check("{ http: { url: 'https://example.com/in', headers: [{ key: a, value: b }] } }"), /write `webhook` instead of `http`/);
  assert.match(await check("{ webhook: { url: 'https://example.com/in', confirmationUrl: 'https://example.com' } }"), /confirmationUrl.*no confirmation URL/);
  assert.match(
    await check("{ webhook: { url: 'https://example.com/in', headers: [{ key: X-Device, value: '${topic(2)}' }] } }"),
    /headers\.0\.value.*substitution template/,
  );
});

test('kinesis action with a partition key template: records land in kinesalite', async (t) => {
  const k = await startKinesalite(t);
  const client = new KinesisClient({
    region: 'us-east-1',
    endpoint: k.url,
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    requestHandler: new NodeHttpHandler(),
  });
  t.after(() => client.destroy());
  await client.send(new CreateStreamCommand({ StreamName: 'fleet', ShardCount: 1 }));
  await waitUntil(
    async () => (await client.send(new DescribeStreamCommand({ StreamName: 'fleet' }))).StreamDescription?.StreamStatus === 'ACTIVE',
    'stream active',
    10_000,
  );
  const gw = await gatewayWith(
    t,
    `rules:\n  version: 1\n  rules:\n    - name: up\n      sql: "SELECT * FROM 'fleet/+/engine'"\n      actions:\n        - kinesis: { streamName: fleet, region: us-east-1, endpoint: "${k.url}", accessKeyId: x, secretAccessKey: y, partitionKey: '\${topic(2)}', exporter: { batch: { lingerMs: 20 } } }\n`,
  );
  await publish(gw, 12);
  const shard = await client.send(new DescribeStreamCommand({ StreamName: 'fleet' }));
  const it = await client.send(
    new GetShardIteratorCommand({ StreamName: 'fleet', ShardId: shard.StreamDescription!.Shards![0]!.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }),
  );
  const seen: Array<{ key: string; i: number }> = [];
  let iterator = it.ShardIterator;
  await waitUntil(
    async () => {
      const r = await client.send(new GetRecordsCommand({ ShardIterator: iterator }));
      iterator = r.NextShardIterator;
      for (const rec of r.Records ?? []) seen.push({ key: rec.PartitionKey!, i: (JSON.parse(Buffer.from(rec.Data!).toString()) as { i: number }).i });
      return seen.length >= 12;
    },
    '12 records in kinesalite',
    20_000,
    100,
  );
  assert.equal(new Set(seen.map((s) => s.i)).size, 12);
  assert.ok(
    seen.every((s) => /^truck\d$/.test(s.key)),
    'partition key rendered from the template',
  );
  for (const key of ['truck0', 'truck1', 'truck2']) {
    const order = seen.filter((s) => s.key === key).map((s) => s.i);
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
      `per-partition order for ${key}`,
    );
  }
});

test('rules check knows the upstream action kinds and validates their options', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'rules.yaml');
  await writeFile(file, "version: 1\nrules:\n  - name: a\n    sql: \"SELECT * FROM 'x'\"\n    actions: [{ http: { url: 'not a url' } }]\n");
  let err = '';
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      err += c.toString();
      cb();
    },
  });
  assert.equal(
    await main(['rules', 'check', file], {
      stdout: new Writable({
        write(_c, _e, cb) {
          cb();
        },
      }),
      stderr: sink,
    }),
    1,
  );
  assert.match(err, /url/);
});
