// Per-listener connection limits (broker.listeners[].maxConnections): a listener at its own bound
// refuses the next CONNECT (CONNACK 0x03, MQTT 5 0x88 with the reason), counted by listener, while
// the broker's other listeners still take clients. Real mqtt.js clients against the real broker.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createBroker } from '../../gateway/broker/index.js';
import { metricValue, testDeps, waitUntil } from '../helpers/index.js';
import { capturedLogger } from '../helpers/industrial.js';

async function client(t: TestContext, url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  t.after(() => c.endAsync(true).catch(() => undefined));
  return c;
}

/** Connect expecting a refusal: the CONNACK code and the error's message. */
async function refusal(url: string, opts: IClientOptions): Promise<{ code: number | undefined; message: string }> {
  try {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    await c.endAsync(true);
  } catch (err) {
    return { code: (err as { code?: number }).code, message: (err as Error).message };
  }
  assert.fail('connection was accepted');
}

test("a listener at its own maxConnections refuses the next client; the broker's other listener still takes clients", async (t) => {
  const { logger, lines } = capturedLogger();
  const deps = { ...testDeps(), logger };
  const broker = await createBroker(
    {
      listeners: [
        { name: 'lan', host: '127.0.0.1', port: 0, maxConnections: 2 },
        { name: 'local', host: '127.0.0.1', port: 0 },
      ],
      maxConnections: 10,
    },
    { ...deps, onPublish: () => undefined },
  );
  await broker.start();
  t.after(() => broker.stop());
  const [lan, local] = broker.addresses().map((a) => `mqtt://127.0.0.1:${a.port}`) as [string, string];

  const a = await client(t, lan, { clientId: 'a' });
  await client(t, lan, { clientId: 'b' });
  assert.equal((await refusal(lan, { clientId: 'c' })).code, 3, 'MQTT 3.1.1: CONNACK 0x03 server unavailable');
  const v5 = await refusal(lan, { clientId: 'd', protocolVersion: 5 });
  assert.equal(v5.code, 0x88, 'MQTT 5: CONNACK 0x88 server unavailable');
  // The listener full is not the broker full: the local listener takes clients, the broker has room.
  await client(t, local, { clientId: 'local-app' });
  await client(t, local, { clientId: 'local-app-5', protocolVersion: 5 });
  // A client id reconnecting on the same listener takes its own slot over.
  await client(t, lan, { clientId: 'b' });

  assert.equal(await metricValue(deps.registry, 'gatehouse_mqtt_listener_connections_refused_total', { listener: 'lan' }), 2);
  assert.equal(await metricValue(deps.registry, 'gatehouse_mqtt_connections_refused_total'), 0, 'the broker-wide bound was not what refused');
  const logged = lines.filter((l) => String(l.msg).startsWith("listener's connection limit reached"));
  assert.equal(logged.length, 1, `one line for two refusals (bounded rate): ${JSON.stringify(logged)}`);
  assert.match(JSON.stringify(logged[0]), /"listener":"lan".*"maxConnections":2/);

  await a.endAsync();
  await waitUntil(() => broker.clients().filter((c) => c.id === 'a').length === 0, 'a left');
  await client(t, lan, { clientId: 'c' });
});

test('the connection-limit warnings name the CONNACK the refused client was sent: 0x03 to MQTT 3.1.1, 0x88 to MQTT 5', async (t) => {
  // Both lines said "(CONNACK 0x03)" whatever the client; an MQTT 5 client is sent 0x88 (Server unavailable).
  const { logger, lines } = capturedLogger();
  let clock = 1_000_000; // the broker's monotonic clock, moved past the warnings' one-minute bound so each refusal is logged
  const deps = { ...testDeps(), logger, monotonic: () => clock };
  const broker = await createBroker(
    {
      listeners: [
        { name: 'lan', host: '127.0.0.1', port: 0, maxConnections: 1 },
        { name: 'local', host: '127.0.0.1', port: 0 },
      ],
      maxConnections: 2,
    },
    { ...deps, onPublish: () => undefined },
  );
  await broker.start();
  t.after(() => broker.stop());
  const [lan, local] = broker.addresses().map((a) => `mqtt://127.0.0.1:${a.port}`) as [string, string];
  const logged = (prefix: string): string[] => lines.filter((l) => String(l.msg).startsWith(prefix)).map((l) => l.msg);

  await client(t, lan, { clientId: 'a' });
  assert.equal((await refusal(lan, { clientId: 'v5-lan', protocolVersion: 5 })).code, 0x88);
  // A fleet retrying over the limit for hours: the bound was 10 s until round 32 (360 lines an hour
  // per kind); a minute now, as the exporters' and sources' warnings.
  clock += 10_001;
  assert.equal((await refusal(lan, { clientId: 'v311-lan-early' })).code, 3);
  assert.equal(logged("listener's connection limit reached").length, 1, '10 s later: still one line');
  clock += 50_000;
  assert.equal((await refusal(lan, { clientId: 'v311-lan' })).code, 3);
  assert.equal(
    lines.filter((l) => String(l.msg).startsWith("listener's connection limit reached")).at(-1)?.suppressed,
    1,
    'the line counts the refusal it did not log',
  );
  assert.deepEqual(logged("listener's connection limit reached"), [
    "listener's connection limit reached, refusing client (CONNACK 0x88)",
    "listener's connection limit reached, refusing client (CONNACK 0x03)",
  ]);

  await client(t, local, { clientId: 'b' }); // the broker is full: maxConnections 2
  assert.equal((await refusal(local, { clientId: 'v311-local' })).code, 3);
  clock += 60_001;
  assert.equal((await refusal(local, { clientId: 'v5-local', protocolVersion: 5 })).code, 0x88);
  assert.deepEqual(logged('connection limit reached'), [
    'connection limit reached, refusing client (CONNACK 0x03)',
    'connection limit reached, refusing client (CONNACK 0x88)',
  ]);
});
