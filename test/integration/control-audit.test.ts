// User-seat audit of remote rule updates (round 13): what an operator meets configuring the
// control section and what the office reads on the status topic, against a real gateway (aedes,
// LevelDB) or a real upstream mosquitto, driven by real mqtt.js clients.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { generateSigningKeys, makeEnvelope, signRuleSetBytes } from '../../gateway/control/signing.js';
import { buildUpdateDocument } from '../../gateway/control/document.js';
import type { ControlStatus } from '../../gateway/control/remote.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { checkConfigText } from '../helpers/check-config.js';
import { needBinary, tempDir, testDeps, waitUntil, withTimeout } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';

const ID = 'site7';
const STATUS = `gatehouse/${ID}/rules/status`;
const skipMosquitto = needBinary('mosquitto', 'mosquitto');
const RULES_V1 = `rules:\n  version: 1\n  rules:\n    - name: keep\n      sql: "SELECT * FROM 'data/#'"\n      actions: [{ stream: { name: archive } }]\n`;

async function startInProcess(t: TestContext, yaml: string, logger = testDeps().logger): Promise<Gateway> {
  const d = await tempDir(t);
  const file = join(d, 'g.yaml');
  await writeFile(file, `gatewayId: ${ID}\ndataDir: ${JSON.stringify(join(d, 'data'))}\nexporters: []\n${yaml}`);
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger, registry: createMetricsRegistry('test', ID), version: 'test' });
  t.after(() => gw.stop());
  return gw;
}

/** A gateway that takes signed updates (the public key of a fresh signing pair in control.publicKeys, `control` more control keys, rules RULES_V1), and the pair. */
async function signedGateway(t: TestContext, control = ''): Promise<{ gw: Gateway; keys: ReturnType<typeof generateSigningKeys> }> {
  const d = await tempDir(t);
  const keys = generateSigningKeys();
  await writeFile(join(d, 'ops.pub'), keys.publicKeyPem);
  const gw = await startInProcess(t, `control:\n  publicKeys: [${JSON.stringify(join(d, 'ops.pub'))}]\n${control}${RULES_V1}`);
  return { gw, keys };
}

/** An mqtt.js client of the gateway's own broker, ended after the test. */
const localClient = (t: TestContext, gw: Gateway): Promise<MqttClient> => client(t, `mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`);

async function client(t: TestContext, url: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  t.after(() => c.endAsync(true));
  return c;
}

/** Publish on a control topic and wait for the status the gateway reports next. */
async function update(gw: Gateway, c: MqttClient, topic: string, payload: string | Buffer): Promise<ControlStatus> {
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

function signedDoc(privateKeyPem: string, o: { version: number; targets?: string[]; rollbackTo?: number }): string {
  const now = new Date();
  const ruleSet = { version: o.version, rules: [{ name: 'keep', sql: "SELECT * FROM 'data/#'", actions: [{ stream: { name: 'archive' } }] }] };
  const bytes = buildUpdateDocument({
    targets: o.targets ?? [ID],
    version: o.version,
    issuedAt: now,
    expiresAt: new Date(now.getTime() + 3600_000),
    ...(o.rollbackTo === undefined ? { ruleSet } : { rollbackTo: o.rollbackTo }),
  });
  return makeEnvelope(bytes, signRuleSetBytes(bytes, privateKeyPem), 'ops');
}

test('check-config: a private key in control.publicKeys is refused, naming the entry (the signing key belongs in the office)', async (t) => {
  const dir = await tempDir(t);
  const keys = generateSigningKeys();
  await writeFile(join(dir, 'ops.key'), keys.privateKeyPem);
  await writeFile(join(dir, 'ops.pub'), keys.publicKeyPem);
  const base = `exporters: []\n${RULES_V1}`;
  const asFile = await checkConfigText(
    t,
    `control:\n  publicKeys: [${JSON.stringify(join(dir, 'ops.pub'))}, ${JSON.stringify(join(dir, 'ops.key'))}]\n${base}`,
  );
  assert.equal(asFile.code, 1, asFile.out);
  assert.match(asFile.err, /control\.publicKeys\.1/);
  assert.match(asFile.err, /private key/);
  const asText = await checkConfigText(t, `control:\n  publicKeys: [${JSON.stringify(keys.privateKeyPem)}]\n${base}`);
  assert.equal(asText.code, 1, asText.out);
  assert.match(asText.err, /control\.publicKeys\.0/);
  const pub = await checkConfigText(t, `control:\n  publicKeys: [${JSON.stringify(join(dir, 'ops.pub'))}]\n${base}`);
  assert.equal(pub.code, 0, pub.err);
});

test('check-config: a control.upstream.url whose port is not a number, out of range or 0 is refused, naming the key', async (t) => {
  for (const url of ['mqtt://127.0.0.1:abc', 'mqtt://127.0.0.1:99999', 'mqtts://office.example:8883x', 'mqtt://127.0.0.1:0']) {
    const r = await checkConfigText(t, `control:\n  upstream: { url: ${JSON.stringify(url)} }\nexporters: []\n${RULES_V1}`);
    assert.equal(r.code, 1, `${url}: ${r.out}`);
    assert.match(r.err, /control\.upstream\.url/, url);
    assert.match(r.err, /port/, url);
  }
  for (const url of ['mqtt://127.0.0.1:1883', 'mqtts://office.example', 'wss://office.example/mqtt', 'mqtt://ops:p%40ss@127.0.0.1:1883']) {
    const r = await checkConfigText(t, `control:\n  upstream: { url: ${JSON.stringify(url)} }\nexporters: []\n${RULES_V1}`);
    assert.equal(r.code, 0, `${url}: ${r.err}`);
  }
});

test('every refused remote update has the code of its refusal in the status (replay, signature, target, expired, too large)', async (t) => {
  const { gw, keys } = await signedGateway(t, '  maxPayloadBytes: 4096\n');
  const c = await localClient(t, gw);
  const set = `gatehouse/${ID}/rules/set`;
  const doc2 = signedDoc(keys.privateKeyPem, { version: 2 });
  assert.equal((await update(gw, c, set, doc2)).state, 'applied');
  const cases: Array<[string, string | Buffer, string, string]> = [
    ['replay', doc2, set, 'GH_CONTROL_REPLAY'],
    ['unsigned', '{"version":3,"rules":[]}', set, 'GH_RULESET_SIGNATURE'],
    ['wrong key', signedDoc(generateSigningKeys().privateKeyPem, { version: 3 }), set, 'GH_RULESET_SIGNATURE'],
    ['other gateway', signedDoc(keys.privateKeyPem, { version: 3, targets: ['site8'] }), set, 'GH_CONTROL_DOCUMENT'],
    [
      'rollback to a set that is not the last good',
      signedDoc(keys.privateKeyPem, { version: 3, rollbackTo: 9 }),
      `gatehouse/${ID}/rules/rollback`,
      'GH_CONTROL_DOCUMENT',
    ],
    ['a signature that is not a string', JSON.stringify({ ruleSet: 'e30=', signature: 42 }), set, 'GH_RULESET_SIGNATURE'],
    ['over control.maxPayloadBytes', Buffer.alloc(5000, 0x61), set, 'GH_CONTROL_CHANNEL'],
  ];
  for (const [what, payload, topic, code] of cases) {
    const s = await update(gw, c, topic, payload);
    assert.equal(s.state, 'rejected', what);
    assert.equal(s.code, code, `${what}: ${JSON.stringify(s)}`);
    assert.match(s.errors[0]!.message, new RegExp(`^${code}`), what);
    assert.match(s.errors[0]!.message, /\. Fix: \S/, `${what}: says how to fix it: ${s.errors[0]!.message}`);
  }
  const body = (await (await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/rules`)).json()) as { lastUpdate: { code?: string } };
  assert.equal(body.lastUpdate.code, 'GH_CONTROL_CHANNEL');
});

/** Log lines of a gateway, as text. */
function capturingLogger(): { logger: pino.Logger; text: () => string } {
  let text = '';
  const sink = new Writable({
    write: (chunk: Buffer, _e, cb) => {
      text += chunk.toString();
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, sink), text: () => text };
}

test('upstream control broker: a password in control.upstream.url never reaches the status topic, /api/rules or the log', {
  skip: skipMosquitto,
}, async (t) => {
  const broker = await startMosquitto(t);
  const secretUrl = `mqtt://office:s3cret@127.0.0.1:${broker.port}`;
  const log = capturingLogger();
  const gw = await startInProcess(
    t,
    `control:\n  allowUnsigned: true\n  upstream: { url: ${JSON.stringify(secretUrl)}, reconnectMinMs: 200 }\n${RULES_V1}`,
    log.logger,
  );
  await waitUntil(() => gw.control.channel.connected(), 'control channel connected');
  const ops = await client(t, broker.url);
  const set = JSON.stringify({ version: 2, rules: [{ name: 'keep', sql: "SELECT * FROM 'data/#'", actions: [{ stream: { name: 'archive' } }] }] });
  const s = await update(gw, ops, `gatehouse/${ID}/rules/set`, set);
  assert.equal(s.state, 'applied', JSON.stringify(s));
  assert.match(s.source, /127\.0\.0\.1/, 'the source still names the broker');
  assert.doesNotMatch(JSON.stringify(s), /s3cret/);
  const api = await (await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/rules`)).text();
  assert.doesNotMatch(api, /s3cret/);
  const events = await (await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/events`)).text();
  assert.doesNotMatch(events, /s3cret/);
  assert.match(log.text(), /control channel connected/);
  assert.doesNotMatch(log.text(), /s3cret/);
});

test('upstream control broker that lost its retained messages: the gateway publishes its status again when it reconnects', {
  skip: skipMosquitto,
}, async (t) => {
  const broker = await startMosquitto(t);
  const gw = await startInProcess(t, `control:\n  allowUnsigned: true\n  upstream: { url: ${JSON.stringify(broker.url)}, reconnectMinMs: 200 }\n${RULES_V1}`);
  await waitUntil(() => gw.control.channel.connected(), 'control channel connected');
  const office = await client(t, broker.url);
  const statuses: Array<{ s: ControlStatus | undefined; retained: boolean }> = [];
  office.on('message', (_topic, payload, packet) => {
    statuses.push({ s: payload.length ? (JSON.parse(payload.toString()) as ControlStatus) : undefined, retained: packet.retain });
  });
  await office.subscribeAsync(STATUS, { qos: 1 });
  await waitUntil(() => statuses.some((x) => x.retained && x.s?.activeVersion === 1), 'the retained status at start');
  // The broker loses its retained status (a restart without persistence, a fail-over to a fresh node):
  // emptied here, then the broker restarts and the gateway reconnects.
  await office.publishAsync(STATUS, '', { qos: 1, retain: true });
  await office.endAsync();
  await broker.restart();
  await waitUntil(() => gw.control.channel.connected(), 'control channel reconnected', 10_000);
  const fresh = await client(t, broker.url);
  const retained = new Promise<ControlStatus>((resolve) => {
    fresh.on('message', (_topic, payload, packet) => {
      if (packet.retain && payload.length) resolve(JSON.parse(payload.toString()) as ControlStatus);
    });
  });
  await fresh.subscribeAsync(STATUS, { qos: 1 });
  let timer: NodeJS.Timeout | undefined;
  const s = await Promise.race([
    retained,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no retained status after the reconnect')), 5000))),
  ]).finally(() => clearTimeout(timer));
  assert.equal(s.gatewayId, ID);
  assert.equal(s.activeVersion, 1);
});

test('PUT /api/rules (gatehouse rules apply) with a signed rollback document says to roll back, instead of listing its fields as unknown rule set keys', async (t) => {
  const { gw, keys } = await signedGateway(t);
  const res = await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/rules`, {
    method: 'PUT',
    body: signedDoc(keys.privateKeyPem, { version: 14, rollbackTo: 1 }),
  });
  const s = (await res.json()) as { state: string; version?: number; code?: string; errors: Array<{ message: string }> };
  assert.equal(s.state, 'rejected');
  assert.equal(s.version, undefined, 'the document version is no rule set version');
  assert.equal(s.errors.length, 1, JSON.stringify(s.errors));
  assert.match(s.errors[0]!.message, /rollback document/);
  assert.match(s.errors[0]!.message, /gatehouse rules rollback/);
  assert.doesNotMatch(s.errors[0]!.message, /unknown key/);
  assert.equal(gw.rules.activeDefinition()?.version, 1);
});

test('upstream control broker down at start, then up: /metrics says whether the control channel is connected', { skip: skipMosquitto }, async (t) => {
  const broker = await startMosquitto(t);
  await broker.down();
  const gw = await startInProcess(
    t,
    `control:\n  allowUnsigned: true\n  upstream: { url: ${JSON.stringify(broker.url)}, reconnectMinMs: 200, reconnectMaxMs: 1000 }\n${RULES_V1}`,
  );
  const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${gw.admin!.address().port}/metrics`)).text();
  const line = /^gatehouse_control_channel_connected\{channel="mqtt:\/\/127\.0\.0\.1:\d+"\} (\d)$/m;
  assert.equal(line.exec(await metrics())?.[1], '0', 'down at start');
  await broker.up();
  await waitUntil(async () => line.exec(await metrics())?.[1] === '1', 'gatehouse_control_channel_connected 1 once the broker is up', 10_000);
  await broker.down();
  await waitUntil(async () => line.exec(await metrics())?.[1] === '0', 'gatehouse_control_channel_connected 0 once the broker is down', 10_000);
});

test('a gateway whose upstream control broker is down stops at once, also with a status publish queued (systemctl stop hung)', {
  skip: skipMosquitto,
}, async (t) => {
  const broker = await startMosquitto(t);
  const gw = await startInProcess(t, `control:\n  allowUnsigned: true\n  upstream: { url: ${JSON.stringify(broker.url)}, reconnectMinMs: 200 }\n${RULES_V1}`);
  await waitUntil(() => gw.control.channel.connected(), 'control channel connected');
  await broker.down();
  await waitUntil(() => !gw.control.channel.connected(), 'control channel down');
  // An update from the admin API: its status is queued for the control broker (QoS 1, offline).
  const set = JSON.stringify({ version: 2, rules: [{ name: 'keep', sql: "SELECT * FROM 'data/#'", actions: [{ stream: { name: 'archive' } }] }] });
  const res = await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/rules`, { method: 'PUT', body: set });
  assert.equal(((await res.json()) as { state: string }).state, 'applied');
  await withTimeout(gw.stop(), 5000, 'gw.stop() with the control broker down');
});

test('a restart with a higher version in the config keeps the set it replaced as the last good one, as a reload does (a rollback skipped it)', async (t) => {
  const d = await tempDir(t);
  const file = join(d, 'g.yaml');
  const config = (version: number): string =>
    `gatewayId: ${ID}\ndataDir: ${JSON.stringify(join(d, 'data'))}\nexporters: []\nrules:\n  version: ${version}\n  rules:\n    - name: keep\n      sql: "SELECT * FROM 'data/${version}'"\n      actions: [{ stream: { name: archive } }]\n`;
  const start = async (version: number): Promise<Gateway> => {
    await writeFile(file, config(version));
    const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), {
      logger: testDeps().logger,
      registry: createMetricsRegistry('test', ID),
      version: 'test',
    });
    t.after(() => gw.stop());
    return gw;
  };
  let gw = await start(1);
  const admin = (g: Gateway): string => `http://127.0.0.1:${g.admin!.address().port}`;
  const v2 = JSON.stringify({ version: 2, rules: [{ name: 'keep', sql: "SELECT * FROM 'data/2'", actions: [{ stream: { name: 'archive' } }] }] });
  assert.equal(((await (await fetch(`${admin(gw)}/api/rules`, { method: 'PUT', body: v2 })).json()) as { state: string }).state, 'applied');
  await gw.stop();
  // The operator writes version 3 into the config file and restarts: 2 ran, confirmed, until now.
  gw = await start(3);
  const st = (await (await fetch(`${admin(gw)}/api/rules`)).json()) as { activeVersion: number; lastGoodVersion: number | null };
  assert.equal(st.activeVersion, 3);
  assert.equal(st.lastGoodVersion, 2, 'the set that ran before the configured one');
  const rb = (await (await fetch(`${admin(gw)}/api/rules/rollback`, { method: 'POST' })).json()) as { state: string; version: number };
  assert.equal(rb.state, 'rolled-back');
  assert.equal(rb.version, 2);
});

test('killed between a failed probation and its rollback: the next start rolls the failed set back at once, instead of running it on probation again', async (t) => {
  const d = await tempDir(t);
  const file = join(d, 'g.yaml');
  await writeFile(file, `gatewayId: ${ID}\ndataDir: ${JSON.stringify(join(d, 'data'))}\nexporters: []\ncontrol:\n  probation: { seconds: 600 }\n${RULES_V1}`);
  const start = async (): Promise<Gateway> => {
    const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), {
      logger: testDeps().logger,
      registry: createMetricsRegistry('test', ID),
      version: 'test',
    });
    t.after(() => gw.stop());
    return gw;
  };
  let gw = await start();
  const v2 = JSON.stringify({ version: 2, rules: [{ name: 'keep', sql: "SELECT * FROM 'data/2'", actions: [{ stream: { name: 'archive' } }] }] });
  const put = await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/rules?probation=1`, { method: 'PUT', body: v2 });
  assert.equal(((await put.json()) as { state: string }).state, 'applied');
  assert.equal(gw.rules.unconfirmedVersion(), 2);
  await gw.stop();
  // What a kill -9 leaves when it lands after the monitor recorded its verdict and before the rule
  // host stored the rollback: the probation recorded as rolled back, the failed set still active.
  const store = await openLocalStreams({ path: join(d, 'data', 'store') }, testDeps());
  const record = JSON.parse((await store.getMeta('control/probation'))!.toString()) as { version: number; state: string };
  assert.equal(record.version, 2);
  await store.putMeta('control/probation', Buffer.from(JSON.stringify({ ...record, state: 'rolled-back' })));
  await store.close();
  gw = await start();
  type Rules = { activeVersion: number; probation: unknown; lastUpdate: { state: string; version: number; fromVersion: number; code: string } | null };
  const rules = async (): Promise<Rules> => (await (await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/rules`)).json()) as Rules;
  // Reported once stored (the active set changes a moment before).
  await waitUntil(async () => (await rules()).lastUpdate !== null, 'the rollback at start reported');
  const st = await rules();
  assert.equal(st.activeVersion, 1, 'the failed set rolled back at start');
  assert.equal(st.probation, null);
  assert.equal(st.lastUpdate?.state, 'rolled-back');
  assert.equal(st.lastUpdate?.fromVersion, 2);
  assert.equal(st.lastUpdate?.code, 'GH_RULESET_RUNTIME_FAILURE');
});

test('a signed document refused for its binding (replay, other target, expired, not the last good) names its version in the status', async (t) => {
  const { gw, keys } = await signedGateway(t);
  const c = await localClient(t, gw);
  const set = `gatehouse/${ID}/rules/set`;
  const doc2 = signedDoc(keys.privateKeyPem, { version: 2 });
  assert.equal((await update(gw, c, set, doc2)).state, 'applied');
  let s = await update(gw, c, set, doc2);
  assert.equal(s.code, 'GH_CONTROL_REPLAY');
  assert.equal(s.version, 2, 'the office tells which of its documents was refused');
  s = await update(gw, c, set, signedDoc(keys.privateKeyPem, { version: 7, targets: ['site8'] }));
  assert.equal(s.code, 'GH_CONTROL_DOCUMENT');
  assert.equal(s.version, 7);
  s = await update(gw, c, `gatehouse/${ID}/rules/rollback`, signedDoc(keys.privateKeyPem, { version: 8, rollbackTo: 5 }));
  assert.equal(s.code, 'GH_CONTROL_DOCUMENT');
  assert.equal(s.version, 8);
});

test('after a rollback from a probation, a signed rollback to another version is told there is no set to go back to, not to roll back to the running set (refused again, a version spent)', async (t) => {
  const { gw, keys } = await signedGateway(t);
  const c = await localClient(t, gw);
  const rollback = `gatehouse/${ID}/rules/rollback`;
  assert.equal((await update(gw, c, `gatehouse/${ID}/rules/set`, signedDoc(keys.privateKeyPem, { version: 2 }))).state, 'applied');
  let s = await update(gw, c, rollback, signedDoc(keys.privateKeyPem, { version: 3, rollbackTo: 1 }));
  assert.equal(s.state, 'rolled-back');
  assert.equal(s.activeVersion, 1);
  assert.equal(s.lastGoodVersion, 1, 'set 2 left its probation by a rollback: dropped, the running set is the last good one');
  // The docs' example rolls back to 4 where the last good set is 1: refused for its binding.
  s = await update(gw, c, rollback, signedDoc(keys.privateKeyPem, { version: 4, rollbackTo: 4 }));
  assert.equal(s.code, 'GH_CONTROL_DOCUMENT');
  const message = s.errors[0]!.message;
  // The catalogue's message of GH_CONTROL_DOCUMENT (docs/errors.md), then the fix.
  assert.match(
    message,
    /^GH_CONTROL_DOCUMENT: update document refused: rollback to version 4 is not possible: the last good \(confirmed\) set is 1 \(active 1\)\. Fix: /,
  );
  assert.doesNotMatch(message, /--rollback-to 1/, 'no rollback to the running set: it is refused (GH_RULESET_NO_ROLLBACK) and spends a version');
  assert.match(message, /no set to go back to: the last confirmed set, version 1, is the one running/);
  assert.match(message, /send a rule set update instead/);
  // What the earlier hint said to do is indeed refused.
  s = await update(gw, c, rollback, signedDoc(keys.privateKeyPem, { version: 4, rollbackTo: 1 }));
  assert.equal(s.code, 'GH_RULESET_NO_ROLLBACK');
});

test('the fix a signature refusal suggests is a command that runs as written (rules sign needs --targets)', async (t) => {
  const { gw } = await signedGateway(t);
  const c = await localClient(t, gw);
  const set = `gatehouse/${ID}/rules/set`;
  for (const payload of ['{"version":2,"rules":[]}', signedDoc(generateSigningKeys().privateKeyPem, { version: 2 })]) {
    const s = await update(gw, c, set, payload);
    assert.equal(s.code, 'GH_RULESET_SIGNATURE');
    const suggested = /`(gatehouse rules sign [^`]*)`/.exec(s.errors[0]!.message)?.[1];
    assert.ok(suggested, s.errors[0]!.message);
    assert.match(suggested, /--targets/, s.errors[0]!.message);
  }
});

test('upgrade: a stored set the new version refuses is published as rejected at start (not "applied" with the configured set), and kept in the store for a rollback of the upgrade', async (t) => {
  // The data folder of an older gateway whose office sent version 2 with a back-reference regex
  // (accepted before the regex guard), written directly. Before: the retained status said
  // `applied, version 1, source file, errors []`, and the configured set replaced version 2 in the
  // store, so the gateway rolled back to the older version ran version 1 too.
  const d = await tempDir(t);
  const storePath = join(d, 'data', 'store');
  const stored = {
    definition: {
      version: 2,
      rules: [{ name: 'special', sql: "SELECT * FROM 'data/#' WHERE regexp_matches(id, '^(ab+)+\\\\1$')", actions: [{ stream: { name: 'archive' } }] }],
    },
    appliedAt: Date.now() - 60_000,
    source: 'mqtt:local',
  };
  let store = await openLocalStreams({ path: storePath }, testDeps());
  await store.putMeta('rules/active', Buffer.from(JSON.stringify(stored)));
  await store.close();
  const file = join(d, 'g.yaml');
  await writeFile(file, `gatewayId: ${ID}\ndataDir: ${JSON.stringify(join(d, 'data'))}\nexporters: []\n${RULES_V1}`);
  const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), {
    logger: testDeps().logger,
    registry: createMetricsRegistry('test', ID),
    version: 'test',
  });
  let stopped = false;
  t.after(() => (stopped ? undefined : gw.stop()));
  const c = await localClient(t, gw);
  const retained = new Promise<ControlStatus>((resolve) => c.on('message', (_topic, payload) => resolve(JSON.parse(payload.toString()) as ControlStatus)));
  await c.subscribeAsync(STATUS, { qos: 1 });
  const s = await withTimeout(retained, 5000, 'the retained status');
  assert.equal(s.state, 'rejected', JSON.stringify(s));
  assert.equal(s.version, 2);
  assert.equal(s.activeVersion, 1);
  assert.equal(s.code, 'GH_RULESET_INVALID');
  assert.ok(
    s.errors.some((e) => e.rule === 'special' && /backtrack/.test(e.message)),
    JSON.stringify(s.errors),
  );
  const rules = (await (await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/rules`)).json()) as {
    lastUpdate: { state: string; version: number } | null;
  };
  assert.equal(rules.lastUpdate?.state, 'rejected');
  assert.equal(rules.lastUpdate?.version, 2);
  stopped = true;
  await gw.stop();
  store = await openLocalStreams({ path: storePath }, testDeps());
  const kept = JSON.parse((await store.getMeta('rules/active'))!.toString()) as typeof stored;
  await store.close();
  assert.equal(kept.definition.version, 2, 'the older gateway finds its set again');
});
