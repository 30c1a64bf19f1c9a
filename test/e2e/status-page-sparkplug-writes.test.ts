// The status page's Sparkplug row says what `gatehouse sources` says of its writes (the page's
// sources.js and gateway/cli/sources.ts are kept in step): commands sent and refused. Debian's
// headless Chromium (playwright-core) against the real gateway CLI in a child process; the
// commands come from a real mqtt.js client on the gateway's broker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { needBinary } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { openStatusPage, pageRig } from '../helpers/status-page-rig.js';

test("status page in Chromium: a Sparkplug host's refused commands on its row, as the CLI words them", {
  skip: needBinary('chromium', 'chromium'),
  timeout: 90_000,
}, async (t) => {
  const r = await pageRig(t, 'gatehouse-statuspage-spbw-');
  const config = await writeConfig(
    r.dir,
    [`dataDir: ${JSON.stringify(join(r.dir, 'data'))}`, 'sources:', '  - type: sparkplug', '    name: plant', '    commands: { topic: plant/cmd }', ''].join(
      '\n',
    ),
  );
  r.gw = await startGatewayProcess(config);
  const { page, pageErrors } = await openStatusPage(r);
  await page.locator('tr[data-source="plant"] .summary', { hasText: '0 commands sent' }).waitFor({ timeout: 20_000 });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${r.gw.mqttPort}`, { reconnectPeriod: 0 });
  t.after(() => client.endAsync(true));
  // Two commands to a node the host has never seen a birth of: refused, nothing sent.
  await client.publishAsync('plant/cmd', JSON.stringify({ node: 'edge7', metric: 'Setpoint', value: 1 }), { qos: 1 });
  await client.publishAsync('plant/cmd', 'not json', { qos: 1 });
  await page.locator('tr[data-source="plant"] .summary', { hasText: '0 commands sent, 2 refused' }).waitFor({ timeout: 20_000 });
  assert.deepEqual(pageErrors, []);
});
