// SIGTERM while a publish waits for space in a full 'reject' stream: the gateway stops at once,
// refusing that append (it was never acknowledged; the device resends it after the restart).
// Before, the stop waited for shutdownTimeoutMs (20 s) on an append that could not complete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';

test('stopping with a publish held by a full stream does not wait for the shutdown timeout', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const yaml = [
    `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
    'log: { level: info }',
    'exporters: []',
    'shutdownTimeoutMs: 45000',
    'store: { appendTimeoutMs: 50000 }',
    'streams: { archive: { maxBytes: 4096, onFull: reject, localOnly: true } }',
    '',
  ].join('\n');
  const gw = await startGatewayProcess(await writeConfig(dir, yaml));
  t.after(() => gw.kill9());
  const c = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0 });
  t.after(() => c.end(true));
  const payload = Buffer.alloc(1000, 0x61);
  let acked = 0;
  // More than fits: the later publishes wait for space (no PUBACK).
  for (let i = 0; i < 8; i++)
    void c.publishAsync('t/1', payload, { qos: 1 }).then(
      () => acked++,
      () => undefined,
    );
  await waitUntil(async () => {
    const s = (await (await fetch(`${gw.adminUrl}/api/streams`)).json()) as { streams: Array<{ name: string; records: number }> };
    return (s.streams.find((x) => x.name === 'archive')?.records ?? 0) >= 3;
  }, 'the stream to fill');
  const stoppedAt = Date.now();
  assert.equal(await gw.stop(), 0);
  const stopMs = Date.now() - stoppedAt;
  assert.ok(acked < 8, 'some publishes were held');
  assert.ok(gw.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('stopping: appends waiting for space in a full stream refused')));
  assert.ok(!gw.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('shutdown timeout')), 'no shutdown timeout');
  assert.ok(stopMs < 40_000, `stopped in ${stopMs} ms`);
});
