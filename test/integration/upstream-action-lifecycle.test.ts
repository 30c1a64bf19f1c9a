// The life of an upstream rule action's stream and exporter (http here). Created when a rule set
// using the action is installed, not for one that is refused. Removed or changed by a rule update,
// the action must not strand the records its stream holds (PUBACKed to devices while the
// destination was down): the old exporter drains them to the old destination, retiring, then goes;
// after a restart too. Real in-process gateway (stopped and started again on the same data dir),
// real mqtt.js client, the real Firehose-protocol receiver taken down and brought back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';

const EXPORTER = '{ batch: { lingerMs: 20 }, backoff: { initialMs: 20, maxMs: 100, outageMaxMs: 100 } }';

function ruleSet(version: number, url: string): string {
  return `version: ${version}\nrules:\n  - name: up\n    sql: "SELECT * FROM 'fleet/+/engine'"\n    actions:\n      - http: { url: "${url}", exporter: ${EXPORTER} }\n`;
}

async function publish(gw: Gateway, from: number, n: number): Promise<void> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  await Promise.all(Array.from({ length: n }, (_, i) => c.publishAsync('fleet/truck1/engine', JSON.stringify({ i: from + i }), { qos: 1 })));
  await c.endAsync();
}

test('http action changed by a rule update: its backlog reaches the old destination after a restart, then its exporter retires', async (t) => {
  const receiver = await startFirehoseReceiver();
  t.after(() => receiver.close());
  await receiver.down(); // the upstream outage: records wait in the action's stream
  const dir = await tempDir(t);
  const rulesFile = join(dir, 'rules.yaml');
  await writeFile(rulesFile, ruleSet(1, receiver.url));
  const file = join(dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nrulesFile: ${JSON.stringify(rulesFile)}\n`);
  const start = async (): Promise<Gateway> => startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), { ...testDeps(), version: 'test' });

  let gw = await start();
  let stopped = false;
  t.after(() => (stopped ? undefined : gw.stop()));
  await publish(gw, 0, 5); // PUBACKed: committed in the stream of v1's action
  const [oldStream] = gw.streams.streamNames().filter((n) => n.startsWith('http-'));
  assert.ok(oldStream, 'a local stream backs the v1 action');
  assert.equal(gw.streams.info(oldStream).records, 5);

  // An office fixes the destination (a new url: a new stream), as PUT /api/rules or a SIGHUP does.
  const applied = await gw.rules.applyFromBytes(Buffer.from(ruleSet(2, `${receiver.url}v2`)), 'application/yaml', 'admin');
  assert.equal(applied.state, 'applied', JSON.stringify(applied.errors));
  await gw.stop();
  stopped = true;

  gw = await start();
  stopped = false;
  const retiring = gw.exporters.status().find((e) => e.name === oldStream);
  assert.ok(retiring, `the stream ${oldStream} holding 5 records has an exporter after the restart`);
  assert.equal(retiring.retiring, true, 'marked retiring: no rule uses it');
  await receiver.up();
  await waitUntil(() => receiver.uniqueRecords().length >= 5, "the 5 records of the old action's stream at the receiver", 15_000);
  assert.deepEqual(
    receiver
      .uniqueRecords()
      .map((r) => (JSON.parse(r) as { i: number }).i)
      .sort((a, b) => a - b),
    [0, 1, 2, 3, 4],
  );
  await waitUntil(() => !gw.exporters.has(oldStream), 'the drained retiring exporter removed', 10_000);
  // The new action still works.
  await publish(gw, 100, 2);
  await waitUntil(() => receiver.uniqueRecords().length >= 7, 'the 2 records of the new action', 15_000);
});

async function gatewayWithRules(t: import('node:test').TestContext, rules: string): Promise<Gateway> {
  const dir = await tempDir(t);
  const rulesFile = join(dir, 'rules.yaml');
  await writeFile(rulesFile, rules);
  const file = join(dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nrulesFile: ${JSON.stringify(rulesFile)}\n`);
  const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), { ...testDeps(), version: 'test' });
  t.after(() => gw.stop());
  return gw;
}

test('http action changed by a rule update, no restart: the old exporter drains its backlog, then retires', async (t) => {
  const receiver = await startFirehoseReceiver();
  t.after(() => receiver.close());
  await receiver.down();
  const gw = await gatewayWithRules(t, ruleSet(1, receiver.url));
  await publish(gw, 0, 3);
  const [oldStream] = gw.exporters.status().map((e) => e.name);
  assert.ok(oldStream);
  const applied = await gw.rules.applyFromBytes(Buffer.from(ruleSet(2, `${receiver.url}v2`)), 'application/yaml', 'admin');
  assert.equal(applied.state, 'applied', JSON.stringify(applied.errors));
  await waitUntil(() => gw.exporters.status().find((e) => e.name === oldStream)?.retiring, 'the old exporter marked retiring', 5000);
  assert.equal(gw.exporters.status().find((e) => e.name !== oldStream)?.retiring, undefined, 'the new one is not');
  await receiver.up();
  await waitUntil(() => receiver.uniqueRecords().length >= 3, 'the 3 records of the old stream', 15_000);
  await waitUntil(() => !gw.exporters.has(oldStream), 'the drained old exporter retired', 10_000);
  assert.equal(gw.exporters.status().length, 1, 'the new action keeps its exporter');
});

test('a refused rule set creates no stream and no exporter for the upstream action it named', async (t) => {
  const receiver = await startFirehoseReceiver();
  t.after(() => receiver.close());
  const gw = await gatewayWithRules(t, ruleSet(1, receiver.url));
  const before = gw.exporters.status().map((e) => e.name);
  const streamsBefore = gw.streams.streamNames();
  // v2 names a new destination, and a stream no config defines: refused at validation, after the
  // http action's validation ran.
  const refused = `${ruleSet(2, `${receiver.url}refused`)}  - name: bad\n    sql: "SELECT * FROM 'x'"\n    actions: [{ stream: { name: nowhere } }]\n`;
  const status = await gw.rules.applyFromBytes(Buffer.from(refused), 'application/yaml', 'admin');
  assert.equal(status.state, 'rejected');
  await waitUntil(
    () => gw.exporters.status().length === before.length,
    `only the exporters of the running set (${before.join(', ')}) left: ${gw.exporters
      .status()
      .map((e) => e.name)
      .join(', ')}`,
    5000,
  );
  assert.deepEqual(
    gw.exporters.status().map((e) => e.name),
    before,
  );
  assert.deepEqual(gw.streams.streamNames(), streamsBefore, 'no stream (nor dead-letter stream) defined for the refused set');
});

test('a rollback to the set that used a retiring exporter takes it back: it no longer retires, and the empty one left retires', async (t) => {
  const receiver = await startFirehoseReceiver();
  t.after(() => receiver.close());
  await receiver.down();
  const gw = await gatewayWithRules(t, ruleSet(1, receiver.url));
  await publish(gw, 0, 3);
  const [first] = gw.exporters.status().map((e) => e.name);
  assert.ok(first);
  const applied = await gw.rules.applyFromBytes(Buffer.from(ruleSet(2, `${receiver.url}v2`)), 'application/yaml', 'admin');
  assert.equal(applied.state, 'applied', JSON.stringify(applied.errors));
  await waitUntil(() => gw.exporters.status().find((e) => e.name === first)?.retiring, 'the v1 exporter retiring', 5000);
  const second = gw.exporters.status().find((e) => e.name !== first)?.name;
  assert.ok(second);
  const back = await gw.rules.rollback('admin');
  assert.equal(back.state, 'rolled-back', JSON.stringify(back));
  await waitUntil(() => !gw.exporters.has(second), 'the empty v2 exporter retired', 5000);
  assert.equal(gw.exporters.status().find((e) => e.name === first)?.retiring, undefined, 'the v1 exporter no longer retires');
  await receiver.up();
  await waitUntil(() => receiver.uniqueRecords().length >= 3, 'the 3 records', 15_000);
  await publish(gw, 10, 1);
  await waitUntil(() => receiver.uniqueRecords().length >= 4, 'a record of the rolled-back set through the same exporter', 15_000);
  assert.ok(gw.exporters.has(first), 'the v1 exporter stays: the running set uses it');
});

test('kept exporter options this version refuses do not stop the start: the records stay in their stream', async (t) => {
  const receiver = await startFirehoseReceiver();
  t.after(() => receiver.close());
  await receiver.down();
  const dir = await tempDir(t);
  const rulesFile = join(dir, 'rules.yaml');
  await writeFile(rulesFile, ruleSet(1, receiver.url));
  const file = join(dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nrulesFile: ${JSON.stringify(rulesFile)}\n`);
  const start = async (): Promise<Gateway> => startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), { ...testDeps(), version: 'test' });
  const gw = await start();
  let stopped = false;
  t.after(() => (stopped ? undefined : gw.stop()));
  await publish(gw, 0, 2);
  const [old] = gw.exporters.status().map((e) => e.name);
  assert.ok(old);
  // As an older version might have kept them: a destination this version's schema refuses.
  const key = `upstream/exporters/${old}`;
  const kept = JSON.parse((await gw.streams.getMeta(key))!.toString()) as { exporter: { destination: Record<string, unknown> } };
  kept.exporter.destination.url = 'not a url';
  await gw.streams.putMeta(key, Buffer.from(JSON.stringify(kept)));
  assert.equal((await gw.rules.applyFromBytes(Buffer.from(ruleSet(2, `${receiver.url}v2`)), 'application/yaml', 'admin')).state, 'applied');
  await gw.stop();
  stopped = true;

  const again = await start();
  t.after(() => again.stop());
  assert.equal(again.exporters.has(old), false, 'no exporter for refused options');
  assert.equal(again.streams.info(old).records, 2, 'the records stay in their stream');
  assert.equal(again.exporters.status().length, 1, "the running set's exporter runs");
});
