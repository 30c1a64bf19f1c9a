// Probation of remote rule updates on the real CLI: a signed update whose changed rule fails on
// every message is rolled back by the gateway itself within its probation, reported on the retained
// status topic (GH_RULESET_RUNTIME_FAILURE), counted, logged, and cannot be replayed; messages then
// follow the old rule again. A healthy update is confirmed when its probation ends and stays.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { generateSigningKeys, makeEnvelope, signRuleSetBytes } from '../../gateway/control/signing.js';
import { buildUpdateDocument } from '../../gateway/control/document.js';
import type { ControlStatus } from '../../gateway/control/remote.js';
import { PassThrough } from 'node:stream';
import { runRules } from '../../gateway/cli/rules.js';
import { tempDir, waitUntil, withTimeout } from '../helpers/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

const ID = 'probe';
const SET = `gatehouse/${ID}/rules/set`;
const STATUS = `gatehouse/${ID}/rules/status`;

/** Rule set `version`: one rule `route` republishing site/<dev> to the topic template given. */
function ruleSet(version: number, topic: string): Record<string, unknown> {
  return { version, rules: [{ name: 'route', sql: "SELECT * FROM 'site/#'", actions: [{ republish: { topic } }] }] };
}

function signed(privateKeyPem: string, version: number, set: Record<string, unknown>): string {
  const now = new Date();
  const bytes = buildUpdateDocument({ targets: [ID], version, issuedAt: now, expiresAt: new Date(now.getTime() + 3600_000), ruleSet: set });
  return makeEnvelope(bytes, signRuleSetBytes(bytes, privateKeyPem), 'ops');
}

interface Office {
  gw: GatewayProcess;
  client: MqttClient;
  keys: { privateKeyPem: string };
  /** The next status published after now that satisfies want. */
  nextStatus(want: (s: ControlStatus) => boolean, what: string, ms?: number): Promise<ControlStatus>;
  /** The next message on topic (a republished output). */
  nextMessage(topic: string, what: string): Promise<string>;
}

async function startOffice(t: TestContext, probation: string): Promise<Office> {
  const dir = await tempDir(t);
  const keys = generateSigningKeys();
  const pub = join(dir, 'ops.pub');
  await writeFile(pub, keys.publicKeyPem);
  const file = await writeConfig(
    dir,
    `gatewayId: ${ID}
dataDir: ${JSON.stringify(join(dir, 'data'))}
exporters: []
control:
  publicKeys: [${JSON.stringify(pub)}]
  probation: ${probation}
rules: ${JSON.stringify(ruleSet(1, 'out/v1/${topic(2)}'))}
`,
  );
  const gw = await startGatewayProcess(file);
  t.after(() => gw.stop());
  const client = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0, clientId: 'office' });
  t.after(() => client.endAsync(true));
  const statuses: ControlStatus[] = [];
  const messages: Array<{ topic: string; payload: string }> = [];
  client.on('message', (topic, payload) => {
    if (topic === STATUS) statuses.push(JSON.parse(payload.toString()) as ControlStatus);
    else messages.push({ topic, payload: payload.toString() });
  });
  await client.subscribeAsync([STATUS, 'out/#'], { qos: 1 });
  // The retained start-up status first: later waits only look at what comes after it.
  await waitUntil(() => statuses.find((s) => s.activeVersion === 1), 'the retained start-up status', 10_000);
  return {
    gw,
    client,
    keys,
    nextStatus(want, what, ms = 15_000) {
      const from = statuses.length;
      return waitUntil(() => statuses.slice(from).find(want), `status: ${what}; seen ${JSON.stringify(statuses.slice(from))}`, ms);
    },
    nextMessage(topic, what) {
      const from = messages.length;
      return waitUntil(() => messages.slice(from).find((m) => m.topic === topic)?.payload, `a message on ${topic} (${what})`, 10_000);
    },
  };
}

/** `gatehouse rules list --admin URL` as a user runs it: its stdout. */
async function rulesList(gw: GatewayProcess): Promise<string> {
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  assert.equal(await runRules(['list', '--admin', gw.adminUrl], { stdout, stderr: new PassThrough() }), 0);
  return out;
}

async function metric(gw: GatewayProcess, line: RegExp): Promise<number> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  const m = text.split('\n').find((l) => line.test(l));
  return m ? Number(m.split(' ').pop()) : 0;
}

test('a remote update whose rule fails on every message is rolled back by the gateway within its probation', async (t) => {
  const office = await startOffice(t, '{ seconds: 120, minFailures: 5, failureRatio: 0.5 }');
  const { gw, client } = office;

  // v2 routes by a `kind` field the devices do not send: the topic renders empty, every republish fails.
  const update = signed(office.keys.privateKeyPem, 2, ruleSet(2, '${kind}'));
  const appliedP = office.nextStatus((s) => s.version === 2, 'v2 applied');
  await client.publishAsync(SET, update, { qos: 1 });
  const applied = await appliedP;
  assert.equal(applied.state, 'applied', JSON.stringify(applied));
  assert.equal(applied.probation?.version, 2, 'the status says the update is on probation');
  assert.deepEqual(applied.probation?.rules, ['route']);
  // The admin API and `gatehouse rules list` say so too.
  const api = (await (await fetch(`${gw.adminUrl}/api/rules`)).json()) as { probation: { version: number; rules: string[] } | null };
  assert.equal(api.probation?.version, 2, JSON.stringify(api));
  assert.deepEqual(api.probation?.rules, ['route']);
  assert.match(await rulesList(gw), /on probation until .*: route/);

  const rolledBackP = office.nextStatus((s) => s.state === 'rolled-back', 'automatic rollback', 20_000);
  // Messages flow (acknowledged: the rule ran and its action failed) until the gateway rolls back.
  let sent = 0;
  let rolledBack: ControlStatus | undefined;
  void rolledBackP.then((s) => {
    rolledBack = s;
  });
  while (!rolledBack && sent < 2000) await client.publishAsync(`site/dev${sent++ % 3}`, `{"n":${sent}}`, { qos: 1 });
  const s = await rolledBackP;
  assert.ok(sent >= 5, `at least minFailures messages were sent before the rollback (${sent})`);
  assert.equal(s.source, 'probation');
  assert.equal(s.code, 'GH_RULESET_RUNTIME_FAILURE');
  assert.equal(s.activeVersion, 1, 'back to the previous set');
  assert.equal(s.version, 1);
  assert.equal(s.fromVersion, 2);
  assert.equal(s.lastGoodVersion, 1, 'the failed set is not kept as a rollback target');
  assert.equal(s.probation, null);
  assert.equal(s.errors.length, 1);
  assert.equal(s.errors[0]!.rule, 'route');
  assert.match(s.errors[0]!.message, /^GH_RULESET_RUNTIME_FAILURE: rule 'route' of rule set 2 failed \d+ times in \d+ evaluations/);
  assert.match(s.errors[0]!.message, /invalid topic ""/, 'the last error is named');

  // Messages follow the old rule again.
  const out = office.nextMessage('out/v1/dev9', 'routed by v1 after the rollback');
  await client.publishAsync('site/dev9', '{"n":"after"}', { qos: 1 });
  assert.equal(await out, '{"n":"after"}');

  // Warned with the rule, the error and the counts; counted.
  const warn = gw.logs.find((l) => l.msg === 'rule set failed its probation: rolling back to the last good set');
  assert.ok(warn, 'warning logged');
  assert.equal(warn.rule, 'route');
  assert.equal(warn.rollbackTo, 1, 'the warning names the set it goes back to');
  assert.match(String(warn.error), /invalid topic/);
  assert.ok((warn.failures as number) >= 5 && (warn.evaluations as number) >= 5, JSON.stringify(warn));
  assert.equal(await metric(gw, /^gatehouse_ruleset_auto_rollbacks_total\b/), 1);
  // `gatehouse rules list` tells what happened, which rule and why.
  const listed = await rulesList(gw);
  assert.match(listed, /last update: rolled-back to version 1 from version 2 \(probation\), GH_RULESET_RUNTIME_FAILURE/);
  assert.match(listed, /rule 'route' of rule set 2 failed/);
  assert.doesNotMatch(listed, /on probation/);

  // The same signed document again is a replay: its version was consumed when it was applied.
  const replayP = office.nextStatus((x) => x.state === 'rejected', 'replay refused');
  await client.publishAsync(SET, update, { qos: 1 });
  const replay = await replayP;
  assert.match(replay.errors[0]!.message, /GH_CONTROL_REPLAY/);
  assert.equal(replay.activeVersion, 1);
  assert.equal(replay.acceptedVersion, 2);
});

test('a healthy remote update is confirmed when its probation ends and keeps running', async (t) => {
  const office = await startOffice(t, '{ seconds: 2 }');
  const { gw, client } = office;

  const appliedP = office.nextStatus((s) => s.version === 2, 'v2 applied');
  await client.publishAsync(SET, signed(office.keys.privateKeyPem, 2, ruleSet(2, 'out/v2/${topic(2)}')), { qos: 1 });
  const applied = await appliedP;
  assert.equal(applied.state, 'applied', JSON.stringify(applied));
  const confirmedP = office.nextStatus((s) => s.state === 'confirmed', 'v2 confirmed');
  const routed = office.nextMessage('out/v2/dev1', 'routed by v2 during its probation');
  await client.publishAsync('site/dev1', '{"n":1}', { qos: 1 });
  assert.equal(await routed, '{"n":1}');

  const confirmed = await withTimeout(confirmedP, 15_000, 'confirmation');
  assert.equal(confirmed.version, 2);
  assert.equal(confirmed.activeVersion, 2);
  assert.equal(confirmed.source, 'probation');
  assert.equal(confirmed.probation, null);
  assert.equal(confirmed.lastGoodVersion, 1, 'an operator rollback still returns to v1');
  assert.ok(gw.logs.some((l) => l.msg === 'rule set passed its probation: confirmed' && l.version === 2));
  assert.equal(await metric(gw, /^gatehouse_control_updates_total\{.*result="confirmed"/), 1);
  assert.equal(await metric(gw, /^gatehouse_ruleset_auto_rollbacks_total\b/), 0);

  const after = office.nextMessage('out/v2/dev2', 'still routed by v2 after the probation');
  await client.publishAsync('site/dev2', '{"n":2}', { qos: 1 });
  assert.equal(await after, '{"n":2}');
});
