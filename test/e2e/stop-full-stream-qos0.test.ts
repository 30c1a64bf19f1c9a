// SIGTERM while QoS 0 publishes wait in a client's commit window behind appends held by a full
// 'reject' stream. The stop refuses the held appends; the client is gone, so its waiting QoS 0
// publishes are committed then (docs/broker.md: sent for good), and into the full stream they
// waited for space again: the stop waited out shutdownTimeoutMs (45 s here), then logged a
// shutdown timeout. Now an append that would wait for space once the stop began is refused at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';

test('stopping with QoS 0 publishes queued behind a full stream does not wait for the shutdown timeout', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t);
  const yaml = [
    `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
    'log: { level: info }',
    'exporters: []',
    'shutdownTimeoutMs: 45000',
    'store: { appendTimeoutMs: 50000 }',
    // 4 commits in flight per client: the rest of its publishes wait in its commit window
    'broker: { maxInflight: 4 }',
    'streams: { archive: { maxBytes: 4096, onFull: reject, localOnly: true } }',
    '',
  ].join('\n');
  const gw = await startGatewayProcess(await writeConfig(dir, yaml));
  t.after(() => gw.kill9());
  const c = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0 });
  t.after(() => c.end(true));
  const payload = Buffer.alloc(1000, 0x61);
  for (let i = 0; i < 20; i++) c.publish('t/1', payload, { qos: 0 });
  // 3 fit the stream, the next 4 are held for space (the client's 4 commits in flight), and at least
  // one more waits in its commit window (the broker reads more only as its publishes are handed on)
  const readByBroker = async (): Promise<number> =>
    Number(/gatehouse_mqtt_messages_in_total\{qos="0"\} (\d+)/.exec(await (await fetch(`${gw.adminUrl}/metrics`)).text())?.[1] ?? 0);
  await waitUntil(async () => (await readByBroker()) >= 8, 'a publish waiting behind the held ones');
  await waitUntil(async () => {
    const s = (await (await fetch(`${gw.adminUrl}/api/streams`)).json()) as { streams: Array<{ name: string; records: number }> };
    return (s.streams.find((x) => x.name === 'archive')?.records ?? 0) >= 3;
  }, 'the stream to fill');
  const stoppedAt = Date.now();
  assert.equal(await gw.stop(), 0);
  const stopMs = Date.now() - stoppedAt;
  assert.ok(!gw.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('shutdown timeout')), 'no shutdown timeout');
  assert.ok(stopMs < 40_000, `stopped in ${stopMs} ms`);
});
