// Host health through a started gateway: the gatehouse_host_* metrics on the real admin API's
// /metrics, the board in /api/overview and /healthz's warning, and `gatehouse status`'s host line.
// The /sys and /proc files are a fake Raspberry Pi tree in a temp dir (GatewayOptions.hostRoot):
// the one mock, since there is no Pi's firmware here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { main } from '../../gateway/cli/main.js';
import { THROTTLED_FILE } from '../../gateway/runtime/host/read.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { tempDir, testDeps } from '../helpers/index.js';

async function put(root: string, file: string, text: string): Promise<void> {
  await mkdir(dirname(join(root, file)), { recursive: true });
  await writeFile(join(root, file), text);
}

test('a started gateway exports the board: metrics, overview, a healthz warning and the status line', async (t) => {
  const dir = await tempDir(t, 'gatehouse-host-gw-');
  const root = join(dir, 'host');
  await put(root, 'sys/class/thermal/thermal_zone0/temp', '71234\n');
  await put(root, 'sys/class/thermal/thermal_zone0/type', 'cpu-thermal\n');
  await put(root, THROTTLED_FILE, '50005\n');
  await put(root, 'proc/meminfo', 'MemTotal:        3882764 kB\nMemAvailable:    1941382 kB\n');
  const file = join(dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n`);
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger: testDeps().logger, registry: createMetricsRegistry('test', 'gw-test'), version: 'test', hostRoot: root });
  t.after(() => gw.stop());
  const base = `http://127.0.0.1:${gw.admin!.address().port}`;

  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /^gatehouse_host_temperature_celsius\{zone="thermal_zone0",type="cpu-thermal"\} 71\.234$/m);
  assert.match(metrics, /^gatehouse_host_throttle_active\{flag="under_voltage"\} 1$/m);
  assert.match(metrics, /^gatehouse_host_throttle_occurred\{flag="throttled"\} 1$/m);
  assert.match(metrics, /^gatehouse_host_throttle_active\{flag="soft_temp_limit"\} 0$/m);
  assert.match(metrics, /^gatehouse_host_memory_available_bytes 1987975168$/m);
  // no pressure or eMMC files in this tree: no such metric
  assert.doesNotMatch(metrics, /gatehouse_host_pressure|gatehouse_host_emmc/);

  const overview = (await (await fetch(`${base}/api/overview`)).json()) as { host: { underVoltage: boolean; throttled: { raw: string } } };
  assert.equal(overview.host.underVoltage, true);
  assert.equal(overview.host.throttled.raw, '0x50005');
  const health = (await (await fetch(`${base}/healthz`)).json()) as { ok: boolean; warning?: string };
  assert.equal(health.ok, true, 'the board is a warning, not a 503');
  assert.match(health.warning ?? '', /under-voltage now/);

  const status = await runCaptured(main, ['status', '--admin', base]);
  assert.match(status.out, /^ {2}host: cpu-thermal 71\.2 °C; UNDER-VOLTAGE NOW, THROTTLED NOW \(flags 0x50005\); memory 1\.9 GiB of 3\.7 GiB available$/m);
  assert.match(status.out, /warning: .*under-voltage now/);
});
