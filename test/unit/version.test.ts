// The version a gateway reports names the build's commit (0.1.0+<commit>): package.json's version
// is the same for every build, so after an upgrade neither `gatehouse --version`, the status, the
// heartbeat nor gatehouse_info could tell which build ran (found upgrading with `git pull && npm ci`:
// both builds said 0.1.0; docs/upgrading.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '../../gateway/cli/main.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { compiled, repoRoot } from '../helpers/index.js';

test('gatehouse --version is package.json version plus the commit the build was made from', { skip: !compiled && 'runs from dist/' }, async () => {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  // (absent: built by tsc alone, not npm run build)
  const info = JSON.parse(await readFile(join(repoRoot, 'dist', 'build-info.json'), 'utf8').catch(() => '{"commit":null}')) as { commit: string | null };
  const run = await runCaptured(main, ['--version']);
  assert.equal(run.code, 0);
  if (info.commit === null) {
    assert.equal(run.out.trim(), pkg.version, 'built outside a git checkout: the package version alone');
    return;
  }
  assert.equal(run.out.trim(), `${pkg.version}+${info.commit}`);
  const hash = info.commit.replace(/-dirty$/, '');
  assert.match(hash, /^[0-9a-f]{12,}$/);
  // a commit of this checkout
  assert.equal(execFileSync('git', ['cat-file', '-t', hash], { cwd: repoRoot }).toString().trim(), 'commit');
});

test('gatehouse --help lists --version (docs/upgrading.md tells to run it; the help named every command but it)', async () => {
  const run = await runCaptured(main, ['--help']);
  assert.equal(run.code, 0);
  assert.match(run.out, /^ {2}--version +print the version: 0\.1\.0\+<commit>, the commit the build was made from$/m);
});
