// AWS IoT Basic Ingest on the real gateway with real mqtt.js clients, beyond what
// rules-aws-user.test.ts covers: subscriptions that could receive Basic Ingest topics
// ($aws/rules/<rule>/...) are refused as AWS IoT refuses them (its messages go to the named rule
// only), over MQTT 3.1.1 and 5, counted and logged; and a rule without FROM, which AWS allows for
// rules reached only through Basic Ingest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { withTimeout } from '../helpers/index.js';
import { startRulesGateway } from '../helpers/gateway-process.js';

const RULES = `version: 1
rules:
  - name: BuildingManager
    sql: SELECT *, topic(3) AS floor FROM 'Buildings/#'
    actions:
      - republish: { topic: 'seen/manager', qos: 1 }
`;

type SubackError = Error & { packet?: { granted: number[]; properties?: { reasonString?: string } } };

test('subscriptions that could get $aws/rules/... (Basic Ingest) are refused, SUBACK 0x80, over MQTT 3.1.1 and 5', { timeout: 60_000 }, async (t) => {
  const { gw } = await startRulesGateway(t, RULES);

  const filters = ['$aws/rules/BuildingManager/#', 'seen/#', '$aws/#', '$share/g/$aws/rules/+/Buildings/#', '$aws/things/+/shadow/update'];
  const clients: mqtt.MqttClient[] = [];
  for (const protocolVersion of [4, 5] as const) {
    const c = await mqtt.connectAsync(gw.mqttUrl, { clientId: `snoop-${protocolVersion}`, protocolVersion, reconnectPeriod: 0 });
    t.after(() => c.endAsync(true));
    clients.push(c);
    const subs = protocolVersion === 4 ? filters.filter((f) => !f.startsWith('$share/')) : filters;
    // mqtt.js rejects a SUBACK with any 0x80 code; the packet rides on the error
    const err = await c.subscribeAsync(subs, { qos: 1 }).then(
      () => assert.fail(`MQTT ${protocolVersion}: a subscription to $aws/rules/... was granted`),
      (e: SubackError) => e,
    );
    const granted = err.packet?.granted;
    assert.deepEqual(granted, protocolVersion === 4 ? [128, 1, 128, 1] : [128, 1, 128, 128, 1], `MQTT ${protocolVersion}`);
    if (protocolVersion === 5) assert.match(String(err.packet?.properties?.reasonString), /Basic Ingest/);
  }
  // A Basic Ingest publish reaches the rule, and no subscriber.
  const got: string[] = [];
  let both: () => void = () => undefined;
  const arrived = new Promise<void>((resolve) => (both = resolve));
  for (const c of clients) {
    c.on('message', (topic) => {
      got.push(`${c.options.clientId} ${topic}`);
      if (got.length === 2) both();
    });
  }
  const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'building-5', reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  await pub.publishAsync('$aws/rules/BuildingManager/Buildings/Building5/Floor2', '{"on":true}', { qos: 1 });
  await withTimeout(arrived, 15_000, 'the rule output, to both clients');
  assert.deepEqual(got.sort(), ['snoop-4 seen/manager', 'snoop-5 seen/manager']);
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  assert.match(metrics, /^gatehouse_mqtt_acl_denied_total\{action="subscribe"\} 5$/m);
  assert.ok(
    gw.logs.some((l) => /Basic Ingest/.test(String(l.why)) && String(l.msg).includes('reserved')),
    JSON.stringify(gw.logs.filter((l) => l.component === 'broker')),
  );
});

test('a rule without FROM, as AWS IoT allows for Basic Ingest: it runs on $aws/rules/<rule>/<topic> and on no plain topic', { timeout: 60_000 }, async (t) => {
  const { gw } = await startRulesGateway(
    t,
    `version: 1
rules:
  - name: ingestOnly
    sql: SELECT *, topic() AS t WHERE on = true
    actions:
      - republish: { topic: 'seen/ingest', qos: 1 }
  - name: everything
    sql: SELECT * FROM 'Buildings/#'
    actions:
      - republish: { topic: 'seen/all', qos: 1 }
`,
  );
  const sub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'watcher', reconnectPeriod: 0 });
  t.after(() => sub.endAsync(true));
  await sub.subscribeAsync('seen/#', { qos: 1 });
  const got: Array<[string, Record<string, unknown>]> = [];
  let done: () => void = () => undefined;
  const arrived = new Promise<void>((resolve) => (done = resolve));
  sub.on('message', (topic, payload) => {
    got.push([topic, JSON.parse(payload.toString()) as Record<string, unknown>]);
    if (topic === 'seen/all' && got.some(([, p]) => p.last === true)) done();
  });
  const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'building-5', reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  await pub.publishAsync('$aws/rules/ingestOnly/Buildings/Building5', '{"on":true}', { qos: 1 });
  await pub.publishAsync('$aws/rules/ingestOnly/Buildings/Building6', '{"on":false}', { qos: 1 });
  // A plain publish reaches every rule with a matching FROM, not the rule without one; its output
  // comes after everything the Basic Ingest publishes caused (internal publishes keep their order).
  await pub.publishAsync('Buildings/Building7', '{"on":true,"last":true}', { qos: 1 });
  await withTimeout(arrived, 15_000, 'the output of the plain publish');
  assert.deepEqual(got, [
    ['seen/ingest', { on: true, t: 'Buildings/Building5' }],
    ['seen/all', { on: true, last: true }],
  ]);
});

test('a retained Basic Ingest publish runs its rule and is not retained (no subscriber may ever get it)', { timeout: 60_000 }, async (t) => {
  const { gw, dir } = await startRulesGateway(t, RULES);
  const sub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'watcher', reconnectPeriod: 0 });
  t.after(() => sub.endAsync(true));
  await sub.subscribeAsync('seen/#', { qos: 1 });
  let outputs = 0;
  let both: () => void = () => undefined;
  const arrived = new Promise<void>((resolve) => (both = resolve));
  sub.on('message', () => {
    if (++outputs === 2) both();
  });
  for (const protocolVersion of [4, 5] as const) {
    const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: `building-${protocolVersion}`, protocolVersion, reconnectPeriod: 0 });
    await pub.publishAsync(`$aws/rules/BuildingManager/Buildings/B${protocolVersion}/F1`, '{"on":true}', { qos: 1, retain: true });
    await pub.publishAsync(`status/building-${protocolVersion}`, 'online', { qos: 1, retain: true });
    await pub.endAsync();
  }
  await withTimeout(arrived, 15_000, 'the rule ran on both retained Basic Ingest publishes');
  assert.equal(await gw.stop(), 0); // writes the final retained set
  // the snapshot: a header line, then one JSON record a line
  const retained = (await readFile(join(dir, 'data', 'mqtt-retained.json'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as unknown);
  const topics = JSON.stringify(retained);
  assert.match(topics, /status\/building-4/);
  assert.match(topics, /status\/building-5/);
  assert.doesNotMatch(topics, /\$aws\/rules/, 'a Basic Ingest message is not kept as retained');
});
