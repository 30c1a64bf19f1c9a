// SIGTERM while appends wait for space in a full 'reject' stream: the gateway stops at once,
// refusing them (they were never acknowledged; the device resends after the restart).
// - A QoS 1 publish held for space: before, the stop waited for shutdownTimeoutMs (20 s) on an
//   append that could not complete.
// - QoS 0 publishes waiting in a client's commit window behind the held appends: the stop refuses
//   the held ones; the client is gone, so its waiting QoS 0 publishes are committed then
//   (docs/broker.md: sent for good), and into the full stream they waited for space again: the stop
//   waited out shutdownTimeoutMs (45 s here). Now an append that would wait for space once the stop
//   began is refused at once.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

/** A gateway whose only stream holds 4 KiB (3 publishes of 1000 bytes) and refuses more; a client on it. */
async function fullStreamGateway(t: TestContext, extra: string[] = []) {
  const dir = await tempDir(t);
  const yaml = [
    `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
    'log: { level: info }',
    'exporters: []',
    'shutdownTimeoutMs: 45000',
    'store: { appendTimeoutMs: 50000 }',
    ...extra,
    'streams: { archive: { maxBytes: 4096, onFull: reject, localOnly: true } }',
    '',
  ].join('\n');
  const gw = await startGatewayProcess(await writeConfig(dir, yaml));
  t.after(() => gw.kill9());
  const c = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0 });
  t.after(() => c.end(true));
  return { gw, c, payload: Buffer.alloc(1000, 0x61) };
}

async function streamFull(gw: GatewayProcess): Promise<void> {
  await waitUntil(async () => {
    const s = (await (await fetch(`${gw.adminUrl}/api/streams`)).json()) as { streams: Array<{ name: string; records: number }> };
    return (s.streams.find((x) => x.name === 'archive')?.records ?? 0) >= 3;
  }, 'the stream to fill');
}

/** SIGTERM; asserts the gateway exits 0 without a shutdown timeout, well before shutdownTimeoutMs. */
async function stopsPromptly(gw: GatewayProcess): Promise<void> {
  const stoppedAt = Date.now();
  assert.equal(await gw.stop(), 0);
  const stopMs = Date.now() - stoppedAt;
  assert.ok(!gw.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('shutdown timeout')), 'no shutdown timeout');
  assert.ok(stopMs < 40_000, `stopped in ${stopMs} ms`);
}

test('stopping with a publish held by a full stream does not wait for the shutdown timeout', { timeout: 60_000 }, async (t) => {
  const { gw, c, payload } = await fullStreamGateway(t);
  let acked = 0;
  // More than fits: the later publishes wait for space (no PUBACK).
  for (let i = 0; i < 8; i++)
    void c.publishAsync('t/1', payload, { qos: 1 }).then(
      () => acked++,
      () => undefined,
    );
  await streamFull(gw);
  await stopsPromptly(gw);
  assert.ok(acked < 8, 'some publishes were held');
  assert.ok(gw.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('stopping: appends waiting for space in a full stream refused')));
});

test('stopping with QoS 0 publishes queued behind a full stream does not wait for the shutdown timeout', { timeout: 90_000 }, async (t) => {
  // 4 commits in flight per client: the rest of its publishes wait in its commit window
  const { gw, c, payload } = await fullStreamGateway(t, ['broker: { maxInflight: 4 }']);
  for (let i = 0; i < 20; i++) c.publish('t/1', payload, { qos: 0 });
  // 3 fit the stream, the next 4 are held for space (the client's 4 commits in flight), and at least
  // one more waits in its commit window (the broker reads more only as its publishes are handed on)
  const readByBroker = async (): Promise<number> =>
    Number(/gatehouse_mqtt_messages_in_total\{qos="0"\} (\d+)/.exec(await (await fetch(`${gw.adminUrl}/metrics`)).text())?.[1] ?? 0);
  await waitUntil(async () => (await readByBroker()) >= 8, 'a publish waiting behind the held ones');
  await streamFull(gw);
  await stopsPromptly(gw);
});
