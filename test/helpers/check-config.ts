// `gatehouse check-config` on a config text, through the real CLI entry (in process): its exit
// code and what it printed. For tests that a wrong option is refused before `start`, with its key.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { main } from '../../gateway/cli/main.js';
import { tempDir } from './index.js';

/** `gatehouse check-config FILE`: its exit code and what it printed (a throw counts as exit 1). */
export async function checkConfigFile(file: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const w = (f: (s: string) => void): Writable =>
    new Writable({
      write: (c: Buffer, _e, cb) => {
        f(c.toString());
        cb();
      },
    });
  let code: number;
  try {
    code = await main(['check-config', file], { stdout: w((s) => (out += s)), stderr: w((s) => (err += s)) });
  } catch (e) {
    code = 1;
    err += String(e);
  }
  return { code, out, err };
}

export async function checkConfigText(t: TestContext, yaml: string): Promise<{ code: number; out: string; err: string }> {
  const dir = await tempDir(t);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, yaml);
  return checkConfigFile(file);
}
