// SIGHUP (`systemctl reload gatehouse`, the unit's ExecReload) on the real CLI: the edited config's
// rule set is applied, an invalid file or a stale rule set changes nothing, other changed settings
// are named for the next restart, and the gateway never stops. Before, SIGHUP ended the process at
// once (Node's default), which systemd counts as a clean exit and does not restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

const config = (dataDir: string, version: number, stream: string, extra = ''): string => `dataDir: ${dataDir}
streams:
  a: {}
  b: {}
exporters: []
rules:
  version: ${version}
  rules:
    - { name: route, sql: "SELECT * FROM 'site/#'", actions: [{ stream: { name: ${stream} } }] }
${extra}`;

async function rules(gw: GatewayProcess): Promise<{ activeVersion: number; lastUpdate: { state: string; source: string } | null }> {
  const res = await fetch(`${gw.adminUrl}/api/rules`);
  return (await res.json()) as { activeVersion: number; lastUpdate: { state: string; source: string } | null };
}

async function streamLength(gw: GatewayProcess, name: string): Promise<number> {
  const res = await fetch(`${gw.adminUrl}/api/streams`);
  const body = (await res.json()) as { streams: Array<{ name: string; lastSeq: number }> };
  return body.streams.find((s) => s.name === name)?.lastSeq ?? 0;
}

/** SIGHUP, then wait for the log line that ends this reload (one of `msgs`). */
async function hup(gw: GatewayProcess, msgs: RegExp): Promise<Record<string, unknown>> {
  const seen = gw.logs.length;
  gw.proc.kill('SIGHUP');
  return waitUntil(() => gw.logs.slice(seen).find((l) => typeof l.msg === 'string' && msgs.test(l.msg)), `a reload log line matching ${msgs}`, 15_000);
}

test('SIGHUP reloads the rule set from the config file; bad files and stale sets change nothing', async (t) => {
  const dir = await tempDir(t);
  const dataDir = join(dir, 'data');
  const file = await writeConfig(dir, config(dataDir, 1, 'a'));
  const gw = await startGatewayProcess(file);
  t.after(() => gw.stop());
  const client = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0 });
  t.after(() => client.endAsync());

  await client.publishAsync('site/1', '{"n":1}', { qos: 1 });
  assert.equal(await streamLength(gw, 'a'), 1);

  // A new version routing to stream b: applied without a restart.
  await writeFile(file, config(dataDir, 2, 'b'));
  const applied = await hup(gw, /^reload: rule set$/);
  assert.equal(applied.state, 'applied');
  const r = await rules(gw);
  assert.equal(r.activeVersion, 2);
  assert.equal(r.lastUpdate?.source, 'reload');
  await client.publishAsync('site/1', '{"n":2}', { qos: 1 });
  assert.equal(await streamLength(gw, 'b'), 1);
  assert.equal(await streamLength(gw, 'a'), 1);

  // The same file again: nothing to apply.
  await hup(gw, /^reload: the rule set did not change$/);

  // Not YAML: logged, nothing changed, still running.
  await writeFile(file, 'rules: [unclosed\n');
  const invalid = await hup(gw, /^reload: the config file is not valid/);
  assert.match(String(invalid.err), /GH_CONFIG/);
  assert.equal((await fetch(`${gw.adminUrl}/healthz`)).status, 200);
  assert.equal((await rules(gw)).activeVersion, 2);

  // An older version: refused (as at start, a set must be newer than the running one), v2 keeps running.
  await writeFile(file, config(dataDir, 1, 'a'));
  const stale = await hup(gw, /^reload: the rule set was refused/);
  assert.match(JSON.stringify(stale.errors), /GH_RULESET_STALE|not newer/);
  assert.equal((await rules(gw)).activeVersion, 2);

  // Another setting changed with a new rule set: the set is applied, the setting named for a restart.
  const seen = gw.logs.length;
  await writeFile(file, config(dataDir, 3, 'a', 'log: { level: debug }\n'));
  await hup(gw, /^reload: rule set$/);
  const warn = gw.logs.slice(seen).find((l) => l.msg === 'reload: these settings changed and take effect at the next restart');
  assert.deepEqual(warn?.settings, ['log']);
  assert.deepEqual(warn?.changed, ['log.level']);
  assert.equal((await rules(gw)).activeVersion, 3);

  // Settings deep in a section are named by their path (before: 'streams' and 'broker' alone).
  const seen2 = gw.logs.length;
  await writeFile(file, config(dataDir, 3, 'a', 'log: { level: debug }\nbroker: { maxConnections: 7 }\n').replace('a: {}', 'a: { maxBytes: 1048576 }'));
  await hup(gw, /^reload: the rule set did not change$/);
  const warn2 = gw.logs.slice(seen2).find((l) => l.msg === 'reload: these settings changed and take effect at the next restart');
  assert.deepEqual([...((warn2?.settings as string[] | undefined) ?? [])].sort(), ['broker', 'streams']);
  assert.deepEqual([...((warn2?.changed as string[] | undefined) ?? [])].sort(), ['broker.maxConnections', 'streams.a.maxBytes']);

  // Still the same process, and a graceful stop still works.
  assert.equal(gw.proc.exitCode, null);
  assert.equal(await gw.stop(), 0);
});

test('SIGTERM right at start-up stops gracefully (exit 0), never by the default action', async (t) => {
  for (let i = 0; i < 3; i++) {
    const dir = await tempDir(t);
    const gw = await startGatewayProcess(await writeConfig(dir, `dataDir: ${join(dir, 'data')}\n`));
    // At once, as systemd stopping a unit that just started does.
    assert.equal(await gw.stop(), 0, `run ${i}: exit code`);
    assert.ok(
      gw.logs.some((l) => l.msg === 'stopped'),
      `run ${i}: the graceful stop ran`,
    );
  }
});

test('key rotation on SIGHUP: a new signer key is trusted and a retired one refused without a restart; a key file that does not load keeps the running keys', async (t) => {
  const { generateSigningKeys, makeEnvelope, signRuleSetBytes } = await import('../../gateway/control/signing.js');
  const { buildUpdateDocument } = await import('../../gateway/control/document.js');
  const dir = await tempDir(t);
  const oldKey = generateSigningKeys();
  const newKey = generateSigningKeys();
  await writeFile(join(dir, 'old.pub'), oldKey.publicKeyPem);
  await writeFile(join(dir, 'new.pub'), newKey.publicKeyPem);
  await writeFile(join(dir, 'bad.pub'), 'not a key\n');
  const gwConfig = (keys: string[]): string =>
    `gatewayId: site7\n${config(join(dir, 'data'), 1, 'a', `control:\n  publicKeys: [${keys.join(', ')}]\n  probation: { seconds: 0 }\n`)}`;
  const file = await writeConfig(dir, gwConfig(['old.pub']));
  const gw = await startGatewayProcess(file);
  t.after(() => gw.stop());
  const office = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0 });
  t.after(() => office.endAsync());
  const statuses: Array<{ state: string; code?: string; version: number }> = [];
  office.on('message', (_t, p, packet) => {
    if (!packet.retain) statuses.push(JSON.parse(p.toString()) as { state: string; code?: string; version: number });
  });
  await office.subscribeAsync('gatehouse/site7/rules/status', { qos: 1 });
  const push = async (pem: string, version: number): Promise<{ state: string; code?: string; version: number }> => {
    const now = new Date();
    const ruleSet = { version, rules: [{ name: 'route', sql: "SELECT * FROM 'site/#'", actions: [{ stream: { name: 'b' } }] }] };
    const bytes = buildUpdateDocument({ targets: ['site7'], version, issuedAt: now, expiresAt: new Date(now.getTime() + 3600_000), ruleSet });
    const seen = statuses.length;
    await office.publishAsync('gatehouse/site7/rules/set', makeEnvelope(bytes, signRuleSetBytes(bytes, pem), 'ops'), { qos: 1 });
    return waitUntil(() => statuses[seen], `the status of update ${version}`, 10_000);
  };
  assert.equal((await push(newKey.privateKeyPem, 2)).code, 'GH_RULESET_SIGNATURE', 'the new key is not trusted yet');

  // Step 1: both keys; no restart.
  await writeFile(file, gwConfig(['old.pub', 'new.pub']));
  const taken = await hup(gw, /^reload: signature policy/);
  assert.equal(taken.publicKeys, 2);
  assert.equal((await push(newKey.privateKeyPem, 3)).state, 'applied');
  // Step 2: the old key retired.
  await writeFile(file, gwConfig(['new.pub']));
  await hup(gw, /^reload: signature policy/);
  assert.equal((await push(oldKey.privateKeyPem, 4)).code, 'GH_RULESET_SIGNATURE', 'the retired key is refused');
  // A key file that does not load: said, and the running keys stay.
  await writeFile(file, gwConfig(['bad.pub']));
  const refused = await hup(gw, /^reload: the signature keys .* were refused|^reload: the config file is not valid/);
  assert.match(String(refused.err), /control\.publicKeys\[0\]|control\.publicKeys\.0/);
  assert.equal((await push(newKey.privateKeyPem, 5)).state, 'applied');
  assert.ok(!gw.logs.some((l) => l.msg === 'reload: these settings changed and take effect at the next restart'), 'no restart asked for');
  assert.equal(gw.proc.exitCode, null);
});
