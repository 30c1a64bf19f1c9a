// bin/gatehouse.js refuses a Node.js older than 20 before it loads the CLI (Raspberry Pi OS 12's apt
// Node.js is 18). No Node 18 here: a preload makes this node report 18 (process.version and
// process.versions.node are what the launcher reads), which is all the check depends on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot, tempDir } from '../helpers/index.js';

test('a Node.js older than 20 gets one line naming its version and the fix, exit 78 (not restarted by systemd)', async (t) => {
  const dir = await tempDir(t);
  const preload = join(dir, 'node18.cjs');
  await writeFile(
    preload,
    "Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '18.19.1' } });\nObject.defineProperty(process, 'version', { value: 'v18.19.1' });\n",
  );
  const old = spawnSync(process.execPath, ['-r', preload, join(repoRoot, 'bin/gatehouse.js'), 'errors'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(old.status, 78, old.stderr);
  assert.equal(old.stdout, '', 'nothing of the CLI ran');
  assert.match(old.stderr, /^gatehouse: needs Node\.js 20 or newer .*this is v18\.19\.1 at .*Fix: install Node\.js 22 or 24/);
  // the node running this test (>= 20) runs the same command
  const now = spawnSync(process.execPath, [join(repoRoot, 'bin/gatehouse.js'), 'errors'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(now.status, 0, now.stderr);
  assert.match(now.stdout, /GH_CONFIG_INVALID/);
});
