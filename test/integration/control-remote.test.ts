// Remote rule updates over the MQTT control channel of a real in-process gateway (aedes broker,
// LevelDB store, rules engine), driven and observed by real mqtt.js clients. The retained status
// topic is read by a subscriber that connects after the update, so retention is checked too.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import mqtt, { type MqttClient } from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { generateSigningKeys, makeEnvelope, signRuleSetBytes } from '../../gateway/control/signing.js';
import { buildUpdateDocument } from '../../gateway/control/document.js';
import { runRules } from '../../gateway/cli/rules.js';
import type { ControlStatus } from '../../gateway/control/remote.js';
import type { JobRunEvent } from '../../gateway/control/jobs.js';
import type { HeartbeatReport } from '../../gateway/control/heartbeat.js';
import type { Registry } from 'prom-client';
import { metricValue, tempDir, testDeps, waitUntil } from '../helpers/index.js';

const ID = 'gw-test';
const SET = `gatehouse/${ID}/rules/set`;
const STATUS = `gatehouse/${ID}/rules/status`;

/** Each gateway's metrics registry (the one passed to startGateway). */
const registries = new WeakMap<Gateway, Registry>();

/** Resolve p or fail after ms naming what was awaited. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function startInProcess(t: TestContext, extraYaml: string, dir?: string): Promise<Gateway> {
  const d = dir ?? (await tempDir(t));
  const file = join(d, 'g.yaml');
  await writeFile(file, `gatewayId: ${ID}\ndataDir: ${JSON.stringify(join(d, 'data'))}\nexporters: []\n${extraYaml}`);
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const registry = createMetricsRegistry('test', ID);
  const gw = await startGateway(config, { logger: testDeps().logger, registry, version: 'test' });
  registries.set(gw, registry);
  t.after(() => gw.stop());
  return gw;
}

function url(gw: Gateway): string {
  return `mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`;
}

async function client(t: TestContext, u: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(u, { reconnectPeriod: 0 });
  t.after(() => c.endAsync(true));
  return c;
}

/** The retained status as a fresh subscriber sees it. */
async function retainedStatus(t: TestContext, u: string, want: (s: ControlStatus) => boolean, topic = STATUS): Promise<ControlStatus> {
  const c = await client(t, u);
  let last: ControlStatus | undefined;
  const seen = new Promise<ControlStatus>((resolve) => {
    c.on('message', (_topic, payload) => {
      const s = JSON.parse(payload.toString()) as ControlStatus;
      last = s;
      // The retained copy sent for the subscription, or a status published after it (the gateway
      // publishes every status retained, so that one is what is retained then): waiting for the
      // retain flag alone missed a status that came in just after the SUBSCRIBE, live (retain 0).
      if (want(s)) resolve(s);
    });
  });
  await c.subscribeAsync(topic, { qos: 1 });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`retained status not as expected; last: ${JSON.stringify(last)}`)), 5000)),
  );
  try {
    return await Promise.race([seen, timeout]);
  } finally {
    clearTimeout(timer);
    await c.endAsync();
  }
}

/** Publish an update and wait for the gateway's resulting status (first one after publishing). */
async function update(gw: Gateway, c: MqttClient, payload: string | Buffer, topic = SET): Promise<ControlStatus> {
  const got = new Promise<ControlStatus>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no status within 5 s')), 5000);
    gw.control.remote!.once('status', (s: ControlStatus) => {
      clearTimeout(timer);
      resolve(s);
    });
  });
  await c.publishAsync(topic, payload, { qos: 1 });
  return got;
}

const RULES_V1 = `rules:\n  version: 1\n  rules:\n    - name: keep\n      sql: "SELECT * FROM 'data/#'"\n      actions: [{ stream: { name: archive } }]\n`;
const v = (version: number, sql = "SELECT * FROM 'data/#'", stream = 'archive', extra = ''): string =>
  JSON.stringify({
    version,
    rules: [
      { name: 'keep', sql, actions: [{ stream: { name: stream } }] },
      ...(extra ? [{ name: extra, sql: "SELECT * FROM 'other/#'", actions: [{ stream: { name: 'archive' } }] }] : []),
    ],
  });

test('remote update applied, idempotent, older refused, bad SQL, failing at start, rollback; status retained', async (t) => {
  // Without probation each applied set is confirmed at once, so the rollback swaps v1 and v2
  // (updates stacked on one on probation: the last test).
  const gw = await startInProcess(t, `control:\n  allowUnsigned: true\n  maxPayloadBytes: 2048\n  probation: { seconds: 0 }\n${RULES_V1}`);
  const u = url(gw);
  const start = await retainedStatus(t, u, (s) => s.activeVersion === 1);
  assert.equal(start.gatewayId, ID);
  assert.equal(start.state, 'applied');

  const c = await client(t, u);
  let s = await update(gw, c, v(2, undefined, undefined, 'extra'));
  assert.equal(s.state, 'applied', JSON.stringify(s));
  assert.equal(gw.rules.activeDefinition()?.version, 2);
  const retained = await retainedStatus(t, u, (x) => x.version === 2);
  assert.equal(retained.state, 'applied');
  assert.equal(retained.activeVersion, 2);
  assert.equal(retained.lastGoodVersion, 1);
  assert.ok(retained.appliedAt && retained.at, 'timestamps');
  assert.match(retained.source, /^mqtt/);

  s = await update(gw, c, v(2, undefined, undefined, 'extra'));
  assert.equal(s.state, 'unchanged', 'same version twice is a no-op');

  s = await update(gw, c, v(1));
  assert.equal(s.state, 'rejected');
  assert.match(s.errors[0]!.message, /GH_RULESET_STALE/);
  assert.equal(s.activeVersion, 2);

  s = await update(gw, c, v(3, "SELECT * FROM 'data/#' WHERE temp >>> 3"));
  assert.equal(s.state, 'rejected');
  assert.equal(s.errors[0]!.rule, 'keep');
  assert.match(s.errors[0]!.where ?? '', /line 1, column \d+/);
  const bad = await retainedStatus(t, u, (x) => x.version === 3);
  assert.equal(bad.state, 'rejected');
  assert.match(bad.errors[0]!.where ?? '', /line 1, column/);

  // Compiles, but fails when started: the stream does not exist. The old set keeps running.
  s = await update(gw, c, v(4, undefined, 'no_such_stream'));
  assert.equal(s.state, 'rejected');
  assert.match(s.errors.map((e) => e.message).join(' '), /no_such_stream/);
  assert.equal(gw.rules.activeDefinition()?.version, 2);
  const before = gw.streams.info('archive').lastSeq;
  await c.publishAsync('data/x', '{"a":1}', { qos: 1 });
  assert.equal(gw.streams.info('archive').lastSeq, before + 1, 'the old set still archives');

  // Garbage and oversize payloads are rejected with a clear message, never a crash.
  s = await update(gw, c, Buffer.from([0xff, 0xfe, 0x00, 0x7b]));
  assert.equal(s.state, 'rejected');
  s = await update(gw, c, JSON.stringify({ version: 9, rules: [], pad: 'x'.repeat(3000) }));
  assert.equal(s.state, 'rejected');
  assert.match(s.errors[0]!.message, /maxPayloadBytes/);

  // The older version with force: true in the document.
  s = await update(gw, c, JSON.stringify({ ...JSON.parse(v(1)), force: true }));
  assert.equal(s.state, 'applied');
  assert.equal(gw.rules.activeDefinition()?.version, 1);

  s = await update(gw, c, '', `gatehouse/${ID}/rules/rollback`);
  assert.equal(s.state, 'rolled-back');
  assert.equal(gw.rules.activeDefinition()?.version, 2);
  const rb = await retainedStatus(t, u, (x) => x.state === 'rolled-back');
  assert.equal(rb.activeVersion, 2);

  assert.equal(await metricValue(registries.get(gw)!, 'gatehouse_control_updates_total', { result: 'rejected' }), 5);
  assert.equal(await metricValue(registries.get(gw)!, 'gatehouse_control_updates_total', { result: 'rolled-back' }), 1);
});

test('unsigned remote updates are refused unless allowUnsigned, with a message saying how', async (t) => {
  const gw = await startInProcess(t, RULES_V1);
  const c = await client(t, url(gw));
  const s = await update(gw, c, v(2));
  assert.equal(s.state, 'rejected');
  assert.match(s.errors[0]!.message, /GH_RULESET_SIGNATURE/);
  assert.match(s.errors[0]!.message, /allowUnsigned: true/);
  // The version it says it carries (it read null), and no empty rule and where: the whole update was refused.
  assert.equal(s.version, 2);
  assert.deepEqual(Object.keys(s.errors[0]!), ['message']);
  // A YAML rule set's version is read too (from its version line: nothing unverified is parsed).
  const yaml = await update(
    gw,
    c,
    '# from the office\nversion: 7   # seventh\nrules:\n  - name: keep\n    sql: "SELECT * FROM \'data/#\'"\n    actions: [{ stream: { name: archive } }]\n',
  );
  assert.equal(yaml.state, 'rejected');
  assert.equal(yaml.code, 'GH_RULESET_SIGNATURE');
  assert.equal(yaml.version, 7);
  assert.deepEqual(Object.keys(yaml.errors[0]!), ['message']);
  assert.equal(gw.rules.activeDefinition()?.version, 1);
  // The admin API still accepts a local unsigned update.
  const admin = `http://127.0.0.1:${gw.admin!.address().port}`;
  const res = await fetch(`${admin}/api/rules`, { method: 'PUT', body: v(2) });
  assert.equal(((await res.json()) as { state: string }).state, 'applied');
});

test('a remote rollback refused for want of a signature says it was a rollback, why, and how to roll back (it read "unsigned remote update refused")', async (t) => {
  // The default policy: no control.publicKeys, no allowUnsigned (docs/remote-control.md: remote
  // rollbacks are bound by it like updates; the local rollback is not).
  const gw = await startInProcess(t, RULES_V1);
  const admin = `http://127.0.0.1:${gw.admin!.address().port}`;
  const put = await fetch(`${admin}/api/rules`, { method: 'PUT', body: v(2) });
  assert.equal(((await put.json()) as { state: string }).state, 'applied');
  const c = await client(t, url(gw));
  const rollback = `gatehouse/${ID}/rules/rollback`;

  let s = await update(gw, c, '', rollback);
  assert.equal(s.state, 'rejected');
  assert.equal(s.code, 'GH_RULESET_SIGNATURE');
  assert.equal(s.source, 'mqtt rollback:local');
  assert.equal(
    s.errors[0]!.message,
    'GH_RULESET_SIGNATURE: unsigned remote rollback refused: remote rollbacks need a signature, as remote updates do, and this gateway has no control.publicKeys to verify one (control.allowUnsigned is false). ' +
      'Fix: roll back on the gateway itself (`gatehouse rules rollback`, or POST /api/rules/rollback: no signature needed); ' +
      'or configure control.publicKeys and publish the rollback made by `gatehouse rules sign --rollback-to V --version N --targets ID --key KEY` (V: the lastGoodVersion of the rule status, N: above its acceptedVersion); ' +
      'or set control.allowUnsigned: true on a trusted network',
  );
  assert.equal(gw.rules.activeDefinition()?.version, 2, 'not rolled back');

  // A signed rollback the gateway has no key to check: refused as a rollback too.
  s = await update(gw, c, signedDoc(generateSigningKeys().privateKeyPem, { version: 3, rollbackTo: 1 }), rollback);
  assert.equal(s.code, 'GH_RULESET_SIGNATURE');
  assert.match(
    s.errors[0]!.message,
    /^GH_RULESET_SIGNATURE: signed remote rollback refused: no control\.publicKeys are configured to verify its signature\. Fix: /,
  );

  // The fix it names works as written.
  const local = await fetch(`${admin}/api/rules/rollback`, { method: 'POST' });
  assert.equal(((await local.json()) as { state: string }).state, 'rolled-back');
  assert.equal(gw.rules.activeDefinition()?.version, 1);

  // With keys configured, an unsigned rollback is named as such, with the command that signs one.
  const { gw: signedGw } = await signedGateway(t);
  const sc = await client(t, url(signedGw));
  s = await update(signedGw, sc, '', rollback);
  assert.equal(s.code, 'GH_RULESET_SIGNATURE');
  assert.match(
    s.errors[0]!.message,
    /^GH_RULESET_SIGNATURE: unsigned remote rollback refused: control\.publicKeys are configured, so every remote update and rollback must be signed\. Fix: publish the envelope made by `gatehouse rules sign --rollback-to V --version N --targets ID --key KEY`/,
  );
});

/** A signed update document (what `gatehouse rules sign` makes). */
function signedDoc(
  privateKeyPem: string,
  o: { version: number; targets?: string[]; ruleSet?: Record<string, unknown>; rollbackTo?: number; expiresAt?: Date },
): string {
  const now = new Date();
  const bytes = buildUpdateDocument({
    targets: o.targets ?? [ID],
    version: o.version,
    issuedAt: now,
    expiresAt: o.expiresAt ?? new Date(now.getTime() + 3600_000),
    ...(o.ruleSet ? { ruleSet: o.ruleSet } : { rollbackTo: o.rollbackTo! }),
  });
  return makeEnvelope(bytes, signRuleSetBytes(bytes, privateKeyPem), 'ops');
}

async function signedGateway(
  t: TestContext,
  extra = '',
  dir?: string,
): Promise<{ gw: Gateway; keys: { privateKeyPem: string; publicKeyPem: string }; dir: string }> {
  const d = dir ?? (await tempDir(t));
  const pub = join(d, 'ops.pub');
  const keys = generateSigningKeys();
  if (!dir) await writeFile(pub, keys.publicKeyPem);
  const gw = await startInProcess(t, `control:\n  publicKeys: [${JSON.stringify(pub)}]\n${extra}${RULES_V1}`, d);
  return { gw, keys, dir: d };
}

test('signed updates: a valid signature applies, a bad one is refused and counted', async (t) => {
  const { gw, keys } = await signedGateway(t);
  const c = await client(t, url(gw));
  const registry = registries.get(gw)!;

  let s = await update(gw, c, signedDoc(keys.privateKeyPem, { version: 2, ruleSet: JSON.parse(v(2)) as Record<string, unknown> }));
  assert.equal(s.state, 'applied', JSON.stringify(s));
  assert.equal(s.acceptedVersion, 2);

  const evil = generateSigningKeys();
  s = await update(gw, c, signedDoc(evil.privateKeyPem, { version: 3, ruleSet: JSON.parse(v(3)) as Record<string, unknown> }));
  assert.equal(s.state, 'rejected');
  assert.match(s.errors[0]!.message, /GH_RULESET_SIGNATURE/);
  s = await update(gw, c, v(3));
  assert.equal(s.state, 'rejected', 'unsigned with keys configured');
  // the old signed format (a bare rule set under the signature) is replayable: refused
  const b3 = Buffer.from(v(3));
  s = await update(gw, c, makeEnvelope(b3, signRuleSetBytes(b3, keys.privateKeyPem)));
  assert.equal(s.state, 'rejected');
  assert.match(s.errors[0]!.message, /GH_CONTROL_DOCUMENT: .*gatehouse/);
  assert.equal(gw.rules.activeDefinition()?.version, 2);
  assert.equal(await metricValue(registry, 'gatehouse_control_signature_failures_total'), 2);
  assert.equal(await metricValue(registry, 'gatehouse_control_refused_total', { reason: 'malformed' }), 1);

  // Rollback needs a signed document for this gateway; an unsigned or foreign one is refused.
  s = await update(gw, c, '', `gatehouse/${ID}/rules/rollback`);
  assert.equal(s.state, 'rejected');
  s = await update(gw, c, signedDoc(keys.privateKeyPem, { version: 3, rollbackTo: 1, targets: ['other-gw'] }), `gatehouse/${ID}/rules/rollback`);
  assert.equal(s.state, 'rejected');
  assert.match(s.errors[0]!.message, /targets \["other-gw"\]/);
  s = await update(gw, c, signedDoc(keys.privateKeyPem, { version: 3, rollbackTo: 1 }), `gatehouse/${ID}/rules/rollback`);
  assert.equal(s.state, 'rolled-back', JSON.stringify(s));
  assert.equal(gw.rules.activeDefinition()?.version, 1);

  // Admin PUT: a present signature must verify.
  const admin = `http://127.0.0.1:${gw.admin!.address().port}`;
  const res = await fetch(`${admin}/api/rules`, { method: 'PUT', body: makeEnvelope(b3, signRuleSetBytes(b3, evil.privateKeyPem)) });
  assert.equal(((await res.json()) as { state: string }).state, 'rejected');
});

test('a burst of queued updates (the gateway was offline) ends on the newest: the oldest waiting ones give way', async (t) => {
  const { gw, keys } = await signedGateway(t, '  maxPending: 1\n');
  const c = await client(t, url(gw));
  const registry = registries.get(gw)!;
  const superseded: Array<number | null> = [];
  const messages: string[] = [];
  gw.control.remote!.on('status', (st: ControlStatus) => {
    if (st.code !== 'GH_CONTROL_CHANNEL') return;
    superseded.push(st.version);
    messages.push(st.errors[0]?.message ?? '');
  });
  // Published back to back, as a broker delivers what it queued for an offline gateway.
  await Promise.all(
    [2, 3, 4, 5, 6, 7].map((version) =>
      c.publishAsync(SET, signedDoc(keys.privateKeyPem, { version, ruleSet: JSON.parse(v(version)) as Record<string, unknown> }), { qos: 1 }),
    ),
  );
  await waitUntil(() => gw.rules.activeDefinition()?.version === 7, 'the newest update (v7) to run', 10_000);
  const last = await retainedStatus(t, url(gw), (st) => st.activeVersion === 7);
  assert.equal(last.acceptedVersion, 7);
  assert.ok((await metricValue(registry, 'gatehouse_control_refused_total', { reason: 'busy' })) >= 1, 'some older ones were superseded');
  // The office tells which of its documents gave way (it was null).
  assert.ok(superseded.length >= 1);
  for (const version of superseded) assert.ok(version !== null && version >= 2 && version < 7, `superseded version ${version}`);
  // The catalogue's form (describe(): code, message, fix), as every other refusal.
  assert.match(
    messages[0]!,
    /^GH_CONTROL_CHANNEL: superseded by a later update \(control\.maxPending 1 were already waiting; the newest are applied\): the document of version \d \(not verified: never opened\)\. Fix: nothing, if the newest update is the one wanted/,
  );
});

test('replay: v3 active, a captured rollback and older signed sets replayed stay at v3, also after a restart', async (t) => {
  const { gw, keys, dir } = await signedGateway(t, '  groups: [depot]\n');
  const registry = registries.get(gw)!;
  const c = await client(t, url(gw));
  const set = (version: number, targets?: string[]): string =>
    signedDoc(keys.privateKeyPem, { version, ruleSet: JSON.parse(v(version)) as Record<string, unknown>, ...(targets ? { targets } : {}) });
  const ROLLBACK = `gatehouse/${ID}/rules/rollback`;

  // The office's history: v2 (for the group), a rollback to v1 (doc 3), then v4 for every gateway ('*').
  const docV2 = set(2, ['depot']);
  const rollbackDoc = signedDoc(keys.privateKeyPem, { version: 3, rollbackTo: 1 });
  const docV4 = set(4, ['*']);
  assert.equal((await update(gw, c, docV2)).state, 'applied');
  assert.equal((await update(gw, c, rollbackDoc, ROLLBACK)).state, 'rolled-back');
  assert.equal(gw.rules.activeDefinition()?.version, 1);
  let s = await update(gw, c, docV4);
  assert.equal(s.state, 'applied');
  assert.equal(s.activeVersion, 4);
  assert.equal(s.acceptedVersion, 4);

  // An attacker replays what they captured: the rollback, then the older sets.
  for (const [payload, topic] of [
    [rollbackDoc, ROLLBACK],
    [docV2, SET],
    [docV4, SET],
  ] as const) {
    s = await update(gw, c, payload, topic);
    assert.equal(s.state, 'rejected', `replay of ${topic} refused`);
    assert.match(s.errors[0]!.message, /GH_CONTROL_REPLAY/);
    assert.equal(gw.rules.activeDefinition()?.version, 4, 'still at v4');
  }
  assert.equal(await metricValue(registry, 'gatehouse_control_refused_total', { reason: 'replay' }), 3);
  const retained = await retainedStatus(t, url(gw), (x) => x.state === 'rejected');
  assert.equal(retained.activeVersion, 4);
  assert.equal(retained.acceptedVersion, 4);

  // Expired and wrong-target documents with fresh versions are refused too.
  s = await update(
    gw,
    c,
    signedDoc(keys.privateKeyPem, { version: 9, ruleSet: JSON.parse(v(9)) as Record<string, unknown>, expiresAt: new Date(Date.now() - 1000) }),
  );
  assert.match(s.errors[0]!.message, /expired/);
  s = await update(gw, c, set(9, ['depot-8']));
  assert.match(s.errors[0]!.message, /not this gateway/);
  assert.equal(await metricValue(registry, 'gatehouse_control_refused_total', { reason: 'expired' }), 1);
  assert.equal(await metricValue(registry, 'gatehouse_control_refused_total', { reason: 'target' }), 1);

  // A restart keeps the accepted version: the captured documents stay refused.
  await c.endAsync();
  await gw.stop();
  const again = await signedGateway(t, '  groups: [depot]\n', dir);
  const c2 = await client(t, url(again.gw));
  s = await update(again.gw, c2, rollbackDoc, ROLLBACK);
  assert.equal(s.state, 'rejected');
  assert.match(s.errors[0]!.message, /GH_CONTROL_REPLAY/);
  assert.equal(again.gw.rules.activeDefinition()?.version, 4);
});

test('a signed update whose set is refused after its checks (bad SQL) still uses its version, also after a restart', async (t) => {
  const { gw, keys, dir } = await signedGateway(t);
  const c = await client(t, url(gw));
  // Not stored with a set (it has none to store): the accepted version is written on its own.
  const bad = signedDoc(keys.privateKeyPem, { version: 2, ruleSet: JSON.parse(v(2, 'SELECT FROM nowhere')) as Record<string, unknown> });
  let s = await update(gw, c, bad);
  assert.equal(s.state, 'rejected', JSON.stringify(s));
  assert.equal(s.code, 'GH_RULESET_INVALID');
  assert.equal(s.acceptedVersion, 2);
  assert.equal(s.activeVersion, 1);
  await c.endAsync();
  await gw.stop();
  const again = await signedGateway(t, '', dir);
  const c2 = await client(t, url(again.gw));
  s = await update(again.gw, c2, bad);
  assert.equal(s.code, 'GH_CONTROL_REPLAY', JSON.stringify(s));
  assert.equal(s.acceptedVersion, 2);
  s = await update(again.gw, c2, signedDoc(keys.privateKeyPem, { version: 3, ruleSet: JSON.parse(v(3)) as Record<string, unknown> }));
  assert.equal(s.state, 'applied', JSON.stringify(s));
  assert.equal(s.acceptedVersion, 3);
});

test('control topic authorization: local clients may not write the status; control.publishers limits updates', async (t) => {
  const gw = await startInProcess(t, `control:\n  allowUnsigned: true\n  publishers: [ops]\n${RULES_V1}`);
  const registry = registries.get(gw)!;
  const u = url(gw);
  const c = await mqtt.connectAsync(u, { reconnectPeriod: 0, clientId: 'spoofer' });
  t.after(() => c.endAsync(true));
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
  c.publish(STATUS, JSON.stringify({ state: 'applied', activeVersion: 99 }), { qos: 1, retain: true });
  await within(closed, 5000, 'the spoofing client to be disconnected');
  const st = await retainedStatus(t, u, (x) => x.gatewayId === ID);
  assert.equal(st.activeVersion, 1, "the retained status is still the gateway's own");

  const anon = await mqtt.connectAsync(u, { reconnectPeriod: 0, clientId: 'anon-updater' });
  t.after(() => anon.endAsync(true));
  const closed2 = new Promise<void>((resolve) => anon.once('close', () => resolve()));
  anon.publish(SET, v(2), { qos: 1 });
  await within(closed2, 5000, 'the unauthorized updater to be disconnected');
  assert.equal(gw.rules.activeDefinition()?.version, 1);
  assert.equal(await metricValue(registry, 'gatehouse_control_refused_total', { reason: 'unauthorized' }), 1);
});

test('a control payload over broker.maxPayloadBytes gets a rejected status and a counter (the sender is disconnected)', async (t) => {
  const gw = await startInProcess(t, `broker:\n  maxPayloadBytes: 65536\ncontrol:\n  allowUnsigned: true\n${RULES_V1}`);
  const c = await mqtt.connectAsync(url(gw), { reconnectPeriod: 0, clientId: 'big' });
  t.after(() => c.endAsync(true));
  const got = new Promise<ControlStatus>((resolve) => gw.control.remote!.once('status', resolve));
  c.publish(SET, Buffer.alloc(5 * 1024 * 1024, 0x20), { qos: 1 });
  const s = await within(got, 10_000, 'a status for the oversized update');
  assert.equal(s.state, 'rejected');
  assert.match(
    s.errors[0]!.message,
    /^GH_PAYLOAD_TOO_LARGE: payload of \d+ bytes exceeds maxPayloadBytes 65536 \(at gatehouse\/[^/]+\/rules\/set\)\. Fix: the sender was disconnected: .*raise broker\.maxPayloadBytes$/,
  );
  assert.equal(await metricValue(registries.get(gw)!, 'gatehouse_control_refused_total', { reason: 'too-large' }), 1);
  assert.equal(gw.rules.activeDefinition()?.version, 1);
});

test('the active set survives a restart; jobs toggle a rule and send heartbeats', async (t) => {
  const dir = await tempDir(t);
  const jobs = `jobs:\n  - { name: off, schedule: '*/1 * * * * *', type: disable-rule, rule: extra }\n  - { name: hb, schedule: '*/1 * * * * *', type: heartbeat }\n`;
  let gw = await startInProcess(t, `control:\n  allowUnsigned: true\n${RULES_V1}`, dir);
  let c = await client(t, url(gw));
  assert.equal((await update(gw, c, v(5, undefined, undefined, 'extra'))).state, 'applied');
  await c.endAsync();
  await gw.stop();

  gw = await startInProcess(t, `control:\n  allowUnsigned: true\n${RULES_V1}${jobs}`, dir);
  assert.equal(gw.rules.activeDefinition()?.version, 5, 'restored from the store, not the config version 1');
  c = await client(t, url(gw));
  const hb = new Promise<HeartbeatReport>((resolve) =>
    c.on('message', (topic, p) => topic.endsWith('/heartbeat') && resolve(JSON.parse(p.toString()) as HeartbeatReport)),
  );
  await c.subscribeAsync(`gatehouse/${ID}/heartbeat`, { qos: 1 });
  const off = await within(
    new Promise<JobRunEvent>((resolve) => gw.control.jobs.on('run', (e: JobRunEvent) => e.job === 'off' && resolve(e))),
    5000,
    'the disable-rule job',
  );
  assert.equal(off.result, 'ok', off.error);
  const extra = gw.rules.activeDefinition()!.rules.find((r) => r.name === 'extra');
  assert.equal(extra?.enabled, false);
  assert.equal(gw.rules.activeDefinition()?.version, 5, 'same version');
  const report = await within(hb, 5000, 'a heartbeat');
  assert.equal(report.gatewayId, ID);
  assert.equal(report.ruleSetVersion, 5);
  assert.ok(report.disk && 'freeBytes' in report.disk && report.disk.freeBytes > 0);
  assert.ok(report.streams.some((s) => s.name === 'archive'));
  await c.endAsync();
  await gw.stop();

  // The toggle was persisted.
  gw = await startInProcess(t, `control:\n  allowUnsigned: true\n${RULES_V1}`, dir);
  assert.equal(gw.rules.activeDefinition()!.rules.find((r) => r.name === 'extra')?.enabled, false);
});

test('local updates go on probation only when asked: `rules apply --probation` (PUT /api/rules?probation=1) is rolled back if it fails', async (t) => {
  const gw = await startInProcess(t, `control:\n  allowUnsigned: true\n  probation: { seconds: 60, minFailures: 3 }\n${RULES_V1}`);
  const admin = `http://127.0.0.1:${gw.admin!.address().port}`;
  const dir = await tempDir(t);
  const c = await client(t, url(gw));
  // `keep` republishes to a topic built from a field the payloads do not have: every action fails.
  const failing = (version: number): string =>
    JSON.stringify({ version, rules: [{ name: 'keep', sql: "SELECT * FROM 'data/#'", actions: [{ republish: { topic: '${kind}' } }] }] });
  const apply = async (version: number, body: string, ...flags: string[]): Promise<{ code: number; out: string }> => {
    const file = join(dir, `v${version}.json`);
    await writeFile(file, body);
    let out = '';
    const stdout = new PassThrough().on('data', (d: Buffer) => (out += d.toString()));
    const code = await runRules(['apply', file, ...flags, '--admin', admin], { stdout, stderr: new PassThrough() });
    return { code, out };
  };

  assert.deepEqual(await apply(2, failing(2)), { code: 0, out: 'applied version 2\n' });
  assert.equal(gw.control.probation.current(), undefined, 'a local update without --probation is not watched');
  assert.deepEqual(await apply(3, v(3)), { code: 0, out: 'applied version 3\n' });

  const onProbation = await apply(4, failing(4), '--probation');
  assert.equal(onProbation.code, 0);
  assert.match(onProbation.out, /^applied version 4\n {2}on probation until \S+, watching: keep /, 'the CLI says the set is on probation');
  assert.equal(gw.control.probation.current()?.version, 4);
  const rolledBack = within(
    new Promise<ControlStatus>((resolve) => gw.control.remote!.on('status', (s: ControlStatus) => s.state === 'rolled-back' && resolve(s))),
    10_000,
    'the automatic rollback',
  );
  let done = false;
  void rolledBack.then(() => (done = true)).catch(() => undefined);
  for (let i = 0; !done && i < 2000; i++) await c.publishAsync('data/x', `{"i":${i}}`, { qos: 1 });
  const s = await rolledBack;
  assert.equal(s.code, 'GH_RULESET_RUNTIME_FAILURE');
  assert.equal(s.activeVersion, 3, 'back to the set before it');
  assert.equal(gw.rules.activeDefinition()?.version, 3);
  assert.equal(await metricValue(registries.get(gw)!, 'gatehouse_ruleset_auto_rollbacks_total'), 1);
});

test('an update stacked on one still on probation fails: back to the last confirmed set (also across a restart), counters of the restored rule from zero, replays refused', async (t) => {
  const probation = '  probation: { seconds: 60, minFailures: 3 }\n';
  const first = await signedGateway(t, probation);
  const { keys, dir } = first;
  let gw = first.gw;
  let c = await client(t, url(gw));
  const doc = (version: number, ruleSet: string): string => signedDoc(keys.privateKeyPem, { version, ruleSet: JSON.parse(ruleSet) as Record<string, unknown> });
  // `keep` republishes to a topic built from a field the payloads do not have: every action fails.
  const failing = (version: number): string =>
    JSON.stringify({
      version,
      rules: [
        { name: 'keep', sql: "SELECT * FROM 'data/#'", actions: [{ republish: { topic: '${kind}' } }] },
        { name: 'extra', sql: "SELECT * FROM 'other/#'", actions: [{ stream: { name: 'archive' } }] },
      ],
    });
  const rolledBack = async (g: Gateway, mqttClient: MqttClient): Promise<ControlStatus> => {
    const p = within(
      new Promise<ControlStatus>((resolve) => g.control.remote!.on('status', (s: ControlStatus) => s.state === 'rolled-back' && resolve(s))),
      10_000,
      'the automatic rollback',
    );
    let done = false;
    void p.then(() => (done = true)).catch(() => undefined);
    for (let i = 0; !done && i < 2000; i++) await mqttClient.publishAsync('data/x', `{"i":${i}}`, { qos: 1 });
    return p;
  };
  const admin = (g: Gateway): string => `http://127.0.0.1:${g.admin!.address().port}`;
  const list = async (g: Gateway): Promise<string> => {
    let out = '';
    const stdout = new PassThrough().on('data', (d: Buffer) => (out += d.toString()));
    assert.equal(await runRules(['list', '--admin', admin(g)], { stdout, stderr: new PassThrough() }), 0);
    return out;
  };

  // A (v2, healthy: adds `extra`) is on probation when B (v3, breaks `keep`) arrives.
  const docA = doc(2, v(2, undefined, undefined, 'extra'));
  let s = await update(gw, c, docA);
  assert.equal(s.state, 'applied', JSON.stringify(s));
  assert.equal(s.probation?.version, 2);
  await c.publishAsync('data/x', '{"kind":"k"}', { qos: 1 });
  s = await update(gw, c, doc(3, failing(3)));
  assert.equal(s.state, 'applied', JSON.stringify(s));
  assert.equal(s.lastGoodVersion, 1, 'A was never confirmed: a rollback still goes to v1');
  assert.deepEqual(s.probation?.rules, ['keep', 'extra'], 'judged against v1: what A changed too');
  assert.match(await list(gw), /on probation until \S+, watching: keep, extra \(rolled back to version 1, the last confirmed set, by itself/);

  s = await rolledBack(gw, c);
  assert.equal(s.code, 'GH_RULESET_RUNTIME_FAILURE');
  assert.deepEqual([s.version, s.fromVersion, s.activeVersion, s.lastGoodVersion], [1, 3, 1, 1]);
  assert.equal(s.probation, null, 'A is not running, nor on probation again');
  const retained = await retainedStatus(t, url(gw), (x) => x.state === 'rolled-back');
  assert.equal(retained.fromVersion, 3);
  const listed = await list(gw);
  assert.match(listed, /last update: rolled-back to version 1 from version 3 \(probation\), GH_RULESET_RUNTIME_FAILURE/);
  // The restored `keep` counts from the rollback on (a message in flight may meet it): none of B's failures.
  assert.match(listed, / keep: matched \d+, emitted \d+, errors 0, action failures 0\n/);
  assert.ok((await metricValue(registries.get(gw)!, 'gatehouse_rule_action_failures_total', { rule: 'keep' })) >= 3, 'Prometheus keeps them');

  // A replayed is still a replay (superseded, then rolled back with B); nor can a rollback document reach it.
  s = await update(gw, c, docA);
  assert.match(s.errors[0]!.message, /GH_CONTROL_REPLAY/);
  s = await update(gw, c, signedDoc(keys.privateKeyPem, { version: 4, rollbackTo: 2 }), `gatehouse/${ID}/rules/rollback`);
  assert.equal(s.state, 'rejected');
  assert.match(s.errors[0]!.message, /last good \(confirmed\) set is 1/);
  assert.equal(gw.rules.activeDefinition()?.version, 1);

  // Again with a restart during B's probation: the rollback target survives it.
  assert.equal((await update(gw, c, doc(5, v(5, undefined, undefined, 'extra')))).state, 'applied');
  assert.equal((await update(gw, c, doc(6, failing(6)))).lastGoodVersion, 1);
  await c.endAsync();
  await gw.stop();
  gw = (await signedGateway(t, probation, dir)).gw;
  c = await client(t, url(gw));
  assert.equal(gw.control.probation.current()?.version, 6, 'the probation starts again');
  assert.equal(gw.rules.lastGoodDefinition()?.version, 1);
  s = await rolledBack(gw, c);
  assert.deepEqual([s.version, s.fromVersion, s.activeVersion], [1, 6, 1]);
});

test('a job toggle that is refused or changes nothing leaves the retained rule status alone; one that changes a rule is reported', async (t) => {
  // Far-off schedules: the runs are made with runNow, the way an operator would test a job.
  const jobs = [
    'jobs:',
    "  - { name: ghost-off, schedule: '0 0 1 1 *', type: disable-rule, rule: ghost }",
    "  - { name: extra-off, schedule: '0 0 1 1 *', type: disable-rule, rule: extra }",
    '',
  ].join('\n');
  const gw = await startInProcess(t, `control:\n  allowUnsigned: true\n  probation: { seconds: 0 }\n${RULES_V1}${jobs}`);
  const u = url(gw);
  const c = await client(t, u);
  // The office's update lands.
  assert.equal((await update(gw, c, v(2, undefined, undefined, 'extra'))).state, 'applied');

  // A subscriber on the status topic: the retained v2 first, then every status published live.
  const watcher = await client(t, u);
  const seen: ControlStatus[] = [];
  const waiters: Array<() => void> = [];
  watcher.on('message', (_topic, payload) => {
    seen.push(JSON.parse(payload.toString()) as ControlStatus);
    for (const w of waiters.splice(0)) w();
  });
  const seenWhere = (what: string, want: (s: ControlStatus) => boolean): Promise<void> =>
    within(
      new Promise<void>((resolve) => {
        const check = (): void => (seen.some(want) ? resolve() : void waiters.push(check));
        check();
      }),
      5000,
      what,
    );
  await watcher.subscribeAsync(STATUS, { qos: 1 });
  await seenWhere('the retained status of v2', (s) => s.version === 2 && s.state === 'applied');

  // The toggle of a rule the set does not have fails at each run: failed, counted, the job's last error.
  for (let i = 0; i < 2; i++) {
    const e = await gw.control.jobs.runNow('ghost-off');
    assert.equal(e.result, 'failed');
    assert.match(e.error ?? '', /no rule named 'ghost'/);
    // The catalogue's message of GH_JOB_FAILED ('{reason}'), the job named, its fix.
    assert.match(e.error ?? '', /^GH_JOB_FAILED: rule toggle refused: .*no rule named 'ghost'.* \(at jobs\.ghost-off\)\. Fix: fix jobs\.ghost-off\.rule/);
  }
  assert.equal(await metricValue(registries.get(gw)!, 'gatehouse_job_runs_total', { name: 'ghost-off', result: 'failed' }), 2);
  const ghost = gw.control.jobs.status().find((j) => j.name === 'ghost-off')!;
  assert.equal(ghost.lastRun?.result, 'failed');
  assert.match(ghost.lastError?.message ?? '', /no rule named 'ghost'/);
  // ...and the last real update outcome stays where the office and the admin API read it.
  const lastUpdate = (gw.rules.status() as { lastUpdate: { source: string; version: number; state: string } }).lastUpdate;
  assert.deepEqual([lastUpdate.state, lastUpdate.version], ['applied', 2]);
  assert.match(lastUpdate.source, /^mqtt/);
  assert.equal(await metricValue(registries.get(gw)!, 'gatehouse_control_updates_total', { result: 'rejected' }), 0);

  // A toggle that changes the rule is an update of the active set: reported (same version, source job:<name>).
  assert.equal((await gw.control.jobs.runNow('extra-off')).result, 'ok');
  await seenWhere('the status of the extra-off toggle', (s) => s.source === 'job:extra-off');
  // A toggle that changes nothing (the rule is already off) is not reported either.
  assert.equal((await gw.control.jobs.runNow('extra-off')).result, 'ok');
  assert.equal(gw.control.jobs.status().find((j) => j.name === 'extra-off')?.runs.ok, 2);
  // The next update from the office is the next status: nothing from the jobs came in between
  // (the gateway publishes its statuses in order on one connection).
  assert.equal((await update(gw, c, v(3, undefined, undefined, 'extra'))).state, 'applied');
  await seenWhere('the status of v3', (s) => s.version === 3);
  assert.deepEqual(
    seen.map((s) => `${s.state} v${s.version} ${s.source.startsWith('mqtt') ? 'mqtt' : s.source}`),
    ['applied v2 mqtt', 'applied v2 job:extra-off', 'applied v3 mqtt'],
  );
  const toggled = seen[1]!;
  assert.equal(toggled.activeVersion, 2);
  assert.deepEqual(toggled.errors, []);
  const retained = await retainedStatus(t, u, () => true);
  assert.deepEqual([retained.state, retained.version], ['applied', 3]);
});
