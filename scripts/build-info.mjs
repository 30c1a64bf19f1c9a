#!/usr/bin/env node
// Build step after tsc (npm run build): dist/build-info.json names the commit the build was made
// from (`git describe --always --dirty`), so a running gateway reports `0.1.0+<commit>` as its
// version (status, heartbeat, gatehouse_info, the start log, `gatehouse --version`) and a fleet
// can tell whether an upgrade took: package.json's version is the same for every build. Outside a
// git checkout (a tarball) the commit is null and the version is package.json's alone.
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const git = (...args) =>
  execFileSync('git', args, { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
    .toString()
    .trim();
let commit = null;
try {
  // this checkout's own commit, not that of a repository the folder happens to sit in
  if (realpathSync(git('rev-parse', '--show-toplevel')) === realpathSync(root)) commit = git('describe', '--always', '--dirty', '--abbrev=12');
} catch {
  // no git, or not a checkout
}
await writeFile(join(root, 'dist', 'build-info.json'), `${JSON.stringify({ commit, builtAt: new Date().toISOString() })}\n`);
