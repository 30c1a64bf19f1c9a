// The error action's message as AWS IoT documents it (rule-error-handling.html), on the real
// gateway with real clients: `failedResource` is the resource the failed action really used for
// that message (the topic its template rendered to, the stream, the URL), not the template as
// written; the trace id is given under AWS's name `cloudwatchTraceId` as well as `traceId`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { jsonWatcher, startRulesGateway } from '../helpers/gateway-process.js';

const RULES = `version: 1
rules:
  - name: alarms
    sql: SELECT temp, traceid() AS trace FROM 'plant/+/temp'
    actions:
      - republish: { topic: 'seen/\${topic(2)}', qos: 1 }
      - republish: { topic: 'out/\${topic(2)}', headers: { messageExpiry: '\${expiry}' } }
      - republish: { topic: 'dev/\${device}/alarm' }
    errorAction:
      republish: { topic: 'errors/\${topic(2)}', qos: 1 }
`;

interface ErrorMessage {
  ruleName: string;
  topic: string;
  traceId: string;
  cloudwatchTraceId: string;
  failures: Array<{ failedAction: string; failedResource: string; errorMessage: string }>;
}

test("the error action names the resource each failed action really used (the rendered topic) and AWS's cloudwatchTraceId", { timeout: 60_000 }, async (t) => {
  const { gw } = await startRulesGateway(t, RULES);

  const { got, until } = await jsonWatcher(t, gw, ['seen/#', 'errors/#']);

  const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'line-7', reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  // messageExpiry renders to 'soon' (not seconds) and the device id puts a '+' in the topic: two
  // republish actions fail for this message, each on the topic it rendered.
  await pub.publishAsync('plant/7/temp', '{"temp":21,"expiry":"soon","device":"a+b"}', { qos: 1 });
  await until(2, 'the output and the error message');
  const seen = got.find(([topic]) => topic === 'seen/7')?.[1];
  const error = got.find(([topic]) => topic === 'errors/7')?.[1] as ErrorMessage | undefined;
  assert.ok(seen && error, JSON.stringify(got));
  assert.deepEqual(
    error.failures.map((f) => [f.failedAction, f.failedResource]),
    [
      ['RepublishAction', 'out/7'],
      ['RepublishAction', 'dev/a+b/alarm'],
    ],
    'failedResource is the topic each republish rendered, as AWS gives the concrete resource',
  );
  // The catalogue's message of GH_ACTION_FAILED (docs/errors.md), naming the action and the rule.
  assert.match(
    error.failures[0]!.errorMessage,
    /^GH_ACTION_FAILED: action 'republish' of rule 'alarms' failed: headers\.messageExpiry rendered to 'soon' \(at alarms\)/,
  );
  assert.match(
    error.failures[1]!.errorMessage,
    /^GH_ACTION_FAILED: action 'republish' of rule 'alarms' failed: topic rendered to an invalid topic "dev\/a\+b\/alarm"/,
  );
  assert.equal(error.traceId, seen.trace);
  assert.equal(error.cloudwatchTraceId, seen.trace, "AWS's name for the trace id carries the same id");
  assert.deepEqual(Object.keys(error), ['ruleName', 'topic', 'cloudwatchTraceId', 'traceId', 'clientId', 'base64OriginalPayload', 'failures']);
  // The log line of the failure names the rendered topic too.
  assert.ok(
    gw.logs.some((l) => l.msg === 'rule action failed' && l.resource === 'out/7'),
    'the rate-limited failure log names the rendered topic',
  );
});
