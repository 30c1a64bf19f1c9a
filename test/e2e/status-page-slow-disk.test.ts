// The status page on a slow disk: /healthz's `warning` (a minute of store commits averaging 100 ms
// or more: acknowledgements late, still sent) shows under the header in amber with what to do, and
// the health badge is amber, as `gatehouse status` prints `warning:`. Before, the page showed a
// green `ok` alone. The disk is a stand-in: the LD_PRELOAD shim of test/helpers/slow-card.c delays
// every fsync/fdatasync of the `gatehouse start` child by 150 ms (no SD card here). A real QoS 1
// publisher keeps commits coming for the minute the figure needs; a real Chromium reads the page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { chromium } from 'playwright-core';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { buildSlowCard, slowCardEnv, slowCardSkip } from '../helpers/slow-card.js';

const skip = slowCardSkip ?? needBinary('chromium', 'chromium');

// Runs in the page (playwright's evaluate); the test files compile without the DOM lib, so declare the little of it used.
declare function getComputedStyle(el: unknown): { color: string; borderTopColor: string };

test("status page on a slow disk: /healthz's warning under the header in amber with what to do, the health badge amber", {
  skip,
  timeout: 180_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-page-slow-');
  const so = await buildSlowCard(dir);
  // No exporter: the store's group commits are the only writes that wait for the card.
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n`);
  const gw = await startGatewayProcess(config, [], 30_000, [], slowCardEnv(so, { baseMs: 150 }));
  t.after(() => gw.kill9());

  // A device publishing QoS 1 (each PUBACK after its commit) until /healthz says the disk is slow.
  const device = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'dev', reconnectPeriod: 0 });
  t.after(() => device.endAsync(true));
  let publishing = true;
  const feeding = (async () => {
    for (let i = 0; publishing; i++) await device.publishAsync('fleet/t', JSON.stringify({ i }), { qos: 1 });
  })();
  t.after(() => {
    publishing = false;
    return feeding.catch(() => undefined);
  });
  const health = await waitUntil(
    async () => {
      const body = (await (await fetch(`${gw.adminUrl}/healthz`)).json()) as { ok: boolean; warning?: string; fix?: string };
      return body.warning ? body : undefined;
    },
    '/healthz warning of a slow disk',
    120_000,
    1_000,
  );
  publishing = false;
  await feeding;
  assert.equal(health.ok, true, 'a slow disk is a warning: the gateway works');
  assert.match(health.warning!, /^store commits are slow: \d+ ms on average over the last minute/);

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  t.after(() => browser.close());
  const tab = await browser.newPage();
  await tab.goto(`${gw.adminUrl}/`, { waitUntil: 'load', timeout: 20_000 });
  const warning = tab.locator('#warning');
  await warning.waitFor({ state: 'visible', timeout: 10_000 });
  const text = (await warning.textContent()) ?? '';
  assert.match(
    text,
    /^store commits are slow: \d+ ms on average over the last minute \(slowest \d+ ms\); acknowledgements wait for them\. What to do: the disk of .*store is slow to complete writes \(fsync\).*an SSD(; .*)?\.$/,
  );
  // Amber, as the notice of a repaired store: the same box, and the badge.
  assert.equal(await warning.getAttribute('class'), 'notice');
  const colors = await warning.evaluate((el) => {
    const s = getComputedStyle(el);
    return { color: s.color, border: s.borderTopColor };
  });
  const bad = await tab.locator('#banner').evaluate((el) => getComputedStyle(el).color);
  assert.notEqual(colors.color, bad, 'amber, not the red of an unreachable gateway');
  assert.equal(colors.color, colors.border);
  assert.equal(await tab.locator('#health').textContent(), 'ok');
  assert.equal(await tab.locator('#health').getAttribute('class'), 'badge warn');
  assert.equal(await tab.locator('#notice').isHidden(), true, 'no notice: the store was not repaired');
});
