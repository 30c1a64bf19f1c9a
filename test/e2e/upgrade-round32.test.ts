// End to end, real parts: a gateway started on the data folder of the round-32 gateway (79dae3b),
// stopped by kill -9 with a backlog for an upstream that was down. The folder is written here
// directly, with the values that version wrote (captured from a real run of it, round 34): its
// installation id file (one line of JSON with the store, the machine and the store folder, and no
// LOCK file: round 33 added it), its rule set of version 5 applied through PUT /api/rules over the
// config's version 1 and its tumbling window's checkpoint, the dead letters of an HTTP receiver
// answering 400, the file source's offset of a tailed file, and its broker files as snapshot +
// journal (an MQTT 5 session with subscription options and identifiers and queued QoS 1 and 2
// messages with their properties; retained messages with properties, one deleted in the journal).
// The upgrade promise (docs/upgrading.md): every record it acknowledged reaches the upstream, and
// the id, the rule set, the window, the dead letters, the file offset, the session and the
// retained messages carry over, with nothing named lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt, { type IPublishPacket } from 'mqtt';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { readMachineFingerprint } from '../../gateway/upstream/machine.js';
import { storeFolderIdentity } from '../../gateway/upstream/installation-id.js';

const OLD_ID = '12111459e5a3b07e';
/** Records of the backlog (file lines, then MQTT publishes), and those exported before the stop (the checkpoint). */
const LINES = 30;
const PUBLISHED = 30;
const EXPORTED = 10;
const rule = (name: string, sql: string, action: unknown) => ({ name, sql, enabled: true, actions: [action] });
const CONFIG_RULES = [
  rule('tel', "SELECT * FROM 'dev/+/tel'", { stream: { name: 'telemetry' } }),
  rule('logs', "SELECT * FROM 'logs/applog/+'", { stream: { name: 'telemetry' } }),
  rule('win', "SELECT topic(2) AS dev, count(*) AS n, window_start() AS ws FROM 'dev/+/tel' GROUP BY topic(2), TUMBLINGWINDOW(mi, 30)", {
    stream: { name: 'stats' },
  }),
  rule('badrule', "SELECT * FROM 'bad/+'", { stream: { name: 'bad' } }),
];
const ADMIN_RULES = [...CONFIG_RULES, rule('v5marker', "SELECT 5 AS v FROM 'marker/#'", { republish: { topic: 'marker/out', qos: 0 } })];
/** Round 32's checkpoint of `win` (a 30-minute window of 2026-12-07 05:30 UTC: d0-d4 4 events each), as it wrote it. */
const WIN_STATE =
  'R0hRMQAAABtbWyJwb3MiLDI5XSxbIndpbmRvdyIsNzc1XV17Im4iOjIwLCJyIjowLCJlIjoiN0tlQTNjNlUifXsidiI6Miwia2luZCI6InR1bWJsaW5nIiwiYWdncyI6MSwibWF4VHMiOm51bGwsImZlZFRzIjpudWxsLCJwZW5kaW5nIjpbXSwicGFuZXMiOltbMTc5NjYyMTQwMDAwMCxbWyJkMCIsWzE3OTY2MjE0MDAwMDAsMTc5NjYyMjAwNzk0MixbNF0seyJ0IjoiZGV2L2QwL3RlbCIsInAiOiJleUowSWpveU1Td2ljMlZ4SWpvaVFTMHhOU0o5IiwicSI6MSwiciI6MTc5NjYyMjAwNzk0MiwicyI6InB1YjUifV1dLFsiZDEiLFsxNzk2NjIxNDAwMDAwLDE3OTY2MjIwMDc5NjMsWzRdLHsidCI6ImRldi9kMS90ZWwiLCJwIjoiZXlKMElqb3lNaXdpYzJWeElqb2lRUzB4TmlKOSIsInEiOjEsInIiOjE3OTY2MjIwMDc5NjMsInMiOiJwdWI1In1dXSxbImQyIixbMTc5NjYyMTQwMDAwMCwxNzk2NjIyMDA3OTcwLFs0XSx7InQiOiJkZXYvZDIvdGVsIiwicCI6ImV5SjBJam95TXl3aWMyVnhJam9pUVMweE55SjkiLCJxIjoxLCJyIjoxNzk2NjIyMDA3OTcwLCJzIjoicHViNSJ9XV0sWyJkMyIsWzE3OTY2MjE0MDAwMDAsMTc5NjYyMjAwNzk3NyxbNF0seyJ0IjoiZGV2L2QzL3RlbCIsInAiOiJleUowSWpveU5Dd2ljMlZ4SWpvaVFTMHhPQ0o5IiwicSI6MSwiciI6MTc5NjYyMjAwNzk3NywicyI6InB1YjUifV1dLFsiZDQiLFsxNzk2NjIxNDAwMDAwLDE3OTY2MjIwMDc5OTgsWzRdLHsidCI6ImRldi9kNC90ZWwiLCJwIjoiZXlKMElqb3lOU3dpYzJWeElqb2lRUzB4T1NKOSIsInEiOjEsInIiOjE3OTY2MjIwMDc5OTgsInMiOiJwdWI1In1dXV1dXSwic2Vzc2lvbnMiOltdLCJyb3dzIjpbXX0=';
/** The MQTT 5 properties the device published with, as round 32 wrote them (correlationData as { b64 }). */
const PROPS = {
  messageExpiryInterval: 86400,
  userProperties: { unit: 'C', site: '7' },
  contentType: 'application/json',
  payloadFormatIndicator: true,
  responseTopic: 'reply/x',
  correlationData: { b64: Buffer.from('corr-1').toString('base64') },
};
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const lines = (records: unknown[]): string => records.map((r) => `${JSON.stringify(r)}\n`).join('');
const tel = (i: number): string => JSON.stringify({ t: 20 + (i % 7), seq: `A-${i}` });

/** Round 32's broker files after a kill -9 (a snapshot of the SIGTERM before, and a journal since), times moved to `now`. */
function brokerFiles(now: number): Record<string, string> {
  const day = 86_400_000;
  const q = (m: number, msg: Record<string, unknown>) => ({ s: 'sub5', m, msg: { retain: false, ...msg } });
  const d0 = (m: number, i: number, extra: Record<string, unknown> = {}) => q(m, { topic: 'dev/d0/tel', payload: b64(tel(i)), qos: 1, ...extra, subIds: [7] });
  return {
    'mqtt5-sessions.json': lines([
      { gatehouse: 'mqtt5-sessions', v: 2, gen: 2, savedAt: now - 62_000 },
      { s: 'sub5', e: 86400, d: now - 64_000 },
      { s: 'sub5', sub: { filter: 'dev/d0/#', topicFilter: 'dev/d0/#', qos: 1, nl: false, rap: false, rh: 0, id: 7 } },
      { s: 'sub5', sub: { filter: 'cmd/#', topicFilter: 'cmd/#', qos: 2, nl: true, rap: true, rh: 2 } },
      q(1, { topic: 'cmd/d0/set', payload: b64('{"on":true}'), qos: 2, properties: PROPS, expiresAt: now - 64_000 + day + 0.4236 }),
      d0(2, 0, { properties: PROPS, expiresAt: now - 64_000 + day + 0.928 }),
      d0(3, 5),
      d0(4, 10),
      d0(5, 15),
    ]),
    'mqtt5-sessions.json.journal': lines([
      { gatehouse: 'mqtt5-sessions-journal', v: 2, gen: 2 },
      { at: now - 60_600 },
      d0(6, 20),
      d0(7, 25),
      { at: now - 60_300 },
      q(8, { topic: 'cmd/d0/set', payload: b64('{"on":false}'), qos: 1, properties: { userProperties: { by: 'office' } } }),
    ]),
    'mqtt-retained.json': lines([
      { gatehouse: 'mqtt-retained', v: 2, gen: 2, savedAt: now - 62_000 },
      { topic: 'cfg/site/0', payload: b64('retained-0'), qos: 1 },
      { topic: 'cfg/site/1', payload: b64('retained-1'), qos: 1, properties: PROPS, messageExpiry: now - 64_000 + day + 0.9058 },
    ]),
    'mqtt-retained.json.journal': lines([
      { gatehouse: 'mqtt-retained-journal', v: 2, gen: 2 },
      { at: now - 60_700 },
      {
        topic: 'cfg/site/2',
        payload: b64('retained-2'),
        qos: 1,
        properties: { messageExpiryInterval: 3600, userProperties: { k: ['v1', 'v2'] } },
        messageExpiry: now - 60_700 + 3_600_000 + 0.6301,
      },
      { topic: 'cfg/site/0', deleted: true },
    ]),
  };
}

test('upgrade from round 32: the backlog is exported, the installation id is kept and bound to the LOCK file, the rule set, window, dead letters, file offset, MQTT 5 session and retained messages carry over', {
  timeout: 120_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-e2e-upgrade32-');
  const data = join(dir, 'data');
  const storePath = join(data, 'store');
  const logFile = join(dir, 'app.log');
  await mkdir(data);
  const head = lines(Array.from({ length: LINES }, (_, i) => ({ seq: `L-${i}` })));
  await writeFile(logFile, head);
  const now = Date.now();

  const store = await openLocalStreams({ path: storePath }, testDeps());
  await store.defineStream({ name: 'telemetry', maxBytes: 67108864, onFull: 'reject' });
  await store.defineStream({ name: 'bad', maxBytes: 16777216, onFull: 'reject' });
  await store.defineStream({ name: 'bad-dlq', maxBytes: 67108864, onFull: 'drop-oldest' });
  await store.addConsumer('telemetry', 'up-http');
  await store.addConsumer('bad', 'bad-http');
  for (let i = 0; i < LINES; i++)
    await store.append('telemetry', { topic: 'logs/applog/app', payload: Buffer.from(`{"seq":"L-${i}"}`), receivedAt: now - 70_000 });
  for (let i = 0; i < PUBLISHED; i++) {
    // The first publish carried MQTT 5 properties: round 32 kept them as the record's attributes.
    const attrs =
      i === 0
        ? {
            'mqtt5.contentType': 'application/json',
            'mqtt5.payloadFormatIndicator': '1',
            'mqtt5.responseTopic': 'reply/x',
            'mqtt5.correlationData': PROPS.correlationData.b64,
            'mqtt5.messageExpiryInterval': '86400',
            'mqtt5.userProperties': '{"unit":"C","site":"7"}',
          }
        : undefined;
    await store.append('telemetry', { topic: `dev/d${i % 5}/tel`, payload: Buffer.from(tel(i)), receivedAt: now - 65_000 + i, ...(attrs ? { attrs } : {}) });
  }
  await store.setCheckpoint('telemetry', 'up-http', EXPORTED);
  for (let i = 0; i < 3; i++) {
    await store.append('bad', { topic: 'bad/x', payload: Buffer.from(`{"bad":${i}}`), receivedAt: now - 69_000 });
    await store.append('bad-dlq', {
      topic: 'bad/x',
      payload: Buffer.from(`{"bad":${i}}`),
      receivedAt: now - 69_000,
      attrs: {
        error: 'GH_EXPORT_PERMANENT: HTTP 400 from http://127.0.0.1:18443/: rejected by rule',
        sourceStream: 'bad',
        sourceSeq: String(i + 1),
        destination: 'http:http://127.0.0.1:18443/',
        attempts: '1',
      },
    });
  }
  await store.setCheckpoint('bad', 'bad-http', 3);
  const st = await stat(logFile, { bigint: true });
  const fp = { hash: createHash('sha1').update(head).digest('hex').slice(0, 16), len: Buffer.byteLength(head) };
  const applied = (version: number, rules: unknown[], source: string) => ({ definition: { version, rules }, appliedAt: now - 70_000, source });
  await store.putMetas([
    ['rules/active', Buffer.from(JSON.stringify(applied(5, ADMIN_RULES, 'admin')))],
    ['rules/last-good', Buffer.from(JSON.stringify(applied(1, CONFIG_RULES, 'config')))],
    ['rules/input-no', Buffer.from('QDQAAAAAAAA=', 'base64')],
    ['rules/state/win/3dc109ecbe56f0d0', Buffer.from(WIN_STATE, 'base64')],
    [
      `src/applog/state/${st.dev}:${st.ino}`,
      Buffer.from(JSON.stringify({ path: logFile, dev: String(st.dev), ino: String(st.ino), fp, offset: fp.len, headersLeft: 0, seen: now - 61_000 })),
    ],
    ['src/applog/state/head', Buffer.from(JSON.stringify({ v: 2, at: now - 70_000 }))],
  ]);
  const storeId = store.identity!().id;
  await store.close();
  // Round 32's id file: bound to the store, this machine and the store folder; no LOCK file.
  const folder = await storeFolderIdentity(storePath);
  const oldRecord = { id: OLD_ID, store: storeId, machine: await readMachineFingerprint(), folder };
  await writeFile(join(data, 'installation-id'), `${JSON.stringify(oldRecord)}\n`);
  for (const [name, text] of Object.entries(brokerFiles(now))) await writeFile(join(data, name), text);
  // A line written while the gateway was stopped.
  await appendFile(logFile, '{"seq":"L-30"}\n');

  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  const bad = await startFirehoseReceiver();
  t.after(() => bad.close());
  const config = await writeConfig(
    dir,
    [
      'gatewayId: site7',
      `dataDir: ${JSON.stringify(data)}`,
      'sources:',
      `  - { type: file, name: applog, paths: [${JSON.stringify(logFile)}], initialPosition: start_of_file, topic: 'logs/{name}/{stem}' }`,
      'rules:',
      '  version: 1',
      '  rules:',
      ...CONFIG_RULES.map((r) => `    - ${JSON.stringify({ name: r.name, sql: r.sql, actions: r.actions })}`),
      'streams:',
      '  telemetry: { maxBytes: 67108864, onFull: reject }',
      '  stats: { maxBytes: 16777216 }',
      '  bad: { maxBytes: 16777216 }',
      'exporters:',
      `  - { name: up-http, stream: telemetry, destination: { type: http, url: ${JSON.stringify(rx.url)} } }`,
      `  - { name: up-stats, stream: stats, destination: { type: http, url: ${JSON.stringify(rx.url)} } }`,
      `  - { name: bad-http, stream: bad, destination: { type: http, url: ${JSON.stringify(bad.url)} } }`,
      '',
    ].join('\n'),
  );
  const gw: GatewayProcess = await startGatewayProcess(config, [], 60_000);
  t.after(() => gw.kill9());

  // The backlog behind the checkpoint, once each, and the line written while stopped.
  const records = (): Array<Record<string, unknown>> => rx.uniqueRecords().map((r) => JSON.parse(r) as Record<string, unknown>);
  const seqs = (): string[] => records().flatMap((r) => ('seq' in r ? [String(r.seq)] : []));
  const windows = (): string[] => records().flatMap((r) => ('n' in r ? [`${String(r.dev)} ${String(r.n)}`] : []));
  await waitUntil(() => seqs().length >= LINES + PUBLISHED + 1 - EXPORTED && windows().length >= 5, 'the backlog, the new line and the window', 30_000);
  const want = [...Array.from({ length: LINES }, (_, i) => `L-${i}`), ...Array.from({ length: PUBLISHED }, (_, i) => `A-${i}`)].slice(EXPORTED);
  assert.deepEqual(seqs().sort(), [...want, 'L-30'].sort(), 'every record behind the checkpoint once, and only the line after the saved offset');
  // The window of round 32 (ended while it was stopped) closes with the events it counted.
  assert.deepEqual(windows().sort(), ['d0 4', 'd1 4', 'd2 4', 'd3 4', 'd4 4']);

  // The installation id kept, and bound from now on to the store's LOCK file too.
  const idFile = JSON.parse(await readFile(join(data, 'installation-id'), 'utf8')) as Record<string, unknown>;
  assert.equal(idFile.id, OLD_ID, 'the installation id of round 32 is kept');
  assert.equal(idFile.store, storeId);
  assert.equal(idFile.folder, folder);
  assert.equal(idFile.lockFile, await storeFolderIdentity(join(storePath, 'LOCK')));

  const rules = (await (await fetch(`${gw.adminUrl}/api/rules`)).json()) as { activeVersion: number; lastGoodVersion: number };
  assert.equal(rules.activeVersion, 5, 'the set applied through PUT /api/rules');
  assert.equal(rules.lastGoodVersion, 1);
  const dl = (await (await fetch(`${gw.adminUrl}/api/streams/bad-dlq/dead-letters`)).json()) as {
    deadLetters: Array<{ records: number; errors: Array<{ error: string }> }>;
  };
  assert.equal(dl.deadLetters[0]?.records, 3);
  assert.match(dl.deadLetters[0]?.errors[0]?.error ?? '', /HTTP 400/);

  // The MQTT 5 session (listen before connecting: its queue comes right after CONNACK).
  const c = mqtt.connect(gw.mqttUrl, { protocolVersion: 5, clientId: 'sub5', clean: false, reconnectPeriod: 0, properties: { sessionExpiryInterval: 86400 } });
  t.after(() => c.endAsync(true));
  const got = new Map<string, IPublishPacket>();
  c.on('message', (topic, payload, packet) => got.set(`${topic} ${payload.toString()}`, packet));
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    c.once('connect', resolve);
    c.once('error', reject);
  });
  assert.equal(connack.sessionPresent, true);
  await waitUntil(() => got.size >= 8, 'the 8 queued messages', 10_000);
  const queued = [...got.keys()].sort();
  assert.deepEqual(queued, ['cmd/d0/set {"on":false}', 'cmd/d0/set {"on":true}', ...[0, 5, 10, 15, 20, 25].map((i) => `dev/d0/tel ${tel(i)}`)].sort());
  const first = got.get(`dev/d0/tel ${tel(0)}`)!.properties;
  assert.deepEqual({ ...first?.userProperties }, { unit: 'C', site: '7' });
  assert.equal(first?.contentType, 'application/json');
  assert.equal(Buffer.from(first?.correlationData ?? []).toString(), 'corr-1');
  assert.deepEqual(first?.subscriptionIdentifier, 7);
  assert.equal(got.get('cmd/d0/set {"on":true}')!.qos, 2);
  assert.deepEqual({ ...got.get('cmd/d0/set {"on":false}')!.properties?.userProperties }, { by: 'office' });
  // Its cmd/# subscription (no local, retain as published, no retained at subscribe) routes a new message.
  const p = await mqtt.connectAsync(gw.mqttUrl, { protocolVersion: 5, clientId: 'office', reconnectPeriod: 0 });
  t.after(() => p.endAsync(true));
  await p.publishAsync('cmd/d0/set', '{"on":1}', { qos: 1, retain: true });
  await waitUntil(() => got.has('cmd/d0/set {"on":1}'), 'a new command through the restored subscription', 10_000);
  assert.equal(got.get('cmd/d0/set {"on":1}')!.retain, true, 'rap: retain as published');

  // Retained: cfg/site/0 deleted by the journal, 1 and 2 with their properties.
  const r = await mqtt.connectAsync(gw.mqttUrl, { protocolVersion: 5, clientId: 'reader', reconnectPeriod: 0 });
  t.after(() => r.endAsync(true));
  const retained = new Map<string, IPublishPacket>();
  r.on('message', (topic, _payload, packet) => retained.set(topic, packet));
  await r.subscribeAsync('cfg/#', { qos: 1 });
  await waitUntil(() => retained.size >= 2, 'the retained messages', 10_000);
  assert.deepEqual([...retained.keys()].sort(), ['cfg/site/1', 'cfg/site/2']);
  assert.deepEqual({ ...retained.get('cfg/site/1')!.properties?.userProperties }, { unit: 'C', site: '7' });
  assert.deepEqual({ ...retained.get('cfg/site/2')!.properties?.userProperties }, { k: ['v1', 'v2'] });

  // Nothing named lost, damaged or not restored.
  const problems = gw.logs.filter((l) => typeof l.level === 'number' && l.level >= 40 && !/Node\.js 20|not the one running|semi-space/.test(String(l.msg)));
  assert.deepEqual(
    problems.map((l) => l.msg),
    [],
  );
  assert.ok(gw.logs.some((l) => l.msg === 'rule state restored' && l.rule === 'win'));
  assert.equal(await gw.stop(), 0);
});
