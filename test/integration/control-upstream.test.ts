// The control channel on an upstream broker (a real mosquitto): updates arrive on a dedicated
// mqtt.js connection with a persistent session, so an update published while the gateway is down
// is applied when it comes back; status (retained) and heartbeats go to the upstream broker.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import type { ControlStatus } from '../../gateway/control/remote.js';
import type { HeartbeatReport } from '../../gateway/control/heartbeat.js';
import { upstreamChannel } from '../../gateway/control/channel.js';
import { controlUpstreamSchema } from '../../gateway/control/options.js';
import { needBinary, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { tcpProxy } from '../helpers/industrial.js';
import { startMosquitto } from '../helpers/peers.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';

const ID = 'site7';
const skip = needBinary('mosquitto', 'mosquitto');

async function startInProcess(t: TestContext, dir: string, yaml: string): Promise<Gateway> {
  const file = join(dir, 'g.yaml');
  await writeFile(file, `gatewayId: ${ID}\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n${yaml}`);
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger: testDeps().logger, registry: createMetricsRegistry('test', ID), version: 'test' });
  t.after(() => gw.stop());
  return gw;
}

/** Subscribe on the upstream broker and resolve with the first message matching want. */
async function upstreamMessage<T>(t: TestContext, url: string, topic: string, want: (v: T, retained: boolean) => boolean, timeoutMs = 8000): Promise<T> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  t.after(() => c.endAsync(true));
  let last: unknown;
  const got = new Promise<T>((resolve) => {
    c.on('message', (_t, payload, packet) => {
      const v = JSON.parse(payload.toString()) as T;
      last = v;
      if (want(v, packet.retain)) resolve(v);
    });
  });
  await c.subscribeAsync(topic, { qos: 1 });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      got,
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`no matching message on ${topic}; last: ${JSON.stringify(last)}`)), timeoutMs)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
    await c.endAsync();
  }
}

test('control channel on an upstream mosquitto: status, heartbeat, updates queued while offline', { skip }, async (t) => {
  const broker = await startMosquitto(t);
  const dir = await tempDir(t);
  const yaml = [
    'control:',
    '  allowUnsigned: true',
    `  upstream: { url: ${JSON.stringify(broker.url)}, reconnectMinMs: 200 }`,
    'jobs:',
    "  - { name: hb, schedule: '*/1 * * * * *', type: heartbeat }",
    'rules:',
    '  version: 1',
    '  rules: [{ name: keep, sql: "SELECT * FROM \'data/#\'", actions: [{ stream: { name: archive } }] }]',
    '',
  ].join('\n');
  let gw = await startInProcess(t, dir, yaml);
  const status = await upstreamMessage<ControlStatus>(t, broker.url, `gatehouse/${ID}/rules/status`, (s, retained) => retained && s.activeVersion === 1);
  assert.equal(status.gatewayId, ID);
  const hb = await upstreamMessage<HeartbeatReport>(t, broker.url, `gatehouse/${ID}/heartbeat`, (h) => h.gatewayId === ID);
  assert.equal(hb.ruleSetVersion, 1);

  // Apply through the upstream broker.
  const ops = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.after(() => ops.endAsync(true));
  const set = {
    version: 2,
    rules: [
      { name: 'keep', sql: "SELECT * FROM 'data/#'", actions: [{ stream: { name: 'archive' } }] },
      { name: 'more', sql: "SELECT * FROM 'more/#'", actions: [{ stream: { name: 'archive' } }] },
    ],
  };
  await ops.publishAsync(`gatehouse/${ID}/rules/set`, JSON.stringify(set), { qos: 1 });
  const applied = await upstreamMessage<ControlStatus>(t, broker.url, `gatehouse/${ID}/rules/status`, (s) => s.version === 2);
  assert.equal(applied.state, 'applied');
  assert.equal(gw.rules.activeDefinition()?.version, 2);

  // Gateway down; the office publishes v3; the persistent session keeps it for the gateway.
  await gw.stop();
  await ops.publishAsync(`gatehouse/${ID}/rules/set`, JSON.stringify({ ...set, version: 3 }), { qos: 1 });
  gw = await startInProcess(t, dir, yaml);
  const later = await upstreamMessage<ControlStatus>(t, broker.url, `gatehouse/${ID}/rules/status`, (s) => s.version === 3 && s.state === 'applied');
  assert.equal(later.activeVersion, 3);
  assert.equal(gw.rules.activeDefinition()?.version, 3);
});

/** Peak resident memory of a process (VmHWM, bytes). */
async function peakRss(pid: number): Promise<number> {
  const m = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

test('control channel on an upstream mosquitto: an 80 MB payload is refused without reading it into memory, and the next update applies', {
  skip,
}, async (t) => {
  const broker = await startMosquitto(t);
  const dir = await tempDir(t);
  const config = await writeConfig(
    dir,
    [
      `gatewayId: ${ID}`,
      `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
      'exporters: []',
      'control:',
      '  allowUnsigned: true',
      `  upstream: { url: ${JSON.stringify(broker.url)}, reconnectMinMs: 200 }`,
      'rules: { version: 1, rules: [] }',
      '',
    ].join('\n'),
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  await upstreamMessage<ControlStatus>(t, broker.url, `gatehouse/${ID}/rules/status`, (s) => s.activeVersion === 1);
  const ops = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.after(() => ops.endAsync(true));
  const peakBefore = await peakRss(gw.proc.pid!);
  const refused = upstreamMessage<ControlStatus>(t, broker.url, `gatehouse/${ID}/rules/status`, (s) => s.state === 'rejected', 30_000);
  await ops.publishAsync(`gatehouse/${ID}/rules/set`, Buffer.alloc(80 * 1024 * 1024, 0x5b), { qos: 1 });
  const status = await refused;
  assert.equal(status.code, 'GH_CONTROL_CHANNEL');
  assert.match(status.errors[0]?.message ?? '', /control payload of \d{8} bytes exceeds control\.maxPayloadBytes \(1048576\)/);
  // Before, mqtt.js read the whole message into memory (then it was refused for its size): the
  // gateway's peak memory grew by more than the message.
  const grew = (await peakRss(gw.proc.pid!)) - peakBefore;
  assert.ok(grew < 60 * 1024 * 1024, `peak memory grew by ${Math.round(grew / 1048576)} MiB`);
  // Acknowledged (not delivered again), and the channel reads on: the next update applies.
  await ops.publishAsync(`gatehouse/${ID}/rules/set`, JSON.stringify({ version: 2, rules: [] }), { qos: 1 });
  await upstreamMessage<ControlStatus>(t, broker.url, `gatehouse/${ID}/rules/status`, (s) => s.version === 2 && s.state === 'applied');
});

test('control channel stop with a publish the broker never acknowledges (frozen link): the connection is closed after the grace, not left open until the keepalive ends it', {
  skip,
}, async (t) => {
  const broker = await startMosquitto(t);
  const proxy = await tcpProxy(t, broker.port);
  const channel = upstreamChannel(controlUpstreamSchema.parse({ url: `mqtt://127.0.0.1:${proxy.port}` }), { ...testDeps(), gatewayId: ID });
  await channel.start();
  t.after(() => channel.stop());
  await waitUntil(() => channel.connected() && proxy.snapshot().size === 1, 'connected through the proxy');
  // The broker stops answering; the TCP connection stays open (keepalive 60 s: not seen for a while).
  proxy.mute(true);
  channel.publish(`gatehouse/${ID}/rules/status`, '{}', { qos: 1, retain: true }).catch(() => undefined);
  await channel.stop();
  // Before, the forced end after the grace was a no-op (mqtt.js ignores end() while a first one
  // waits for the PUBACKs): the connection stayed open until the keepalive ended it, and an update
  // arriving meanwhile reached the handlers of a stopped channel.
  await waitUntil(() => proxy.snapshot().size === 0, 'the connection to the control broker is closed', 1000);
});
