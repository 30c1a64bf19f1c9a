// Dead letters an operator reads, purges and sends again, through the admin API and the CLI
// (gateway/admin/dead-letters.ts, dead-letter-routes.ts, gateway/cli/dead-letters.ts): the real
// in-process gateway with an admin token, real mqtt.js publishers, and the real Firehose-protocol
// receiver refusing the records marked "bad" with HTTP 400 (permanent: dead-lettered) until it
// is "fixed". Also what the routes refuse (a live stream, bad sequences, wrong methods, no token,
// another origin), and a retired rule action's dead-letter stream going away once emptied.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { unlink, writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import pino from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { main } from '../../gateway/cli/main.js';
import { redrivenRecord } from '../../gateway/admin/dead-letters.js';
import { startFirehoseReceiver, type FirehoseReceiver } from '../helpers/firehose-receiver.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { metricValue, tempDir, waitUntil } from '../helpers/index.js';
import { freeBytes, mountSmallFs, smallFsSkip, writeFiller } from '../helpers/small-fs.js';

const TOKEN = 'dead-letters-token-0123';

interface Rig {
  gw: Gateway;
  rx: FirehoseReceiver;
  registry: Registry;
  admin: string;
  logs: Array<{ level: number; msg: string; stream?: string }>;
  restart(): Promise<Gateway>;
}

async function rig(t: TestContext, rules: string, exporters: string, extra = '', dataDir?: string): Promise<Rig> {
  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  rx.rejectWhen((records) => records.some((b) => b.toString().includes('"bad"')), 400);
  const dir = await tempDir(t);
  const rulesFile = join(dir, 'rules.yaml');
  await writeFile(rulesFile, rules.replaceAll('RX', rx.url));
  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    `dataDir: ${JSON.stringify(dataDir ?? join(dir, 'data'))}\nadmin: { token: ${TOKEN} }\nrulesFile: ${JSON.stringify(rulesFile)}\nstreams: { up: { maxBytes: 1048576 }, tiny: { maxBytes: 64 } }\nexporters: ${exporters.replaceAll('RX', rx.url)}\n${extra}`,
  );
  const registry = new Registry();
  const logs: Rig['logs'] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s) as Rig['logs'][number]) });
  const start = async (): Promise<Gateway> => startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), { logger, registry, version: 'test' });
  const r: Rig = {
    gw: await start(),
    rx,
    registry,
    logs,
    admin: '',
    async restart() {
      await r.gw.stop();
      r.gw = await start();
      r.admin = `http://127.0.0.1:${r.gw.admin!.address().port}`;
      return r.gw;
    },
  };
  r.admin = `http://127.0.0.1:${r.gw.admin!.address().port}`;
  t.after(() => r.gw.stop());
  return r;
}

async function publish(gw: Gateway, topic: string, payloads: string[]): Promise<void> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  await Promise.all(payloads.map((p) => c.publishAsync(topic, p, { qos: 1 })));
  await c.endAsync();
}

async function call(r: Rig, method: string, path: string, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) {
  const res = await fetch(`${r.admin}${path}`, { method, headers });
  const body = (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string; hint?: string } };
  return { status: res.status, body, allow: res.headers.get('allow') };
}

const UP_RULES = `version: 1\nrules:\n  - name: up\n    sql: "SELECT * FROM 'dev/+/data'"\n    actions: [{ stream: { name: up } }]\n`;
const UP_EXPORTER =
  '[{ name: e, stream: up, destination: { type: http, url: "RX" }, batch: { maxRecords: 5, lingerMs: 10 }, backoff: { initialMs: 20, maxMs: 100 } }]';
const cli = (argv: string[]) => runCaptured(main, argv);

test('dead letters listed with their errors, purged through a seq, sent again once the receiver is fixed; the CLI does the same', async (t) => {
  const r = await rig(t, UP_RULES, UP_EXPORTER);
  const bad = Array.from({ length: 10 }, (_, i) => JSON.stringify({ bad: true, id: i }));
  await publish(r.gw, 'dev/d1/data', ['{"ok":1}', ...bad, '{"ok":2}']);
  await waitUntil(() => r.gw.streams.info('up-dlq').records === 10 && r.rx.uniqueRecords().length === 2, '10 dead letters, 2 delivered', 20_000);

  const listed = await call(r, 'GET', '/api/dead-letters');
  assert.equal(listed.status, 200);
  const [dl] = listed.body.deadLetters as Array<
    Record<string, unknown> & { errors: Array<{ error: string; count: number; example: { sourceStream: string } }> }
  >;
  assert.equal(dl?.stream, 'up-dlq');
  assert.deepEqual([dl.records, dl.firstSeq, dl.lastSeq, dl.exporters, dl.sources], [10, 1, 10, ['e'], { up: 10 }]);
  assert.equal(dl.errors.length, 1);
  assert.equal(dl.errors[0]!.count, 10);
  assert.match(dl.errors[0]!.error, /400/);
  assert.equal(dl.errors[0]!.example.sourceStream, 'up');

  // Purge through a seq read: exactly those go.
  const purged = await call(r, 'DELETE', '/api/streams/up-dlq/records?through=3');
  assert.equal(purged.status, 200, JSON.stringify(purged.body));
  assert.deepEqual(purged.body, { stream: 'up-dlq', purged: 3, through: 3, firstSeq: 4, records: 7, dropped: false });
  assert.deepEqual(
    (await r.gw.streams.read('up-dlq', 1)).map((x) => x.seq),
    [4, 5, 6, 7, 8, 9, 10],
  );
  assert.equal(await metricValue(r.registry, 'gatehouse_dead_letters_purged_total', { stream: 'up-dlq' }), 3);

  // The CLI: the list, a purge, and what it refuses with its exit codes.
  const list = await cli(['streams', 'dead-letters', 'up-dlq', '--admin', r.admin, '--token', TOKEN]);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, /^up-dlq \(of e\): 7 dead letters, seq 4\.\.10, oldest .*, from up 7\n {2}7 x .*400/);
  const p = await cli(['streams', 'purge', 'up-dlq', '--through', '5', '--admin', r.admin, '--token', TOKEN]);
  assert.equal(p.code, 0, p.err);
  assert.equal(p.out, 'purged 2 dead letters of up-dlq through seq 5; up-dlq holds 5 (from seq 6)\n');
  const live = await cli(['streams', 'purge', 'up', '--through', '1', '--admin', r.admin, '--token', TOKEN]);
  assert.equal(live.code, 1);
  assert.match(live.err, /GH_NOT_DEAD_LETTERS: .*'up' is not a dead-letter stream: exporter 'e' sends it/);
  const noThrough = await cli(['streams', 'purge', 'up-dlq', '--admin', r.admin, '--token', TOKEN]);
  assert.equal(noThrough.code, 2);
  assert.match(noThrough.err, /GH_ARG_INVALID: purge needs --through/);
  const noToken = await cli(['streams', 'redrive', 'up-dlq', '--admin', r.admin]);
  assert.equal(noToken.code, 1);
  assert.match(noToken.err, /GH_ADMIN_UNAUTHORIZED/);
  assert.equal(r.gw.streams.info('up-dlq').records, 5, 'nothing moved by the refused commands');

  // Fixed: the CLI redrives the 5 left; each arrives, the dead-letter stream is empty.
  r.rx.rejectWhen(() => false);
  const rd = await cli(['streams', 'redrive', 'up-dlq', '--admin', r.admin, '--token', TOKEN]);
  assert.equal(rd.code, 0, rd.err);
  assert.equal(rd.out, 'redrove 5 dead letters of up-dlq (5 into up) through seq 10; up-dlq is empty\n');
  await waitUntil(() => r.rx.uniqueRecords().length === 7, 'the 5 redriven records arrive', 15_000);
  const ids = r.rx
    .uniqueRecords()
    .map((s) => JSON.parse(s) as { id?: number })
    .flatMap((x) => (x.id === undefined ? [] : [x.id]))
    .sort();
  assert.deepEqual(ids, [5, 6, 7, 8, 9], 'the dead letters not purged, once each');
  assert.equal(await metricValue(r.registry, 'gatehouse_dead_letters_redriven_total', { stream: 'up-dlq' }), 5);
  const empty = await cli(['streams', 'dead-letters', '--admin', r.admin, '--token', TOKEN]);
  assert.match(empty.out, /^up-dlq \(of e\): empty\n$/);
  const again = await call(r, 'POST', '/api/streams/up-dlq/redrive');
  assert.deepEqual(again.body, { stream: 'up-dlq', redriven: 0, to: {}, through: 10, firstSeq: 11, records: 0, dropped: false });
});

test('the dead-letter routes refuse a live or unknown stream, bad sequences, wrong methods, no token and another origin, and keep running', async (t) => {
  const r = await rig(t, UP_RULES, UP_EXPORTER);
  await publish(r.gw, 'dev/d1/data', ['{"bad":1}', '{"bad":2}']);
  await waitUntil(() => r.gw.streams.info('up-dlq').records === 2, '2 dead letters', 20_000);
  const refused: Array<[string, string, number, string, RegExp?]> = [
    ['DELETE', '/api/streams/up/records?through=1', 409, 'GH_NOT_DEAD_LETTERS', /exporter 'e' sends it/],
    ['POST', '/api/streams/up/redrive', 409, 'GH_NOT_DEAD_LETTERS'],
    ['POST', '/api/streams/%24rule-inputs/redrive', 409, 'GH_NOT_DEAD_LETTERS', /gateway's own/],
    ['DELETE', '/api/streams/nope-dlq/records?through=1', 404, 'GH_STREAM_UNKNOWN', /known dead-letter streams: up-dlq/],
    ['GET', '/api/streams/nope/dead-letters', 404, 'GH_STREAM_UNKNOWN'],
    ['DELETE', '/api/streams/up-dlq/records', 400, 'GH_ADMIN_BAD_REQUEST', /needs \?through=SEQ/],
    ['DELETE', '/api/streams/up-dlq/records?through=abc', 400, 'GH_ADMIN_BAD_REQUEST', /whole number/],
    ['DELETE', '/api/streams/up-dlq/records?through=0', 400, 'GH_ADMIN_BAD_REQUEST'],
    ['DELETE', '/api/streams/up-dlq/records?through=3', 400, 'GH_ADMIN_BAD_REQUEST', /past the last dead letter .*seq 2/],
    ['POST', '/api/streams/up-dlq/redrive?through=99', 400, 'GH_ADMIN_BAD_REQUEST'],
    ['POST', '/api/streams/up-dlq/redrive?limit=-1', 400, 'GH_ADMIN_BAD_REQUEST'],
    ['POST', '/api/streams/up-dlq/redrive?to=', 400, 'GH_ADMIN_BAD_REQUEST'],
    ['POST', '/api/streams/up-dlq/redrive?to=nope', 409, 'GH_REDRIVE_TARGET', /does not exist any more/],
    ['POST', '/api/streams/up-dlq/redrive?to=up-dlq', 409, 'GH_REDRIVE_TARGET', /dead-letter stream itself/],
    ['POST', '/api/streams/%E0%A4/redrive', 400, 'GH_ADMIN_BAD_REQUEST', /percent-encoding/],
    ['PUT', '/api/streams/up-dlq/redrive', 405, 'GH_ADMIN_BAD_REQUEST', /allowed: POST/],
    ['GET', '/api/streams/up-dlq/redrive', 405, 'GH_ADMIN_BAD_REQUEST'],
    ['PATCH', '/api/streams/up-dlq/records', 405, 'GH_ADMIN_BAD_REQUEST', /allowed: GET, HEAD, DELETE/],
    ['POST', '/api/dead-letters', 405, 'GH_ADMIN_BAD_REQUEST'],
  ];
  for (const [method, path, status, code, message] of refused) {
    const res = await call(r, method, path);
    assert.equal(res.status, status, `${method} ${path}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error?.code, code, `${method} ${path}`);
    if (message) assert.match(`${res.body.error?.message} (${res.body.error?.hint})`, message, `${method} ${path}`);
    if (status === 405) assert.ok(res.allow, `${method} ${path}: an Allow header`);
  }
  // Without the token, and from another origin with it: refused before routing.
  assert.equal((await call(r, 'DELETE', '/api/streams/up-dlq/records?through=1', {})).status, 401);
  assert.equal((await call(r, 'POST', '/api/streams/up-dlq/redrive', {})).status, 401);
  const xorigin = await call(r, 'DELETE', '/api/streams/up-dlq/records?through=1', { authorization: `Bearer ${TOKEN}`, origin: 'http://evil.example' });
  assert.equal(xorigin.status, 403);
  assert.equal(xorigin.body.error?.code, 'GH_ADMIN_FORBIDDEN');
  assert.equal(r.gw.streams.info('up-dlq').records, 2, 'nothing removed by any refused request');
  assert.equal(r.gw.streams.info('up').lastSeq, 2, 'nothing appended by any refused redrive');
  assert.equal((await fetch(`${r.admin}/healthz`)).status, 200, 'still healthy');
  // And the routes still work: through=last purges both.
  assert.deepEqual((await call(r, 'DELETE', '/api/streams/up-dlq/records?through=last')).body.purged, 2);
});

test("a redrive refuses a source stream that is gone, ?to= names another; a retired rule action's dead-letter stream emptied by a purge goes away", async (t) => {
  const action = (v: number, path: string) =>
    `version: ${v}\nrules:\n  - name: a\n    sql: "SELECT * FROM 'dev/+/data'"\n    actions:\n      - http: { url: "RX${path}", exporter: { batch: { maxRecords: 5, lingerMs: 10 }, backoff: { initialMs: 20, maxMs: 100 } } }\n`;
  const r = await rig(t, action(1, 'v1'), UP_EXPORTER);
  const [old] = r.gw.exporters
    .status()
    .map((e) => e.name)
    .filter((n) => n !== 'e');
  assert.ok(old);
  await publish(r.gw, 'dev/d1/data', ['{"bad":1}', '{"bad":2}', '{"bad":3}']);
  await waitUntil(() => r.gw.streams.hasStream(`${old}-dlq`) && r.gw.streams.info(`${old}-dlq`).records === 3, '3 dead letters of the action', 20_000);
  const applied = await r.gw.rules.applyFromBytes(Buffer.from(action(2, 'v2').replaceAll('RX', r.rx.url)), 'application/yaml', 'admin');
  assert.equal(applied.state, 'applied');
  await waitUntil(() => !r.gw.exporters.has(old) && !r.gw.streams.hasStream(old), 'the v1 exporter retired and its stream dropped', 15_000);
  const dlq = `${old}-dlq`;
  const [now] = r.gw.exporters
    .status()
    .map((e) => e.name)
    .filter((n) => n !== 'e');
  assert.ok(now);

  const gone = await call(r, 'POST', `/api/streams/${dlq}/redrive`);
  assert.equal(gone.status, 409, JSON.stringify(gone.body));
  assert.equal(gone.body.error?.code, 'GH_REDRIVE_TARGET');
  assert.match(gone.body.error?.message ?? '', new RegExp(`into '${old}': it does not exist any more .*dead letter 1 came from it`));
  assert.match(gone.body.error?.hint ?? '', /\?to=STREAM/);
  assert.equal(r.gw.streams.info(dlq).records, 3, 'nothing moved');

  // Into the stream the action writes now (fixed receiver): 2 go, then the last one is purged.
  r.rx.rejectWhen(() => false);
  const moved = await call(r, 'POST', `/api/streams/${dlq}/redrive?to=${now}&limit=2`);
  assert.equal(moved.status, 200, JSON.stringify(moved.body));
  assert.deepEqual(moved.body, { stream: dlq, redriven: 2, to: { [now]: 2 }, through: 2, firstSeq: 3, records: 1, dropped: false });
  await waitUntil(() => r.rx.uniqueRecords().length === 2, 'the 2 redriven records arrive', 15_000);
  const purged = await call(r, 'DELETE', `/api/streams/${dlq}/records?through=last`);
  assert.deepEqual(purged.body, { stream: dlq, purged: 1, through: 3, firstSeq: 0, records: 0, dropped: true });
  assert.equal(r.gw.streams.hasStream(dlq), false, 'the emptied dead-letter stream of the retired action went');
  assert.ok(!(await r.registry.metrics()).includes(`stream="${dlq}"`), 'and its metric series');
  assert.equal((await call(r, 'GET', `/api/streams/${dlq}/dead-letters`)).status, 404);
  r.logs.length = 0;
  await r.restart();
  assert.equal(r.gw.streams.hasStream(dlq), false);
  assert.ok(!r.logs.some((l) => l.stream === dlq), 'no warning about it at the next start');
});

test('a redriven record keeps topic, payload, key, receivedAt and its own attributes; the dead-letter ones give way to redrivenFrom', () => {
  const rec = redrivenRecord({
    stream: 'up-dlq',
    seq: 7,
    topic: 'dev/d1/data',
    payload: Buffer.from('x'),
    receivedAt: 1234,
    key: 'd1',
    attrs: { 'mqtt5.contentType': 'json', error: 'HTTP 400', sourceStream: 'up', sourceSeq: '42', destination: 'http:x', attempts: '1' },
  });
  assert.deepEqual(rec, {
    topic: 'dev/d1/data',
    payload: Buffer.from('x'),
    receivedAt: 1234,
    key: 'd1',
    attrs: { 'mqtt5.contentType': 'json', redrivenFrom: 'up:42' },
  });
});

const MiB = 1024 * 1024;

test('a redrive on a full disk is refused with nothing moved (503 GH_STORE_DISK_FULL); once space is freed it goes', { skip: smallFsSkip() }, async (t) => {
  const root = await mountSmallFs(t, 16);
  const r = await rig(t, UP_RULES, UP_EXPORTER, 'store: { reserveBytes: 3145728, diskProbeMs: 50, ballastBytes: 0 }\n', join(root, 'data'));
  await publish(r.gw, 'dev/d1/data', ['{"bad":1}', '{"bad":2}', '{"bad":3}']);
  await waitUntil(() => r.gw.streams.info('up-dlq').records === 3, '3 dead letters', 20_000);
  r.rx.rejectWhen(() => false);
  const filler = join(root, 'filler');
  await writeFiller(filler, freeBytes(root) - 2 * MiB);
  await waitUntil(() => r.gw.streams.diskState!().writable === false, 'the store under its reserve', 10_000);
  const full = await call(r, 'POST', '/api/streams/up-dlq/redrive');
  assert.equal(full.status, 503, JSON.stringify(full.body));
  assert.equal(full.body.error?.code, 'GH_STORE_DISK_FULL');
  assert.match(full.body.error?.message ?? '', /nothing was moved/);
  assert.equal(r.gw.streams.info('up-dlq').records, 3, 'the dead letters stay');
  assert.equal(r.gw.streams.info('up').lastSeq, 3, 'nothing appended');
  await unlink(filler);
  await waitUntil(() => r.gw.streams.diskState!().writable, 'the store writable again', 10_000);
  const done = await call(r, 'POST', '/api/streams/up-dlq/redrive');
  assert.equal(done.status, 200, JSON.stringify(done.body));
  assert.equal(done.body.redriven, 3);
  await waitUntil(() => r.rx.uniqueRecords().length === 3, 'the 3 redriven records arrive', 15_000);
});

test('a dead letter redriven, refused again and redriven again keeps the id of its first refusal', () => {
  const first = redrivenRecord({
    stream: 'up-dlq',
    seq: 1,
    topic: 't',
    payload: Buffer.from('x'),
    receivedAt: 1,
    attrs: { error: 'e', sourceStream: 'up', sourceSeq: '42' },
  });
  const again = redrivenRecord({
    stream: 'up-dlq',
    seq: 9,
    topic: 't',
    payload: Buffer.from('x'),
    receivedAt: 1,
    attrs: { ...first.attrs, error: 'e', sourceStream: 'up', sourceSeq: '77' },
  });
  assert.deepEqual(again.attrs, { redrivenFrom: 'up:42' });
});

test('a dead-letter stream named with deadLetterStream is one: listed with its exporter, purged', async (t) => {
  const r = await rig(t, UP_RULES, UP_EXPORTER.replace('stream: up,', 'stream: up, deadLetterStream: refused,'));
  await publish(r.gw, 'dev/d1/data', ['{"bad":1}', '{"bad":2}']);
  await waitUntil(() => r.gw.streams.hasStream('refused') && r.gw.streams.info('refused').records === 2, '2 dead letters in refused', 20_000);
  const listed = await call(r, 'GET', '/api/dead-letters');
  assert.deepEqual(
    (listed.body.deadLetters as Array<{ stream: string; exporters: string[]; records: number }>).map((d) => [d.stream, d.exporters, d.records]),
    [['refused', ['e'], 2]],
  );
  assert.equal((await call(r, 'DELETE', '/api/streams/refused/records?through=last')).body.purged, 2);
});

test('an append that fails midway stops the redrive with its error and what it moved; the rest stay in the dead-letter stream', async (t) => {
  const r = await rig(t, UP_RULES, UP_EXPORTER.replace(/]$/, ', { name: small, stream: tiny, destination: { type: http, url: "RX" } }]'));
  // The third is larger than the 64 bytes tiny holds at most (topic, payload and redrivenFrom).
  await publish(r.gw, 'dev/d1/data', ['{"bad":1}']);
  await publish(r.gw, 'dev/d1/data', ['{"bad":2}']);
  await publish(r.gw, 'dev/d1/data', [JSON.stringify({ bad: 3, pad: 'x'.repeat(60) })]);
  await waitUntil(() => r.gw.streams.info('up-dlq').records === 3, '3 dead letters', 20_000);
  r.rx.rejectWhen(() => false);
  const res = await call(r, 'POST', '/api/streams/up-dlq/redrive?to=tiny');
  assert.equal(res.status, 409, JSON.stringify(res.body));
  assert.equal(res.body.error?.code, 'GH_RECORD_TOO_LARGE');
  assert.match(res.body.error?.message ?? '', /^redrive of 'up-dlq' stopped after 2 dead letters \(through seq 2, the rest stay in it/);
  assert.deepEqual(
    (await r.gw.streams.read('up-dlq', 1)).map((x) => x.seq),
    [3],
  );
  assert.equal(await metricValue(r.registry, 'gatehouse_dead_letters_redriven_total', { stream: 'up-dlq' }), 2);
  await waitUntil(() => r.rx.uniqueRecords().length === 2, 'the 2 redriven records arrive', 15_000);
});
