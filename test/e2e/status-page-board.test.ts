// The status page's board badge in Debian's headless Chromium (playwright-core): the hottest zone
// and the Raspberry Pi firmware's flags, amber once under-voltage was seen since boot, red while it
// lasts. The gateway runs in this process on a fake /sys tree (GatewayOptions.hostRoot): the one
// mock, since there is no Pi's firmware here; the page, its polling and the admin API are real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Page } from 'playwright-core';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { THROTTLED_FILE } from '../../gateway/runtime/host/read.js';
import { needBinary, testDeps } from '../helpers/index.js';
import { firstPage, launchBrowser, pageRig } from '../helpers/status-page-rig.js';

const skip = needBinary('chromium', 'chromium');

async function put(root: string, file: string, text: string): Promise<void> {
  await mkdir(dirname(join(root, file)), { recursive: true });
  await writeFile(join(root, file), text);
}

/** The badge once its text is `text` (the page polls every second). */
async function badge(page: Page, text: string): Promise<string> {
  const el = page.locator('#host');
  await el.filter({ hasText: text }).waitFor({ timeout: 10_000 });
  return (await el.getAttribute('class')) ?? '';
}

test('status page in Chromium: the board badge follows the firmware flags', { skip, timeout: 60_000 }, async (t) => {
  const r = await pageRig(t, 'gatehouse-statuspage-board-');
  const root = join(r.dir, 'host');
  await put(root, 'sys/class/thermal/thermal_zone0/temp', '63012\n');
  await put(root, 'sys/class/thermal/thermal_zone0/type', 'cpu-thermal\n');
  await put(root, 'sys/class/thermal/thermal_zone1/temp', '41000\n');
  await put(root, 'sys/class/thermal/thermal_zone1/type', 'rp1_adc\n');
  await put(root, THROTTLED_FILE, '50000\n');
  const file = join(r.dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(r.dir, 'data'))}\nexporters: []\n`);
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger: testDeps().logger, registry: createMetricsRegistry('test', 'gw-test'), version: 'test', hostRoot: root });
  t.after(() => gw.stop());
  const { page, pageErrors } = await firstPage(await launchBrowser(r));
  await page.goto(`http://127.0.0.1:${gw.admin!.address().port}/`, { waitUntil: 'load', timeout: 20_000 });

  assert.equal(await badge(page, '63.0 °C, under-voltage since boot, throttled since boot'), 'badge warn');
  assert.equal(await page.locator('#host-item').isVisible(), true);
  assert.equal(await page.locator('#host').getAttribute('title'), 'cpu-thermal: 63.0 °C\nrp1_adc: 41.0 °C');

  await put(root, THROTTLED_FILE, '50005\n');
  await gw.host.refresh();
  assert.equal(await badge(page, 'under-voltage now, throttled now'), 'badge bad');
  assert.deepEqual(pageErrors, []);
});
