// `gatehouse status` against a real gateway process: the running gateway in five lines, a stable
// --json summary, exit 0 when healthy; unreachable: GH_ADMIN_UNREACHABLE, exit 1. (While the start
// waits for disk space: test/e2e/store-open-disk-full.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { freePort, tempDir, waitUntil } from '../helpers/index.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
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
    'deadLetterRecords',
    'exportersInBackoff',
    'gatewayId',
    'health',
    'host',
    'links',
    'rates',
    'rules',
    'running',
    'shadows',
    'sources',
    'streams',
    'streamsToWatch',
    'version',
  ]);
  assert.equal(doc.running, true);
  assert.equal(doc.clients, 1);
  assert.deepEqual(doc.streamsToWatch, []);
  assert.doesNotMatch(text.out, /streams to watch/);
  assert.deepEqual(doc.rules, { version: 1, confirmed: true });
  assert.equal(doc.deadLetterRecords, 0);
  assert.doesNotMatch(text.out, /dead letter/);

  const port = await freePort(t);
  const down = await runCaptured(main, ['status', '--admin', `http://127.0.0.1:${port}`]);
  assert.equal(down.code, 1);
  assert.match(down.err, /GH_ADMIN_UNREACHABLE: cannot reach the gateway's admin API at http:\/\/127\.0\.0\.1:\d+/);
  assert.equal((await runCaptured(main, ['status', '--bogus'])).code, 2);
});

test('gatehouse status names a full stream that refuses appends (its publishers get no PUBACK while /healthz says ok)', async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(
    dir,
    [
      `dataDir: ${JSON.stringify(`${dir}/data`)}`,
      'exporters: []',
      'streams:',
      '  tiny: { maxBytes: 4096, onFull: reject, localOnly: true }',
      'rules:',
      '  version: 1',
      '  rules:',
      `    - { name: tiny, sql: "SELECT * FROM 'plant/#'", actions: [{ stream: { name: tiny } }] }`,
      '',
    ].join('\n'),
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.stop());
  // MQTT 5: a refused publish is a negative PUBACK, the connection stays up.
  const client = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'dev-full', reconnectPeriod: 0, protocolVersion: 5 });
  t.after(() => client.end(true));
  let refused = 0;
  for (let i = 0; i < 40 && refused === 0; i++) {
    await client.publishAsync('plant/a', JSON.stringify({ i, pad: 'x'.repeat(200) }), { qos: 1 }).catch(() => refused++);
  }
  assert.ok(refused > 0, 'the 4 KiB stream refused an append');
  const text = await runCaptured(main, ['status', '--admin', gw.adminUrl]);
  assert.equal(text.code, 0, 'healthy: the disk and the broker are fine');
  // Before: nothing in the five lines said a stream refused what the rules routed into it.
  assert.match(text.out, /^ {2}streams to watch: tiny \d+% full, 1 append\(s\) refused \(gatehouse streams\)$/m);
  const doc = JSON.parse((await runCaptured(main, ['status', '--admin', gw.adminUrl, '--json'])).out) as {
    streamsToWatch: Array<{ name: string; rejectedAppends: number }>;
  };
  assert.deepEqual(
    doc.streamsToWatch.map((s) => [s.name, s.rejectedAppends]),
    [['tiny', 1]],
  );
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

test('gatehouse status says how many dead letters are held (it said ok and nothing of them; only gatehouse streams did)', async (t) => {
  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  // The receiver refuses for good (400) the records marked bad: dead-lettered.
  rx.rejectWhen((records) => records.some((b) => b.toString().includes('"bad"')), 400);
  const dir = await tempDir(t);
  const config = await writeConfig(
    dir,
    [
      `dataDir: ${JSON.stringify(`${dir}/data`)}`,
      'streams: { up: { maxBytes: 1048576 } }',
      `exporters: [{ name: e, stream: up, destination: { type: http, url: "${rx.url}" }, batch: { maxRecords: 1, lingerMs: 0 } }]`,
      'rules:',
      '  version: 1',
      '  rules:',
      `    - { name: up, sql: "SELECT * FROM 'dev/#'", actions: [{ stream: { name: up } }] }`,
      '',
    ].join('\n'),
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.stop());
  const client = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0 });
  t.after(() => client.end(true));
  for (const p of ['{"ok":1}', '{"bad":1}', '{"bad":2}']) await client.publishAsync('dev/1', p, { qos: 1 });
  const doc = await waitUntil(
    async () => {
      const d = JSON.parse((await runCaptured(main, ['status', '--admin', gw.adminUrl, '--json'])).out) as { deadLetterRecords: number };
      return d.deadLetterRecords === 2 ? d : undefined;
    },
    'the two refused records dead-lettered',
    15_000,
    100,
  );
  assert.equal(doc.deadLetterRecords, 2);
  const text = await runCaptured(main, ['status', '--admin', gw.adminUrl]);
  assert.equal(text.code, 0, "healthy: dead letters are the destination's refusals, not a fault of the gateway");
  assert.match(text.out, /, 2 dead letter\(s\) held \(gatehouse streams dead-letters\)$/m);
});
