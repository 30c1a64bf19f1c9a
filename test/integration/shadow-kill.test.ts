// The local Device Shadows survive a kill -9 (a `gatehouse start` child process): a document
// answered `accepted` (and PUBACKed) is there after the restart, with its version, and a deleted
// one stays deleted; then `gatehouse shadow list|get|update|delete` run for real against the
// restarted gateway, an update from the CLI reaching the device as a delta over MQTT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/index.js';
import { cliCommand, startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { device } from '../helpers/shadow.js';

const run = promisify(execFile);

/** `gatehouse shadow ...` against the gateway's admin API: exit code, stdout, stderr. */
async function shadowCli(adminUrl: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { cmd, args: pre } = cliCommand();
  try {
    const r = await run(cmd, [...pre, 'shadow', ...args, '--admin', adminUrl], { timeout: 30_000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: x.code ?? -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

test('kill -9 after accepted: the documents are there after the restart; then the CLI lists, gets, updates (a delta to the device) and deletes', {
  timeout: 120_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-shadow-kill-');
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n`);
  const first = await startGatewayProcess(config);
  t.after(() => first.kill9());
  const d = await device(t, first.mqttUrl, { clientId: 'boiler' });
  await d.c.subscribeAsync(['$aws/things/boiler/shadow/update/accepted', '$aws/things/boiler/shadow/name/+/+/accepted'], { qos: 1 });
  for (let i = 1; i <= 5; i++) await d.send('$aws/things/boiler/shadow/update', { state: { reported: { temp: 60 + i } } });
  await d.send('$aws/things/boiler/shadow/name/old/update', { state: { reported: { x: 1 } } });
  await d.send('$aws/things/boiler/shadow/name/old/delete', '');
  // the PUBACK of each came after its document's write; the accepted of the last is in
  assert.equal((await d.next('$aws/things/boiler/shadow/name/old/delete/accepted')).version, 1);
  await d.c.endAsync(true);
  await first.kill9();

  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const dev = await device(t, gw.mqttUrl, { clientId: 'boiler' });
  await dev.c.subscribeAsync(
    ['$aws/things/boiler/shadow/get/accepted', '$aws/things/boiler/shadow/update/delta', '$aws/things/boiler/shadow/name/old/get/rejected'],
    {
      qos: 1,
    },
  );
  await dev.send('$aws/things/boiler/shadow/get', '');
  const got = await dev.next('$aws/things/boiler/shadow/get/accepted');
  assert.deepEqual(got.state, { reported: { temp: 65 } });
  assert.equal(got.version, 5);
  await dev.send('$aws/things/boiler/shadow/name/old/get', '');
  assert.equal((await dev.next('$aws/things/boiler/shadow/name/old/get/rejected')).code, 404, 'a deleted shadow stays deleted');

  const list = await shadowCli(gw.adminUrl, ['list']);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, /^boiler \(classic\): version 5, updated \d{4}-\d\d-\d\dT[\d:.]+Z, state \d+ bytes$/m);
  assert.doesNotMatch(list.out, /old/);
  const get = await shadowCli(gw.adminUrl, ['get', 'boiler']);
  assert.equal(get.code, 0, get.err);
  assert.deepEqual((JSON.parse(get.out) as { state: object }).state, { reported: { temp: 65 } });

  // an update from the CLI: accepted, and the device gets the delta as from an app over MQTT
  const upd = await shadowCli(gw.adminUrl, ['update', 'boiler', '{"state":{"desired":{"temp":70}},"clientToken":"cli"}']);
  assert.equal(upd.code, 0, upd.err);
  assert.equal((JSON.parse(upd.out) as { version: number }).version, 6);
  const delta = await dev.next('$aws/things/boiler/shadow/update/delta');
  assert.deepEqual(delta.state, { temp: 70 });
  assert.equal(delta.clientToken, 'cli');
  const conflict = await shadowCli(gw.adminUrl, ['update', 'boiler', '{"state":{"desired":{"temp":71}},"version":2}']);
  assert.equal(conflict.code, 1);
  assert.match(conflict.err, /GH_SHADOW_REJECTED.*409 Version conflict/);
  const named = await shadowCli(gw.adminUrl, ['update', 'boiler', '--name', 'cfg', '{"state":{"desired":{"mode":"eco"}}}']);
  assert.equal(named.code, 0, named.err);
  assert.match((await shadowCli(gw.adminUrl, ['list'])).out, /^boiler \(name cfg\): version 1/m);

  const del = await shadowCli(gw.adminUrl, ['delete', 'boiler']);
  assert.equal(del.code, 0, del.err);
  assert.equal((JSON.parse(del.out) as { version: number }).version, 6);
  const gone = await shadowCli(gw.adminUrl, ['get', 'boiler']);
  assert.equal(gone.code, 1);
  assert.match(gone.err, /404 No shadow exists with name: 'boiler'/);
  const usage = await shadowCli(gw.adminUrl, ['frob']);
  assert.equal(usage.code, 2);
  assert.match(usage.err, /unknown shadow command 'frob'/);
});
