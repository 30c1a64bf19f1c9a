// Options that arm a timer are bounded by Node's longest timer delay (core/timer-delay.ts): past it
// Node fires at once (1 ms). store.appendTimeoutMs: 3000000000 refused an append to a full stream
// after 1 ms ("no space within 3000000000 ms"); a Modbus group's intervalMs of 30 days woke its poller every
// millisecond. A value past the bound is a config error naming the option, the bound itself is
// taken, and the bound is Node's (a timer of MAX_TIMER_MS warns of no overflow, one more ms does).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { loadConfig } from '../../gateway/config/index.js';
import { isGatehouseError } from '../../core/errors.js';
import { MAX_TIMER_MS } from '../../core/timer-delay.js';
import { tempDir } from '../helpers/index.js';

const MONTH_MS = 30 * 86_400_000; // 2592000000: past the bound

function config(ms: number): string {
  return [
    `store: { appendTimeoutMs: ${ms}, sweepIntervalMs: ${ms} }`,
    `shutdownTimeoutMs: ${ms}`,
    'serial:',
    `  - { name: meter, path: /dev/ttyUSB0, framing: { type: line }, codec: { type: json }, reconnect: { maxMs: ${ms} } }`,
    'sources:',
    `  - { type: modbus, name: plc, rtu: { path: /dev/ttyUSB1 }, devices: [{ name: d1, unitId: 1, groups: [{ intervalMs: ${ms}, tags: [{ name: t, area: holding, address: 0 }] }] }] }`,
    `  - { type: file, name: logs, paths: [/var/log/app/*.log], scanIntervalMs: ${ms} }`,
    'streams: { archive: {} }',
    'exporters:',
    `  - { name: out, stream: archive, backoff: { maxMs: ${ms} }, stopTimeoutMs: ${ms}, destination: { type: http, url: "http://127.0.0.1:9/in", timeoutMs: ${ms} } }`,
    '',
  ].join('\n');
}

test('an option that arms a timer is refused past 2^31 - 1 ms, with its path and why; the bound itself is taken', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, config(MONTH_MS));
  await assert.rejects(loadConfig(file), (err: unknown) => {
    assert.ok(isGatehouseError(err, 'GH_CONFIG_INVALID'), String(err));
    for (const path of [
      'store.appendTimeoutMs',
      'store.sweepIntervalMs',
      'shutdownTimeoutMs',
      'serial.0.reconnect.maxMs',
      'sources.0.devices.0.groups.0.intervalMs',
      'sources.1.scanIntervalMs',
      'exporters.0.backoff.maxMs',
      'exporters.0.stopTimeoutMs',
    ]) {
      assert.match(err.message, new RegExp(`${path.replaceAll('.', '\\.')}: at most 2147483647 ms \\(~24\\.8 days\\): the option arms a timer`), path);
    }
    return true;
  });
  await writeFile(file, config(MAX_TIMER_MS));
  const c = await loadConfig(file);
  assert.equal(c.store.appendTimeoutMs, MAX_TIMER_MS);
  assert.equal(c.shutdownTimeoutMs, MAX_TIMER_MS);
});

test("MAX_TIMER_MS is Node's longest timer: no TimeoutOverflowWarning at it, one a millisecond past it", async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => {
    if (w.name === 'TimeoutOverflowWarning') warnings.push(w.message);
  };
  process.on('warning', onWarning);
  try {
    const at = setTimeout(() => assert.fail('a timer of MAX_TIMER_MS fired'), MAX_TIMER_MS);
    // The one past the bound fires at once; the warning is emitted on a later tick.
    await new Promise((r) => setTimeout(r, MAX_TIMER_MS + 1));
    clearTimeout(at);
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', onWarning);
  }
  assert.equal(warnings.length, 1, warnings.join('; '));
  assert.match(warnings[0]!, new RegExp(`^${MAX_TIMER_MS + 1} does not fit`));
});
