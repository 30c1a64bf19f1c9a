// `gatehouse check-config` on a config text, through the real CLI entry (in process): its exit
// code and what it printed. For tests that a wrong option is refused before `start`, with its key.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { main } from '../../gateway/cli/main.js';
import { tempDir } from './index.js';
import { runCaptured, type CliRun } from './cli-capture.js';

/** `gatehouse check-config FILE`: its exit code and what it printed (a throw counts as exit 1). */
export async function checkConfigFile(file: string): Promise<CliRun> {
  try {
    return await runCaptured(main, ['check-config', file]);
  } catch (e) {
    return { code: 1, out: '', err: String(e) };
  }
}

/**
 * A config with one stream `up` (every fleet/# message) and one exporter of it, `name`, to
 * `destination` (YAML flow text): for tests of a destination's options through check-config.
 */
export function exporterConfigText(destination: string, name = 'cloud'): string {
  return `
broker: { listeners: [{ host: 127.0.0.1, port: 0 }] }
admin: { enabled: false }
streams: { up: { maxBytes: 16777216 } }
rules: { version: 1, rules: [{ name: up, sql: "SELECT * FROM 'fleet/#'", actions: [{ stream: { name: up } }] }] }
exporters:
  - name: ${name}
    stream: up
    destination: ${destination}
`;
}

/** A gatehouse.yaml in a temp dir (`dir`, beside the files it names): check() writes `yaml` to it and checks it. */
export async function configIn(t: TestContext): Promise<{ dir: string; file: string; check(yaml: string): Promise<CliRun> }> {
  const dir = await tempDir(t);
  const file = join(dir, 'gatehouse.yaml');
  return {
    dir,
    file,
    async check(yaml) {
      await writeFile(file, yaml);
      return checkConfigFile(file);
    },
  };
}

/** `gatehouse check-config` on `yaml`, written to a gatehouse.yaml of its own. */
export async function checkConfigText(t: TestContext, yaml: string): Promise<CliRun> {
  const dir = await tempDir(t);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, yaml);
  return checkConfigFile(file);
}
