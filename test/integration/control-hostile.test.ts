// Fleet operator's audit of remote control (round 18): hostile and faulty updates against a real
// gateway process (the CLI's `start`), driven through its own broker and admin API.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import pino from 'pino';
import { loadConfig } from '../../gateway/config/index.js';
import type { JobRunEvent } from '../../gateway/control/jobs.js';
import type { ControlStatus } from '../../gateway/control/remote.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { cliCommand, startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { metricValue, needBinary, tempDir, waitForEvent, waitUntil, withTimeout } from '../helpers/index.js';
import { tcpProxy } from '../helpers/industrial.js';
import { startMosquitto } from '../helpers/peers.js';

const ID = 'site7';

test('a rule set nested 10,000 deep (20 KB of "[") is refused with its code, over MQTT and the admin API; the gateway keeps running', async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(dir, `gatewayId: ${ID}\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\ncontrol: { allowUnsigned: true }\n`);
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const deep = `{"version":8,"rules":[{"name":"x","sql":"SELECT * FROM 'a'","actions":[],"d":${'['.repeat(10_000)}${']'.repeat(10_000)}}]}`;
  const c = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0 });
  t.after(() => c.endAsync(true));
  const retained = waitForEvent(c, 'message', 5000); // the start-up status
  await c.subscribeAsync(`gatehouse/${ID}/rules/status`, { qos: 1 });
  await retained;
  // The yaml package's composer is recursive: the third such body crashed the process (V8 out of
  // memory compiling a RegExp after the stack overflows), whichever way it came.
  for (let i = 0; i < 3; i++) {
    const got = waitForEvent(c, 'message', 10_000) as Promise<[string, Buffer]>;
    await c.publishAsync(`gatehouse/${ID}/rules/set`, deep, { qos: 1 });
    const status = JSON.parse((await got)[1].toString()) as ControlStatus;
    assert.equal(status.state, 'rejected');
    assert.equal(status.code, 'GH_RULESET_INVALID');
    assert.match(status.errors[0]!.message, /nested deeper than 64 levels/);
    assert.equal(status.activeVersion, 1);
  }
  for (let i = 0; i < 3; i++) {
    const res = await withTimeout(
      fetch(`${gw.adminUrl}/api/rules`, { method: 'PUT', body: deep, headers: { 'content-type': 'application/yaml' } }),
      10_000,
      'PUT',
    );
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'GH_RULESET_INVALID');
    assert.match(body.error.message, /nested deeper than 64 levels.*Fix: send the rule set itself/);
  }
  assert.equal(gw.proc.exitCode, null, 'the gateway is still running');
  assert.equal(gw.proc.signalCode, null, 'the gateway is still running');
  const res = await fetch(`${gw.adminUrl}/api/rules`);
  assert.equal(((await res.json()) as { activeVersion: number }).activeVersion, 1);
});

test('a heartbeat the control broker never acknowledges (frozen link) fails after 10 s, naming why; the held run no longer skips every tick with a warning each', {
  skip: needBinary('mosquitto', 'mosquitto'),
}, async (t) => {
  const broker = await startMosquitto(t);
  const proxy = await tcpProxy(t, broker.port);
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  const yaml = [
    `gatewayId: ${ID}`,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
    'exporters: []',
    'control:',
    '  allowUnsigned: true',
    `  upstream: { url: 'mqtt://127.0.0.1:${proxy.port}' }`,
    'jobs:',
    "  - { name: hb, schedule: '*/1 * * * * *', type: heartbeat }",
    '',
  ].join('\n');
  await writeFile(file, yaml);
  const lines: Array<{ msg: string; level: number }> = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l) as { msg: string; level: number }) });
  const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), {
    logger,
    registry: createMetricsRegistry('test', ID),
    version: 'test',
  });
  t.after(() => gw.stop());
  const jobs = gw.control.jobs!;
  const ok = (e: JobRunEvent): boolean => e.result === 'ok';
  await withTimeout(new Promise<void>((resolve) => jobs.on('run', (e: JobRunEvent) => ok(e) && resolve())), 10_000, 'a heartbeat is acknowledged');
  // The broker stops answering; the TCP connection stays open (keepalive 60 s: not seen for a while).
  proxy.mute(true);
  const failed = await withTimeout(
    new Promise<JobRunEvent>((resolve) => jobs.on('run', (e: JobRunEvent) => e.result === 'failed' && resolve(e))),
    15_000,
    'the held heartbeat fails',
  );
  assert.match(failed.error ?? '', /GH_CONTROL_CHANNEL: control channel mqtt:\/\/127\.0\.0\.1:\d+ did not acknowledge the heartbeat within 10 s/);
  const status = jobs.status()[0]!;
  assert.match(status.lastError?.message ?? '', /did not acknowledge the heartbeat/);
  const skips = lines.filter((l) => /job skipped/.test(l.msg));
  assert.ok(status.runs.skipped >= 5, `ticks were skipped meanwhile (${status.runs.skipped})`);
  assert.equal(skips.filter((l) => l.level >= 40).length, 1, 'one warning for the held run, not one per tick');
  proxy.mute(false);
});

/** An office broker: a Gatehouse broker (in process) whose ACL for anonymous clients is `acl` (YAML flow list). */
async function startOffice(t: TestContext, acl: string, registry = createMetricsRegistry('test', 'office')): Promise<string> {
  const officeDir = await tempDir(t);
  const officeFile = join(officeDir, 'office.yaml');
  await writeFile(
    officeFile,
    [
      'gatewayId: office',
      `dataDir: ${JSON.stringify(join(officeDir, 'data'))}`,
      'exporters: []',
      'control: { enabled: false }',
      'broker:',
      '  acl:',
      `    anonymous: ${acl}`,
      '',
    ].join('\n'),
  );
  const office = await startGateway(await loadConfig(officeFile, { mqttPort: 0, adminPort: 0 }), {
    logger: pino({ level: 'silent' }),
    registry,
    version: 'test',
  });
  t.after(() => office.stop());
  return `mqtt://127.0.0.1:${office.broker.addresses()[0]!.port}`;
}

/** A gateway (in process) whose control channel is the broker at `url`; its log lines are kept. */
async function startSite(t: TestContext, url: string) {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    `gatewayId: ${ID}\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\ncontrol:\n  allowUnsigned: true\n  upstream: { url: '${url}', reconnectMinMs: 200 }\n`,
  );
  const lines: Array<{ msg: string; level: number; time?: number; topics?: string[]; topic?: string; hint?: string }> = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l) as { msg: string; level: number }) });
  const registry = createMetricsRegistry('test', ID);
  const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), { logger, registry, version: 'test' });
  t.after(() => gw.stop());
  return { gw, lines, registry };
}

test('a control broker that refuses the subscription to the control topics (its ACL: SUBACK 0x80) is said with the topics and the fix, and gatehouse_control_channel_connected is 0', async (t) => {
  const url = await startOffice(t, "[{ topic: 'gatehouse/+/rules/status', access: readwrite }, { topic: 'gatehouse/+/heartbeat', access: write }]");
  const { gw, lines, registry } = await startSite(t, url);
  const said = await waitUntil(() => lines.find((l) => /refused the subscription to the control topics/.test(l.msg)), 'the refusal is logged', 10_000);
  assert.equal(said.level, 50);
  assert.deepEqual(said.topics, [`gatehouse/${ID}/rules/set`, `gatehouse/${ID}/rules/rollback`]);
  assert.match(said.hint ?? '', /subscribe to these topics in the control broker's ACL/);
  assert.equal(gw.control.channel.connected(), true, 'the connection itself is up');
  assert.equal(await metricValue(registry, 'gatehouse_control_channel_connected', { channel: url }), 0);
});

test('a control broker that disconnects the gateway for publishing its status (ACL or policy, as AWS IoT does) is named, with the topic and the fix, once', async (t) => {
  const officeRegistry = createMetricsRegistry('test', 'office');
  const url = await startOffice(t, "[{ topic: 'gatehouse/+/rules/set', access: read }, { topic: 'gatehouse/+/rules/rollback', access: read }]", officeRegistry);
  const { gw, lines, registry } = await startSite(t, url);
  const said = await waitUntil(
    () => lines.find((l) => /closes the connection right after the gateway publishes there/.test(l.msg)),
    'the refusal is named',
    15_000,
  );
  assert.equal(said.level, 50);
  assert.equal(said.topic, `gatehouse/${ID}/rules/status`);
  assert.match(said.hint ?? '', /allow this client .* to publish on gatehouse\/site7\/rules\/status/);
  // Reconnects go on (backoff), the line is not said again for each of them.
  // (counted by the office's broker: 'control channel offline' is logged once a minute at most)
  await waitUntil(async () => (await metricValue(officeRegistry, 'gatehouse_mqtt_connections_total')) >= 5 || undefined, 'more reconnects', 15_000);
  // (the office counts a connection at its accept: the broker's close of it follows)
  await waitUntil(() => !gw.control.channel.connected() || undefined, 'the connection closed again', 15_000);
  assert.equal(lines.filter((l) => /closes the connection right after/.test(l.msg)).length, 1);
  assert.equal(lines.filter((l) => l.msg === 'control channel offline').length, 1, 'one offline line, not one per reconnect');
  assert.equal(await metricValue(registry, 'gatehouse_control_channel_connected', { channel: url }), 0);
});

test('a rules file nested 10,000 deep is refused naming the file at start, at each SIGHUP reload (the gateway keeps running) and by `rules check`', async (t) => {
  const dir = await tempDir(t);
  const rulesFile = join(dir, 'rules.yaml');
  const deep = `{"version":2,"rules":[{"name":"x","sql":"SELECT * FROM 'a'","actions":[],"d":${'['.repeat(10_000)}${']'.repeat(10_000)}}]}`;
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nrulesFile: rules.yaml\nexporters: []\n`);
  const refused = new RegExp(
    `rule set file ${rulesFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} has 1 error:\n  - it nests lists and objects deeper than 64 levels`,
  );

  // At start: a configuration error naming the file (it said 'Maximum call stack size exceeded').
  await writeFile(rulesFile, deep);
  const { cmd, args } = cliCommand();
  const start = spawnSync(cmd, [...args, 'start', '--config', config, '--mqtt-port', '0', '--admin-port', '0'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(start.status, 78, start.stderr);
  assert.match(start.stderr, refused);
  assert.match(start.stderr, /rules\.yaml:1:\d+/, 'where the nesting goes too deep');
  // `gatehouse rules check` (V8 ran out of memory: a crash dump, exit 134).
  const check = spawnSync(cmd, [...args, 'rules', 'check', rulesFile], { encoding: 'utf8', timeout: 30_000 });
  assert.notEqual(check.status, 0);
  assert.match(check.stdout + check.stderr, refused);
  assert.doesNotMatch(check.stderr, /heap out of memory/);

  // At each SIGHUP reload: a few reloads of it crashed the gateway (V8 out of memory in a RegExp compile).
  await writeFile(rulesFile, 'version: 1\nrules: []\n');
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  await writeFile(rulesFile, deep);
  const failed = () => gw.logs.filter((l) => l.msg === 'reload failed; nothing changed');
  for (let i = 1; i <= 5; i++) {
    gw.proc.kill('SIGHUP');
    const entry = await waitUntil(() => failed()[i - 1], `reload ${i} refused`, 15_000);
    assert.match(String(entry.err), refused);
  }
  assert.equal(gw.proc.exitCode, null, 'the gateway is still running');
  await writeFile(rulesFile, 'version: 2\nrules: []\n');
  gw.proc.kill('SIGHUP');
  await waitUntil(
    async () => ((await (await fetch(`${gw.adminUrl}/api/rules`)).json()) as { activeVersion: number }).activeVersion === 2,
    'the fixed file reloads',
    15_000,
  );
});

test('two gateways with one gatewayId (a cloned SD card keeps the host name) on one control broker: the session takeover fight backs off instead of reconnecting every reconnectMinMs, and is named once each with the fix', async (t) => {
  const url = await startOffice(t, "[{ topic: 'gatehouse/#', access: readwrite }]");
  const a = await startSite(t, url);
  const b = await startSite(t, url);
  // Each connect of one takes the session (client id gatehouse-control-site7) of the other, whose
  // reconnect takes it back. Before: the backoff started over at each connect, so both came back
  // every 2 x reconnectMinMs (200 ms here) for as long as both ran, with 2 log lines each time.
  const named = (l: { msg: string }): boolean => /closes the connection soon after each connect/.test(l.msg);
  for (const site of [a, b]) {
    const said = await waitUntil(() => site.lines.find(named), 'the fight is named', 20_000);
    assert.equal(said.level, 40);
    assert.match(said.hint ?? '', /gatewayId .*site7.*control\.upstream\.clientId/);
  }
  // Backed off: the waits between one gateway's connects double (200 ms doubling up to reconnectMaxMs).
  const connectTimes = (lines: Array<{ msg: string; time?: number }>): number[] =>
    lines.filter((l) => l.msg === 'control channel connected').map((l) => l.time ?? 0);
  await waitUntil(() => connectTimes(a.lines).length >= 6 || undefined, '6 connects of one gateway', 40_000);
  const times = connectTimes(a.lines);
  const lastGap = times[5]! - times[4]!;
  assert.ok(
    lastGap >= 1500,
    `the 5th and 6th connects ${lastGap} ms apart (${times.map((x) => x - times[0]!).join(', ')}): the takeover fight did not back off`,
  );
  assert.equal(a.lines.filter(named).length, 1, 'named once');
  assert.equal(b.lines.filter(named).length, 1, 'named once');
});
