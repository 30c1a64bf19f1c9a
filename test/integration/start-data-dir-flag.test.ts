// `--data-dir` wins over the file's `dataDir` (flags win over the file). The systemd unit passes
// `--data-dir /var/lib/gatehouse`, so a Pi owner who set `dataDir: /mnt/ssd/gatehouse` in
// /etc/gatehouse/gatehouse.yaml (data off the SD card) had it ignored without a word, while
// `check-config` of the same file said "data in /mnt/ssd/gatehouse". The start now says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { tempDir } from '../helpers/index.js';

test("--data-dir over a different dataDir in the config file: the start warns, naming both and the unit's flag", async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(dir, 'dataDir: ssd/gatehouse\n');
  const flag = join(dir, 'var-lib');
  const gw = await startGatewayProcess(config, ['--data-dir', flag]);
  t.after(() => gw.kill9());
  const warning = gw.logs.find((l) => l.level === 40 && /dataDir/.test(String(l.msg)));
  assert.ok(warning, `a warning: ${JSON.stringify(gw.logs.map((l) => l.msg))}`);
  assert.equal(warning.fileDataDir, join(dir, 'ssd/gatehouse'));
  assert.equal(warning.dataDir, flag);
  assert.match(String(warning.msg), /--data-dir .* wins over dataDir .* in .*gatehouse\.yaml/);
  assert.match(String(warning.msg), /systemctl edit gatehouse/);
  assert.ok(existsSync(join(flag, 'store')), 'the flag is what is used');
  assert.equal(await gw.stop(), 0);
});

test('--data-dir equal to the file dataDir, or with a file naming none: no warning', async (t) => {
  const dir = await tempDir(t);
  const same = await writeConfig(dir, `dataDir: ${join(dir, 'data')}\n`);
  const a = await startGatewayProcess(same, ['--data-dir', join(dir, 'data')]);
  assert.equal(await a.stop(), 0);
  assert.deepEqual(
    a.logs.filter((l) => l.level === 40 && /dataDir/.test(String(l.msg))),
    [],
  );
});
