// systemd/install.sh staged into a temporary root (DESTDIR): the files it lays down, idempotence,
// uninstall keeping data, purge; and the unit checked by systemd-analyze where available.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { repoRoot, tempDir, which } from '../helpers/index.js';

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
    'etc/gatehouse/gatehouse.yaml',
    'etc/systemd/system/gatehouse.service',
    'var/lib/gatehouse',
  ]) {
    assert.ok(existsSync(join(root, p)), `${p} installed`);
  }
  assert.match(first.out, /wrote starter config/);
  assert.match(first.out, /installed unit/);

  // The user's config is never overwritten; the unit is left alone when unchanged.
  await writeFile(join(root, 'etc/gatehouse/gatehouse.yaml'), 'gatewayId: mine\n');
  await writeFile(join(root, 'var/lib/gatehouse/keep.txt'), 'data');
  const second = install(root);
  assert.equal(second.code, 0, second.out);
  assert.match(second.out, /kept existing/);
  assert.match(second.out, /up to date/);
  assert.equal(readFileSync(join(root, 'etc/gatehouse/gatehouse.yaml'), 'utf8'), 'gatewayId: mine\n');

  const un = install(root, '--uninstall');
  assert.equal(un.code, 0, un.out);
  assert.ok(!existsSync(join(root, 'etc/systemd/system/gatehouse.service')));
  assert.ok(!existsSync(join(root, 'opt/gatehouse')));
  assert.ok(existsSync(join(root, 'var/lib/gatehouse/keep.txt')), 'data kept');
  assert.ok(existsSync(join(root, 'etc/gatehouse/gatehouse.yaml')), 'config kept');

  const purge = install(root, '--uninstall', '--purge');
  assert.equal(purge.code, 0, purge.out);
  assert.ok(!existsSync(join(root, 'var/lib/gatehouse')));
  assert.ok(!existsSync(join(root, 'etc/gatehouse')));
  assert.equal(install(root, '--bogus').code, 2);
});

test('the starter config passes check-config', () => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'gatehouse.js'), 'check-config', join(repoRoot, 'systemd', 'gatehouse.example.yaml')], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /OK/);
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
  ]) {
    assert.ok(unit.includes(line), `unit has ${line}`);
  }
  const r = spawnSync('systemd-analyze', ['verify', join(repoRoot, 'systemd', 'gatehouse.service')], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});
