// Streams nobody uses any more, dropped by an operator (gateway/admin/stream-drop.ts,
// stream-drop-route.ts, gateway/cli/stream-drop.ts), and the dead letters an exporter removed from
// the config left (pipeline/stranded-streams.ts): the real in-process gateway with an admin token,
// real mqtt.js publishers, the real Firehose-protocol receiver refusing records marked "bad"
// (HTTP 400: dead-lettered). A first config fills `old` (no exporter) and `side-dlq`; a second one
// no longer names them, so both are found on disk only at its start.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import pino from 'pino';
import { Registry, type Metric } from 'prom-client';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { main } from '../../gateway/cli/main.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { metricValue, tempDir, waitUntil } from '../helpers/index.js';

const TOKEN = 'stream-drop-token-0123';
const auth = { authorization: `Bearer ${TOKEN}` };
const cli = (argv: string[]) => runCaptured(main, argv);

type Log = { level: number; msg: string; stream?: string };

/** The admin API's answers as these tests read them (an error, /api/streams, /api/dead-letters, a drop). */
interface Reply {
  error: { code: string; message: string; hint: string };
  streams: Array<Record<string, unknown> & { name: string }>;
  deadLetters: Array<{ stream: string }>;
  [k: string]: unknown;
}

async function publish(gw: Gateway, topic: string, payloads: string[]): Promise<void> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  await Promise.all(payloads.map((p) => c.publishAsync(topic, p, { qos: 1 })));
  await c.endAsync();
}

/** Whether any gateway metric has a series labelled stream=`name`. */
async function hasSeries(registry: Registry, name: string, except: string[] = []): Promise<string[]> {
  const out: string[] = [];
  // The registry lists them as MetricObject; they are the metric instances (as retired-metrics.ts reads them).
  for (const m of registry.getMetricsAsArray() as unknown as Metric[]) {
    const { name: metric } = m as unknown as { name: string };
    if (except.includes(metric)) continue;
    if ((await m.get()).values.some((v) => v.labels.stream === name)) out.push(metric);
  }
  return out;
}

const EXPORTER = (name: string, stream: string) =>
  `{ name: ${name}, stream: ${stream}, destination: { type: http, url: "RX" }, batch: { maxRecords: 1, lingerMs: 0 }, backoff: { initialMs: 20, maxMs: 100 } }`;

interface Rig {
  gw: Gateway;
  registry: Registry;
  logs: Log[];
  admin: string;
  /** Stop, write the config and rule set given, start again. */
  restart(config: string, rules: string): Promise<void>;
  call(method: string, path: string, headers?: Record<string, string>, body?: string): Promise<{ status: number; body: Reply; allow: string | null }>;
}

async function rig(t: TestContext, config: string, rules: string): Promise<Rig> {
  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  rx.rejectWhen((records) => records.some((b) => b.toString().includes('"bad"')), 400);
  const dir = await tempDir(t);
  const rulesFile = join(dir, 'rules.yaml');
  const file = join(dir, 'g.yaml');
  const write = async (c: string, r: string): Promise<void> => {
    await writeFile(rulesFile, r);
    await writeFile(
      file,
      `dataDir: ${JSON.stringify(join(dir, 'data'))}\nadmin: { token: ${TOKEN} }\nrulesFile: ${JSON.stringify(rulesFile)}\n${c.replaceAll('RX', rx.url)}`,
    );
  };
  const start = async (): Promise<Gateway> => {
    // A registry per start: a process's metrics start empty, as after a real restart.
    r.registry = new Registry();
    const logger = pino({ level: 'info' }, { write: (s: string) => void r.logs.push(JSON.parse(s) as Log) });
    const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), { logger, registry: r.registry, version: 'test' });
    r.admin = `http://127.0.0.1:${gw.admin!.address().port}`;
    return gw;
  };
  const r = {
    logs: [] as Log[],
    admin: '',
    registry: new Registry(),
    async restart(c: string, rl: string) {
      await r.gw.stop();
      await write(c, rl.replaceAll('RX', rx.url));
      r.logs.length = 0;
      r.gw = await start();
    },
    async call(method: string, path: string, headers: Record<string, string> = auth, body?: string) {
      const res = await fetch(`${r.admin}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
      return { status: res.status, body: (await res.json()) as Reply, allow: res.headers.get('allow') };
    },
  } as Rig;
  await write(config, rules);
  r.gw = await start();
  t.after(() => r.gw.stop());
  return r;
}

const V1_CONFIG = `streams: { up: { maxBytes: 1048576 }, old: { maxBytes: 1048576 }, side: { maxBytes: 1048576 } }\nexporters: [${EXPORTER('e', 'up')}, ${EXPORTER('s', 'side')}]\n`;
const V1_RULES = `version: 1
rules:
  - { name: up, sql: "SELECT * FROM 'dev/+/data'", actions: [{ stream: { name: up } }] }
  - { name: old, sql: "SELECT * FROM 'old/+'", actions: [{ stream: { name: old } }] }
  - { name: side, sql: "SELECT * FROM 'side/+'", actions: [{ stream: { name: side } }] }
`;
const V2_CONFIG = `streams: { up: { maxBytes: 1048576 } }\nexporters: [${EXPORTER('e', 'up')}]\n`;
const rulesV = (version: number, extra = '') => `version: ${version}
rules:
  - { name: up, sql: "SELECT * FROM 'dev/+/data'", actions: [{ stream: { name: up } }] }
  - { name: ra, sql: "SELECT * FROM 'ra/+'", actions: [{ http: { url: "RX" } }] }
${extra}`;

test('a stream removed from the config is dropped with the records it holds once the operator confirms how many; what something uses is refused', async (t) => {
  const r = await rig(t, V1_CONFIG, V1_RULES);
  await publish(
    r.gw,
    'old/a',
    Array.from({ length: 30 }, (_, i) => JSON.stringify({ old: i })),
  );
  await publish(
    r.gw,
    'side/a',
    Array.from({ length: 4 }, (_, i) => JSON.stringify({ bad: true, i })),
  );
  await waitUntil(() => r.gw.streams.info('side-dlq').records === 4, '4 dead letters in side-dlq', 20_000);

  await r.restart(V2_CONFIG, rulesV(2));
  // Found on disk only: `old` with its backlog (warned about), side-dlq with its dead letters.
  const warned = (): Log[] => r.logs.filter((l) => l.level === 40 && l.stream === 'old');
  assert.match(warned()[0]?.msg ?? '', /stream 'old' holds 30 records no exporter sends.*gatehouse streams drop old --records 30/);
  const streams = await r.call('GET', '/api/streams');
  const old = streams.body.streams.find((s) => s.name === 'old');
  assert.deepEqual([old?.records, old?.undrained], [30, true]);
  const ra = streams.body.streams.find((s) => /^http-[0-9a-f]{10}$/.test(s.name))?.name;
  assert.ok(ra, 'the upstream rule action has its stream');

  // API abuse: unknown stream, bad counts, the wrong method, no token, another origin.
  const unknown = await r.call('DELETE', '/api/streams/nope');
  assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'GH_STREAM_UNKNOWN']);
  for (const bad of ['abc', '-1', '1.5', '']) {
    const res = await r.call('DELETE', `/api/streams/old?records=${bad}`);
    assert.deepEqual([res.status, res.body.error.code], [400, 'GH_ADMIN_BAD_REQUEST'], bad);
  }
  const get = await r.call('GET', '/api/streams/old');
  assert.deepEqual([get.status, get.allow], [405, 'DELETE']);
  const noToken = await r.call('DELETE', '/api/streams/old?records=30', {});
  assert.equal(noToken.status, 401);
  const csrf = await r.call('DELETE', '/api/streams/old?records=30', { ...auth, origin: 'http://evil.example' });
  assert.equal(csrf.status, 403);

  // Holding records: refused without the count, and with another one (saying what it holds).
  const noCount = await r.call('DELETE', '/api/streams/old');
  assert.deepEqual([noCount.status, noCount.body.error.code], [409, 'GH_STREAM_DROP_COUNT'], noCount.body.error.message);
  assert.match(noCount.body.error.message, /local stream 'old' holds 30 records: say how many/);
  assert.match(noCount.body.error.hint, /\?records=30/);
  const wrong = await r.call('DELETE', '/api/streams/old?records=29');
  assert.deepEqual([wrong.status, wrong.body.error.message], [409, "local stream 'old' holds 30 records, not 29"]);

  // Used: the config's stream, an exporter's dead letters, an upstream rule action's stream.
  const used = async (name: string, reason: RegExp, hint: RegExp): Promise<void> => {
    const res = await r.call('DELETE', `/api/streams/${encodeURIComponent(name)}?records=0`);
    assert.deepEqual([res.status, res.body.error.code], [409, 'GH_STREAM_USED'], name);
    assert.match(res.body.error.message, reason);
    assert.match(res.body.error.hint, hint);
  };
  await used('up', /'up' is used: it is defined under streams in the config/, /remove it from streams in the config/);
  await used('up-dlq', /exporter 'e' puts its dead letters there/, /purge up-dlq --through last/);
  await used(ra, new RegExp(`exporter '${ra}' sends it`), /remove the exporter/);

  // A rule of the active rule set writing it; once a rule set without it runs, it is free.
  const put = (version: number, extra = '') =>
    r.call('PUT', '/api/rules', { ...auth, 'content-type': 'application/yaml' }, rulesV(version, extra).replaceAll('RX', 'http://127.0.0.1:9/'));
  assert.equal((await put(3, `  - { name: keep_old, sql: "SELECT * FROM 'k/+'", actions: [{ stream: { name: old } }] }\n`)).status, 200);
  await used('old', /rule 'keep_old' of the active rule set \(version 3\) appends to it/, /apply a rule set in which no rule writes it/);
  assert.equal((await put(4)).status, 200);

  assert.ok((await hasSeries(r.registry, 'old')).includes('gatehouse_stream_records'), 'it has series before the drop');
  // The CLI: a wrong count is refused (exit 1, nothing removed); the right one drops it.
  const target = ['--admin', r.admin, '--token', TOKEN];
  const refused = await cli(['streams', 'drop', 'old', '--records', '3', ...target]);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /GH_STREAM_DROP_COUNT.*holds 30 records, not 3/);
  // Said in the command's terms (--records), not the API's (?records=): the line to run.
  assert.match(refused.err, /then confirm with: gatehouse streams drop old --records 30\n$/);
  const noCountCli = await cli(['streams', 'drop', 'old', ...target]);
  assert.equal(noCountCli.code, 1);
  assert.match(noCountCli.err, /holds 30 records: say how many you expect to throw away with --records N/);
  assert.match(noCountCli.err, /gatehouse streams drop old --records 30/);
  assert.doesNotMatch(noCountCli.err, /\?records=/);
  assert.equal(r.gw.streams.info('old').records, 30);
  const usage = await cli(['streams', 'drop', 'old', '--records', 'x', ...target]);
  assert.equal(usage.code, 2);
  const dropped = await cli(['streams', 'drop', 'old', '--records', '30', ...target]);
  assert.equal(dropped.code, 0, dropped.err);
  assert.match(dropped.out, /^dropped old with the 30 records it held \(\d+ bytes\): they will never reach upstream\n$/);
  assert.equal(r.gw.streams.hasStream('old'), false);
  assert.equal(
    r.logs.some((l) => l.level === 40 && /stream 'old' dropped by an operator with the 30 records/.test(l.msg)),
    true,
  );
  assert.equal(await metricValue(r.registry, 'gatehouse_stream_discarded_records_total', { stream: 'old' }), 30);
  assert.deepEqual(await hasSeries(r.registry, 'old', ['gatehouse_stream_discarded_records_total']), [], 'its other series are gone');
  const after = await r.call('GET', '/api/streams');
  assert.equal(
    after.body.streams.some((s) => s.name === 'old'),
    false,
  );
  const again = await r.call('DELETE', '/api/streams/old?records=30');
  assert.equal(again.status, 404);

  // An empty stream found on disk only (side: its records all dead-lettered) goes without a count;
  // of two drops of it at once, one drops it and the other is refused while it runs (or, come
  // after it, finds it gone).
  const both = await Promise.all([r.call('DELETE', '/api/streams/side'), r.call('DELETE', '/api/streams/side')]);
  const ok = both.find((b) => b.status === 200);
  assert.deepEqual(ok?.body, { stream: 'side', dropped: true, records: 0, bytes: 0 });
  const other = both.find((b) => b !== ok);
  assert.ok(
    (other?.status === 409 && other.body.error.code === 'GH_STREAM_BUSY') || (other?.status === 404 && other.body.error.code === 'GH_STREAM_UNKNOWN'),
    JSON.stringify(other?.body),
  );

  // The next start: no warning, nothing of it on disk.
  await r.restart(V2_CONFIG, rulesV(5));
  assert.deepEqual(warned(), []);
  assert.equal(r.gw.streams.hasStream('old'), false);
  assert.deepEqual(
    (r.gw.streams.undefinedStreams?.() ?? []).map((i) => i.name).filter((n) => n === 'old' || n === 'side'),
    [],
  );
});

test('the dead letters of an exporter removed from the config are listed, purgeable, and their stream goes once emptied', async (t) => {
  const r = await rig(t, V1_CONFIG, V1_RULES);
  await publish(
    r.gw,
    'side/a',
    Array.from({ length: 4 }, (_, i) => JSON.stringify({ bad: true, i })),
  );
  await waitUntil(() => r.gw.streams.info('side-dlq').records === 4, '4 dead letters in side-dlq', 20_000);
  await r.restart(V2_CONFIG, rulesV(2));

  const target = ['--admin', r.admin, '--token', TOKEN];
  const list = await cli(['streams', 'dead-letters', ...target]);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, /^side-dlq \(no exporter writes it any more\): 4 dead letters, seq 1\.\.4, .*from side 4\n {2}4 x .*400/m);
  const one = await r.call('GET', '/api/streams/side-dlq/dead-letters');
  assert.equal(one.status, 200);
  // Nothing uses it, but it holds dead letters: a drop also needs the count.
  const noCount = await r.call('DELETE', '/api/streams/side-dlq');
  assert.equal(noCount.status, 409);

  const purge = await cli(['streams', 'purge', 'side-dlq', '--through', 'last', ...target]);
  assert.equal(purge.code, 0, purge.err);
  assert.equal(purge.out, 'purged 4 dead letters of side-dlq through seq 4; side-dlq is empty and was dropped (no exporter or rule writes it any more)\n');
  assert.equal(r.gw.streams.hasStream('side-dlq'), false);
  const none = await r.call('GET', '/api/dead-letters');
  assert.equal(
    none.body.deadLetters.some((d) => d.stream === 'side-dlq'),
    false,
  );
});
