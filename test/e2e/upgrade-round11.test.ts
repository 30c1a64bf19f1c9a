// End to end, real parts: a gateway started on the data folder of the round-11 gateway (2238796),
// stopped with a backlog for an upstream that was down. The folder is written here directly, with
// the values that version wrote (captured from a real run of it: its rule set accepted over the
// control channel, its tumbling window and zscore checkpoints, its whole-file JSON broker files).
// The upgrade promise (docs/upgrading.md): every record it acknowledged reaches the upstream, the
// window closes with the events it counted, its detector, sessions, retained messages and rule
// set carry over, and nothing is named lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { openLocalStreams } from '../../gateway/store/index.js';

const BACKLOG = 300;
/** Exported before the stop (the exporter's checkpoint): not sent again. */
const EXPORTED = 100;
const rule = (name: string, sql: string, action: unknown) => ({ name, sql, enabled: true, actions: [action] });
const RULES = [
  rule('tel', "SELECT * FROM 'dev/+/tel'", { stream: { name: 'telemetry' } }),
  rule('avg5', "SELECT topic(2) AS dev, count(*) AS n, avg(t) AS avg, window_start() AS ws FROM 'dev/+/tel' GROUP BY topic(2), TUMBLINGWINDOW(mi, 5)", {
    stream: { name: 'stats' },
  }),
  rule('z', "SELECT topic(2) AS dev, t, zscore(t, 20) OVER (PARTITION BY topic(2)) AS z FROM 'dev/+/tel'", { republish: { topic: 'z/${topic(2)}', qos: 0 } }),
];
/** Round 11's checkpoints of avg5 (a 5-minute window of 2026-12-05 07:15 UTC: d0 101 events, d1-d4 100) and z, as it wrote them. */
const AVG5_STATE =
  'R0hRMQAAABtbWyJwb3MiLDMwXSxbIndpbmRvdyIsOTgzXV17Im4iOjUwMSwiciI6MCwiZSI6InpwWFowR0NNIn17InYiOjIsImtpbmQiOiJ0dW1ibGluZyIsImFnZ3MiOjIsIm1heFRzIjpudWxsLCJwYW5lcyI6W1sxNzk2NDU0OTAwMDAwLFtbImQwIixbMTc5NjQ1NDkwMDAwMCwxNzk2NDU1MTgyMjkwLFsxMDEsWzEwMSwyMzE5LDIyLjk2MDM5NjAzOTYwMzk2LDQxMy44NDE1ODQxNTg0MTU4LDFdXSx7InQiOiJkZXYvZDAvdGVsIiwicCI6ImV5SjBJam95TUN3aWMyVnhJam9pUVRJdE1DSjkiLCJxIjoxLCJyIjoxNzk2NDU1MTgyMjkwLCJzIjoicHViLUEyIn1dXSxbImQxIixbMTc5NjQ1NDkwMDAwMCwxNzk2NDU1MTgwNjk1LFsxMDAsWzEwMCwyMzAxLDIzLjAxMDAwMDAwMDAwMDAwNSw0MDQuOTkwMDAwMDAwMDAwMDcsMV1dLHsidCI6ImRldi9kMS90ZWwiLCJwIjoiZXlKMElqb3lOaXdpYzJWeElqb2lRUzAwT1RZaWZRPT0iLCJxIjoxLCJyIjoxNzk2NDU1MTgwNjk1LCJzIjoicHViLUEifV1dLFsiZDIiLFsxNzk2NDU0OTAwMDAwLDE3OTY0NTUxODA3MDMsWzEwMCxbMTAwLDIyOTYsMjIuOTYsNDAxLjg0LDFdXSx7InQiOiJkZXYvZDIvdGVsIiwicCI6ImV5SjBJam95TUN3aWMyVnhJam9pUVMwME9UY2lmUT09IiwicSI6MSwiciI6MTc5NjQ1NTE4MDcwMywicyI6InB1Yi1BIn1dXSxbImQzIixbMTc5NjQ1NDkwMDAwMCwxNzk2NDU1MTgwNzExLFsxMDAsWzEwMCwyMjk4LDIyLjk4LDM5NS45NiwxXV0seyJ0IjoiZGV2L2QzL3RlbCIsInAiOiJleUowSWpveU1Td2ljMlZ4SWpvaVFTMDBPVGdpZlE9PSIsInEiOjEsInIiOjE3OTY0NTUxODA3MTEsInMiOiJwdWItQSJ9XV0sWyJkNCIsWzE3OTY0NTQ5MDAwMDAsMTc5NjQ1NTE4MDcxOSxbMTAwLFsxMDAsMjMwMCwyMy4wMDAwMDAwMDAwMDAwMDQsMzkzLjk5OTk5OTk5OTk5OTgsMV1dLHsidCI6ImRldi9kNC90ZWwiLCJwIjoiZXlKMElqb3lNaXdpYzJWeElqb2lRUzAwT1RraWZRPT0iLCJxIjoxLCJyIjoxNzk2NDU1MTgwNzE5LCJzIjoicHViLUEifV1dXV1dLCJzZXNzaW9ucyI6W10sInJvd3MiOltdfQ==';
const Z_STATE =
  'R0hRMQAAAMRbWyJwb3MiLDMwXSxbInNpdGU6cm9vdDp6c2NvcmUoe1wia2luZFwiOlwiZmllbGRcIixcIm5hbWVcIjpcInRcIn0se1wia2luZFwiOlwibGl0ZXJhbFwiLFwidmFsdWVcIjoyMH0pL3tcImtpbmRcIjpcImNhbGxcIixcIm5hbWVcIjpcInRvcGljXCIsXCJhcmdzXCI6W3tcImtpbmRcIjpcImxpdGVyYWxcIixcInZhbHVlXCI6Mn1dfSIsMTQ3NV1deyJuIjo1MDEsInIiOjAsImUiOiJKcHVTbjJBMSJ9AAAAOFtbImQxIiwyODNdLFsiZDIiLDI4M10sWyJkMyIsMjgzXSxbImQ0IiwyODNdLFsiZDAiLDI4M11dR0hEMQAAAAEAAAAzeyJuYW1lIjoienNjb3JlIiwicGFyYW1zIjp7IndpbmRvdyI6MjAsImlucHV0cyI6MX19AAAABAAAABgAAAAAAABZQAAAAAAAAAAAAAAAAAAAAAAAAACgAAAAAAAANkAAAAAAAAA0QAAAAAAAADlAAAAAAAAAN0AAAAAAAAA1QAAAAAAAADpAAAAAAAAAOEAAAAAAAAA2QAAAAAAAADRAAAAAAAAAOUAAAAAAAAA3QAAAAAAAADVAAAAAAAAAOkAAAAAAAAA4QAAAAAAAADZAAAAAAAAANEAAAAAAAAA5QAAAAAAAADdAAAAAAAAANUAAAAAAAAA6QAAAAAgAAAAAALB8QAAAAAgAAAAAgLzEQEdIRDEAAAABAAAAM3sibmFtZSI6InpzY29yZSIsInBhcmFtcyI6eyJ3aW5kb3ciOjIwLCJpbnB1dHMiOjF9fQAAAAQAAAAYAAAAAAAAWUAAAAAAAAAAAAAAAAAAAAAAAAAAoAAAAAAAADdAAAAAAAAANUAAAAAAAAA6QAAAAAAAADhAAAAAAAAANkAAAAAAAAA0QAAAAAAAADlAAAAAAAAAN0AAAAAAAAA1QAAAAAAAADpAAAAAAAAAOEAAAAAAAAA2QAAAAAAAADRAAAAAAAAAOUAAAAAAAAA3QAAAAAAAADVAAAAAAAAAOkAAAAAAAAA4QAAAAAAAADZAAAAAAAAANEAAAAAIAAAAAACgfEAAAAAIAAAAAACkxEBHSEQxAAAAAQAAADN7Im5hbWUiOiJ6c2NvcmUiLCJwYXJhbXMiOnsid2luZG93IjoyMCwiaW5wdXRzIjoxfX0AAAAEAAAAGAAAAAAAAFlAAAAAAAAAAAAAAAAAAAAAAAAAAKAAAAAAAAA4QAAAAAAAADZAAAAAAAAANEAAAAAAAAA5QAAAAAAAADdAAAAAAAAANUAAAAAAAAA6QAAAAAAAADhAAAAAAAAANkAAAAAAAAA0QAAAAAAAADlAAAAAAAAAN0AAAAAAAAA1QAAAAAAAADpAAAAAAAAAOEAAAAAAAAA2QAAAAAAAADRAAAAAAAAAOUAAAAAAAAA3QAAAAAAAADVAAAAACAAAAAAAkHxAAAAACAAAAACAisRAR0hEMQAAAAEAAAAzeyJuYW1lIjoienNjb3JlIiwicGFyYW1zIjp7IndpbmRvdyI6MjAsImlucHV0cyI6MX19AAAABAAAABgAAAAAAABZQAAAAAAAAAAAAAAAAAAAAAAAAACgAAAAAAAAOUAAAAAAAAA3QAAAAAAAADVAAAAAAAAAOkAAAAAAAAA4QAAAAAAAADZAAAAAAAAANEAAAAAAAAA5QAAAAAAAADdAAAAAAAAANUAAAAAAAAA6QAAAAAAAADhAAAAAAAAANkAAAAAAAAA0QAAAAAAAADlAAAAAAAAAN0AAAAAAAAA1QAAAAAAAADpAAAAAAAAAOEAAAAAAAAA2QAAAAAgAAAAAAPB8QAAAAAgAAAAAgBTFQEdIRDEAAAABAAAAM3sibmFtZSI6InpzY29yZSIsInBhcmFtcyI6eyJ3aW5kb3ciOjIwLCJpbnB1dHMiOjF9fQAAAAQAAAAYAAAAAABAWUAAAAAAAADwPwAAAAAAAPA/AAAAoAAAAAAAADRAAAAAAAAAOkAAAAAAAAA4QAAAAAAAADZAAAAAAAAANEAAAAAAAAA5QAAAAAAAADdAAAAAAAAANUAAAAAAAAA6QAAAAAAAADhAAAAAAAAANkAAAAAAAAA0QAAAAAAAADlAAAAAAAAAN0AAAAAAAAA1QAAAAAAAADpAAAAAAAAAOEAAAAAAAAA2QAAAAAAAADRAAAAAAAAAOUAAAAAIAAAAAACwfEAAAAAIAAAAAIC/xEA=';

test('upgrade from round 11: the backlog is exported, the window closes with its events, the rule set, detector, retained messages and MQTT 5 session carry over', {
  timeout: 120_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-e2e-upgrade-');
  const data = join(dir, 'data');
  await mkdir(data);
  const now = Date.now();
  const store = await openLocalStreams({ path: join(data, 'store') }, testDeps());
  await store.defineStream({ name: 'telemetry', maxBytes: 67108864, onFull: 'reject' });
  await store.addConsumer('telemetry', 'up-tel');
  for (let i = 0; i < BACKLOG; i++) {
    const payload = Buffer.from(JSON.stringify({ t: 20 + (i % 7), seq: `A-${i}` }));
    await store.append('telemetry', { topic: `dev/d${i % 5}/tel`, payload, receivedAt: now - 600_000 + i });
  }
  await store.setCheckpoint('telemetry', 'up-tel', EXPORTED);
  const active = { definition: { version: 2, rules: RULES }, appliedAt: now - 600_000, source: 'mqtt:local' };
  const lastGood = { definition: { version: 1, rules: RULES }, appliedAt: now - 900_000, source: 'file' };
  await store.putMetas([
    ['rules/active', Buffer.from(JSON.stringify(active))],
    ['rules/last-good', Buffer.from(JSON.stringify(lastGood))],
    ['control/accepted-version', Buffer.from(JSON.stringify({ version: 2, at: now - 600_000, source: 'mqtt:local' }))],
    ['rules/input-no', Buffer.from('QH9QAAAAAAA=', 'base64')],
    ['rules/state/avg5/f298d4e72e1e72cb', Buffer.from(AVG5_STATE, 'base64')],
    ['rules/state/z/d5a993dab91d9fab', Buffer.from(Z_STATE, 'base64')],
  ]);
  await store.close();
  const queued = Buffer.from('{"t":20,"seq":"A2-0"}');
  await writeFile(
    join(data, 'mqtt-retained.json'),
    JSON.stringify({ savedAt: now - 60_000, retained: [{ topic: 'cfg/A/0', payload: Buffer.from('retained-A-0').toString('base64'), qos: 1 }] }),
  );
  const sub = { filter: 'dev/#', topicFilter: 'dev/#', qos: 1, nl: false, rap: false, rh: 0 };
  const session = {
    clientId: 'sub5',
    expiryInterval: 86400,
    disconnectedAt: now - 60_000,
    subs: [sub],
    queue: [{ topic: 'dev/d0/tel', payload: queued.toString('base64'), qos: 1, retain: false }],
  };
  await writeFile(join(data, 'mqtt5-sessions.json'), JSON.stringify({ savedAt: now - 60_000, sessions: [session] }));

  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  const config = await writeConfig(
    dir,
    [
      'gatewayId: site7',
      `dataDir: ${JSON.stringify(data)}`,
      'rules:',
      '  version: 1',
      '  rules:',
      ...RULES.map((r) => `    - ${JSON.stringify({ name: r.name, sql: r.sql, actions: r.actions })}`),
      'streams:',
      '  telemetry: { maxBytes: 67108864, onFull: reject }',
      '  stats: { maxBytes: 16777216 }',
      'exporters:',
      `  - { name: up-tel, stream: telemetry, destination: { type: http, url: ${JSON.stringify(rx.url)} } }`,
      `  - { name: up-stats, stream: stats, destination: { type: http, url: ${JSON.stringify(rx.url)} } }`,
      '',
    ].join('\n'),
  );
  const gw: GatewayProcess = await startGatewayProcess(config, [], 60_000);
  t.after(() => gw.kill9());
  const records = (): Array<Record<string, unknown>> => rx.uniqueRecords().map((r) => JSON.parse(r) as Record<string, unknown>);
  await waitUntil(
    () => records().filter((r) => 'seq' in r).length >= BACKLOG - EXPORTED && records().filter((r) => 'n' in r).length >= 5,
    'the backlog and the window',
    30_000,
  );
  const seqs = records().flatMap((r) => ('seq' in r ? [String(r.seq)] : []));
  assert.deepEqual(seqs.sort(), Array.from({ length: BACKLOG - EXPORTED }, (_, i) => `A-${i + EXPORTED}`).sort(), 'every record behind the checkpoint, once');
  // The window of round 11 closes with the events it counted.
  const windows = records().filter((r) => 'n' in r);
  assert.deepEqual(windows.map((r) => `${String(r.dev)} ${String(r.n)}`).sort(), ['d0 101', 'd1 100', 'd2 100', 'd3 100', 'd4 100']);
  const rules = (await (await fetch(`${gw.adminUrl}/api/rules`)).json()) as { activeVersion: number; lastGoodVersion: number };
  assert.equal(rules.activeVersion, 2, 'the set the office sent');
  assert.equal(rules.lastGoodVersion, 1);
  // Retained messages and the MQTT 5 session with its queued message.
  // (the queued message comes right after CONNACK: listen before connecting)
  const c = mqtt.connect(gw.mqttUrl, { protocolVersion: 5, clientId: 'sub5', clean: false, reconnectPeriod: 0 });
  t.after(() => c.endAsync(true));
  const got: string[] = [];
  c.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    c.once('connect', resolve);
    c.once('error', reject);
  });
  assert.equal(connack.sessionPresent, true);
  await c.subscribeAsync('cfg/#', { qos: 1 });
  await waitUntil(() => got.length >= 2, 'the queued and the retained message', 10_000);
  assert.deepEqual(got.sort(), ['cfg/A/0 retained-A-0', `dev/d0/tel ${queued.toString()}`]);
  // Nothing named lost or not restored; the old broker files kept for a rollback.
  const problems = gw.logs.filter(
    (l) => typeof l.level === 'number' && l.level >= 40 && !/Node\.js 20|not the one running|probation starts again|semi-space/.test(String(l.msg)),
  );
  assert.deepEqual(
    problems.map((l) => l.msg),
    [],
  );
  assert.ok(gw.logs.some((l) => l.msg === 'rule state restored' && l.rule === 'z'));
  assert.match(await readFile(join(data, 'mqtt5-sessions.json.before-upgrade'), 'utf8'), /"sub5"/);
  assert.equal(await gw.stop(), 0);
});
