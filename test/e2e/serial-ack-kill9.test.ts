// Acknowledged serial mode end to end: a simulated device (real pty via socat) keeps unacked
// readings and resends them; the gateway is killed with kill -9 mid-stream and restarted; every
// reading reaches the local stream (duplicates allowed, nothing missing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tempDir, waitUntil, withTimeout } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { createSimulatedDevice, simulatorLinkOptions } from '../../firmware-bridge/simulator.js';

test('serial acknowledged mode: kill -9 the gateway mid-stream, the device resends, nothing is missing', { skip: socatSkip, timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const pty = await startSocat(t);
  const link = simulatorLinkOptions('tank', pty.dev1, 'crc', 'json', true);
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nlog: { level: info }\nexporters: []\nserial:\n  - ${JSON.stringify(link)}\n`,
  );
  let gw: GatewayProcess | undefined = await startGatewayProcess(config);
  t.after(() => gw?.kill9());

  const COUNT = 400;
  const device = createSimulatedDevice({
    path: pty.dev0,
    rate: 400,
    framing: 'crc',
    codec: 'json',
    ack: true,
    count: COUNT,
    ackTimeoutMs: 300,
    deviceId: 'tank1',
    seed: 7,
  });
  await device.start();
  t.after(() => device.stop());

  await waitUntil(() => device.stats().acked >= COUNT / 4, 'a quarter of the readings are acknowledged', 30_000);
  await gw.kill9();
  const ackedAtKill = device.stats().acked;
  assert.ok(ackedAtKill < COUNT, 'the kill happened mid-stream');

  gw = await startGatewayProcess(config);
  await withTimeout(device.done, 60_000, 'the device got every reading acknowledged');

  // Page through the stream with `next` (a page is capped by count and bytes).
  const body: { records: Array<{ topic: string; payload: string }> } = { records: [] };
  for (let from = 1; ; ) {
    const res = await fetch(`${gw.adminUrl}/api/streams/archive/records?from=${from}&limit=1000`);
    const page = (await res.json()) as { records: Array<{ topic: string; payload: string }>; next: number };
    assert.equal(res.status, 200, JSON.stringify(page));
    if (page.records.length === 0) break;
    body.records.push(...page.records);
    from = page.next;
  }
  const seqs = new Set(body.records.map((r) => (JSON.parse(r.payload) as { seq: number }).seq));
  const missing: number[] = [];
  const first = Math.min(...seqs);
  for (let s = first; s < first + COUNT; s++) if (!seqs.has(s)) missing.push(s);
  assert.deepEqual(missing, [], 'every reading the device generated is in the stream');
  assert.ok(body.records.every((r) => r.topic === 'devices/tank1/telemetry'));
  assert.ok(device.stats().resent > 0 || body.records.length >= COUNT, 'unacknowledged readings were resent after the restart');
  assert.equal(await gw.stop(), 0);
  gw = undefined;
});
