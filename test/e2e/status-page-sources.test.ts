// The status page's Sources and Tailed files sections say what `gatehouse sources` says (the page's
// sources.js and gateway/cli/sources.ts are kept in step): a Modbus device that answers but refuses
// tags (each tag's error, a count on the source's row), a file source whose paths match nothing,
// and why a connected MQTT source dropped messages. Debian's headless Chromium (playwright-core)
// against the real gateway CLI in a child process, a real Modbus TCP peer (jsmodbus) and a real
// mqtt.js publisher on the gateway's broker. No test doubles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { freePort, needBinary } from '../helpers/index.js';
import { modbusTcpPeer } from '../helpers/industrial.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { openStatusPage, pageRig } from '../helpers/status-page-rig.js';

const skip = needBinary('chromium', 'chromium');

test('status page in Chromium: refused Modbus tags, a file source matching nothing, why an MQTT source dropped messages', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const r = await pageRig(t, 'gatehouse-statuspage-said-');
  const { dir } = r;
  // 200 input registers: addresses 300 to 306 get exception 0x02 (illegal data address).
  const peer = await modbusTcpPeer(t);
  peer.input.writeUInt16BE(7, 0);
  const mqttPort = await freePort(t);
  const missing = [300, 301, 302, 303, 304, 305, 306];
  const config = await writeConfig(
    dir,
    [
      `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
      'log: { level: info }',
      "broker: { acl: { anonymous: [{ topic: 'cmd/#', access: readwrite }] } }",
      'sources:',
      '  - type: modbus',
      '    name: plc-1',
      `    tcp: { host: 127.0.0.1, port: ${peer.port} }`,
      '    devices:',
      '      - name: press',
      '        groups:',
      '          - name: fast',
      '            intervalMs: 200',
      '            tags:',
      '              - { name: speed, area: input, address: 0 }',
      ...missing.map((a) => `              - { name: t${a}, area: input, address: ${a} }`),
      '  - type: file',
      '    name: app-logs',
      // A typo in the folder: it does not exist, which is no error (it is watched for).
      `    paths: [${JSON.stringify(join(dir, 'lgos', '*.log'))}]`,
      '  - type: mqtt',
      '    name: local',
      `    url: "mqtt://127.0.0.1:${mqttPort}"`,
      '    clientId: status-page-small',
      '    maxMessageBytes: 16',
      "    topics: [{ filter: 'cmd/#', qos: 1 }]",
      '',
    ].join('\n'),
  );
  r.gw = await startGatewayProcess(config, ['--mqtt-port', String(mqttPort)]);
  const { page, pageErrors } = await openStatusPage(r);

  // The device answers but refuses 7 tags: the count on the source's row, as the CLI's line has it.
  await page.locator('tr[data-source="plc-1"] .summary', { hasText: '7 tags with errors' }).waitFor({ timeout: 20_000 });
  assert.equal(await page.locator('tr[data-source="plc-1"] .badge').textContent(), 'running');
  // Five tags' errors listed below the table, the other two counted (the CLI shows as many).
  for (const a of missing.slice(0, 5)) {
    const item = page.locator(`[data-source-error="plc-1/press/t${a}"].current`);
    assert.equal(await item.locator('strong').textContent(), `plc-1 / press tag t${a}: `);
    assert.match((await item.locator('.source-error').textContent()) ?? '', /0x02 illegal data address/);
  }
  assert.equal(await page.locator('[data-source-error^="plc-1/press/t"]').count(), 5);
  assert.match(
    (await page.locator('[data-source-error="plc-1/press/more"]').textContent()) ?? '',
    /^plc-1 \/ press: 2 more tags with errors \(\/api\/sources lists them\)$/,
  );

  // The file source whose paths match nothing: a row that says so, not 'No file sources configured.'.
  const none = page.locator('tr[data-file-source="app-logs"]');
  await none.waitFor({ timeout: 10_000 });
  assert.match(
    (await none.textContent()) ?? '',
    /app-logs.*no file matches its paths yet \(check them for a typo: a folder that does not exist is no error, it is watched for\)/,
  );
  assert.equal(await page.locator('#files-body tr.empty').count(), 0);

  // A message over maxMessageBytes, dropped while connected: why, as a current error, not 'earlier error'.
  await page.locator('tr[data-source="local"] .badge.ok', { hasText: 'connected' }).waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('[data-source-error="local"]').count(), 0, 'no error before the drop');
  const client = (r.client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: `status-page-big-${process.pid}`, reconnectPeriod: 0 }));
  await client.publishAsync('cmd/valve1/set', 'x'.repeat(100), { qos: 1 });
  await page.locator('tr[data-source="local"] .summary', { hasText: '1 received, 0 acknowledged, 0 refused, 1 dropped' }).waitFor({ timeout: 10_000 });
  const dropped = page.locator('[data-source-error="local"].current');
  await dropped.waitFor({ timeout: 10_000 });
  assert.equal(await dropped.locator('strong').textContent(), 'local: ');
  assert.match(
    (await dropped.locator('.source-error').textContent()) ?? '',
    /a message of 100 bytes on 'cmd\/valve1\/set' was dropped: larger than maxMessageBytes \(16\)/,
  );
  assert.match((await page.locator('tr[data-source="local"]').getAttribute('class')) ?? '', /\bhas-error\b/);
  assert.deepEqual(pageErrors, [], 'page errors');
});
