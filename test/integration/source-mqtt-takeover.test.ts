// Two MQTT sources with one clientId (two gateways started from one configuration, a copied
// config): the broker hands the session to each in turn and closes the other's connection, again
// and again. What the user sees must say so: lastError names the closed connection (for MQTT 5,
// with the broker's reason: session taken over), and the journal gets a line a minute, not one
// per flap (mosquitto, real sources, real stores).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { metricValue, needBinary, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import { storeIntake } from '../helpers/store-intake.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { mqttSourceSchema } from '../../gateway/pipeline/sources/mqtt/options.js';
import { MqttSubscribeSource } from '../../gateway/pipeline/sources/mqtt/source.js';

const skip = needBinary('mosquitto', 'mosquitto');

interface Line {
  msg: string;
  err?: string;
}

async function twin(
  t: TestContext,
  url: string,
  name: string,
  lines: Line[],
): Promise<{ source: MqttSubscribeSource; registry: ReturnType<typeof testDeps>['registry'] }> {
  const deps = testDeps();
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l) as Line) });
  const dir = await tempDir(t);
  const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 'down', maxBytes: 1 << 26, onFull: 'reject' });
  const source = new MqttSubscribeSource(
    mqttSourceSchema.parse({
      type: 'mqtt',
      name,
      url,
      clientId: 'site1-gatehouse-down',
      protocolVersion: 5,
      reconnectMinMs: 20,
      reconnectMaxMs: 40,
      topics: [{ filter: 'cmd/#' }],
    }),
    { ...deps, logger, dataDir: dir },
  );
  t.after(() => source.stop());
  await source.start(storeIntake(store, 'down', name));
  return { source, registry: deps.registry };
}

test('mqtt source: a session taken over by another client with its clientId is named in lastError, and logged once a minute, not at every flap', {
  skip,
}, async (t) => {
  const peer = await startMosquitto(t);
  const linesA: Line[] = [];
  const a = await twin(t, peer.url, 'a', linesA);
  const b = await twin(t, peer.url, 'b', []);
  await waitUntil(
    async () => (await metricValue(a.registry, 'gatehouse_mqtt_source_reconnects_total', { source: 'a' })) >= 8,
    'source a taken over and reconnected eight times',
    15_000,
  );
  await b.source.stop();
  const d = a.source.status().details as { lastError: { message: string } | null };
  // mosquitto closes the taken-over connection without a DISCONNECT reason, even with MQTT 5.
  assert.match(d.lastError?.message ?? '', /closed the connection \(.*another client with this clientId/);
  // The first connection (connected, subscribed) and the first close: a line each, then quiet.
  assert.ok(linesA.length <= 4, `${linesA.length} lines: ${JSON.stringify(linesA.slice(0, 8))}`);
});
