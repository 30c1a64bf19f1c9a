// What a retired upstream rule action leaves behind goes away: a gateway in a cabinet takes rule
// updates for months without a restart, and an office that changes an action's URL in each
// update moves the flow to a new stream each time. Once the old exporter has drained its stream,
// the stream, its empty dead-letter stream, its kept options, its checkpoint and its metric series
// go (store.dropStreams); a dead-letter stream holding records stays, listed, with a warning. The
// same at start for what a stop (or an earlier version) left. Bringing the action back after its
// stream was dropped gives it a working stream again, whose sequences never reuse the old ones.
// Real in-process gateway (stopped and started again on the same data dir), real mqtt.js client,
// the real Firehose-protocol receiver; the LevelDB keys are counted on the raw database.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { Level } from 'level';
import pino from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { tempDir, waitUntil } from '../helpers/index.js';

const EXPORTER = '{ batch: { lingerMs: 20 }, backoff: { initialMs: 20, maxMs: 100, outageMaxMs: 100 } }';
const ACTION_STREAM = /(?:http)-[0-9a-f]{10}/g;

function ruleSet(version: number, url: string): string {
  return `version: ${version}\nrules:\n  - name: up\n    sql: "SELECT * FROM 'fleet/+/engine'"\n    actions:\n      - http: { url: "${url}", exporter: ${EXPORTER} }\n`;
}

async function publish(gw: Gateway, payloads: string[]): Promise<void> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  await Promise.all(payloads.map((p) => c.publishAsync('fleet/truck1/engine', p, { qos: 1 })));
  await c.endAsync();
}

/** Every key of the store's database, as text (a stream's name shows in it). */
async function storeKeys(dir: string): Promise<string[]> {
  const db = new Level<Buffer, Buffer>(join(dir, 'data', 'store'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    return (await db.keys().all()).map((k) => k.toString('latin1'));
  } finally {
    await db.close();
  }
}

interface Rig {
  dir: string;
  rulesFile: string;
  registry: Registry;
  logs: Array<{ level: number; msg: string; stream?: string; records?: number }>;
  start(): Promise<Gateway>;
}

async function rig(t: TestContext, first: string): Promise<Rig> {
  const dir = await tempDir(t);
  const rulesFile = join(dir, 'rules.yaml');
  await writeFile(rulesFile, first);
  const file = join(dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nrulesFile: ${JSON.stringify(rulesFile)}\n`);
  const registry = new Registry();
  const logs: Rig['logs'] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s) as Rig['logs'][number]) });
  return {
    dir,
    rulesFile,
    registry,
    logs,
    start: async () => startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), { logger, registry, version: 'test' }),
  };
}

async function update(gw: Gateway, rules: string): Promise<void> {
  const applied = await gw.rules.applyFromBytes(Buffer.from(rules), 'application/yaml', 'admin');
  assert.equal(applied.state, 'applied', JSON.stringify(applied.errors));
}

test('rule updates that each move an http action to a new URL leave a bounded number of streams, metric series and store keys', async (t) => {
  const receiver = await startFirehoseReceiver();
  t.after(() => receiver.close());
  const r = await rig(t, ruleSet(1, `${receiver.url}v1`));
  let gw = await r.start();
  let stopped = false;
  t.after(() => (stopped ? undefined : gw.stop()));
  const streamsBefore = gw.streams.streamNames().length;
  const retired: string[] = [];
  const N = 6;
  for (let v = 2; v <= N + 1; v++) {
    await publish(
      gw,
      [0, 1, 2].map((i) => JSON.stringify({ v, i })),
    );
    const [old] = gw.exporters.status().map((e) => e.name);
    assert.ok(old);
    retired.push(old);
    await update(gw, ruleSet(v, `${receiver.url}v${v}`));
    await waitUntil(() => !gw.exporters.has(old), `the exporter of ${old} retired`, 15_000);
  }
  assert.equal(receiver.uniqueRecords().length, 3 * N, 'every record reached its destination');
  const [current] = gw.exporters.status().map((e) => e.name);
  assert.ok(current);
  assert.equal(gw.streams.streamNames().length, streamsBefore, `as many streams as before the updates: ${gw.streams.streamNames().join(', ')}`);
  const metrics = await r.registry.metrics();
  const named = new Set([...metrics.matchAll(ACTION_STREAM)].map((m) => m[0]));
  assert.deepEqual([...named], [current], 'no metric series names a retired stream or exporter');
  const targets = metrics.split('\n').filter((l) => l.startsWith('gatehouse_destination_') && /target="[^"]*v[1-5]"/.test(l));
  assert.deepEqual(targets, [], 'no series of a retired destination');
  await gw.stop();
  stopped = true;

  const keys = await storeKeys(r.dir);
  const left = keys.filter((k) => retired.some((name) => k.includes(name)));
  assert.deepEqual(left, [], 'no key of a retired stream (segments, checkpoint, high-water mark, tally, kept options)');
  assert.equal(keys.filter((k) => k.startsWith('Mupstream/exporters/')).length, 1, "the running action's kept options only");

  gw = await r.start();
  stopped = false;
  assert.deepEqual(gw.streams.undefinedStreams!(), [], 'no stream state of a retired action at the next start');
  assert.equal(gw.streams.streamNames().length, streamsBefore);
});

test("a retired exporter's dead-letter stream holding records stays, listed, with a warning; the empty stream goes", async (t) => {
  const receiver = await startFirehoseReceiver();
  t.after(() => receiver.close());
  receiver.rejectWhen((records) => records.some((b) => b.toString().includes('poison')));
  const r = await rig(t, ruleSet(1, `${receiver.url}v1`));
  let gw = await r.start();
  let stopped = false;
  t.after(() => (stopped ? undefined : gw.stop()));
  const [old] = gw.exporters.status().map((e) => e.name);
  assert.ok(old);
  await publish(gw, ['{"ok":1}', '{"poison":1}']);
  await waitUntil(() => gw.exporters.status()[0]?.deadLetters === 1, 'the poison record dead-lettered', 15_000);
  await update(gw, ruleSet(2, `${receiver.url}v2`));
  await waitUntil(() => !gw.exporters.has(old), 'the v1 exporter retired', 15_000);
  assert.equal(gw.streams.hasStream(old), false, 'its empty stream dropped');
  assert.equal(gw.streams.info(`${old}-dlq`).records, 1, 'its dead letters kept');
  const warned = (): boolean => r.logs.some((l) => l.level === 40 && l.stream === `${old}-dlq` && /GET \/api\/streams\/.*-dlq\/records/.test(l.msg));
  assert.ok(warned(), 'a warning says how to read them');
  assert.ok((await r.registry.metrics()).includes(`gatehouse_stream_appended_total{stream="${old}-dlq"} 1`), 'the kept dead-letter stream keeps its series');
  await gw.stop();
  stopped = true;

  r.logs.length = 0;
  gw = await r.start();
  stopped = false;
  assert.ok(gw.streams.streamNames().includes(`${old}-dlq`), 'listed after a restart too');
  assert.equal(gw.streams.info(`${old}-dlq`).records, 1);
  assert.ok(warned(), 'and said again at start');
  assert.equal(gw.streams.hasStream(old), false);
});

test('an action brought back after its stream was dropped gets a working stream whose sequences do not reuse the old ones', async (t) => {
  const receiver = await startFirehoseReceiver();
  t.after(() => receiver.close());
  const a = ruleSet(1, `${receiver.url}a`);
  const r = await rig(t, a);
  const gw = await r.start();
  t.after(() => gw.stop());
  const [stream] = gw.exporters.status().map((e) => e.name);
  assert.ok(stream);
  await publish(gw, ['{"n":1}', '{"n":2}', '{"n":3}']);
  const oldLast = gw.streams.info(stream).lastSeq;
  assert.equal(oldLast, 3);
  await update(gw, ruleSet(2, `${receiver.url}b`));
  await waitUntil(() => !gw.exporters.has(stream), 'the exporter of the first URL retired', 15_000);
  assert.equal(gw.streams.hasStream(stream), false, 'its stream dropped');
  // Back to the first URL: the same stream name.
  await update(gw, a.replace('version: 1', 'version: 3'));
  assert.ok(gw.exporters.has(stream), 'its exporter is back');
  await publish(gw, ['{"n":4}', '{"n":5}']);
  await waitUntil(() => receiver.uniqueRecords().length >= 5, 'the 5 records at the receiver', 15_000);
  assert.deepEqual(
    receiver
      .uniqueRecords()
      .map((s) => (JSON.parse(s) as { n: number }).n)
      .sort(),
    [1, 2, 3, 4, 5],
  );
  const info = gw.streams.info(stream);
  assert.ok(info.lastSeq >= oldLast + 2 && info.lastSeq - 2 >= oldLast, `new sequences after the dropped stream's ${oldLast}: lastSeq ${info.lastSeq}`);
  const status = await waitUntil(
    () => gw.exporters.status().find((e) => e.name === stream && e.lastExportedSeq === info.lastSeq),
    'its exporter checkpointed them (the checkpoint is written behind the sends)',
    10_000,
  );
  assert.equal(status.retiring, undefined);
  const skipped = (await r.registry.metrics())
    .split('\n')
    .filter((l) => l.startsWith('gatehouse_export_skipped_records_total{') && l.includes(stream) && !l.endsWith(' 0'));
  assert.deepEqual(skipped, [], 'the old sequences are not counted as records retention dropped');
});

test('at start, the empty streams of actions no rule uses are dropped: kept options drained before a stop, and what an earlier version left', async (t) => {
  const receiver = await startFirehoseReceiver();
  t.after(() => receiver.close());
  receiver.rejectWhen((records) => records.some((b) => b.toString().includes('poison')));
  const r = await rig(t, ruleSet(1, `${receiver.url}v1`));
  let gw = await r.start();
  let stopped = false;
  t.after(() => (stopped ? undefined : gw.stop()));
  const [kept] = gw.exporters.status().map((e) => e.name);
  assert.ok(kept);
  await publish(gw, ['{"a":1}', '{"poison":1}']);
  await waitUntil(() => receiver.uniqueRecords().length === 1, 'delivered', 15_000);
  await waitUntil(() => gw.exporters.status()[0]?.deadLetters === 1, 'the poison record dead-lettered', 15_000);
  // What a version that dropped nothing left of an action's stream: drained, checkpoint and high-water mark kept, no options.
  const leftover = 'http-0123456789';
  await gw.streams.defineStream({ name: leftover, maxBytes: 1 << 20, onFull: 'reject' });
  await gw.streams.addConsumer(leftover, leftover);
  const seq = await gw.streams.append(leftover, { topic: 't', payload: Buffer.from('x'), receivedAt: Date.now() });
  await gw.streams.setCheckpoint(leftover, leftover, seq);
  await gw.stop();
  stopped = true;
  // The rule set changed while it was stopped: the v1 action is no longer used.
  await writeFile(r.rulesFile, ruleSet(2, `${receiver.url}v2`));
  gw = await r.start();
  stopped = false;
  assert.equal(gw.exporters.has(kept), false);
  assert.equal(gw.streams.hasStream(kept), false, 'the drained kept stream dropped');
  assert.deepEqual(gw.streams.undefinedStreams!(), [], 'the leftover dropped');
  assert.equal(gw.streams.info(`${kept}-dlq`).records, 1, 'the dead letters of the dropped stream stay, listed');
  assert.ok(r.logs.some((l) => l.level === 40 && l.stream === `${kept}-dlq`));
  assert.deepEqual(
    r.logs.filter((l) => /was not dropped/.test(l.msg)),
    [],
    'dropped at the first try, its dead letters left out of the drop',
  );
  await gw.stop();
  stopped = true;
  const keys = await storeKeys(r.dir);
  assert.deepEqual(
    keys.filter((k) => (k.includes(kept) && !k.includes(`${kept}-dlq`)) || k.includes(leftover)),
    [],
    'no key of either (but the dead letters)',
  );
});
