// The MQTT source's PUBACK deferral (acks.ts; source.ts hands mqtt.js an error in handleMessage's
// callback and sends the PUBACK itself through mqtt.js' private `_sendPacket` once committed) is
// what lets many QoS 1 messages share one commit (one fsync). Without it, mqtt.js reads nothing
// more until the callback, so every message is its own commit: correct, but 853 msgs/s where the
// deferral gave 3,200-6,900 (docs/benchmarks.md, round 12). This test fails if an mqtt.js update
// takes the deferral away (a renamed `_sendPacket`), instead of the source silently slowing down.
// Real parts: Gatehouse's own broker as the remote one, a real mqtt.js publisher, a real store
// with durability fsync; the intake is test/helpers/store-intake.ts (no rules engine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { waitUntil } from '../helpers/index.js';
import { readAll, storeIntake } from '../helpers/store-intake.js';
import { mqttSourceSchema } from '../../gateway/pipeline/sources/mqtt/options.js';
import { MqttSubscribeSource } from '../../gateway/pipeline/sources/mqtt/source.js';
import { remoteBrokerRig, subscribed } from '../helpers/mqtt-source-rig.js';

const MESSAGES = 300;

test('mqtt source: a burst of QoS 1 messages shares commits (PUBACKs deferred until committed), every message stored once, in order', async (t) => {
  const { deps, url, dir, store } = await remoteBrokerRig(t, 'fsync');
  const source = new MqttSubscribeSource(
    mqttSourceSchema.parse({ type: 'mqtt', name: 'cloud', url, clientId: 'gh-source-batching', topics: [{ filter: 'cloud/#' }] }),
    { ...deps, dataDir: dir },
  );
  t.after(() => source.stop());
  await source.start(storeIntake(store, 'down', 'cloud'));
  await subscribed(source);

  const publisher = await mqtt.connectAsync(url, { clientId: 'office', reconnectPeriod: 0 });
  t.after(() => publisher.endAsync(true));
  // All at once: the broker delivers them as fast as the source reads.
  await Promise.all(Array.from({ length: MESSAGES }, (_, i) => publisher.publishAsync('cloud/seq', String(i), { qos: 1 })));

  await waitUntil(() => (source.status().details as { acknowledged: number }).acknowledged === MESSAGES, `all ${MESSAGES} acknowledged`, 20_000);
  const recs = await readAll(store, 'down');
  assert.deepEqual(
    recs.map((r) => Number(r.payload.toString())),
    Array.from({ length: MESSAGES }, (_, i) => i),
    'every message once, in the order published',
  );
  const batches = await deps.registry.getSingleMetric('gatehouse_store_commit_batch_records')!.get();
  // A histogram's values carry their series name (_bucket, _sum, _count); the type leaves it out.
  const commits = batches.values.find((v) => (v as { metricName?: string }).metricName === 'gatehouse_store_commit_batch_records_count')?.value ?? 0;
  t.diagnostic(`${MESSAGES} messages in ${commits} commits`);
  assert.ok(commits > 0, 'the commits were counted');
  // One message per commit is what mqtt.js does without the deferral; with it, commits gather many.
  assert.ok(commits <= MESSAGES / 3, `${MESSAGES} messages took ${commits} commits: the PUBACK deferral is not in effect`);
});
