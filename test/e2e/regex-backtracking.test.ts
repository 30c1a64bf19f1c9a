// A rule whose regular expression backtracks exponentially ('(a+)+$') meets a crafted payload:
// the gateway (real CLI) acknowledges it and keeps serving, because the CLI lets V8 finish such a
// match with its linear-time engine. Before, 30 characters stalled the event loop for minutes:
// no PUBACK, no other client, no admin API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { tempDir, withTimeout } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';

test('an exponential regex on a crafted payload does not stall the gateway', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const yaml = [
    `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
    'exporters: []',
    'streams: { out: { localOnly: true } }',
    'rules:',
    '  version: 1',
    '  rules:',
    `    - { name: re, sql: "SELECT regexp_matches(s, '(a+)+$') AS m FROM 'r/#'", actions: [{ stream: { name: out } }] }`,
    '',
  ].join('\n');
  const gw = await startGatewayProcess(await writeConfig(dir, yaml));
  t.after(() => gw.stop());
  const c = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0 });
  t.after(() => c.endAsync());
  await withTimeout(c.publishAsync('r/1', JSON.stringify({ s: `${'a'.repeat(40)}b` }), { qos: 1 }), 20_000, 'the PUBACK of the crafted payload');
  const res = await withTimeout(fetch(`${gw.adminUrl}/api/streams/out/records?from=1`), 5000, 'the admin API');
  const body = (await res.json()) as { records: Array<{ payload: string }> };
  assert.deepEqual(JSON.parse(body.records[0]!.payload), { m: false });
});
