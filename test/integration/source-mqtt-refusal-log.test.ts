// The MQTT source while the store refuses its messages (a full disk, a full `reject` stream): each
// refused QoS 1 message makes it reconnect so the broker delivers it again, and it is refused again
// until the store takes data. Found by the chaos soak (round 13, its MQTT-source leg): every
// refusal logged a warning of its own (1,037 in a 20 s full-disk phase), because the store's reason
// names the free bytes, so no two messages were alike and the once-a-minute limit never applied.
// The limit now goes by the kind of error. Real parts: Gatehouse's own broker as the remote one
// (it redelivers to the persistent session), a real mqtt.js publisher, a real store; the intake is
// test/helpers/store-intake.ts with its first submits refused, each with another reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import mqtt from 'mqtt';
import pino from 'pino';
import { waitUntil } from '../helpers/index.js';
import { readAll, storeIntake } from '../helpers/store-intake.js';
import { mqttSourceSchema } from '../../gateway/pipeline/sources/mqtt/options.js';
import { MqttSubscribeSource } from '../../gateway/pipeline/sources/mqtt/source.js';
import { remoteBrokerRig, subscribed } from '../helpers/mqtt-source-rig.js';

const REFUSALS = 6;

test('mqtt source: a message refused again at every redelivery logs one warning, not one per refusal', async (t) => {
  const { deps, url, dir, store } = await remoteBrokerRig(t, 'os');
  const intake = storeIntake(store, 'down', 'cloud');
  // The first submits are refused as a store that is short of space refuses them: each reason names other free bytes.
  let refused = 0;
  const submit = intake.submit.bind(intake);
  intake.submit = (m) => {
    if (refused < REFUSALS) {
      refused++;
      return Promise.reject(new Error(`the store cannot take data appends: free space ${4_141_056 - refused * 4096} bytes is under the reserve`));
    }
    return submit(m);
  };
  const warnings: string[] = [];
  const logger = pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) warnings.push(String((JSON.parse(line) as { err?: string }).err));
        cb();
      },
    }),
  );
  const source = new MqttSubscribeSource(
    mqttSourceSchema.parse({
      type: 'mqtt',
      name: 'cloud',
      url,
      clientId: 'gh-refusals',
      reconnectMinMs: 20,
      reconnectMaxMs: 40,
      topics: [{ filter: 'cloud/#' }],
    }),
    { ...deps, logger, dataDir: dir },
  );
  t.after(() => source.stop());
  await source.start(intake);
  await subscribed(source);
  const publisher = await mqtt.connectAsync(url, { clientId: 'office', reconnectPeriod: 0 });
  t.after(() => publisher.endAsync(true));
  await publisher.publishAsync('cloud/cmd', 'go', { qos: 1 });

  await waitUntil(async () => (await readAll(store, 'down')).length >= 1 || undefined, 'the message committed once the store takes it', 15_000);
  assert.equal(refused, REFUSALS, 'refused at every delivery until the store took it');
  assert.equal((source.status().details as { refused: number }).refused, REFUSALS);
  const refusals = warnings.filter((w) => /was refused/.test(w));
  assert.equal(refusals.length, 1, `one warning for ${REFUSALS} refusals: ${JSON.stringify(warnings)}`);
});
