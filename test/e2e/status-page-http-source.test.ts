// An http source in a real gateway process: its row on the status page says what `gatehouse
// sources` says (URL, auth, messages committed, requests answered 200 and refused), and with
// publishLocal each committed message reaches an MQTT subscriber of the gateway's broker. Debian's
// headless Chromium (playwright-core), a real mqtt.js subscriber, node's HTTP client. No test doubles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { freePort, needBinary, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { openStatusPage, pageRig } from '../helpers/status-page-rig.js';
import { post } from '../helpers/http-post.js';

test('status page in Chromium: an http source row; publishLocal reaches an MQTT subscriber', {
  skip: needBinary('chromium', 'chromium'),
  timeout: 90_000,
}, async (t) => {
  const r = await pageRig(t, 'gatehouse-statuspage-http-');
  const { dir } = r;
  const port = await freePort(t);
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nsources:\n  - { type: http, name: devices, port: ${port}, publishLocal: true }\n`,
  );
  const gw = (r.gw = await startGatewayProcess(config));
  const client = (r.client = await mqtt.connectAsync(gw.mqttUrl, { clientId: `http-dash-${process.pid}`, reconnectPeriod: 0 }));
  const seen: Array<[string, string]> = [];
  client.on('message', (topic, payload) => seen.push([topic, payload.toString()]));
  await client.subscribeAsync('shelly/#', { qos: 0 });
  assert.equal((await post(port, '/topics/shelly/kitchen', '{"t":21}')).status, 200);
  assert.equal((await post(port, '/topics/shelly/hall', '{"t":19}')).status, 200);
  assert.equal((await post(port, '/topics/shelly/%23', '{"t":0}')).status, 400);
  await waitUntil(() => (seen.length >= 2 ? true : undefined), 'the two messages on the broker');
  assert.deepEqual(seen, [
    ['shelly/kitchen', '{"t":21}'],
    ['shelly/hall', '{"t":19}'],
  ]);

  const { page, pageErrors } = await openStatusPage(r);
  const row = page.locator('tr[data-source="devices"]');
  await row.locator('.summary', { hasText: '2 requests answered 200, 1 refused' }).waitFor({ timeout: 20_000 });
  assert.equal(await row.locator('.badge').textContent(), 'running');
  assert.equal(
    await row.locator('.summary').textContent(),
    `http://127.0.0.1:${port}/topics/ · auth none (loopback) · 2 messages committed · 2 requests answered 200, 1 refused`,
  );
  assert.deepEqual(pageErrors, [], 'page errors');
});
