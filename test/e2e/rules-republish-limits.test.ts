// Republish within the broker's own limits (user audit, round 13): a rule output larger than
// broker.maxPayloadBytes was delivered to local devices (a 1 MB downlink from an MQTT source) while
// no device may publish one, and a topic rendered with a NUL in it (from a payload field) was
// published. Both now fail the action: the error action gets the message (AWS IoT's republish
// fails the same way past its payload limit), nothing reaches the subscribers, and nothing
// re-enters the rules. The real gateway (child process), real mqtt.js clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

const RULES = `version: 1
rules:
  - name: relay
    sql: SELECT *, encode(*, 'base64') AS copy FROM 'in/#'
    actions:
      - republish: { topic: 'out/\${dev}' }
    errorAction:
      republish: { topic: 'errors/rules' }
  - name: echo
    sql: SELECT * FROM 'out/#'
    actions:
      - republish: { topic: 'echoed/\${topic(2)}' }
`;

interface ErrorMessage {
  ruleName: string;
  failures: Array<{ failedAction: string; errorMessage: string }>;
}

test('republish: an output over broker.maxPayloadBytes and a topic with NUL fail the action (error action), reach no subscriber and do not re-enter the rules', {
  timeout: 60_000,
}, async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'rules.yaml'), RULES);
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nlog: { level: info }\nrulesFile: rules.yaml\nexporters: []\nbroker: { maxPayloadBytes: 2048 }\n`,
  );
  let gw: GatewayProcess | undefined = await startGatewayProcess(config);
  t.after(() => gw?.kill9());
  const sub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'watcher', reconnectPeriod: 0 });
  t.after(() => sub.endAsync(true));
  await sub.subscribeAsync(['out/#', 'echoed/#', 'errors/#'], { qos: 1 });
  const got: Array<[string, Buffer]> = [];
  sub.on('message', (topic, payload) => got.push([topic, payload]));
  const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'device', reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));

  // ~1,030 bytes in (under the limit); out: the fields plus a base64 copy, ~2,450 bytes (over it); the
  // error action's message (the input in base64, ~1,700 bytes) fits.
  await pub.publishAsync('in/big', JSON.stringify({ dev: 'big', fill: 'x'.repeat(1000) }), { qos: 1 });
  await pub.publishAsync('in/nul', JSON.stringify({ dev: 'a\u0000b' }), { qos: 1 });
  await pub.publishAsync('in/ok', JSON.stringify({ dev: 'ok' }), { qos: 1 });
  await waitUntil(
    () => got.filter(([topic]) => topic === 'errors/rules').length === 2 && got.some(([topic]) => topic === 'echoed/ok'),
    'two error messages and the small one echoed',
    15_000,
  );

  const errors = got.filter(([topic]) => topic === 'errors/rules').map(([, p]) => JSON.parse(p.toString()) as ErrorMessage);
  const messages = errors.map((e) => e.failures[0]!.errorMessage);
  assert.ok(
    messages.some((m) => /payload of \d+ bytes exceeds maxPayloadBytes 2048/.test(m)),
    `the oversized output is refused with the limit: ${JSON.stringify(messages)}`,
  );
  assert.ok(
    messages.some((m) => /invalid topic/.test(m)),
    `the NUL topic is refused: ${JSON.stringify(messages)}`,
  );
  assert.deepEqual(
    got.filter(([topic]) => topic.startsWith('out/')).map(([topic]) => topic),
    ['out/ok'],
    'only the small one was published',
  );
  assert.deepEqual(
    got.filter(([topic]) => topic.startsWith('echoed/')).map(([topic]) => topic),
    ['echoed/ok'],
    'only the small one re-entered the rules',
  );
  assert.equal(await gw.stop(), 0);
  gw = undefined;
});
