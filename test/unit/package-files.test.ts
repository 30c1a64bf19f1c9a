// What `npm pack` ships (package.json "files"): the program and what it reads at run time, not the
// compiled tests and benchmarks (half the files and 1.5 MB of a 3.1 MB tarball before round 36).
// Every module the shipped code imports by a relative path is shipped too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../helpers/index.js';

const run = promisify(execFile);

test('npm pack ships the program, its page, docs and unit, and no compiled test; every relative import resolves inside the package', async () => {
  // --ignore-scripts: no `prepare` build while other tests run from dist/
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
  const files = new Set((JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path));
  for (const needed of [
    'bin/gatehouse.js',
    'dist/gateway/cli/main.js',
    'dist/build-info.json',
    'gateway/admin/page/index.html',
    'systemd/gatehouse.service',
    'systemd/install.sh',
    'README.md',
    'docs/errors.md',
  ]) {
    assert.ok(files.has(needed), `${needed} is in the package`);
  }
  const tests = [...files].filter((f) => f.startsWith('dist/test/'));
  assert.deepEqual(tests, [], 'compiled tests and benchmarks are not shipped');
  const missing: string[] = [];
  for (const file of files) {
    if (!file.endsWith('.js')) continue;
    const text = await readFile(join(repoRoot, file), 'utf8');
    for (const m of text.matchAll(/(?:from|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = normalize(join(dirname(file), m[1]!));
      if (!files.has(target)) missing.push(`${file} -> ${target}`);
    }
  }
  assert.deepEqual(missing, [], 'relative imports of shipped modules that are not shipped');
});
