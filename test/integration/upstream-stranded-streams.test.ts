// Streams left with records no exporter drains, after an upgrade. A version before the kept rule
// exporter options (rule-exporters.ts) left an upstream rule action's stream with no options once
// a rule update removed the action: after the upgrade its destination is looked for in the stored
// rule sets and its backlog sent. Real in-process gateway stopped and started again on the
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
