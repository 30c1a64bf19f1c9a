// The will an MQTT 3.1.1 client leaves when a graceful stop closes its connection (docs/broker.md,
// State files): aedes publishes it as it closes the client, the gateway commits it like any publish,
// and an offline MQTT 5 session subscribed to its topic must find it after the restart. Before the
// fix it did only when the commit answered at once: aedes' close() does not wait for the will, so a
// will whose commit took a few ms (the store's group commit) came after aedes had closed its bus and
// after the sessions' final snapshot. The commit's delay here is a stand-in for the store's (a
// timer: onPublish is the broker's seam to the gateway); the last test bounds how long a will whose
// commit does not end holds the stop. Real mqtt.js clients against the real broker and its session file.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createBroker } from '../../gateway/broker/index.js';
import { WILLS_WAIT_MS } from '../../gateway/broker/close-clients.js';
import type { Message } from '../../core/message.js';
import { tempDir, testDeps, waitForEvent, waitUntil } from '../helpers/index.js';

async function startBroker(t: TestContext, sessionFile: string, onPublish: (msg: Message) => Promise<void> | undefined) {
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...testDeps(), onPublish, sessionFile });
  await broker.start();
  t.after(() => broker.stop());
  return { broker, url: `mqtt://127.0.0.1:${broker.addresses()[0]!.port}` };
}

async function connect(t: TestContext, url: string, opts: IClientOptions): Promise<MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  t.after(() => c.endAsync(true).catch(() => undefined));
  await waitForEvent(c, 'connect', 5000);
  return c;
}

for (const [name, commit] of [
  ['acknowledged at once', () => undefined],
  ['committed a few ms later (the store)', () => new Promise<void>((r) => setTimeout(r, 10))],
] as const) {
  test(`broker stop: the will of a 3.1.1 client closed by the stop reaches an offline MQTT 5 session after the restart (${name})`, async (t) => {
    const dir = await tempDir(t, 'gatehouse-v5-stop-will-');
    const file = join(dir, 'mqtt5-sessions.json');
    const committed: string[] = [];
    const first = await startBroker(t, file, (msg) => {
      committed.push(msg.topic);
      return commit();
    });
    const v5 = { clientId: 'keeper', clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 3600 } };
    const sub = await connect(t, first.url, v5);
    await sub.subscribeAsync('will/#', { qos: 1 });
    await sub.endAsync();
    const dev = await connect(t, first.url, {
      clientId: 'dev311',
      protocolVersion: 4,
      will: { topic: 'will/dev311', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    const closed = waitForEvent(dev, 'close', 10_000);
    await first.broker.stop();
    await closed;
    assert.ok(committed.includes('will/dev311'), `the will was handed to the gateway at the stop: ${JSON.stringify(committed)}`);

    const second = await startBroker(t, file, () => undefined);
    const got: string[] = [];
    const back = mqtt.connect(second.url, { reconnectPeriod: 0, connectTimeout: 5000, ...v5 });
    t.after(() => back.endAsync(true).catch(() => undefined));
    back.on('message', (topic) => got.push(topic));
    await waitForEvent(back, 'connect', 5000);
    await waitUntil(() => got.includes('will/dev311'), 'the will is delivered to the session after the restart', 3000);
  });
}

test('broker stop: a will whose commit does not end (queued behind appends waiting for space) holds the stop at most WILLS_WAIT_MS', async (t) => {
  const dir = await tempDir(t, 'gatehouse-v5-stop-will-held-');
  const first = await startBroker(t, join(dir, 'mqtt5-sessions.json'), (msg) => (msg.topic === 'will/held' ? new Promise<void>(() => undefined) : undefined));
  const dev = await connect(t, first.url, {
    clientId: 'held311',
    protocolVersion: 4,
    will: { topic: 'will/held', payload: Buffer.from('gone'), qos: 1, retain: false },
  });
  const closed = waitForEvent(dev, 'close', 10_000);
  const t0 = performance.now();
  await first.broker.stop();
  const ms = performance.now() - t0;
  await closed;
  assert.ok(ms >= WILLS_WAIT_MS - 50 && ms < WILLS_WAIT_MS + 3000, `the stop took ${Math.round(ms)} ms`);
});
