// A syslog source in a real gateway process: its row on the status page says what `gatehouse
// sources` says (addresses, messages committed, parse failures), and with publishLocal each
// committed message reaches an MQTT subscriber of the gateway's broker. Debian's headless Chromium
// (playwright-core), a real mqtt.js subscriber, util-linux logger. No test doubles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { needBinary, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { openStatusPage, pageRig } from '../helpers/status-page-rig.js';
import { logger, sendUdp } from '../helpers/syslog-rig.js';

test('status page in Chromium: a syslog source row; publishLocal reaches an MQTT subscriber', {
  skip: needBinary('chromium', 'chromium') ?? needBinary('logger', 'bsdutils'),
  timeout: 90_000,
}, async (t) => {
  const r = await pageRig(t, 'gatehouse-statuspage-syslog-');
  const { dir } = r;
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nsources:\n  - { type: syslog, name: cabinet, udp: { port: 0 }, publishLocal: true }\n`,
  );
  const gw = (r.gw = await startGatewayProcess(config));
  const udp = (gw.logs.find((l) => l.msg === 'gatehouse started')!.syslog as Array<{ udp: string }>)[0]!.udp;
  const port = Number(udp.split(':')[1]);
  const client = (r.client = await mqtt.connectAsync(gw.mqttUrl, { clientId: `syslog-dash-${process.pid}`, reconnectPeriod: 0 }));
  const seen: Array<[string, Record<string, unknown>]> = [];
  client.on('message', (topic, payload) => seen.push([topic, JSON.parse(payload.toString()) as Record<string, unknown>]));
  await client.subscribeAsync('syslog/#', { qos: 0 });
  await logger(port, ['--udp', '--rfc3164', '-t', 'apcupsd'], 'Power failure');
  await sendUdp(port, ['no priority at all']);
  await waitUntil(() => (seen.length >= 2 ? true : undefined), 'the two messages on the broker');
  assert.match(seen[0]![0], /^syslog\/[^/]+\/apcupsd$/);
  assert.equal(seen[0]![1].message, 'Power failure');
  assert.deepEqual([seen[1]![0], seen[1]![1].format], ['syslog/127.0.0.1/-', 'unknown']);

  const { page, pageErrors } = await openStatusPage(r);
  const row = page.locator('tr[data-source="cabinet"]');
  await row.locator('.summary', { hasText: '2 messages committed' }).waitFor({ timeout: 20_000 });
  assert.equal(await row.locator('.badge').textContent(), 'running');
  assert.equal(await row.locator('.summary').textContent(), `udp ${udp} · 2 messages committed · 1 neither RFC 5424 nor 3164 (kept as format unknown)`);
  assert.deepEqual(pageErrors, [], 'page errors');
});
