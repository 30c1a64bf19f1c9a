// Rules copied from AWS IoT, run on the real gateway (child process, rules file) with real
// clients: a rule republishing at QoS 1 and at QoS 0 reaches MQTT 3.1.1 subscribers with both; the
// republish action keeps AWS's roleArn (accepted, ignored), traceid() gives each MQTT message one
// id, and the error action's traceId is that id, so a failure can be matched with the outputs of
// the same message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import mqtt from 'mqtt';
import { needBinary, tempDir, waitForEvent, withTimeout } from '../helpers/index.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { jsonWatcher, startGatewayProcess, startRulesGateway, writeConfig } from '../helpers/gateway-process.js';

const ROLE = 'arn:aws:iam::123456789012:role/my-iot-role';
const RULES = `version: 1
rules:
  - name: traced
    sql: SELECT traceid() AS trace, temp FROM 'plant/+/temp'
    actions:
      - republish: { topic: 'seen/\${topic(2)}', qos: 1, roleArn: '${ROLE}' }
      - republish: { topic: 'seen/again', qos: 1, roleArn: '${ROLE}' }
      - republish: { topic: '\${missing}', roleArn: '${ROLE}' }
    errorAction:
      republish: { topic: 'errors/\${topic(2)}', roleArn: '${ROLE}' }
`;

const MIXED_QOS = `version: 1
rules:
  - name: both
    sql: SELECT temp FROM 'plant/+/temp'
    actions:
      - republish: { topic: 'seen/\${topic(2)}/q1', qos: 1 }
      - republish: { topic: 'seen/\${topic(2)}/q0', qos: 0 }
  - name: other
    sql: SELECT temp FROM 'plant/+/temp'
    actions:
      - republish: { topic: 'seen/\${topic(2)}/other', qos: 0 }
`;

test('a rule republishing at QoS 1 then QoS 0 reaches a 3.1.1 subscriber with both, in order', { timeout: 60_000 }, async (t) => {
  const { gw } = await startRulesGateway(t, MIXED_QOS);
  const sub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'watcher-311', protocolVersion: 4, reconnectPeriod: 0 });
  t.after(() => sub.endAsync(true));
  await sub.subscribeAsync('seen/#', { qos: 1 });
  const topics: string[] = [];
  sub.on('message', (topic) => topics.push(topic));
  const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'line-7', reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  await pub.publishAsync('plant/7/temp', '{"temp":21}', { qos: 1 });
  await pub.publishAsync('plant/8/temp', '{"temp":22}', { qos: 0 });
  await withTimeout(
    (async () => {
      while (topics.length < 6)
        await waitForEvent(sub, 'message', 10_000).catch((e: Error) => Promise.reject(new Error(`${e.message}: got ${topics.join(', ')}`)));
    })(),
    15_000,
    'three republished messages per publish',
  );
  // Before, aedes dropped the QoS 1 message for 3.1.1 subscribers: the QoS 0 one, published after
  // it in the same tick, was delivered first and the older one counted as a duplicate.
  assert.deepEqual(topics, ['seen/7/q1', 'seen/7/q0', 'seen/7/other', 'seen/8/q1', 'seen/8/q0', 'seen/8/other']);
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test('an AWS rule with roleArn runs; traceid() is one id per MQTT message, the one of its error action', { timeout: 60_000 }, async (t) => {
  const { gw } = await startRulesGateway(t, RULES);

  const { got, until } = await jsonWatcher(t, gw, ['seen/#', 'errors/#']);

  const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'line-7', reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  await pub.publishAsync('plant/7/temp', '{"temp":21}', { qos: 1 });
  await pub.publishAsync('plant/8/temp', '{"temp":22}', { qos: 1 });
  await until(6, 'two outputs and one error message per publish');

  for (const [n, temp] of [
    ['7', 21],
    ['8', 22],
  ] as const) {
    const seen = got.find(([topic]) => topic === `seen/${n}`)?.[1];
    assert.ok(seen, `seen/${n} arrived: ${JSON.stringify(got)}`);
    assert.equal(seen.temp, temp);
    assert.match(String(seen.trace), UUID, 'traceid() of an MQTT message is a UUID');
    const again = got.find(([topic, p]) => topic === 'seen/again' && p.temp === temp)?.[1];
    assert.equal(again?.trace, seen.trace, 'every action of the message sees the same trace id');
    const error = got.find(([topic]) => topic === `errors/${n}`)?.[1];
    assert.ok(error, `errors/${n} arrived`);
    assert.equal(error.traceId, seen.trace, 'the error action names the trace id the rule saw');
    assert.equal((error.failures as Array<{ failedAction: string }>)[0]?.failedAction, 'RepublishAction');
  }
  const traces = new Set(got.filter(([topic]) => topic.startsWith('seen/')).map(([, p]) => p.trace));
  assert.equal(traces.size, 2, 'each message has its own trace id');
});

test('a rule with a SET clause: the variable in SELECT, WHERE, the action topic and the error action topic', { timeout: 60_000 }, async (t) => {
  const { gw } = await startRulesGateway(
    t,
    `version: 1
rules:
  - name: celsius
    sql: SET @c = (f - 32) * 5 / 9, @id = newuuid() SELECT @c AS celsius, @id AS id FROM 'plant/+/temp' WHERE @c > 0
    actions:
      - republish: { topic: 'celsius/\${topic(2)}/\${@c}', qos: 1 }
      - republish: { topic: '\${get(@id, 99)}' }
    errorAction:
      republish: { topic: 'errors/\${@id}', qos: 1 }
`,
  );
  const sub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'watcher', reconnectPeriod: 0 });
  t.after(() => sub.endAsync(true));
  await sub.subscribeAsync(['celsius/#', 'errors/#'], { qos: 1 });
  const got: Array<[string, string]> = [];
  sub.on('message', (topic, payload) => got.push([topic, payload.toString()]));
  const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'line-7', reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  await pub.publishAsync('plant/7/temp', '{"f":14}', { qos: 1 }); // -10 °C: WHERE @c > 0 is false
  await pub.publishAsync('plant/8/temp', '{"f":212}', { qos: 1 });
  await withTimeout(
    (async () => {
      while (got.length < 2) await waitForEvent(sub, 'message', 10_000);
    })(),
    15_000,
    'the output and the error message',
  );
  const out = got.find(([topic]) => topic.startsWith('celsius/'));
  assert.ok(out, JSON.stringify(got));
  assert.equal(out[0], 'celsius/8/100');
  const { celsius, id } = JSON.parse(out[1]) as { celsius: number; id: string };
  assert.equal(celsius, 100);
  assert.ok(
    got.some(([topic]) => topic === `errors/${id}`),
    `the error action's template sees the id the SELECT saw: ${JSON.stringify(got)}`,
  );
  assert.ok(!got.some(([topic]) => topic.startsWith('celsius/7')), 'WHERE @c > 0 held the first message back');
});

test('Basic Ingest: $aws/rules/<rule>/<topic> runs that rule alone on <topic>; an unknown or disabled rule is counted', { timeout: 60_000 }, async (t) => {
  const { gw } = await startRulesGateway(
    t,
    `version: 1
rules:
  - name: BuildingManager
    sql: SELECT *, topic() AS t, topic(3) AS floor FROM 'Buildings/#'
    actions:
      - republish: { topic: 'seen/manager', qos: 1 }
  - name: other
    sql: SELECT * FROM 'Buildings/#'
    actions:
      - republish: { topic: 'seen/other', qos: 1 }
  - name: off
    enabled: false
    sql: SELECT * FROM 'Buildings/#'
    actions:
      - republish: { topic: 'seen/off', qos: 1 }
`,
  );
  const { got, until } = await jsonWatcher(t, gw, 'seen/#');
  const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'building-5', reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  // AWS's example: the rule BuildingManager, triggered with the Basic Ingest prefix.
  await pub.publishAsync('$aws/rules/off/Buildings/Building5', '{"on":false}', { qos: 1 });
  await pub.publishAsync('$aws/rules/nope/Buildings/Building5', '{"on":false}', { qos: 1 });
  await pub.publishAsync('$aws/rules/BuildingManager/Buildings/Building5/Floor2/Room201/Lights', '{"on":true}', { qos: 1 });
  // Then a plain publish, which both enabled rules take: once its two outputs are in, everything
  // the Basic Ingest messages caused is in too (internal publishes keep their order).
  await pub.publishAsync('Buildings/Building6', '{"on":true}', { qos: 1 });
  await until(3, 'the Basic Ingest output and the two outputs of the plain publish');
  assert.deepEqual(got[0], ['seen/manager', { on: true, t: 'Buildings/Building5/Floor2/Room201/Lights', floor: 'Floor2' }], 'only the named rule ran');
  assert.deepEqual(
    got
      .slice(1)
      .map(([topic, p]) => [topic, p.t ?? null])
      .sort(),
    [
      ['seen/manager', 'Buildings/Building6'],
      ['seen/other', null],
    ],
  );
  assert.equal(got.length, 3);
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  assert.match(metrics, /^gatehouse_rules_basic_ingest_refused_total 2$/m, 'the disabled and the unknown rule are counted');
  assert.ok(
    gw.logs.some((l) => l.code === 'GH_RULE_NOT_FOUND' && l.rule === 'nope'),
    'and logged',
  );
});

test("principal() of a mutual-TLS client without a user name is its certificate's SHA-256 thumbprint, as AWS IoT's", {
  skip: needBinary('openssl', 'openssl'),
  timeout: 60_000,
}, async (t) => {
  const dir = await tempDir(t);
  const server = opensslSelfSigned(dir, 1, 'server');
  const device = opensslSelfSigned(dir, 1, 'device', 'DNS:device-7');
  await writeFile(
    join(dir, 'rules.yaml'),
    `version: 1
rules:
  - name: who
    sql: SELECT principal() AS principal, clientid() AS client FROM 'who/+'
    actions:
      - republish: { topic: 'seen/who', qos: 1 }
`,
  );
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}
rulesFile: rules.yaml
exporters: []
broker:
  listeners:
    - { host: 127.0.0.1, port: 0 }
    - { host: 127.0.0.1, port: 0, tls: { cert: server.pem, key: server.key, ca: device.pem, requestCert: true } }
`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const started = gw.logs.find((l) => l.msg === 'gatehouse started') as { mqtt: Array<{ port: number; tls: boolean }> };
  const tlsPort = started.mqtt.find((a) => a.tls)!.port;
  const sub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'watcher', reconnectPeriod: 0 });
  t.after(() => sub.endAsync(true));
  await sub.subscribeAsync('seen/who', { qos: 1 });
  const got: Array<Record<string, unknown>> = [];
  sub.on('message', (_topic, payload) => got.push(JSON.parse(payload.toString()) as Record<string, unknown>));
  for (const protocolVersion of [4, 5] as const) {
    const dev = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, {
      ca: await readFile(server.cert),
      cert: await readFile(device.cert),
      key: await readFile(device.key),
      clientId: `device-7-v${protocolVersion}`,
      protocolVersion,
      reconnectPeriod: 0,
    });
    t.after(() => dev.endAsync(true));
    await dev.publishAsync('who/7', '{}', { qos: 1 });
  }
  await withTimeout(
    (async () => {
      while (got.length < 2) await waitForEvent(sub, 'message', 10_000);
    })(),
    15_000,
    'one output per device connection',
  );
  // AWS IoT's form: the lower-case hex SHA-256 of the certificate (DER).
  const thumbprint = new X509Certificate(await readFile(device.cert)).fingerprint256.replaceAll(':', '').toLowerCase();
  assert.deepEqual(got.map((p) => [p.client, p.principal]).sort(), [
    ['device-7-v4', thumbprint],
    ['device-7-v5', thumbprint],
  ]);
});

test("a republish to a reserved topic written AWS's way, $$aws/..., publishes on $aws/...", { timeout: 60_000 }, async (t) => {
  const { gw } = await startRulesGateway(
    t,
    `version: 1
rules:
  - name: shadow
    sql: SELECT temp FROM 'plant/+/temp'
    actions:
      - republish: { topic: '$$aws/things/\${topic(2)}/shadow/update', qos: 1 }
      - republish: { topic: '$$aws/things/all/shadow/update', qos: 1 }
`,
  );
  const sub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'shadow-watcher', reconnectPeriod: 0 });
  t.after(() => sub.endAsync(true));
  await sub.subscribeAsync(['$aws/things/+/shadow/update', '$$aws/#'], { qos: 1 });
  const got: Array<[string, unknown]> = [];
  let both: () => void = () => undefined;
  const arrived = new Promise<void>((resolve) => (both = resolve));
  sub.on('message', (topic, payload) => {
    got.push([topic, JSON.parse(payload.toString())]);
    if (got.length === 2) both();
  });
  const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'line-7', reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  await pub.publishAsync('plant/7/temp', '{"temp":21}', { qos: 1 });
  await withTimeout(arrived, 15_000, 'the two shadow updates');
  assert.deepEqual(got.sort(), [
    ['$aws/things/7/shadow/update', { temp: 21 }],
    ['$aws/things/all/shadow/update', { temp: 21 }],
  ]);
});
