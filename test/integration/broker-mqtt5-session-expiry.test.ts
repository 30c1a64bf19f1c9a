// mqtt5.maxSessionExpirySeconds: the longest Session Expiry Interval the broker grants. A client
// asking for more gets the cap, told in its CONNACK [MQTT-3.2.2.3.2]; its session ends that long
// after it leaves; a DISCONNECT cannot raise it; sessions kept from an earlier run with a longer
// expiry are held to it at start. Real mqtt.js clients against the real broker and its session file.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { createBroker, type BrokerOptionsInput } from '../../gateway/broker/index.js';
import { metricValue, tempDir, testDeps, waitUntil } from '../helpers/index.js';

async function startBroker(t: TestContext, options: BrokerOptionsInput, sessionFile?: string) {
  const deps = testDeps();
  const broker = await createBroker(
    { listeners: [{ host: '127.0.0.1', port: 0 }], ...options },
    { ...deps, onPublish: () => undefined, ...(sessionFile ? { sessionFile } : {}) },
  );
  await broker.start();
  let stopped = false;
  const stop = async () => {
    if (!stopped) await broker.stop();
    stopped = true;
  };
  t.after(stop);
  return { broker, deps, stop, url: `mqtt://127.0.0.1:${broker.addresses()[0]!.port}` };
}

/** Connect a v5 client; its CONNACK with it. */
async function connect(t: TestContext, url: string, opts: IClientOptions): Promise<{ c: MqttClient; connack: IConnackPacket }> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5, ...opts });
  t.after(() => c.endAsync(true).catch(() => undefined));
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    c.once('connect', resolve);
    c.once('error', reject);
  });
  return { c, connack };
}

const sessions = (deps: ReturnType<typeof testDeps>) => metricValue(deps.registry, 'gatehouse_mqtt5_sessions');

test('a Session Expiry Interval over mqtt5.maxSessionExpirySeconds is granted as the cap, told in the CONNACK, and the session ends then', async (t) => {
  const s = await startBroker(t, { mqtt5: { maxSessionExpirySeconds: 1 } });
  const long = await connect(t, s.url, { clientId: 'long', clean: false, properties: { sessionExpiryInterval: 3600 } });
  assert.equal(long.connack.properties?.sessionExpiryInterval, 1, 'the CONNACK says the interval granted');
  const never = await connect(t, s.url, { clientId: 'never', clean: false, properties: { sessionExpiryInterval: 0xffffffff } });
  assert.equal(never.connack.properties?.sessionExpiryInterval, 1, '"never expires" is capped too');
  const short = await connect(t, s.url, { clientId: 'short', properties: { sessionExpiryInterval: 1 } });
  assert.equal(short.connack.properties?.sessionExpiryInterval, undefined, 'an interval within the cap is granted as asked, unsaid');
  await long.c.subscribeAsync('plant/#', { qos: 1 });
  // A DISCONNECT asking for a longer interval gets the cap too.
  await long.c.endAsync(false, { properties: { sessionExpiryInterval: 7200 } });
  await never.c.endAsync();
  await short.c.endAsync();
  await waitUntil(async () => (await sessions(s.deps)) === 0, 'every session ended within the cap', 10_000);
  const back = await connect(t, s.url, { clientId: 'long', clean: false, properties: { sessionExpiryInterval: 60 } });
  assert.equal(back.connack.sessionPresent, false, 'the session expired after 1 s, not 2 hours');
});

test('sessions kept from an earlier run with a longer expiry are held to a new maxSessionExpirySeconds at start', async (t) => {
  const dir = await tempDir(t, 'gatehouse-v5-expiry-');
  const file = join(dir, 'mqtt5-sessions');
  const first = await startBroker(t, {}, file);
  const a = await connect(t, first.url, { clientId: 'kept', clean: false, properties: { sessionExpiryInterval: 86_400 } });
  await a.c.subscribeAsync('plant/#', { qos: 1 });
  await a.c.endAsync();
  await waitUntil(() => first.broker.clients().length === 0, 'the client left');
  await first.stop();

  const second = await startBroker(t, { mqtt5: { maxSessionExpirySeconds: 1 } }, file);
  assert.equal(await sessions(second.deps), 1, 'the session of the last run is loaded');
  await waitUntil(async () => (await sessions(second.deps)) === 0, 'the loaded session ended within the new cap', 10_000);
});
