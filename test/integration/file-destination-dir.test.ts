// A file destination's relative `dir` is the data dir's (as its default <dataDir>/export is), not
// the working directory's: under the systemd unit WorkingDirectory is the data dir and the config
// folder /etc/gatehouse is read-only (ProtectSystem=strict), so that is where it went there; a
// gateway run from another folder (`npm start` in a checkout) wrote elsewhere. Real in-process
// gateway and mqtt.js publisher, the process's working directory moved to another folder (each
// test file runs in a process of its own); check-config through the real CLI entry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { tempDir, waitUntil } from '../helpers/index.js';
import { checkConfigFile } from '../helpers/check-config.js';

/** Every file below `dir` (relative paths), or [] when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

test("a file destination's relative dir (dir: out) is <dataDir>/out, whatever the working directory; check-config names the folder", async (t) => {
  const root = await tempDir(t);
  // The config in one folder (/etc/gatehouse), the data dir in another (/var/lib/gatehouse), the process run from a third.
  const etc = join(root, 'etc');
  const dataDir = join(root, 'var');
  const cwd = join(root, 'home');
  await mkdir(etc);
  await mkdir(cwd);
  const file = join(etc, 'gatehouse.yaml');
  await writeFile(
    file,
    `dataDir: ${JSON.stringify(dataDir)}\nexporters: [{ name: files, stream: archive, batch: { lingerMs: 0 }, destination: { type: file, dir: out } }]\n`,
  );
  const before = process.cwd();
  process.chdir(cwd);
  t.after(() => process.chdir(before));

  const checked = await checkConfigFile(file);
  assert.equal(checked.code, 0, checked.err);
  assert.match(checked.out, new RegExp(`exporter 'files' writes its files under ${join(dataDir, 'out').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\n`));

  const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), {
    logger: pino({ level: 'silent' }),
    registry: createMetricsRegistry('test', 'gw'),
    version: 'test',
  });
  t.after(() => gw.stop());
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  await c.publishAsync('site/a/data', '{"temp":21.5}', { qos: 1 });
  await c.endAsync();
  await waitUntil(
    () => (gw.streams.info('archive').consumers.find((x) => x.name === 'files')?.checkpoint ?? 0) >= 1 || undefined,
    'the record exported',
    10_000,
    20,
  );
  const written = await filesUnder(join(dataDir, 'out'));
  assert.equal(written.length, 1, `one export file under <dataDir>/out: ${written.join(', ')}`);
  assert.match(await readFile(written[0]!, 'utf8'), /"payload":\{"temp":21\.5\}/);
  assert.deepEqual(await filesUnder(join(cwd, 'out')), [], 'nothing under the working directory');
  assert.deepEqual(await filesUnder(join(etc, 'out')), [], "nothing under the config file's folder");
});
