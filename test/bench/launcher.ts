// What the installed `gatehouse` command runs with: bin/gatehouse.js's `#!/usr/bin/env -S VAR=value
// node --flag ...` line, read from the file so that the benches that start the gateway as a child
// (churn, soak, chaos, pi) run it as shipped and follow the line when it changes.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository's bin/gatehouse.js, from test/bench/ (tsx) or dist/test/bench/ (compiled). */
export const shippedBin: string = join(here.includes(join('dist', 'test')) ? resolve(here, '../../..') : resolve(here, '../..'), 'bin', 'gatehouse.js');

export interface Launcher {
  /** Environment settings before `node` on the line (e.g. MALLOC_MMAP_THRESHOLD_). */
  env: Record<string, string>;
  /** Node's flags after `node` on the line (e.g. --max-semi-space-size=8). */
  nodeFlags: string[];
}

/** The `#!` line of `binFile` taken apart; throws when it is not `#!/usr/bin/env -S ... node ...`. */
export function launcherOf(binFile: string): Launcher {
  const first = readFileSync(binFile, 'utf8').split('\n', 1)[0]!;
  const m = /^#!\/usr\/bin\/env -S (.*)$/.exec(first);
  if (!m) throw new Error(`${binFile}: its first line is not "#!/usr/bin/env -S ... node ...": ${first}`);
  const words = m[1]!.trim().split(/\s+/);
  const at = words.indexOf('node');
  if (at < 0) throw new Error(`${binFile}: no "node" on its #! line: ${first}`);
  const env: Record<string, string> = {};
  for (const w of words.slice(0, at)) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new Error(`${binFile}: "${w}" before "node" on its #! line is not VAR=value`);
    env[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return { env, nodeFlags: words.slice(at + 1) };
}

/** What the repository's own bin/gatehouse.js runs with. */
export const shippedLauncher = (): Launcher => launcherOf(shippedBin);
