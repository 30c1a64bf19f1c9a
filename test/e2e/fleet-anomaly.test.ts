// End to end, real parts: the gateway CLI in a child process with the fleet rule set of the docs
// (docs/examples/fleet-rules.yaml), a real mqtt.js client subscribed to alerts/#, a temperature
// series with an injected spike, and the alert arriving on alerts/<truck> and in the upstream export.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdir, readFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { repoRoot, tempDir, waitUntil } from '../helpers/index.js';
import { AUTO_THRESHOLD } from '../../rules/anomaly/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

async function exported(dir: string): Promise<string> {
  let text = '';
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (!e.name.endsWith('.gz')) text += await readFile(p, 'utf8');
    }
  };
  await walk(dir);
  return text;
}

test('fleet rule set: a temperature spike raises an alert on alerts/<truck> and in the alerts export', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const exportDir = join(dir, 'export');
  const config = await writeConfig(
    dir,
    [
      `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
      `rulesFile: ${JSON.stringify(join(repoRoot, 'docs', 'examples', 'fleet-rules.yaml'))}`,
      'streams:',
      '  archive: {}',
      '  alerts: {}',
      'exporters:',
      '  - name: alerts-files',
      '    stream: alerts',
      `    destination: { type: file, dir: ${JSON.stringify(exportDir)} }`,
      '    batch: { lingerMs: 50 }',
      '',
    ].join('\n'),
  );
  let gw: GatewayProcess | undefined = await startGatewayProcess(config);
  t.after(async () => {
    await gw?.kill9();
    gw = undefined;
  });

  const sub = await mqtt.connectAsync(gw.mqttUrl, { clientId: `fleet-sub-${process.pid}`, reconnectPeriod: 0 });
  t.after(() => sub.endAsync(true));
  const alerts: Array<{ topic: string; body: Record<string, unknown> }> = [];
  sub.on('message', (topic, payload) => alerts.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> }));
  await sub.subscribeAsync('alerts/#', { qos: 1 });

  const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: `truck7-${process.pid}`, reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  // A noisy but normal engine (deterministic), shorter than the default detector's forest warm-up
  // (~630 readings): the alarm must come from its warm-up stage.
  let s = 7;
  const rnd = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const normal = Array.from({ length: 400 }, (_, i) => 85 + (rnd() - 0.5) * 2 + Math.sin(i / 20));
  for (let i = 0; i < normal.length; i += 100) {
    await Promise.all(normal.slice(i, i + 100).map((temp) => pub.publishAsync('fleet/truck7/engine', JSON.stringify({ temp }), { qos: 1 })));
  }
  await pub.publishAsync('fleet/truck7/engine', JSON.stringify({ temp: 131.5 }), { qos: 1 });

  const spike = await waitUntil(() => alerts.find((a) => a.body.temp === 131.5), 'the spike alert on alerts/truck7', 15_000);
  assert.equal(spike.topic, 'alerts/truck7');
  assert.equal(spike.body.truck, 'truck7');
  const why = spike.body.why as { anomaly_score: number; stage: string };
  assert.ok(why.anomaly_score >= AUTO_THRESHOLD, `score ${String(why.anomaly_score)}`);
  assert.equal(why.stage, 'warmup', 'the default detector alarms during its warm-up (z-score stage)');
  assert.ok(alerts.length <= 5, `few false alarms on the normal series (got ${alerts.length - 1})`);
  await waitUntil(async () => (await exported(exportDir)).includes('131.5'), 'the alert exported from the alerts stream', 15_000);
  assert.equal(await gw.stop(), 0);
  gw = undefined;
});
