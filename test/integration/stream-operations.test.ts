// The operator's operations on one stream under concurrency and disconnects (gateway/admin/
// stream-operations.ts, dead-letters.ts, stream-drop.ts): two at once on one dead-letter stream,
// a redrive whose client goes away, a drop racing a rule update. The real in-process gateway with
// an admin token, real HTTP requests, real mqtt.js publishers, and two real Firehose-protocol
// receivers: `rx` refuses the records marked "bad" (HTTP 400: dead-lettered), `rx2` receives the
// redriven ones and is held (HTTP 503, retried) to keep a redrive running, the stream it sends
// (`slow`, 8 KiB) full, so its appends wait for space until it is released.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import pino from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { startFirehoseReceiver, type FirehoseReceiver } from '../helpers/firehose-receiver.js';
import { main } from '../../gateway/cli/main.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { metricValue, tempDir, waitUntil } from '../helpers/index.js';

const TOKEN = 'stream-operations-token-01';
const auth = { authorization: `Bearer ${TOKEN}` };

type Log = { level: number; msg: string; stream?: string; redriven?: number; left?: number };
interface Reply {
  error?: { code: string; message: string; hint: string };
  deadLetters?: Array<{ stream: string; records: number; running: { operation: string; startedAt: string; redriven?: number } | null }>;
  [k: string]: unknown;
}

interface Rig {
  gw: Gateway;
  rx: FirehoseReceiver;
  rx2: FirehoseReceiver;
  registry: Registry;
  logs: Log[];
  admin: string;
  restart(config: string, rules: string): Promise<void>;
  call(method: string, path: string, body?: string, headers?: Record<string, string>): Promise<{ status: number; body: Reply }>;
}

const EXPORTER = (name: string, stream: string, url: string, maxRecords: number) =>
  `{ name: ${name}, stream: ${stream}, destination: { type: http, url: "${url}" }, batch: { maxRecords: ${maxRecords}, lingerMs: 5 }, backoff: { initialMs: 20, maxMs: 100 } }`;

async function rig(t: TestContext, config: (r: Rig) => string, rules: string): Promise<Rig> {
  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  rx.rejectWhen((records) => records.some((b) => b.toString().includes('"bad"')), 400);
  const rx2 = await startFirehoseReceiver();
  t.after(() => rx2.close());
  const dir = await tempDir(t);
  const rulesFile = join(dir, 'rules.yaml');
  const file = join(dir, 'g.yaml');
  const r = { rx, rx2, logs: [] as Log[], admin: '', registry: new Registry() } as Rig;
  const write = async (c: string, rl: string): Promise<void> => {
    await writeFile(rulesFile, rl);
    // A redrive waits for space in `slow` as long as rx2 is held: longer than the test needs.
    const head = `dataDir: ${JSON.stringify(join(dir, 'data'))}\nadmin: { token: ${TOKEN} }\nrulesFile: ${JSON.stringify(rulesFile)}\nstore: { appendTimeoutMs: 120000 }\n`;
    await writeFile(file, head + c);
  };
  const start = async (): Promise<Gateway> => {
    r.registry = new Registry();
    const logger = pino({ level: 'info' }, { write: (s: string) => void r.logs.push(JSON.parse(s) as Log) });
    const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), { logger, registry: r.registry, version: 'test' });
    r.admin = `http://127.0.0.1:${gw.admin!.address().port}`;
    return gw;
  };
  r.restart = async (c, rl) => {
    await r.gw.stop();
    await write(c, rl);
    r.logs.length = 0;
    r.gw = await start();
  };
  r.call = async (method, path, body, headers = auth) => {
    const res = await fetch(`${r.admin}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    return { status: res.status, body: (await res.json()) as Reply };
  };
  await write(config(r), rules);
  r.gw = await start();
  t.after(() => r.gw.stop());
  return r;
}

async function publish(gw: Gateway, topic: string, payloads: string[]): Promise<void> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  await Promise.all(payloads.map((p) => c.publishAsync(topic, p, { qos: 1 })));
  await c.endAsync();
}

const DEAD = 3000;
const RULES = `version: 1\nrules:\n  - { name: up, sql: "SELECT * FROM 'dev/+/data'", actions: [{ stream: { name: up } }] }\n`;
const STREAMS = 'streams: { up: { maxBytes: 4194304 }, slow: { maxBytes: 8192 } }\n';
/** V1: `e` sends up (its bad records dead-lettered into up-dlq); V2: no exporter writes up-dlq any more, so a drop may take it. */
const V1 = (r: Rig) => `${STREAMS}exporters: [${EXPORTER('e', 'up', r.rx.url, 500)}, ${EXPORTER('s', 'slow', r.rx2.url, 50)}]\n`;
const V2 = (r: Rig) => `${STREAMS}exporters: [${EXPORTER('s', 'slow', r.rx2.url, 50)}]\n`;

/** A rig whose up-dlq holds DEAD dead letters ({"bad":true,"id":i}) that nothing writes any more, rx2 held. */
async function deadLetters(t: TestContext): Promise<Rig> {
  const r = await rig(t, V1, RULES);
  for (let i = 0; i < DEAD; i += 500) {
    await publish(
      r.gw,
      'dev/d1/data',
      Array.from({ length: 500 }, (_, k) => JSON.stringify({ bad: true, id: i + k })),
    );
  }
  await waitUntil(() => r.gw.streams.hasStream('up-dlq') && r.gw.streams.info('up-dlq').records === DEAD, `${DEAD} dead letters`, 60_000);
  await r.restart(V2(r), RULES);
  r.rx2.rejectWhen(() => true, 503); // held: `slow` fills and the redrive's appends wait for space
  return r;
}

const idOf = (payload: Buffer | string): number => (JSON.parse(payload.toString()) as { id: number }).id;

/** The ids rx2 accepted, and how many times it accepted records at all (a duplicate counts twice). */
function received(rx: FirehoseReceiver): { ids: Set<number>; total: number } {
  const all = rx.allRecords().map((b) => idOf(b));
  return { ids: new Set(all), total: all.length };
}

async function running(r: Rig, stream: string) {
  const list = await r.call('GET', '/api/dead-letters');
  return list.body.deadLetters?.find((d) => d.stream === stream)?.running ?? null;
}

test('a second redrive, a purge and a drop of a dead-letter stream while a redrive of it runs are refused (409 GH_STREAM_BUSY); each dead letter arrives once', async (t) => {
  const r = await deadLetters(t);
  assert.equal(await running(r, 'up-dlq'), null);
  const first = r.call('POST', '/api/streams/up-dlq/redrive?to=slow');
  const now = await waitUntil(() => running(r, 'up-dlq'), 'the redrive shows as running', 15_000);
  assert.equal(now.operation, 'redrive');
  assert.equal(now.redriven, 0, 'its first chunk waits for space in slow');
  assert.ok(Math.abs(Date.parse(now.startedAt) - Date.now()) < 60_000, now.startedAt);

  // Two operators, a CLI retried after its timeout: refused, naming what runs and since when.
  const [again, purge, drop] = await Promise.all([
    r.call('POST', '/api/streams/up-dlq/redrive?to=slow'),
    r.call('DELETE', '/api/streams/up-dlq/records?through=last'),
    r.call('DELETE', `/api/streams/up-dlq?records=${DEAD}`),
  ]);
  for (const [what, res] of [
    ['redrive', again],
    ['purge', purge],
    ['drop', drop],
  ] as const) {
    assert.deepEqual([res.status, res.body.error?.code], [409, 'GH_STREAM_BUSY'], `${what}: ${JSON.stringify(res.body)}`);
    assert.equal(
      res.body.error?.message,
      `cannot ${what} local stream 'up-dlq': a redrive of it is running (started ${now.startedAt}, 0 dead letters moved so far)`,
    );
  }
  assert.equal(r.gw.streams.info('up-dlq').records, DEAD, 'nothing purged or dropped');
  const listed = await runCaptured(main, ['streams', 'dead-letters', 'up-dlq', '--admin', r.admin, '--token', TOKEN]);
  assert.equal(listed.code, 0, listed.err);
  assert.match(listed.out, new RegExp(`\\n  redrive running since ${now.startedAt}: 0 moved so far\\n$`));

  r.rx2.rejectWhen(() => false);
  const done = await first;
  assert.equal(done.status, 200, JSON.stringify(done.body));
  assert.deepEqual([done.body.redriven, done.body.to, done.body.dropped], [DEAD, { slow: DEAD }, true]);
  assert.equal(await running(r, 'up-dlq'), null);
  await waitUntil(() => received(r.rx2).ids.size === DEAD, `${DEAD} redriven records at rx2`, 60_000);
  const got = received(r.rx2);
  assert.equal(got.total, DEAD, 'none arrived twice');
  assert.equal(await metricValue(r.registry, 'gatehouse_stream_discarded_records_total', { stream: 'up-dlq' }), 0);

  // Once it ended, the next operation on the stream runs (here: it is gone, emptied).
  const after = await r.call('POST', '/api/streams/up-dlq/redrive?to=slow');
  assert.deepEqual([after.status, after.body.error?.code], [404, 'GH_STREAM_UNKNOWN']);
});

test('a redrive whose client goes away stops at the next chunk boundary: each dead letter is in the dead-letter stream or was redriven, never both, never neither', async (t) => {
  const r = await deadLetters(t);
  // A real client that destroys its socket mid-redrive (the CLI killed, a proxy's timeout).
  const req = http.request(`${r.admin}/api/streams/up-dlq/redrive?to=slow`, { method: 'POST', headers: auth });
  req.on('error', () => undefined); // the destroy below: the client expects no answer
  req.end();
  const [socket] = (await once(req, 'socket')) as [import('node:net').Socket];
  await waitUntil(() => running(r, 'up-dlq'), 'the redrive shows as running', 15_000);
  const closed = once(socket, 'close');
  req.destroy();
  await closed;
  // One more round trip: the server has turned its loop since the close reached it.
  assert.equal((await running(r, 'up-dlq'))?.operation, 'redrive');
  r.rx2.rejectWhen(() => false);

  const line = await waitUntil(() => r.logs.find((l) => /^redrive of dead letters stopped: its client went away/.test(l.msg)), 'the stop logged', 60_000);
  assert.equal(line.level, 40);
  assert.equal(line.redriven, 500, 'the chunk under way when it went away, no more');
  assert.equal(line.left, DEAD - 500);
  await waitUntil(async () => (await running(r, 'up-dlq')) === null, 'no operation runs', 5000);
  const left = (await r.gw.streams.read('up-dlq', 1, { limit: DEAD })).map((x) => idOf(x.payload));
  assert.equal(left.length, DEAD - 500);
  await waitUntil(() => received(r.rx2).ids.size === 500, 'the 500 redriven records at rx2', 30_000);
  const got = received(r.rx2);
  assert.equal(got.total, 500);
  // Exactly one of the two places for each dead letter.
  for (const id of left) assert.ok(!got.ids.has(id), `dead letter ${id} in both`);
  assert.equal(new Set([...left, ...got.ids]).size, DEAD, 'every dead letter is somewhere');

  // The operator sends it again: the rest goes, none twice.
  const rest = await r.call('POST', '/api/streams/up-dlq/redrive?to=slow');
  assert.deepEqual([rest.status, rest.body.redriven], [200, DEAD - 500], JSON.stringify(rest.body));
  await waitUntil(() => received(r.rx2).ids.size === DEAD, `${DEAD} at rx2`, 60_000);
  assert.equal(received(r.rx2).total, DEAD);
});

const OLD = 20_000;
const WITH_OLD = (r: Rig) =>
  `streams: { up: { maxBytes: 4194304 }, slow: { maxBytes: 8192 }, old: { maxBytes: 16777216 } }\nexporters: [${EXPORTER('s', 'slow', r.rx2.url, 50)}]\n`;
const rulesKeepingOld = `version: 2\nrules:\n  - { name: up, sql: "SELECT * FROM 'dev/+/data'", actions: [{ stream: { name: up } }] }\n  - { name: keep_old, sql: "SELECT * FROM 'k/+'", actions: [{ stream: { name: old } }] }\n`;

test('a drop and a rule update adding a rule that writes the stream, sent together: one comes first and the other is refused; no publish is acknowledged into a stream gone', async (t) => {
  const r = await rig(t, WITH_OLD, RULES);
  // Enough records that the drop's one write takes a while: the window the update fell into.
  for (let i = 0; i < OLD; i += 1000) {
    await Promise.all(
      Array.from({ length: 1000 }, (_, k) =>
        r.gw.streams.append('old', { topic: 'old/a', payload: Buffer.from(JSON.stringify({ old: i + k })), receivedAt: Date.now() }),
      ),
    );
  }
  await r.restart(V2(r), RULES); // `old` is no longer in the config: found on disk, nothing uses it
  assert.equal(r.gw.streams.info('old').records, OLD);

  const [drop, put] = await Promise.all([
    r.call('DELETE', `/api/streams/old?records=${OLD}`),
    r.call('PUT', '/api/rules', rulesKeepingOld, { ...auth, 'content-type': 'application/yaml' }),
  ]);
  // The update comes before the drop (the drop is refused: a rule writes it) or after it (the
  // update is refused: the stream is gone), never between. Before, both answered 200 and the new
  // rule appended to a stream gone: every QoS 1 publish it matched refused (no PUBACK) for good.
  if (drop.status === 200) {
    assert.deepEqual([put.status, put.body.error?.code], [400, 'GH_RULESET_INVALID'], JSON.stringify(put.body));
    assert.match(put.body.error?.message ?? '', /^rule keep_old: GH_STREAM_UNKNOWN: local stream 'old' is not defined/);
    assert.equal(r.gw.streams.hasStream('old'), false);
  } else {
    assert.deepEqual([drop.status, drop.body.error?.code, put.status], [409, 'GH_STREAM_USED', 200], JSON.stringify([drop.body, put.body]));
    assert.match(drop.body.error?.message ?? '', /rule 'keep_old' of the active rule set \(version 2\)/);
  }
  // A publish the active rules match is acknowledged: stored where its rule writes, or matched by none.
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${r.gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  t.after(() => c.end(true));
  let acked = false;
  const outcome = await Promise.race([
    c.publishAsync('k/1', '{"kept":1}', { qos: 1 }).then(() => {
      acked = true;
      return 'acknowledged';
    }),
    waitUntil(() => acked || r.logs.some((l) => /gateway refused a client publish/.test(l.msg)), 'an answer to the publish', 15_000).then(() => 'refused'),
  ]);
  assert.equal(outcome, 'acknowledged');
  if (drop.status !== 200) assert.equal(r.gw.streams.info('old').records, OLD + 1, 'stored in the stream the new rule writes');
});
