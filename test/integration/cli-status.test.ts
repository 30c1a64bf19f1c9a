// `gatehouse status` against a real gateway process: the running gateway in five lines, a stable
// --json summary, exit 0 when healthy; unreachable: GH_ADMIN_UNREACHABLE, exit 1. (While the start
// waits for disk space: test/e2e/store-open-disk-full.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { freePort, tempDir } from '../helpers/index.js';
import { startGatewayProcess, startRulesGateway, writeConfig } from '../helpers/gateway-process.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { main } from '../../gateway/cli/main.js';

test('gatehouse status: health, rates, clients, streams, sources, rules; --json; exit codes', async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(dir, `gatewayId: site-1\ndataDir: ${JSON.stringify(`${dir}/data`)}\n`);
  const gw = await startGatewayProcess(config);
  t.after(() => gw.stop());
  const client = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'dev-1', reconnectPeriod: 0 });
  t.after(() => client.end(true));

  const text = await runCaptured(main, ['status', '--admin', gw.adminUrl]);
  assert.equal(text.code, 0, text.err);
  const lines = text.out.trim().split('\n');
  assert.match(lines[0] ?? '', /^site-1 \(version [^)]+\): ok, up \d+s$/);
  assert.match(text.out, /1 MQTT client\(s\); serial links 0\/0 open/);
  assert.match(text.out, /\d+ stream\(s\), backlog \d+ record\(s\)/);
  // Configured sources only, as `gatehouse sources` (the built-in broker, serial, control, republish are not counted).
  assert.match(text.out, /^ {2}0 configured source\(s\)$/m);
  assert.match(text.out, /rule set version 1/);

  const json = await runCaptured(main, ['status', '--admin', gw.adminUrl, '--json']);
  assert.equal(json.code, 0, json.err);
  const doc = JSON.parse(json.out) as Record<string, unknown>;
  assert.deepEqual(Object.keys(doc).sort(), [
    'backlogRecords',
    'clients',
    'exportersInBackoff',
    'gatewayId',
    'health',
    'links',
    'rates',
    'rules',
    'running',
    'sources',
    'streams',
    'version',
  ]);
  assert.equal(doc.running, true);
  assert.equal(doc.clients, 1);
  assert.deepEqual(doc.rules, { version: 1, confirmed: true });

  const port = await freePort(t);
  const down = await runCaptured(main, ['status', '--admin', `http://127.0.0.1:${port}`]);
  assert.equal(down.code, 1);
  assert.match(down.err, /GH_ADMIN_UNREACHABLE: cannot reach the gateway's admin API at http:\/\/127\.0\.0\.1:\d+/);
  assert.equal((await runCaptured(main, ['status', '--bogus'])).code, 2);
});

test('gatehouse rules list: a SQL written over several lines (the README fleet example) stays indented under its rule', async (t) => {
  const { gw } = await startRulesGateway(
    t,
    [
      'version: 1',
      'rules:',
      '  - name: hot',
      '    sql: >-',
      '      SELECT topic(2) AS truck, temp,',
      '             timestamp() AS at',
      "      FROM 'fleet/+/engine'",
      '    actions: [{ republish: { topic: out } }]',
      '  - name: next',
      "    sql: SELECT * FROM 'x'",
      '    actions: [{ republish: { topic: out2 } }]',
      '',
    ].join('\n'),
  );
  const text = await runCaptured(main, ['rules', 'list', '--admin', gw.adminUrl]);
  assert.equal(text.code, 0, text.err);
  const lines = text.out.trimEnd().split('\n');
  const at = lines.findIndex((l) => /^ {4}hot: /.test(l));
  assert.ok(at > 0, text.out);
  assert.deepEqual(
    lines.slice(at + 1, at + 4),
    ['      SELECT topic(2) AS truck, temp,', '             timestamp() AS at', "      FROM 'fleet/+/engine'"],
    text.out,
  );
  assert.match(lines[at + 4] ?? '', /^ {4}next: /);
});
