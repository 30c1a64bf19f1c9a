// A signed update published retained (`mosquitto_pub -r`) on an upstream control broker (a real
// mosquitto) is sent again at every connect. Found by a user trial (round 39): after each restart
// the gateway refused it as a replay and published that refusal, retained, over its start-up status:
// the office read `rejected` (GH_CONTROL_REPLAY) for a gateway running the very set it brought. A
// retained document already accepted is now ignored (an info line), and a new one still applies.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import type { ControlStatus } from '../../gateway/control/remote.js';
import { buildUpdateDocument } from '../../gateway/control/document.js';
import { generateSigningKeys, makeEnvelope, signRuleSetBytes } from '../../gateway/control/signing.js';
import { metricValue, needBinary, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';

const ID = 'site7';
const skip = needBinary('mosquitto', 'mosquitto');

function signedDoc(privateKeyPem: string, version: number): string {
  const now = new Date();
  const ruleSet = { version, rules: [{ name: 'keep', sql: "SELECT * FROM 'data/#'", actions: [{ stream: { name: 'archive' } }] }] };
  const bytes = buildUpdateDocument({ targets: [ID], version, issuedAt: now, expiresAt: new Date(now.getTime() + 3600_000), ruleSet });
  return makeEnvelope(bytes, signRuleSetBytes(bytes, privateKeyPem), 'ops');
}

async function start(t: TestContext, file: string): Promise<{ gw: Gateway; registry: ReturnType<typeof createMetricsRegistry> }> {
  const registry = createMetricsRegistry('test', ID);
  const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), { logger: testDeps().logger, registry, version: 'test' });
  t.after(() => gw.stop());
  return { gw, registry };
}

/**
 * The gateway's config at `file` (its control channel on the broker at `url`, trusting as `trust`
 * says), every status it publishes in order, and the office's client.
 */
async function controlRig(t: TestContext, url: string, file: string, dir: string, trust: string): Promise<{ statuses: ControlStatus[]; ops: mqtt.MqttClient }> {
  await writeFile(
    file,
    [
      `gatewayId: ${ID}`,
      `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
      'exporters: []',
      'control:',
      trust,
      '  probation: { seconds: 0 }',
      `  upstream: { url: ${JSON.stringify(url)}, reconnectMinMs: 200 }`,
      '',
    ].join('\n'),
  );
  const statuses: ControlStatus[] = [];
  const watch = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  t.after(() => watch.endAsync(true));
  watch.on('message', (_t, payload) => statuses.push(JSON.parse(payload.toString()) as ControlStatus));
  await watch.subscribeAsync(`gatehouse/${ID}/rules/status`, { qos: 1 });
  const ops = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  t.after(() => ops.endAsync(true));
  return { statuses, ops };
}

test('a retained update already applied, sent again at each connect, is not refused over the start-up status; a new update still applies', {
  skip,
}, async (t) => {
  const broker = await startMosquitto(t);
  const dir = await tempDir(t);
  const keys = generateSigningKeys();
  await writeFile(join(dir, 'ops.pub'), keys.publicKeyPem);
  const file = join(dir, 'g.yaml');
  const { statuses, ops } = await controlRig(t, broker.url, file, dir, `  publicKeys: [${JSON.stringify(join(dir, 'ops.pub'))}]`);

  const first = await start(t, file);
  await waitUntil(() => statuses.some((s) => s.state === 'applied' && s.activeVersion === 1), 'the start-up status');
  await ops.publishAsync(`gatehouse/${ID}/rules/set`, signedDoc(keys.privateKeyPem, 2), { qos: 1, retain: true });
  await waitUntil(() => statuses.some((s) => s.state === 'applied' && s.version === 2), 'version 2 applied');

  // A restart: the broker sends the retained document again on subscribing.
  await first.gw.stop();
  const seen = statuses.length;
  const { gw, registry } = await start(t, file);
  // Then a new update, not retained: handled after the retained one (one connection, in order).
  await waitUntil(() => statuses.slice(seen).some((s) => s.state === 'applied' && s.activeVersion === 2), 'the start-up status after the restart');
  await ops.publishAsync(`gatehouse/${ID}/rules/set`, signedDoc(keys.privateKeyPem, 3), { qos: 1 });
  await waitUntil(() => statuses.slice(seen).some((s) => s.state === 'applied' && s.version === 3), 'version 3 applied');

  const after = statuses.slice(seen);
  // Before: {"state":"rejected","code":"GH_CONTROL_REPLAY","version":2} between the two.
  assert.deepEqual(
    after.filter((s) => s.state === 'rejected'),
    [],
    'no refusal published for the retained document',
  );
  assert.equal(await metricValue(registry, 'gatehouse_control_refused_total', { reason: 'replay' }), 0);
  assert.equal(gw.rules.activeDefinition()?.version, 3);
});

test('allowUnsigned: a retained rollback is done once, not again at each connect', { skip }, async (t) => {
  const broker = await startMosquitto(t);
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  const set = (version: number): string =>
    JSON.stringify({ version, rules: [{ name: 'keep', sql: `SELECT * FROM 'data/${version}'`, actions: [{ stream: { name: 'archive' } }] }] });
  const { statuses, ops } = await controlRig(t, broker.url, file, dir, '  allowUnsigned: true');

  const first = await start(t, file);
  await waitUntil(() => statuses.some((s) => s.state === 'applied' && s.activeVersion === 1), 'the start-up status');
  await ops.publishAsync(`gatehouse/${ID}/rules/set`, set(2), { qos: 1 });
  await waitUntil(() => statuses.some((s) => s.state === 'applied' && s.version === 2), 'version 2 applied');
  // Published retained: the live delivery rolls back once.
  await ops.publishAsync(`gatehouse/${ID}/rules/rollback`, 'rollback', { qos: 1, retain: true });
  await waitUntil(() => statuses.some((s) => s.state === 'rolled-back' && s.activeVersion === 1), 'rolled back to 1');

  await first.gw.stop();
  const seen = statuses.length;
  const { gw } = await start(t, file);
  await waitUntil(() => statuses.slice(seen).some((s) => s.activeVersion === 1), 'the start-up status after the restart');
  await ops.publishAsync(`gatehouse/${ID}/rules/set`, set(3), { qos: 1 });
  await waitUntil(() => statuses.slice(seen).some((s) => s.state === 'applied' && s.version === 3), 'version 3 applied');
  // Before: a second rollback at the restart (back to version 2), the sets swapping at each connect.
  assert.deepEqual(
    statuses.slice(seen).map((s) => `${s.state} ${s.activeVersion}`),
    ['applied 1', 'applied 3'],
  );
  assert.equal(gw.rules.activeDefinition()?.version, 3);
});
