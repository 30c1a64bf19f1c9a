// Round 23: the MQTT 5 session file's final snapshot at a graceful stop. The broker wrote it as soon
// as the v5 clients were told to go, while MQTT 3.1.1 clients were still connected: a message one
// of them published then, PUBACKed and queued for an offline MQTT 5 session, came after the
// snapshot and was gone after the restart. Here the publish's commit is held until the final
// snapshot is renamed into place (seen with fs.watch): a message PUBACKed during the stop must be
// in the session after the restart (with the fix the snapshot comes after the 3.1.1 clients are
// closed, so such a publish is no longer PUBACKed: the publisher sends it again).
// Real mqtt.js clients against the real broker and its session file.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { watch } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createBroker } from '../../gateway/broker/index.js';
import type { Message } from '../../core/message.js';
import { tempDir, testDeps, waitForEvent, waitUntil } from '../helpers/index.js';

async function startBroker(t: TestContext, sessionFile: string, onPublish: (msg: Message) => Promise<void> | undefined) {
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...testDeps(), onPublish, sessionFile });
  await broker.start();
  t.after(() => broker.stop());
  return { broker, url: `mqtt://127.0.0.1:${broker.addresses()[0]!.port}` };
}

async function connect(t: TestContext, url: string, opts: IClientOptions): Promise<{ c: MqttClient; sessionPresent: boolean }> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  t.after(() => c.endAsync(true).catch(() => undefined));
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    c.once('connect', resolve);
    c.once('error', reject);
  });
  return { c, sessionPresent: connack.sessionPresent };
}

test('broker stop: a QoS 1 message a 3.1.1 client had PUBACKed during the stop is in the offline MQTT 5 session after the restart', async (t) => {
  const dir = await tempDir(t, 'gatehouse-v5-stop-');
  const file = join(dir, 'mqtt5-sessions.json');
  let release: (() => void) | undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const first = await startBroker(t, file, (msg) => (msg.topic === 'late/2' ? held : undefined));

  const v5 = { clientId: 'keeper', clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 3600 } };
  const sub = await connect(t, first.url, v5);
  await sub.c.subscribeAsync('late/#', { qos: 1 });
  await sub.c.endAsync();
  const pub = await connect(t, first.url, { clientId: 'device', protocolVersion: 4 });
  await pub.c.publishAsync('late/1', 'before the stop', { qos: 1 });
  let pubacked = false;
  pub.c.publish('late/2', 'during the stop', { qos: 1 }, (err) => {
    if (!err) pubacked = true;
  });
  await waitUntil(() => release !== undefined, 'gate ready');

  // The held commit goes on once the final snapshot is in place.
  const watcher = watch(dir, (_event, name) => {
    if (name === 'mqtt5-sessions.json') release?.();
  });
  t.after(() => watcher.close());
  const closed = waitForEvent(pub.c, 'close', 10_000);
  await first.broker.stop();
  await closed;
  watcher.close();
  release?.();

  const second = await startBroker(t, file, () => undefined);
  const got: string[] = [];
  const back = mqtt.connect(second.url, { reconnectPeriod: 0, connectTimeout: 5000, ...v5 });
  t.after(() => back.endAsync(true).catch(() => undefined));
  back.on('message', (topic) => got.push(topic));
  const connack = await waitForEvent<[{ sessionPresent: boolean }]>(back, 'connect', 5000);
  assert.equal(connack[0].sessionPresent, true, 'the session of the last run is back');
  await waitUntil(() => got.includes('late/1'), 'the message queued before the stop is delivered');
  if (pubacked) await waitUntil(() => got.includes('late/2'), 'the message PUBACKed during the stop is delivered after the restart', 3000);
});
