// The MQTT source stopped while it is still starting (the gateway stopping during its start: a
// SIGTERM from systemd while a slow store opens): start() awaits mqtt.js' import and the store
// (the filters it subscribed to); a stop() in between must leave it stopped, not connect a client
// nobody will end (it would hold the session and take it over from the next start).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { needBinary, tempDir, testDeps } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import { storeIntake } from '../helpers/store-intake.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { mqttSourceSchema } from '../../gateway/pipeline/sources/mqtt/options.js';
import { MqttSubscribeSource } from '../../gateway/pipeline/sources/mqtt/source.js';

test('mqtt source: stopped while starting, it stays stopped and connects nothing', { skip: needBinary('mosquitto', 'mosquitto') }, async (t) => {
  const peer = await startMosquitto(t);
  const deps = testDeps();
  const dir = await tempDir(t);
  const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 'down', maxBytes: 1 << 26, onFull: 'reject' });
  const source = new MqttSubscribeSource(
    mqttSourceSchema.parse({ type: 'mqtt', name: 'cloud', url: peer.url, clientId: 'gh-lifecycle', topics: [{ filter: 'cmd/#' }] }),
    { ...deps, dataDir: dir },
  );
  t.after(() => source.stop());
  const starting = source.start(storeIntake(store, 'down', 'cloud'));
  await source.stop();
  await starting;
  assert.equal(source.status().state, 'stopped');
  // And it can be started again afterwards.
  await source.start(storeIntake(store, 'down', 'cloud'));
  assert.equal(source.status().state, 'connecting');
});
