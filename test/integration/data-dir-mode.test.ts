// Secrets at rest: the data directory a gateway makes (stored telemetry, retained messages, MQTT 5
// sessions, file exports) is not readable by other local users, as under the systemd unit
// (StateDirectoryMode=0750, UMask=0027), whatever the umask of the shell running `gatehouse start`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/index.js';
import { startGatewayProcess } from '../helpers/gateway-process.js';

test('start: the data directory it makes (and missing parents) has no access for others (0750 under umask 022)', async (t) => {
  const dir = await tempDir(t);
  const data = join(dir, 'var', 'gatehouse');
  const old = process.umask(0o022); // the child inherits it
  t.after(() => process.umask(old));
  const gw = await startGatewayProcess(undefined, ['--data-dir', data]);
  t.after(() => gw.kill9());
  for (const d of [data, join(dir, 'var')]) assert.equal((await stat(d)).mode & 0o777, 0o750, d);
});
