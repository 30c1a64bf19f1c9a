// End to end, real parts: window and detector state across kill -9 of the real gateway (issue #18).
// The promise under test: every acknowledged event reaches the state of every stateful rule that
// matched it exactly once, and the rows windows emit reach their stream at least once.
//
// The random test compares the gateway's output with an uninterrupted in-process run of the same
// rules (the engine alone, real compiler) over the acknowledged events. An event sent but not
// acknowledged when the gateway was killed ("in doubt") may or may not have been committed: the
// test does not resend it, and accepts the output of either case. Rows may be duplicated (at least
// once), never missing or different; detector scores must be equal bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { compileRuleSet } from '../../rules/ruleset.js';
import { createRuleEngine } from '../../rules/engine.js';
import type { Message } from '../../core/message.js';
import { mulberry32 } from '../helpers/prng.js';

interface StreamRecords {
  records: Array<{ seq: number; payload?: string }>;
}

async function rowsOf(gw: GatewayProcess, stream: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for (let from = 1; ; ) {
    const res = await fetch(`${gw.adminUrl}/api/streams/${stream}/records?from=${from}&limit=1000`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as StreamRecords;
    if (body.records.length === 0) return out;
    for (const r of body.records) out.push(JSON.parse(r.payload ?? 'null') as Record<string, unknown>);
    from = body.records[body.records.length - 1]!.seq + 1;
  }
}

function configYaml(dir: string, rules: Array<{ name: string; sql: string }>, checkpointIntervalMs: number): string {
  const ruleYaml = rules.map((r) => `    - name: ${r.name}\n      sql: ${JSON.stringify(r.sql)}\n      actions: [{ stream: { name: out } }]`).join('\n');
  return [
    `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
    'log: { level: info }',
    'exporters: []',
    'streams:',
    '  out: { maxBytes: 67108864 }',
    `ruleState: { checkpointIntervalMs: ${checkpointIntervalMs} }`,
    'rules:',
    '  version: 1',
    '  rules:',
    ruleYaml,
    '',
  ].join('\n');
}

async function connect(gw: GatewayProcess): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(gw.mqttUrl, { clientId: `pub-${process.pid}-${Date.now()}-${Math.random()}`, reconnectPeriod: 0 });
}

test('issue #18: event-time tumbling window keeps the first 50 acknowledged events across kill -9 (n=100, s=5050)', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t);
  const sql = "SELECT count(*) AS n, sum(v) AS s FROM 'w/+' TIMESTAMP BY ts GROUP BY TUMBLINGWINDOW(ss, 10)";
  const config = await writeConfig(dir, configYaml(dir, [{ name: 'issue', sql }], 10_000));
  let gw: GatewayProcess | undefined = await startGatewayProcess(config);
  t.after(() => gw?.kill9());
  const t0 = 1_700_000_000_000; // a window boundary
  let client = await connect(gw);
  for (let v = 1; v <= 50; v++) await client.publishAsync('w/a', JSON.stringify({ v, ts: t0 + v * 10 }), { qos: 1 });
  await gw.kill9(); // every PUBACK arrived; the 10 s checkpoint has not run
  client.end(true);

  gw = await startGatewayProcess(config);
  client = await connect(gw);
  for (let v = 51; v <= 100; v++) await client.publishAsync('w/b', JSON.stringify({ v, ts: t0 + v * 10 }), { qos: 1 });
  await client.publishAsync('w/a', JSON.stringify({ v: 0, ts: t0 + 10_000 }), { qos: 1 }); // the watermark passes the window end
  await client.endAsync();
  // The closing event's PUBACK waited for the row's commit.
  assert.deepEqual(await rowsOf(gw, 'out'), [{ n: 100, s: 5050 }]);
  const streams = (await (await fetch(`${gw.adminUrl}/api/streams`)).json()) as { streams: Array<{ name: string; internal: boolean }> };
  assert.equal(streams.streams.find((s) => s.name === '$rule-inputs')?.internal, true, 'the input log is listed as internal');
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  assert.match(metrics, /gatehouse_rule_input_log_total\{result="appended"\} 51/);
  assert.equal(await gw.stop(), 0);
  gw = undefined;
});

// ---- random kill points over every window kind and a detector ------------------------------------

const RULES = [
  {
    name: 'tumbling',
    sql: "SELECT 'tumbling' AS r, topic(2) AS d, window_start() AS ws, count(*) AS n, sum(v) AS s FROM 'k/+' TIMESTAMP BY ts GROUP BY topic(2), TUMBLINGWINDOW(ss, 10)",
  },
  {
    name: 'hopping',
    sql: "SELECT 'hopping' AS r, topic(2) AS d, window_start() AS ws, count(*) AS n, sum(v) AS s FROM 'k/+' TIMESTAMP BY ts GROUP BY topic(2), HOPPINGWINDOW(ss, 10, 5)",
  },
  {
    name: 'sliding',
    sql: "SELECT 'sliding' AS r, topic(2) AS d, max(i) AS last, count(*) AS n, sum(v) AS s FROM 'k/+' TIMESTAMP BY ts GROUP BY topic(2), SLIDINGWINDOW(ss, 5)",
  },
  {
    name: 'session',
    sql: "SELECT 'session' AS r, topic(2) AS d, window_start() AS ws, window_end() AS we, count(*) AS n, sum(v) AS s FROM 'k/+' TIMESTAMP BY ts GROUP BY topic(2), SESSIONWINDOW(ss, 30, 4)",
  },
  { name: 'count', sql: "SELECT 'count' AS r, topic(2) AS d, max(i) AS last, count(*) AS n, sum(v) AS s FROM 'k/+' GROUP BY topic(2), COUNTWINDOW(5)" },
  {
    name: 'rcf',
    sql: "SELECT 'rcf' AS r, i, random_cut_forest(v, {numberOfTrees: 20, subSampleSize: 32, seed: 7}) OVER (PARTITION BY topic(2)) AS score FROM 'k/+'",
  },
];

interface Ev {
  i: number;
  topic: string;
  ts: number;
  v: number;
}

function events(n: number): Ev[] {
  const out: Ev[] = [];
  let ts = 1_700_000_000_000;
  for (let i = 0; i < n; i++) {
    ts += i % 37 === 36 ? 6_000 : 450 + ((i * 7919) % 300); // a gap now and then closes sessions
    out.push({ i, topic: i % 3 === 0 ? 'k/b' : 'k/a', ts, v: Math.round(50 + 20 * Math.sin(i / 5) + (i % 41 === 40 ? 400 : 0)) });
  }
  return out;
}

function message(e: Ev): Message {
  return { topic: e.topic, payload: Buffer.from(JSON.stringify({ i: e.i, ts: e.ts, v: e.v })), qos: 1, source: { kind: 'mqtt', id: 'ref' }, receivedAt: e.ts };
}

/** The rows of an uninterrupted run of RULES over evs (the engine alone, no store). */
function reference(evs: Ev[]): string[] {
  const rows: string[] = [];
  const registry = createActionRegistry({
    probe: () => ({ kind: 'probe', resource: 'mem', durable: false, execute: (b: Buffer) => void rows.push(b.toString('utf8')) }),
  });
  const engine = createRuleEngine(compileRuleSet({ version: 1, rules: RULES.map((r) => ({ ...r, actions: [{ probe: {} }] })) }, registry), testDeps());
  for (const e of evs) void engine.handle(message(e));
  engine.close();
  return rows;
}

function canon(row: Record<string, unknown>): string {
  return JSON.stringify(row);
}

type Phase = 'before-send' | 'in-flight' | 'after-ack';

test('every window kind and an RCF detector: kill -9 at random points gives the output of an uninterrupted run', { timeout: 180_000 }, async (t) => {
  const seed = Number(process.env.GATEHOUSE_TEST_SEED ?? Date.now() % 1_000_000);
  t.diagnostic(`seed ${seed} (GATEHOUSE_TEST_SEED=${seed} replays this run)`);
  const rand = mulberry32(seed);
  const evs = events(260);
  // Kill points: one right at a window close (the first event of a new 10 s window), the others
  // anywhere; checkpoints run every 50 ms, so kills also land during checkpoints.
  const closing = evs.filter((e, k) => k > 0 && Math.floor(e.ts / 10_000) !== Math.floor(evs[k - 1]!.ts / 10_000)).map((e) => e.i);
  const phases: Phase[] = ['before-send', 'in-flight', 'after-ack'];
  const kills = new Map<number, Phase>();
  kills.set(closing[1 + Math.floor(rand() * (closing.length - 2))]!, phases[Math.floor(rand() * 3)]!);
  while (kills.size < 4) {
    const at = 10 + Math.floor(rand() * (evs.length - 20));
    if (!kills.has(at)) kills.set(at, phases[Math.floor(rand() * 3)]!);
  }
  t.diagnostic(`kills: ${JSON.stringify([...kills].sort((a, b) => a[0] - b[0]))}`);

  const dir = await tempDir(t);
  const config = await writeConfig(dir, configYaml(dir, RULES, 50));
  let gw: GatewayProcess | undefined = await startGatewayProcess(config);
  t.after(() => gw?.kill9());
  let client = await connect(gw);
  const acked: Ev[] = [];
  const inDoubt: Ev[] = [];
  for (let k = 0; k < evs.length; k++) {
    const e = evs[k]!;
    const phase = kills.get(e.i);
    const send = (): Promise<unknown> => client.publishAsync(e.topic, JSON.stringify({ i: e.i, ts: e.ts, v: e.v }), { qos: 1 });
    if (phase === undefined) {
      await send();
      acked.push(e);
      continue;
    }
    if (phase === 'after-ack') {
      await send();
      acked.push(e);
    } else if (phase === 'in-flight') {
      send().catch(() => undefined);
      inDoubt.push(e);
    }
    await gw.kill9();
    client.end(true);
    gw = await startGatewayProcess(config);
    client = await connect(gw);
    if (phase === 'before-send') {
      await send();
      acked.push(e);
    }
  }
  // A late event moves the watermark past every open window.
  const last: Ev = { i: evs.length, topic: 'k/a', ts: evs[evs.length - 1]!.ts + 120_000, v: 0 };
  await client.publishAsync(last.topic, JSON.stringify({ i: last.i, ts: last.ts, v: last.v }), { qos: 1 });
  acked.push(last);
  await client.endAsync();

  const got = (await rowsOf(gw, 'out')).map(canon);
  const distinct = new Set(got);
  const duplicates = got.length - distinct.size;
  t.diagnostic(`${got.length} rows, ${duplicates} duplicates (allowed)`);
  // Any subset of the in-doubt events may have been committed.
  const candidates: string[] = [];
  let matched = false;
  for (let mask = 0; mask < 1 << inDoubt.length && !matched; mask++) {
    const evsIn = acked.concat(inDoubt.filter((_, b) => mask & (1 << b))).sort((a, b) => a.i - b.i);
    const want = reference(evsIn);
    const wantSet = new Set(want);
    if (want.length === wantSet.size && wantSet.size === distinct.size && [...wantSet].every((r) => distinct.has(r))) matched = true;
    else
      candidates.push(
        `in-doubt mask ${mask}: missing ${JSON.stringify([...wantSet].filter((r) => !distinct.has(r)).slice(0, 5))}, unexpected ${JSON.stringify([...distinct].filter((r) => !wantSet.has(r)).slice(0, 5))}`,
      );
  }
  assert.ok(matched, `output differs from an uninterrupted run (seed ${seed}):\n${candidates.join('\n')}`);
  for (const r of RULES)
    assert.ok(
      got.some((row) => row.includes(`"r":"${r.name}"`)),
      `rule ${r.name} produced rows`,
    );
  assert.equal(await gw.stop(), 0);
  gw = undefined;
});

test('processing time: a window due while the gateway was down closes right after the restart, with every acknowledged event', {
  timeout: 90_000,
}, async (t) => {
  const dir = await tempDir(t);
  const sql = "SELECT count(*) AS n, sum(v) AS s FROM 'p/+' GROUP BY TUMBLINGWINDOW(ss, 2)";
  const config = await writeConfig(dir, configYaml(dir, [{ name: 'ptime', sql }], 10_000));
  let gw: GatewayProcess | undefined = await startGatewayProcess(config);
  t.after(() => gw?.kill9());
  const client = await connect(gw);
  // Publish right after a window boundary (a condition on the clock), so the 5 events fall in one
  // window that closes while the gateway is down. Publishes straddling a boundary would let the
  // timer close the first window while the gateway runs: its row is committed before the kill and
  // the replay suppresses it, which is not the case under test (and made this test fail now and
  // then: 2 rows, 1 re-emitted).
  const boundary = Math.ceil(Date.now() / 2000) * 2000;
  await waitUntil(() => Date.now() >= boundary, 'a new 2 s window began', 5000, 5);
  const firstSend = Date.now();
  for (let v = 1; v <= 5; v++) await client.publishAsync('p/a', JSON.stringify({ v }), { qos: 1 });
  const lastAck = Date.now();
  await gw.kill9();
  client.end(true);
  const windowEnd = (Math.floor(firstSend / 2000) + 1) * 2000;
  assert.ok(lastAck < windowEnd, `the 5 publishes fit in one 2 s window (they took ${lastAck - firstSend} ms from ${firstSend % 2000} ms into it)`);
  // Restart only once that window is due (a condition on the clock).
  await waitUntil(() => Date.now() >= windowEnd + 50, 'the window end passed while the gateway was down', 5000, 20);
  gw = await startGatewayProcess(config);
  const rows = await waitUntil(
    async () => {
      const r = await rowsOf(gw!, 'out');
      return r.reduce((n, row) => n + (row.n as number), 0) >= 5 ? r : undefined;
    },
    'the overdue window is emitted after the restart',
    10_000,
    50,
  );
  assert.deepEqual(rows, [{ n: 5, s: 15 }]);
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  // Emitted by the restart's catch-up, not before the kill.
  assert.match(metrics, /gatehouse_window_rows_after_crash_total\{result="reemitted"\} 1\n/);
  assert.match(metrics, /gatehouse_window_rows_after_crash_total\{result="suppressed"\} 0\n/);
  assert.equal(await gw.stop(), 0);
  gw = undefined;
});

test('a window that closed while the gateway was down is emitted at start to every action, republish included', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const yaml = [
    `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
    'exporters: []',
    'streams:',
    '  out: { localOnly: true }',
    'rules:',
    '  version: 1',
    '  rules:',
    '    - name: tw',
    `      sql: "SELECT count(*) AS n FROM 'tw/in' GROUP BY TUMBLINGWINDOW(ss, 2)"`,
    // Retained: the row is published while the gateway starts, before any client can subscribe.
    "      actions: [{ stream: { name: out } }, { republish: { topic: 'tw/out', retain: true } }]",
    '',
  ].join('\n');
  const config = await writeConfig(dir, yaml);
  let gw: GatewayProcess | undefined = await startGatewayProcess(config);
  t.after(() => gw?.kill9());
  const client = await connect(gw);
  for (let i = 0; i < 3; i++) await client.publishAsync('tw/in', '{}', { qos: 1 });
  const windowEnd = Math.ceil(Date.now() / 2000) * 2000;
  await client.endAsync();
  assert.equal(await gw.stop(), 0); // graceful: the open window is checkpointed
  gw = undefined;
  // Down until the window's end has passed: the restart closes it at once.
  await waitUntil(() => Date.now() > windowEnd + 50, 'the window end to pass', 5000, 20);
  gw = await startGatewayProcess(config);
  // The catch-up emits the row during start; its append commits on its own (the gateway may
  // report ready first, one commit window earlier): wait for the row, then check it is the only one.
  const started = gw;
  const rows = await waitUntil(
    async () => {
      const r = await rowsOf(started, 'out');
      return r.length > 0 ? r : undefined;
    },
    'the overdue window is emitted at start',
    10_000,
    20,
  );
  assert.deepEqual(rows, [{ n: 3 }]);
  const failed = gw.logs.filter((l) => l.msg === 'rule action failed');
  assert.deepEqual(failed, [], 'no action failed');
  const sub = await connect(gw);
  t.after(() => sub.endAsync());
  const got = new Promise<string>((resolve) => sub.on('message', (_topic, payload) => resolve(payload.toString())));
  await sub.subscribeAsync('tw/out', { qos: 1 });
  assert.deepEqual(JSON.parse(await got), { n: 3 });
});
