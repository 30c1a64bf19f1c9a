// What a thousand reconnects leave behind: the MQTT bridge destination through the site's proxy
// (mqtt:// and mqtts:// in a CONNECT tunnel) and direct, a real tinyproxy killed and started again
// under it (every tunnel cut, then refused while it is down), a real mosquitto. Read at 0, N/2 and N
// reconnects: fds, sockets, timers, listeners (process), heap after GC (test/helpers/reconnect-meter.ts).
// RECONNECTS=N for a longer run (the bench: test/bench/reconnects.ts).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { needBinary, waitUntil } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { startTinyproxy, tinyproxySkip } from '../helpers/tinyproxy.js';
import { tlsFront } from '../helpers/tls-front.js';
import { countingDeps, reconnectMeter } from '../helpers/reconnect-meter.js';
import type { ProxySettings } from '../../gateway/upstream/proxy.js';

const skip = tinyproxySkip ?? needBinary('mosquitto', 'mosquitto') ?? needBinary('openssl', 'openssl');
const N = Number(process.env.RECONNECTS ?? 10);
/** The direct connections, a baseline for the bench (RECONNECTS set): not registered in CI (no skip: nothing is missing). */
const BASELINES = process.env.RECONNECTS !== undefined;

async function bridgeRun(t: TestContext, scheme: 'mqtt' | 'mqtts', via: 'proxy' | 'direct') {
  const proxy = await startTinyproxy(t);
  const broker = await startMosquitto(t);
  const front = scheme === 'mqtts' ? await tlsFront(t, broker) : undefined;
  const url = front ? `mqtts://localhost:${front.port}` : broker.url;
  const network: ProxySettings = via === 'proxy' ? { proxy: { url: proxy.url }, env: {} } : { env: {} };
  const { deps, count, counts, passMinute } = countingDeps(network);
  const streams = await openStreams(t);
  const exporter = await startExporter(
    t,
    streams,
    {
      type: 'mqtt',
      url,
      clientId: `gw-reconnect-${process.pid}`,
      topics: [{ local: '#', remotePrefix: 'up/' }],
      reconnectMinMs: 20,
      reconnectMaxMs: 50,
      connectTimeoutMs: 3000,
      ...(front ? { caFile: front.ca } : {}),
    },
    deps,
  );
  const connected = (): number => count('upstream MQTT connected');
  await waitUntil(() => connected() >= 1, 'first connect', 20_000, 10);
  // A kick: through the proxy, tinyproxy killed (the tunnel cut) and started again; direct, a client taking the session.
  const kick = async (): Promise<void> => {
    const before = connected();
    // The reconnect's line comes at most once a minute after the first (the bridge's rate log).
    passMinute();
    if (via === 'proxy') {
      await proxy.down();
      await proxy.up();
    } else {
      const c = await mqtt.connectAsync(broker.url, { clientId: `gw-reconnect-${process.pid}`, reconnectPeriod: 0 });
      await c.endAsync(true);
    }
    await waitUntil(() => connected() > before, 'reconnected', 20_000, 5).catch((err: Error) => {
      throw new Error(`${err.message}; status ${JSON.stringify(exporter.status().lastError)}; log ${JSON.stringify([...counts])}`);
    });
  };
  const meter = reconnectMeter();
  t.after(() => meter.close());
  meter.read(0);
  for (let i = 1; i <= N; i++) {
    await kick();
    if (i === N / 2 || i === N) meter.read(i);
  }
  await append(streams, 5);
  await waitUntil(() => exporter.status().lastExportedSeq >= 5, 'records exported after the reconnects', 20_000, 10);
  for (const line of meter.table(`${scheme} ${via}`)) t.diagnostic(line);
  t.diagnostic(JSON.stringify([...counts]));
  return meter;
}

for (const [scheme, via] of [
  ['mqtt', 'proxy'],
  ['mqtts', 'proxy'],
  ['mqtt', 'direct'],
  ['mqtts', 'direct'],
] as const) {
  if (via === 'direct' && !BASELINES) continue;
  test(`${scheme}:// ${via}: N reconnects leave fds, sockets, timers and listeners where they were`, {
    skip,
    timeout: 600_000,
  }, async (t) => {
    const meter = await bridgeRun(t, scheme, via);
    const [r0, , rN] = meter.readings;
    assert.ok(rN!.fds <= r0!.fds + 4, `fds ${r0!.fds} -> ${rN!.fds}`);
    assert.ok(rN!.listeners <= r0!.listeners, `listeners ${r0!.listeners} -> ${rN!.listeners}`);
    assert.equal(meter.maxListenerWarnings(), 0);
  });
}
