// systemd/install.sh staged into a temporary root (DESTDIR): the files it lays down, idempotence,
// uninstall keeping data, purge; and the unit checked by systemd-analyze where available.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { repoRoot, tempDir, which } from '../helpers/index.js';
import { findPageDir, loadPageFiles } from '../../gateway/admin/status-page.js';
import { pingIntervalMs } from '../../gateway/runtime/service-notify.js';

function install(root: string, ...args: string[]): { code: number | null; out: string } {
  const r = spawnSync('bash', [join(repoRoot, 'systemd', 'install.sh'), '--no-modules', ...args], { env: { ...process.env, DESTDIR: root }, encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('install.sh stages program, config, unit and state dir; is idempotent; uninstall keeps data unless --purge', async (t) => {
  const root = await tempDir(t);
  const first = install(root);
  assert.equal(first.code, 0, first.out);
  for (const p of [
    'opt/gatehouse/bin/gatehouse.js',
    'opt/gatehouse/dist/gateway/cli/main.js',
    'opt/gatehouse/package.json',
    // The status page's files, found next to package.json (gateway/admin/status-page.ts): without
    // them the installed gateway served 'the status page files were not found'.
    'opt/gatehouse/gateway/admin/page/index.html',
    'opt/gatehouse/gateway/admin/page/app.js',
    'etc/gatehouse/gatehouse.yaml',
    'etc/systemd/system/gatehouse.service',
    'var/lib/gatehouse',
  ]) {
    assert.ok(existsSync(join(root, p)), `${p} installed`);
  }
  assert.ok(
    !existsSync(join(root, 'opt/gatehouse/dist/test')),
    'the compiled tests and benches are not installed (over half of dist, for nothing on an SD card)',
  );
  assert.match(first.out, /wrote starter config/);
  // `gatehouse` on PATH: the README, the docs and the installer's own messages say
  // `gatehouse check-config /etc/gatehouse/gatehouse.yaml`, which was 'command not found'.
  assert.equal(readlinkSync(join(root, 'usr/local/bin/gatehouse')), '/opt/gatehouse/bin/gatehouse.js');
  const installedPage = findPageDir(join(root, 'opt/gatehouse/dist/gateway/admin'));
  assert.equal(installedPage, join(root, 'opt/gatehouse/gateway/admin/page'));
  assert.deepEqual([...loadPageFiles(installedPage!).keys()].sort(), [...loadPageFiles(join(repoRoot, 'gateway/admin/page')).keys()].sort());
  assert.match(first.out, /installed unit/);

  // The user's config is never overwritten; the unit is left alone when unchanged.
  await writeFile(join(root, 'etc/gatehouse/gatehouse.yaml'), 'gatewayId: mine\n');
  await writeFile(join(root, 'var/lib/gatehouse/keep.txt'), 'data');
  const second = install(root);
  assert.equal(second.code, 0, second.out);
  assert.match(second.out, /kept existing/);
  assert.match(second.out, /up to date/);
  assert.equal(readFileSync(join(root, 'etc/gatehouse/gatehouse.yaml'), 'utf8'), 'gatewayId: mine\n');
  // The kept config is checked by the version being installed: one it refuses is said, with the
  // errors, before a restart would find it (the unit would fail with exit 78).
  // With the unit's --data-dir (the staged state folder here): the data directory it checks and names.
  assert.ok(second.out.includes(`check-config ${join(root, 'etc/gatehouse/gatehouse.yaml')} --data-dir ${join(root, 'var/lib/gatehouse')}: ok`), second.out);
  await writeFile(join(root, 'etc/gatehouse/gatehouse.yaml'), 'gatewayId: mine\nbroker:\n  port: 1883\n');
  const refused = install(root);
  assert.equal(refused.code, 0, refused.out);
  assert.match(refused.out, /WARNING: .*gatehouse\.yaml does not pass check-config with this version/);
  assert.match(refused.out, /broker\.port: unknown key 'port'/);
  await writeFile(join(root, 'etc/gatehouse/gatehouse.yaml'), 'gatewayId: mine\n');

  const un = install(root, '--uninstall');
  assert.equal(un.code, 0, un.out);
  assert.ok(!existsSync(join(root, 'etc/systemd/system/gatehouse.service')));
  assert.ok(!existsSync(join(root, 'opt/gatehouse')));
  assert.throws(() => lstatSync(join(root, 'usr/local/bin/gatehouse')), /ENOENT/, 'the command link is removed');
  assert.ok(existsSync(join(root, 'var/lib/gatehouse/keep.txt')), 'data kept');
  assert.ok(existsSync(join(root, 'etc/gatehouse/gatehouse.yaml')), 'config kept');

  const purge = install(root, '--uninstall', '--purge');
  assert.equal(purge.code, 0, purge.out);
  assert.ok(!existsSync(join(root, 'var/lib/gatehouse')));
  assert.ok(!existsSync(join(root, 'etc/gatehouse')));
  assert.equal(install(root, '--bogus').code, 2);
  // --help is the usage comment at the top of the script, all of it and nothing else: it printed a
  // line past it, `set -euo pipefail`.
  const help = install(root, '--help');
  assert.equal(help.code, 0, help.out);
  const lines = help.out.trimEnd().split('\n');
  assert.match(lines[0]!, /^# Install \(or uninstall\) Gatehouse/);
  assert.match(lines.at(-1)!, /--no-modules/);
  assert.deepEqual(
    lines.filter((l) => !l.startsWith('#')),
    [],
    'only the comment block',
  );
});

test('the starter config passes check-config', () => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'gatehouse.js'), 'check-config', join(repoRoot, 'systemd', 'gatehouse.example.yaml')], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /OK/);
});

test("the starter config opened to the network as its comments say (the 0.0.0.0 line in place of 127.0.0.1's, users, no anonymous, acl) passes check-config", async (t) => {
  const dir = await tempDir(t);
  const hash = 'scrypt$16384$8$1$xVvrEHvemuYo2MiIkFABpQ==$uWwSj9v7f8jTWbAQzjidP2YLhe32Sc1gmRynh2aoxHo=';
  const lines = readFileSync(join(repoRoot, 'systemd', 'gatehouse.example.yaml'), 'utf8').split('\n');
  const out: string[] = [];
  for (const line of lines) {
    if (line === '    - { host: 127.0.0.1, port: 1883 }') continue; // replaced, as the comment says
    if (/^ {2}# {3}- \{ host: 0\.0\.0\.0/.test(line) || /^ {2}# {3}patterns:/.test(line)) out.push(`    ${line.slice(6)}`);
    else if (/^ {2}# {3}- \{ username:/.test(line)) out.push(`    - { username: truck7, password: '${hash}' }`);
    else if (/^ {2}# (allowAnonymous|users|acl):/.test(line)) out.push(`  ${line.slice(4)}`);
    else out.push(line);
  }
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, `dataDir: ${join(dir, 'data')}\n${out.join('\n')}`);
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'gatehouse.js'), 'check-config', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stderr}\n${out.join('\n')}`);
  assert.match(r.stdout, /OK: 1 listener\(s\)/);
});

test('the unit passes systemd-analyze verify and has the hardening the design asks for', {
  skip: which('systemd-analyze') ? undefined : "needs 'systemd-analyze': install the Debian package 'systemd'",
}, () => {
  const unit = readFileSync(join(repoRoot, 'systemd', 'gatehouse.service'), 'utf8');
  for (const line of [
    'User=gatehouse',
    'SupplementaryGroups=dialout',
    'Restart=on-failure',
    'ProtectSystem=strict',
    'ReadWritePaths=/var/lib/gatehouse',
    'NoNewPrivileges=yes',
    'PrivateTmp=yes',
    'TimeoutStopSec=',
    'Type=notify',
    'NotifyAccess=all',
    'WatchdogSec=',
  ]) {
    assert.ok(unit.includes(line), `unit has ${line}`);
  }
  const r = spawnSync('systemd-analyze', ['verify', join(repoRoot, 'systemd', 'gatehouse.service')], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});

test('the unit is Type=notify with a watchdog the gateway pings in time and a start timeout for a store repair on a slow card', () => {
  const unit = readFileSync(join(repoRoot, 'systemd', 'gatehouse.service'), 'utf8');
  const service = unit.split(/^\[Service\]$/m)[1]!.split(/^\[/m)[0]!;
  const value = (key: string): string | undefined => [...service.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].at(-1)?.[1];
  assert.equal(value('Type'), 'notify');
  // The messages come from systemd-notify, a child of the main process (service-notify.ts).
  assert.equal(value('NotifyAccess'), 'all');
  const seconds = (v: string | undefined): number => {
    const m = /^(\d+)(min|s)?$/.exec(v ?? '');
    assert.ok(m, `a time span systemd and this test read: ${v}`);
    return Number(m[1]) * (m[2] === 'min' ? 60 : 1);
  };
  const watchdog = seconds(value('WatchdogSec'));
  // As systemd passes it: WATCHDOG_USEC in µs. The pings come at least twice per WatchdogSec= (sd_watchdog_enabled(3)).
  const every = pingIntervalMs({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: String(watchdog * 1e6) }, 1);
  assert.ok(every !== undefined && every <= (watchdog * 1000) / 2, `pings every ${every} ms for WatchdogSec=${watchdog}`);
  assert.ok(watchdog >= 30, 'long enough that a busy Pi (garbage collection, a rule set compiled) is never taken for a hang');
  // A damaged store's repair on a slow card (docs/store.md) fits; the wait for disk space extends it itself.
  assert.ok(seconds(value('TimeoutStartSec')) >= 10 * 60);
  assert.equal(value('LimitCORE'), '0', 'no core file of a killed gateway on the SD card');
});

test('serial devices plugged in after boot stay reachable: the USB serial drivers load at boot, before the unit resolves DeviceAllow', async (t) => {
  // DeviceAllow=char-ttyUSB / char-ttyACM name groups of /proc/devices, which exist only once
  // usbserial / cdc_acm are loaded; a group missing when the unit starts is left out of the allow
  // list (systemd.resource-control(5)), so an adapter plugged in later got EPERM until a restart.
  const root = await tempDir(t);
  const r = install(root);
  assert.equal(r.code, 0, r.out);
  // The unit's Documentation= is a file the installer lays down (`systemctl help gatehouse`): it
  // named a web address the project has nowhere else.
  const docs = [...readFileSync(join(root, 'etc/systemd/system/gatehouse.service'), 'utf8').matchAll(/^Documentation=(.*)$/gm)].flatMap((m) =>
    m[1]!.split(' '),
  );
  assert.deepEqual(docs, ['file:/opt/gatehouse/README.md']);
  assert.ok(existsSync(join(root, 'opt/gatehouse/README.md')), 'the README is installed');
  const conf = readFileSync(join(root, 'etc/modules-load.d/gatehouse.conf'), 'utf8');
  const modules = conf.split('\n').filter((l) => l && !l.startsWith('#'));
  assert.deepEqual(modules, ['usbserial', 'cdc_acm']);
  assert.match(r.out, /modules-load\.d\/gatehouse\.conf/);
  const unit = readFileSync(join(root, 'etc/systemd/system/gatehouse.service'), 'utf8');
  assert.match(unit, /^After=.*systemd-modules-load\.service/m);
  assert.match(unit, /^DeviceAllow=char-ttyUSB rw$/m);
  assert.doesNotMatch(unit, /^DeviceAllow=\/dev\/serial /m, '/dev/serial is a folder of links, not a device node');
  const un = install(root, '--uninstall');
  assert.equal(un.code, 0, un.out);
  assert.ok(!existsSync(join(root, 'etc/modules-load.d/gatehouse.conf')), 'removed by --uninstall');
});
