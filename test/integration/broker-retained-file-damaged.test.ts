// A retained file record that parses but is not what the broker writes (found by
// test/e2e/fuzz-state-files.test.ts): a QoS of another type went to every subscriber of its topic
// at SUBSCRIBE, where writing it failed, and each '#' subscriber's connection was lost at once for
// as long as the message stayed retained. Now such a record is left out, logged once
// (GH_BROKER_STATE_FILE) and counted; real mqtt.js 3.1.1 and 5 subscribers get the rest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { Registry } from 'prom-client';
import { createBroker } from '../../gateway/broker/index.js';
import { metricValue, tempDir, waitUntil } from '../helpers/index.js';
import { capturingLogger } from '../helpers/fuzz.js';

test("damaged retained records are left out with a warning; '#' subscribers of both versions get the others and go on", async (t) => {
  const dir = await tempDir(t, 'gatehouse-retained-damaged-');
  const file = join(dir, 'mqtt-retained.json');
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  await writeFile(
    file,
    [
      JSON.stringify({ gatehouse: 'mqtt-retained', v: 2, gen: 1, savedAt: Date.now() }),
      JSON.stringify({ topic: 'status/ok', payload: b64('kept'), qos: 1 }),
      JSON.stringify({ topic: 'status/dev4', payload: b64('online'), qos: '\u0000' }),
      JSON.stringify({ topic: 'status/dev5', payload: b64('online'), qos: 1, properties: 5 }),
      '',
    ].join('\n'),
  );
  await writeFile(`${file}.journal`, `${JSON.stringify({ gatehouse: 'mqtt-retained-journal', v: 2, gen: 1 })}\n`);
  const { logger, lines } = capturingLogger();
  const registry = new Registry();
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { logger, registry, onPublish: () => undefined, retainedFile: file });
  t.after(() => broker.stop());
  await broker.start();
  const warning = lines.find((l) => l.code === 'GH_BROKER_STATE_FILE');
  assert.equal(warning?.ignoredRecords, 2, JSON.stringify(warning));
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_state_file_problems_total', { problem: 'torn_line' }), 2);

  const url = `mqtt://127.0.0.1:${broker.addresses()[0]!.port}`;
  const got: string[] = [];
  for (const protocolVersion of [4, 5] as const) {
    const c = await mqtt.connectAsync(url, { protocolVersion, reconnectPeriod: 0, clientId: `all-${protocolVersion}` });
    t.after(() => c.endAsync(true));
    c.on('message', (topic, p) => got.push(`${protocolVersion} ${topic} ${p.toString()}`));
    await c.subscribeAsync('#', { qos: 1 });
  }
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  await pub.publishAsync('status/new', 'fresh', { qos: 1 });
  await waitUntil(() => got.filter((g) => g.includes('status/new')).length >= 2, `both subscribers get the fresh message (${got.join(', ')})`);
  assert.deepEqual(got.sort(), ['4 status/new fresh', '4 status/ok kept', '5 status/new fresh', '5 status/ok kept']);
});
