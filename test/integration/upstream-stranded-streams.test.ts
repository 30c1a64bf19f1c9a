// Streams left with records no exporter drains, after an upgrade or a config change. A version
// before the kept rule exporter options (rule-exporters.ts) left an upstream rule action's stream
// with no options once a rule update removed the action: after the upgrade its destination is
// looked for in the stored rule sets and its backlog sent; a stream nothing can drain is said at
// start, once (stranded-streams.ts). Real in-process gateway stopped and started again on the
// same data dir, real mqtt.js client, the real Firehose-protocol receiver taken down and back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import pino from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { tempDir, waitUntil } from '../helpers/index.js';

const EXPORTER = '{ batch: { lingerMs: 20 }, backoff: { initialMs: 20, maxMs: 100, outageMaxMs: 100 } }';

interface LogLine {
  level: number;
  msg: string;
  stream?: string;
  records?: number;
  bytes?: number;
  oldestAgeSeconds?: number;
}

function ruleSet(version: number, url: string): string {
  return `version: ${version}\nrules:\n  - name: up\n    sql: "SELECT * FROM 'fleet/+/engine'"\n    actions:\n      - http: { url: "${url}", exporter: ${EXPORTER} }\n`;
}

async function starter(file: string): Promise<{ start(): Promise<Gateway>; logs: LogLine[] }> {
  const logs: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s) as LogLine) });
  return {
    logs,
    start: async () => startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), { logger, registry: new Registry(), version: 'test' }),
  };
}

const undrainedWarnings = (logs: LogLine[]): LogLine[] => logs.filter((l) => l.level === 40 && /holds \d+ records no exporter sends/.test(l.msg));

test('at start, each stream holding records no exporter drains gets one warning; localOnly and dead-letter streams none', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  const data = JSON.stringify(join(dir, 'data'));
  const keep = 'keep: { localOnly: true }';
  await writeFile(file, `dataDir: ${data}\nexporters: []\nstreams:\n  ${keep}\n  archive: {}\n  orphan: {}\n`);
  const first = await starter(file);
  let gw = await first.start();
  let stopped = false;
  t.after(() => (stopped ? undefined : gw.stop()));
  // What an earlier version or config left: an upstream action's stream whose options were never
  // kept, a configured stream no exporter exported, a dead-letter stream, a local-only stream.
  const ruleStream = 'kinesis-0123456789';
  for (const name of [ruleStream, 'orphan-dlq']) await gw.streams.defineStream({ name, maxBytes: 1 << 20, onFull: 'reject' });
  const receivedAt = Date.now() - 120_000;
  for (const name of [ruleStream, 'orphan', 'orphan-dlq', 'keep']) {
    for (let i = 0; i < 3; i++) await gw.streams.append(name, { topic: 't/x', payload: Buffer.from(`{"i":${i}}`), receivedAt });
  }
  await gw.stop();
  stopped = true;
  // The stream removed from the config: only the store knows it now.
  await writeFile(file, `dataDir: ${data}\nexporters: []\nstreams:\n  ${keep}\n  archive: {}\n`);
  const second = await starter(file);
  gw = await second.start();
  stopped = false;

  const warned = undrainedWarnings(second.logs);
  assert.deepEqual(warned.map((l) => l.stream).sort(), [ruleStream, 'orphan'], JSON.stringify(warned));
  for (const w of warned) {
    assert.equal(w.records, 3);
    assert.ok((w.bytes ?? 0) > 0, 'its bytes');
    assert.ok((w.oldestAgeSeconds ?? 0) >= 119, `the oldest record's age: ${w.oldestAgeSeconds}`);
    assert.match(w.msg, new RegExp(`/api/streams/${w.stream}/records`));
    assert.match(w.msg, /docs\/upstream\.md/);
  }
  assert.match(warned.find((l) => l.stream === ruleStream)!.msg, /destination is unknown/);
  const listed = (await (await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/streams`)).json()) as {
    streams: Array<{ name: string; undrained?: boolean }>;
  };
  assert.deepEqual(
    listed.streams.filter((s) => s.undrained).map((s) => s.name),
    [ruleStream, 'orphan'],
    '/api/streams marks them undrained: true',
  );
  // What the warning says to do works for a stream only on disk: the admin API reads its records.
  for (const name of [ruleStream, 'orphan']) {
    const res = await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/streams/${name}/records?from=1&limit=10`);
    assert.equal(res.status, 200, `records of ${name}`);
    const body = (await res.json()) as { records: Array<{ payload: string }> };
    assert.deepEqual(
      body.records.map((r) => r.payload),
      ['{"i":0}', '{"i":1}', '{"i":2}'],
    );
  }
});

test('upgraded from a version that kept no exporter options: the backlog of an action the last good set names is exported', async (t) => {
  const receiver = await startFirehoseReceiver();
  t.after(() => receiver.close());
  await receiver.down(); // the upstream outage: records wait in the action's stream
  const dir = await tempDir(t);
  const rulesFile = join(dir, 'rules.yaml');
  await writeFile(rulesFile, ruleSet(1, receiver.url));
  const file = join(dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nrulesFile: ${JSON.stringify(rulesFile)}\n`);
  const { start, logs } = await starter(file);

  let gw = await start();
  let stopped = false;
  t.after(() => (stopped ? undefined : gw.stop()));
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  await Promise.all(Array.from({ length: 5 }, (_, i) => c.publishAsync('fleet/truck1/engine', JSON.stringify({ i }), { qos: 1 })));
  await c.endAsync();
  const [oldStream] = gw.streams.streamNames().filter((n) => n.startsWith('http-'));
  assert.ok(oldStream);
  const applied = await gw.rules.applyFromBytes(Buffer.from(ruleSet(2, `${receiver.url}v2`)), 'application/yaml', 'admin');
  assert.equal(applied.state, 'applied', JSON.stringify(applied.errors));
  assert.equal(gw.rules.lastGoodDefinition()?.version, 1, 'the last good set names the old action');
  // The store as the earlier version left it: no kept options for the old action's stream.
  await gw.streams.deleteMetas!([`upstream/exporters/${oldStream}`]);
  await gw.stop();
  stopped = true;

  gw = await start();
  stopped = false;
  const retiring = gw.exporters.status().find((e) => e.name === oldStream);
  assert.ok(retiring, `the stream ${oldStream} holding 5 records has an exporter after the upgrade`);
  assert.equal(retiring.retiring, true);
  assert.ok(
    logs.some((l) => l.stream === oldStream && l.msg.startsWith('a stream of an upstream rule action had no kept exporter options')),
    'the recovery is logged',
  );
  assert.deepEqual(undrainedWarnings(logs), [], 'nothing stranded: its exporter drains it');
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
});
