// A session file whose records parse but are not what the broker writes (found by
// test/e2e/fuzz-state-files.test.ts: one bit of a key flipped, a value of another type). The
// broker did not start: a subscription without its topicFilter threw in the load ("Cannot read
// properties of undefined (reading 'split')"), so did a queued message whose payload is a number.
// Now each such record is left out, logged once (GH_BROKER_STATE_FILE) and counted; the rest of
// the session is resumed by a real mqtt.js MQTT 5 client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { Registry } from 'prom-client';
import { createBroker } from '../../gateway/broker/index.js';
import { metricValue, tempDir, waitUntil } from '../helpers/index.js';
import { capturingLogger } from '../helpers/fuzz.js';

test('damaged records of the MQTT 5 session file are left out with a warning; the broker starts and the session resumes', async (t) => {
  const dir = await tempDir(t, 'gatehouse-v5-damaged-');
  const file = join(dir, 'mqtt5-sessions.json');
  const now = Date.now();
  const msg = (topic: string, payload: unknown): string => JSON.stringify({ topic, payload, qos: 1, retain: false });
  await writeFile(
    file,
    [
      JSON.stringify({ gatehouse: 'mqtt5-sessions', v: 2, gen: 1, savedAt: now }),
      `{"s":"keeper","e":3600,"d":${now}}`,
      '{"s":"keeper","sub":{"filter":"cmd/#","topicFilter":"cmd/#","qos":1,"nl":false,"rap":false,"rh":0,"id":1}}',
      // 'topicFilter' with one bit flipped ('e' 0x65 -> 'a' 0x61)
      '{"s":"keeper","sub":{"filter":"ota/#","topicFiltar":"ota/#","qos":1,"nl":false,"rap":false,"rh":0}}',
      `{"s":"keeper","m":1,"msg":${msg('cmd/a', Buffer.from('kept').toString('base64'))}}`,
      `{"s":"keeper","m":2,"msg":${msg('cmd/b', 1.5)}}`,
      // a session expiry that is no 32-bit integer
      `{"s":"other","e":1.5,"d":${now}}`,
      '',
    ].join('\n'),
  );
  await writeFile(`${file}.journal`, `${JSON.stringify({ gatehouse: 'mqtt5-sessions-journal', v: 2, gen: 1 })}\n`);
  const { logger, lines } = capturingLogger();
  const registry = new Registry();
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { logger, registry, onPublish: () => undefined, sessionFile: file });
  t.after(() => broker.stop());
  await broker.start();
  const warning = lines.find((l) => l.code === 'GH_BROKER_STATE_FILE');
  assert.equal(warning?.ignoredRecords, 3, JSON.stringify(warning));
  assert.match(
    String(warning?.msg),
    /3 damaged record\(s\) left out \(keeper: subscription 'ota\/#' without a valid topic filter; keeper: queued message on 'cmd\/b' without a payload; other: session expiry 1.5\)/,
  );
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_state_file_problems_total', { problem: 'torn_line' }), 3);

  const url = `mqtt://127.0.0.1:${broker.addresses()[0]!.port}`;
  const c = mqtt.connect(url, { clientId: 'keeper', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 });
  t.after(() => c.endAsync(true));
  const got: string[] = [];
  c.on('message', (topic, p) => got.push(`${topic} ${p.toString()}`));
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    c.once('connect', resolve);
    c.once('error', reject);
  });
  assert.equal(connack.sessionPresent, true);
  await waitUntil(() => got.length >= 1, 'the queued message kept');
  const pub = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  // in this order: had 'ota/#' been kept, its message would come before the next one
  await pub.publishAsync('ota/x', 'not subscribed', { qos: 1 });
  await pub.publishAsync('cmd/c', 'routed', { qos: 1 });
  await waitUntil(() => got.length >= 2, 'the kept subscription routes');
  assert.deepEqual(got, ['cmd/a kept', 'cmd/c routed']);
});
