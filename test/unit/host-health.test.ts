// Host health (gateway/runtime/host/): the parsers of the kernel's files, the reader on a fake
// /sys and /proc tree (the one mock here: there is no Raspberry Pi, eMMC or firmware on this
// machine, so the files they would have are written into a temp dir as the kernel writes them),
// the watcher's metrics and its one log line per transition, and a read of this machine's real
// /sys and /proc (what exists is read and parsed sanely).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Writable } from 'node:stream';
import { metricValue, tempDir } from '../helpers/index.js';
import {
  describeThrottled,
  parseEmmcLifeTime,
  parseMeminfo,
  parseMilliCelsius,
  parsePreEol,
  parsePressure,
  parseThrottled,
} from '../../gateway/runtime/host/parse.js';
import { THROTTLED_FILE, anyHostFiles, byTrailingNumber, probeHost, readHost } from '../../gateway/runtime/host/read.js';
import { HOST_METRICS, hostOverview, startHostHealth } from '../../gateway/runtime/host/health.js';

test('throttled: the firmware bits, from sysfs hex and from vcgencmd', () => {
  const t = parseThrottled('50005\n');
  assert.ok(t);
  assert.equal(t.raw, 0x50005);
  assert.deepEqual(t.now, { underVoltage: true, frequencyCapped: false, throttled: true, softTempLimit: false });
  assert.deepEqual(t.sinceBoot, { underVoltage: true, frequencyCapped: false, throttled: true, softTempLimit: false });
  assert.equal(describeThrottled(t), 'under-voltage now, throttled now');
  const past = parseThrottled('throttled=0x50000');
  assert.ok(past);
  assert.equal(past.now.underVoltage, false);
  assert.equal(past.sinceBoot.underVoltage, true);
  assert.equal(describeThrottled(past), 'under-voltage since boot, throttled since boot');
  const soft = parseThrottled('80008');
  assert.deepEqual(soft?.now, { underVoltage: false, frequencyCapped: false, throttled: false, softTempLimit: true });
  assert.equal(soft?.sinceBoot.softTempLimit, true);
  assert.equal(describeThrottled(parseThrottled('0')!), 'none');
  for (const bad of ['', 'zz', '0x', 'throttled=', '123456789', '-1']) assert.equal(parseThrottled(bad), undefined, bad);
});

test('thermal: millidegrees, and what no sensor writes refused', () => {
  assert.equal(parseMilliCelsius('48312\n'), 48.312);
  assert.equal(parseMilliCelsius('-5000'), -5);
  for (const bad of ['', 'abc', '-273000', '48.3', '999999999']) assert.equal(parseMilliCelsius(bad), undefined, bad);
});

test('pressure (PSI): some and full lines', () => {
  const p = parsePressure('some avg10=1.50 avg60=0.25 avg300=0.05 total=123456789\nfull avg10=0.00 avg60=0.10 avg300=0.00 total=4567\n');
  assert.deepEqual(p, {
    some: { avg10: 1.5, avg60: 0.25, avg300: 0.05, totalUs: 123456789 },
    full: { avg10: 0, avg60: 0.1, avg300: 0, totalUs: 4567 },
  });
  // /proc/pressure/cpu had no full line before Linux 5.13
  assert.deepEqual(Object.keys(parsePressure('some avg10=0.00 avg60=0.00 avg300=0.00 total=1')!), ['some']);
  assert.equal(parsePressure('garbage'), undefined);
});

test('eMMC wear and memory', () => {
  assert.deepEqual(parseEmmcLifeTime('0x02 0x0b\n'), { usedA: 0.2, usedB: 1.1 });
  assert.deepEqual(parseEmmcLifeTime('0x00 0x01'), { usedB: 0.1 });
  assert.equal(parseEmmcLifeTime('2 3'), undefined);
  assert.equal(parsePreEol('0x01'), 'normal');
  assert.equal(parsePreEol('0x03\n'), 'urgent');
  assert.equal(parsePreEol('0x07'), undefined);
  assert.deepEqual(parseMeminfo('MemTotal:        3882764 kB\nMemFree:  1 kB\nMemAvailable:    2000000 kB\n'), {
    totalBytes: 3882764 * 1024,
    availableBytes: 2000000 * 1024,
  });
  assert.equal(parseMeminfo('MemTotal: 1 kB\n'), undefined);
});

/** A Raspberry Pi's files as its kernel writes them, under `root` (the mock: no Pi here). */
async function fakePi(root: string, throttled = '0'): Promise<(file: string, text: string) => Promise<void>> {
  const put = async (file: string, text: string): Promise<void> => {
    await mkdir(dirname(join(root, file)), { recursive: true });
    await writeFile(join(root, file), text);
  };
  await put('sys/class/thermal/thermal_zone0/temp', '52350\n');
  await put('sys/class/thermal/thermal_zone0/type', 'cpu-thermal\n');
  // a zone whose sensor does not answer: listed, then refused as a problem of the read, never a 0
  await put('sys/class/thermal/thermal_zone1/temp', 'garbage\n');
  await put('sys/class/thermal/thermal_zone1/type', 'rp1_adc\n');
  await put(THROTTLED_FILE, `${throttled}\n`);
  await put('proc/pressure/io', 'some avg10=0.00 avg60=2.50 avg300=0.00 total=3000000\nfull avg10=0.00 avg60=1.00 avg300=0.00 total=1000000\n');
  await put('proc/pressure/memory', 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n');
  await put('sys/block/mmcblk0/device/life_time', '0x03 0x01\n');
  await put('sys/block/mmcblk0/device/pre_eol_info', '0x01\n');
  // an SD card: neither file
  await mkdir(join(root, 'sys/block/mmcblk1/device'), { recursive: true });
  await put('proc/meminfo', 'MemTotal:        3882764 kB\nMemAvailable:    1941382 kB\n');
  return put;
}

test('the reader on a fake Raspberry Pi tree: found once, read, a bad file a problem', async (t) => {
  const root = await tempDir(t, 'gatehouse-host-');
  await fakePi(root, '50000');
  const files = await probeHost(root);
  assert.deepEqual(
    files.thermal.map((z) => [z.zone, z.type]),
    [
      ['thermal_zone0', 'cpu-thermal'],
      ['thermal_zone1', 'rp1_adc'],
    ],
  );
  assert.ok(files.throttled);
  assert.deepEqual(
    files.pressure.map((p) => p.resource),
    ['memory', 'io'],
  );
  assert.deepEqual(
    files.emmc.map((e) => e.device),
    ['mmcblk0'],
  );
  const s = await readHost(files, () => 1_000);
  assert.deepEqual(s.temperatures, [{ zone: 'thermal_zone0', type: 'cpu-thermal', celsius: 52.35 }]);
  assert.equal(s.throttled?.sinceBoot.underVoltage, true);
  assert.equal(s.throttled?.now.underVoltage, false);
  assert.equal(s.pressure.io?.some?.avg60, 2.5);
  assert.deepEqual(s.emmc, [{ device: 'mmcblk0', usedA: 0.3, usedB: 0.1, preEol: 'normal' }]);
  assert.equal(s.memory?.availableBytes, 1941382 * 1024);
  assert.equal(s.problems.length, 1);
  assert.match(s.problems[0]!, /thermal_zone1\/temp: unexpected content "garbage"/);
});

test('an empty tree (a container, a PC without these files): nothing found, nothing declared, one start line', async (t) => {
  const root = await tempDir(t, 'gatehouse-host-empty-');
  const files = await probeHost(root);
  assert.equal(anyHostFiles(files), false);
  const lines: Array<Record<string, unknown>> = [];
  const registry = new Registry();
  const h = await startHostHealth({ logger: pino({ level: 'debug' }, sink(lines)), registry, root });
  t.after(() => h.stop());
  assert.equal(h.current(), undefined);
  assert.equal(hostOverview(h), null);
  assert.deepEqual(
    lines.map((l) => l.msg),
    ['host health: no temperature, throttling, pressure or eMMC files here; nothing is read'],
  );
  assert.equal((await registry.metrics()).includes('gatehouse_host_'), false);
});

function sink(lines: Array<Record<string, unknown>>): Writable {
  return new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
}

test('the watcher: metrics at each read, one log line per under-voltage transition, not per read', async (t) => {
  const root = await tempDir(t, 'gatehouse-host-watch-');
  const put = await fakePi(root, '0');
  const lines: Array<Record<string, unknown>> = [];
  const registry = new Registry();
  // a timer long enough never to fire here: the reads are the test's refresh() calls
  const h = await startHostHealth({ logger: pino({ level: 'info' }, sink(lines)), registry, root, everyMs: 3_600_000 });
  t.after(() => h.stop());
  assert.equal(await metricValue(registry, 'gatehouse_host_temperature_celsius', { type: 'cpu-thermal' }), 52.35);
  assert.equal(await metricValue(registry, 'gatehouse_host_throttle_active', { flag: 'under_voltage' }), 0);
  assert.equal(await metricValue(registry, 'gatehouse_host_pressure_stalled_seconds_total', { resource: 'io', kind: 'some' }), 3);
  assert.equal(await metricValue(registry, 'gatehouse_host_emmc_life_used_ratio', { device: 'mmcblk0', cells: 'A' }), 0.3);
  assert.equal(await metricValue(registry, 'gatehouse_host_memory_total_bytes'), 3882764 * 1024);
  assert.deepEqual(h.warnings(), []);
  const underVoltage = (): string[] => lines.map((l) => String(l.msg)).filter((m) => /^host: under-voltage/.test(m));

  await put(THROTTLED_FILE, '50005\n');
  await h.refresh();
  await h.refresh();
  await h.refresh();
  assert.equal(await metricValue(registry, 'gatehouse_host_throttle_active', { flag: 'under_voltage' }), 1);
  assert.equal(await metricValue(registry, 'gatehouse_host_throttle_occurred', { flag: 'throttled' }), 1);
  assert.equal(underVoltage().length, 1, 'one line for three reads under-voltage');
  assert.match(underVoltage()[0]!, /^host: under-voltage began/);
  assert.match(h.warnings().join('; '), /under-voltage now.*; the CPU is throttled \(under-voltage now, throttled now\)/);
  // the pressure counter follows the kernel's total, not a sum of reads
  await put('proc/pressure/io', 'some avg10=0.00 avg60=2.50 avg300=0.00 total=5000000\nfull avg10=0.00 avg60=1.00 avg300=0.00 total=1000000\n');

  await put(THROTTLED_FILE, '50000\n');
  await h.refresh();
  await h.refresh();
  assert.deepEqual(underVoltage().slice(1), ['host: under-voltage ended']);
  assert.equal(await metricValue(registry, 'gatehouse_host_throttle_active', { flag: 'under_voltage' }), 0);
  assert.equal(await metricValue(registry, 'gatehouse_host_throttle_occurred', { flag: 'under_voltage' }), 1);
  assert.equal(await metricValue(registry, 'gatehouse_host_pressure_stalled_seconds_total', { resource: 'io', kind: 'some' }), 5);
  assert.deepEqual(h.warnings(), ['the board was under-voltage since boot: the power supply dips under load']);
  const o = hostOverview(h) as { throttled: { raw: string; text: string }; underVoltage: boolean };
  assert.equal(o.throttled.raw, '0x50000');
  assert.equal(o.underVoltage, false);
  // every metric the watcher sets is one the alert rules' test knows
  const names = [...(await registry.metrics()).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
  assert.deepEqual(
    names.filter((n) => !HOST_METRICS.includes(n)),
    [],
  );
  assert.equal(names.length, HOST_METRICS.length);
});

test("this machine's real /sys and /proc: what exists is read and parsed sanely", async () => {
  const files = await probeHost('/');
  const s = await readHost(files);
  assert.deepEqual(s.problems, [], 'every file found at start reads and parses');
  for (const z of s.temperatures) assert.ok(z.celsius > -40 && z.celsius < 130, `${z.type} ${z.celsius} °C`);
  if (existsSync('/proc/meminfo')) {
    assert.ok(s.memory, '/proc/meminfo read');
    assert.ok(s.memory.availableBytes > 0 && s.memory.availableBytes <= s.memory.totalBytes);
  }
  // PSI: present unless the kernel lacks it or booted with psi=0 (then the file refuses its read)
  for (const p of files.pressure) {
    const got = s.pressure[p.resource];
    assert.ok(got?.some, `${p.resource} has a some line`);
    assert.ok(got.some.avg60 >= 0 && got.some.avg60 <= 100);
  }
  if (s.throttled) assert.ok(s.throttled.raw >= 0);
});

test('zones and devices are read in the order of their numbers (thermal_zone2 before thermal_zone10), without ICU', () => {
  assert.deepEqual(['thermal_zone10', 'thermal_zone2', 'cooling_device0', 'thermal_zone1', 'hwmon', 'hwmon3'].sort(byTrailingNumber), [
    'cooling_device0',
    'hwmon',
    'hwmon3',
    'thermal_zone1',
    'thermal_zone2',
    'thermal_zone10',
  ]);
});
