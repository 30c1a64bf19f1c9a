// A SIGHUP (`systemctl reload gatehouse`: an operator who edited the config, a certificate agent's
// deploy hook) that comes while the gateway is still starting is held, and the reload runs once the
// start completes. Before, it was dropped ('nothing to reload yet'): the config file had been read
// before the start, so a file edited while the start ran stayed unread, and the rule set it held
// (or a renewed certificate) waited for the next reload. The start is held on a FIFO where the
// retained message file should be (as test/e2e/stop-during-start), released by the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir, waitUntil, which } from '../helpers/index.js';
import { spawnGatewayLogged, writeConfig } from '../helpers/gateway-process.js';

const config = (dataDir: string, version: number): string => `dataDir: ${dataDir}
exporters: []
streams:
  a: {}
rules:
  version: ${version}
  rules:
    - { name: route, sql: "SELECT * FROM 'site/${version}'", actions: [{ stream: { name: a } }] }
`;

test('a SIGHUP during the start reloads the config once the start completes', {
  skip: which('mkfifo') ? undefined : "needs 'mkfifo' (coreutils)",
}, async (t) => {
  const dir = await tempDir(t);
  const data = join(dir, 'data');
  await mkdir(data);
  const fifo = join(data, 'mqtt-retained.json');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const file = await writeConfig(dir, config(data, 1));
  const { proc, logs } = spawnGatewayLogged(file);
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const said = (msg: string | RegExp) => logs.find((l) => typeof l.msg === 'string' && (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg)));
  // Held on the FIFO, with the config (version 1) read: the operator edits it and reloads.
  await waitUntil(() => said('store opened'), 'the start reached the store', 20_000);
  assert.equal(said('gatehouse started'), undefined, 'the start is held on the FIFO');
  await writeFile(file, config(data, 2));
  proc.kill('SIGHUP');
  await waitUntil(() => said(/^SIGHUP during start/), 'the reload acknowledged as held', 5_000);
  // The start goes on: the FIFO gives an empty file (set aside as a damaged snapshot).
  await writeFile(fifo, '');
  await waitUntil(() => said('gatehouse started'), 'the start to complete', 20_000);
  const reloaded = await waitUntil(() => said('reload: rule set'), 'the held reload to apply the edited rule set', 15_000);
  assert.equal(reloaded.state, 'applied');
  assert.equal(reloaded.version, 2);
  proc.kill('SIGTERM');
  await waitUntil(() => proc.exitCode !== null || proc.signalCode !== null || undefined, 'the gateway to stop', 15_000);
  assert.equal(proc.exitCode, 0);
});
