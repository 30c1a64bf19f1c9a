// The MQTT source's maxMessageBytes against Debian's mosquitto: a message over it is dropped
// unread (MQTT 3.1.1: cut by the guard below mqtt.js; MQTT 5: the broker is asked not to send it,
// Maximum Packet Size), acknowledged (the broker does not send it again at the next connection),
// counted under reason too-large and named in lastError; the messages around it are taken in order.
// Before, the source took a message of any size into memory and the store.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { metricValue, needBinary, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import { readAll, storeIntake } from '../helpers/store-intake.js';
import { subscribed } from '../helpers/mqtt-source-rig.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { mqttSourceSchema } from '../../gateway/pipeline/sources/mqtt/options.js';
import { MqttSubscribeSource } from '../../gateway/pipeline/sources/mqtt/source.js';

const skip = needBinary('mosquitto', 'mosquitto');
const LIMIT = 64 * 1024;

interface Details {
  received: number;
  dropped: number;
  lastError: { message: string } | null;
}

async function sizeRig(t: TestContext, protocolVersion: 4 | 5) {
  const peer = await startMosquitto(t);
  const dir = await tempDir(t);
  const deps = testDeps();
  const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 'down', maxBytes: 1 << 27, onFull: 'reject' });
  const intake = storeIntake(store, 'down', 'cloud');
  const options = mqttSourceSchema.parse({
    type: 'mqtt',
    name: 'cloud',
    url: peer.url,
    clientId: `gh-size-${protocolVersion}`,
    protocolVersion,
    maxMessageBytes: LIMIT,
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
    topics: [{ filter: 'cloud/#' }],
  });
  const source = new MqttSubscribeSource(options, { ...deps, dataDir: dir });
  t.after(() => source.stop());
  const publisher = await mqtt.connectAsync(peer.url, { clientId: 'office', reconnectPeriod: 0 });
  t.after(() => publisher.endAsync(true));
  await source.start(intake);
  await subscribed(source);
  const topics = async () => (await readAll(store, 'down')).map((r) => `${r.topic}:${r.payload.length}`);
  const tooLarge = () => metricValue(deps.registry, 'gatehouse_mqtt_source_messages_dropped_total', { source: 'cloud', reason: 'too-large' });
  return { source, publisher, topics, tooLarge, intake };
}

for (const protocolVersion of [4, 5] as const) {
  const version = protocolVersion === 4 ? 'MQTT 3.1.1' : 'MQTT 5';
  test(`mqtt source (${version}): a 20 MB message over maxMessageBytes is dropped, acknowledged and counted; the messages around it are taken`, {
    skip,
  }, async (t) => {
    const { source, publisher, topics, tooLarge, intake } = await sizeRig(t, protocolVersion);
    await publisher.publishAsync('cloud/a', 'before', { qos: 1 });
    await publisher.publishAsync('cloud/huge', Buffer.alloc(20 * 1024 * 1024, 1), { qos: 1 });
    await publisher.publishAsync('cloud/limit', Buffer.alloc(LIMIT, 2), { qos: 1 });
    await publisher.publishAsync('cloud/over', Buffer.alloc(LIMIT + 1, 3), { qos: 1 });
    await publisher.publishAsync('cloud/b', 'after', { qos: 1 });
    await waitUntil(async () => (await topics()).includes('cloud/b:5'), 'the message after the big ones is stored');
    assert.deepEqual(await topics(), ['cloud/a:6', `cloud/limit:${LIMIT}`, 'cloud/b:5']);
    const d = source.status().details as unknown as Details;
    assert.match(
      d.lastError?.message ?? '',
      new RegExp(`a message of ${LIMIT + 1} bytes on 'cloud/over' was dropped: larger than maxMessageBytes \\(${LIMIT}\\)`),
    );
    if (protocolVersion === 4) {
      // Cut by the guard: seen, dropped and counted (both), never held whole.
      assert.equal(await tooLarge(), 2);
      assert.equal(d.dropped, 2);
    } else {
      // Maximum Packet Size in the CONNECT: mosquitto drops the 20 MB one itself (as delivered); the
      // one byte over the limit fits the packet bound (topic and properties room) and is dropped here.
      assert.equal(await tooLarge(), 1);
      assert.equal(d.dropped, 1);
    }
    // Acknowledged: at the next connection of the persistent session nothing comes again.
    await source.stop();
    await publisher.publishAsync('cloud/c', 'later', { qos: 1 });
    await source.start(intake);
    await waitUntil(async () => (await topics()).includes('cloud/c:5'), 'the next message after a restart');
    assert.deepEqual(await topics(), ['cloud/a:6', `cloud/limit:${LIMIT}`, 'cloud/b:5', 'cloud/c:5']);
    assert.equal((source.status().details as unknown as Details).received, protocolVersion === 4 ? 6 : 5, 'nothing delivered again');
  });
}
