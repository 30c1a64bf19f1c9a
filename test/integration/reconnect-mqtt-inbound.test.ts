// What a thousand reconnects leave behind: the MQTT source and the control channel through the
// site's proxy (mqtt:// in a CONNECT tunnel), a real tinyproxy killed and started again under them
// (the tunnel cut, then refused while it is down), a real mosquitto. Read at 0, N/2 and N
// reconnects: fds, sockets, timers, listeners (process), heap after GC. RECONNECTS=N for a longer run.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import { storeIntake } from '../helpers/store-intake.js';
import { startTinyproxy, tinyproxySkip, type Tinyproxy } from '../helpers/tinyproxy.js';
import { countingDeps, reconnectMeter, type Meter } from '../helpers/reconnect-meter.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { mqttSourceSchema } from '../../gateway/pipeline/sources/mqtt/options.js';
import { MqttSubscribeSource } from '../../gateway/pipeline/sources/mqtt/source.js';
import { upstreamChannel } from '../../gateway/control/channel.js';
import { controlUpstreamSchema } from '../../gateway/control/options.js';

const skip = tinyproxySkip ?? needBinary('mosquitto', 'mosquitto');
const N = Number(process.env.RECONNECTS ?? 10);

/** N kicks (tinyproxy killed and started again), each waiting for the `connected` count to rise. */
async function kicks(t: TestContext, proxy: Tinyproxy, connected: () => number, label: string, n = N): Promise<Meter> {
  const meter = reconnectMeter();
  t.after(() => meter.close());
  meter.read(0);
  for (let i = 1; i <= n; i++) {
    const before = connected();
    await proxy.down();
    await proxy.up();
    await waitUntil(() => connected() > before, `reconnect ${i}`, 20_000, 5);
    if (i === n / 2 || i === n) meter.read(i);
  }
  for (const line of meter.table(label)) t.diagnostic(line);
  return meter;
}

function assertBounded(meter: Meter): void {
  const [r0, , rN] = meter.readings;
  assert.ok(rN!.fds <= r0!.fds + 4, `fds ${r0!.fds} -> ${rN!.fds}`);
  assert.ok(rN!.sockets <= r0!.sockets + 2, `sockets ${r0!.sockets} -> ${rN!.sockets}`);
  assert.ok(rN!.listeners <= r0!.listeners, `listeners ${r0!.listeners} -> ${rN!.listeners}`);
  assert.equal(meter.maxListenerWarnings(), 0);
}

test('the MQTT source through the proxy: N tunnels cut leave fds, sockets and listeners where they were', { skip, timeout: 600_000 }, async (t) => {
  const proxy = await startTinyproxy(t);
  const broker = await startMosquitto(t);
  const dir = await tempDir(t);
  const { deps, count } = countingDeps({ proxy: { url: proxy.url }, env: {} });
  const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 'down', maxBytes: 1 << 26, onFull: 'reject' });
  const options = mqttSourceSchema.parse({
    type: 'mqtt',
    name: 'cloud',
    url: broker.url,
    clientId: 'gh-source-reconnects',
    reconnectMinMs: 20,
    reconnectMaxMs: 50,
    topics: [{ filter: 'cloud/#' }],
  });
  const source = new MqttSubscribeSource(options, { ...deps, dataDir: dir });
  t.after(() => source.stop());
  await source.start(storeIntake(store, 'down', 'cloud'));
  const connected = (): number => count('MQTT source connected');
  await waitUntil(() => connected() >= 1, 'the source connected', 20_000);
  assertBounded(await kicks(t, proxy, connected, 'mqtt source proxy'));
});

test('the control channel through the proxy: N tunnels cut leave fds, sockets and listeners where they were', { skip, timeout: 600_000 }, async (t) => {
  const proxy = await startTinyproxy(t);
  const broker = await startMosquitto(t);
  const { deps, count } = countingDeps({ proxy: { url: proxy.url }, env: {} });
  const opts = controlUpstreamSchema.parse({ url: broker.url, clientId: 'gh-control-reconnects', reconnectMinMs: 100, reconnectMaxMs: 1000 });
  const channel = upstreamChannel(opts, { ...deps, gatewayId: 'gw1' });
  t.after(() => channel.stop());
  channel.subscribe('gatehouse/gw1/rules/set', () => {});
  await channel.start();
  const connected = (): number => count('control channel connected');
  await waitUntil(() => connected() >= 1, 'the channel connected', 20_000);
  // Its backoff starts at 100 ms at the least (reconnectMinMs): ~1 s a reconnect, fewer in CI.
  assertBounded(await kicks(t, proxy, connected, 'control channel proxy', Number(process.env.RECONNECTS ?? 4)));
});
