// Window and detector state across crashes, through the real compiler and engine in durable mode
// (input log + checkpoints written in FIFO order with the appends). The store is simulated here:
// a "disk" that only holds what a flush committed, and a crash that drops everything pending,
// which is what the group commit guarantees (the real store under kill -9 is covered by
// test/e2e/window-state-kill9.test.ts). Time is a ManualTimers clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue, testDeps } from '../helpers/index.js';
import { compileRuleSet } from '../../rules/ruleset.js';
import { createRuleEngine, type RuleEngine } from '../../rules/engine.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { ManualTimers } from '../../rules/windows/clock.js';
import { decodeInput, encodeInput, type InputLog, type InputLogRecord } from '../../rules/windows/input-log.js';
import type { Message } from '../../core/message.js';
import type { RuntimeDeps } from '../../core/deps.js';

/** What survives a crash. */
class Disk {
  log: InputLogRecord[] = [];
  lastSeq = 0;
  released = 0;
  meta = new Map<string, Buffer>();
  out: Array<Record<string, unknown>> = [];
}

/** One run of the process over the disk: writes are pending until flush(); a crash drops them. */
class Run implements InputLog {
  private pending: Array<() => void> = [];
  /** At each read of the log or its meta (real I/O yields to the event loop, whose due timers run). */
  io: () => void = () => undefined;
  /** The log's byte bound (ruleState.inputLogMaxBytes). */
  maxBytes: number | undefined;
  constructor(private readonly disk: Disk) {}

  private later<T>(apply: () => T): Promise<T> {
    return new Promise<T>((resolve) => this.pending.push(() => resolve(apply())));
  }

  append(topic: string, payload: Buffer, receivedAt: number): Promise<number> {
    return this.later(() => {
      const seq = ++this.disk.lastSeq;
      this.disk.log.push({ seq, topic, payload: Buffer.from(payload), receivedAt });
      return seq;
    });
  }

  write(row: Record<string, unknown>): Promise<void> {
    return this.later(() => void this.disk.out.push(row));
  }

  commitMeta(key: string, value: Buffer): Promise<void> {
    const copy = Buffer.from(value);
    return this.later(() => void this.disk.meta.set(key, copy));
  }

  async read(fromSeq: number, limit: number): Promise<InputLogRecord[]> {
    this.io();
    return this.disk.log.filter((r) => r.seq >= fromSeq).slice(0, limit);
  }

  async released(): Promise<number> {
    this.io();
    return this.disk.released;
  }

  async release(seq: number): Promise<void> {
    this.disk.released = Math.max(this.disk.released, seq);
    this.disk.log = this.disk.log.filter((r) => r.seq > this.disk.released);
  }

  async getMeta(key: string): Promise<Buffer | undefined> {
    this.io();
    return this.disk.meta.get(key);
  }

  /** One group commit of everything pending, in submission order. */
  async flush(): Promise<void> {
    for (let i = 0; i < 5 && this.pending.length; i++) {
      for (const op of this.pending.splice(0)) op();
      await new Promise((r) => setImmediate(r));
    }
  }

  /** kill -9: nothing pending reaches the disk. */
  crash(): void {
    this.pending = [];
  }
}

interface Proc {
  engine: RuleEngine;
  run: Run;
  timers: ManualTimers;
  deps: RuntimeDeps;
  /** Every row the actions saw (committed or not). */
  seen: Array<Record<string, unknown>>;
  /** Install another rule set (a rule set update while running). */
  install(sqls: string[]): Promise<void>;
  send(topic: string, payload: unknown): Promise<void> | undefined;
}

async function boot(disk: Disk, sqls: string[], at: number, o: { ioFiresTimers?: boolean } = {}): Promise<Proc> {
  const run = new Run(disk);
  const timers = new ManualTimers(at);
  if (o.ioFiresTimers) run.io = () => timers.advance(0);
  const seen: Array<Record<string, unknown>> = [];
  const registry = createActionRegistry({
    out: () => ({
      kind: 'out',
      resource: 'disk',
      durable: true,
      execute: (b: Buffer) => {
        const row = JSON.parse(b.toString()) as Record<string, unknown>;
        seen.push(row);
        return run.write(row);
      },
    }),
  });
  const def = (list: string[]) => ({ version: 1, rules: list.map((sql, i) => ({ name: `r${i}`, sql, actions: [{ out: {} }] })) });
  const deps = testDeps();
  const engine = createRuleEngine(compileRuleSet(def(sqls), registry), deps, {
    timers,
    checkpointIntervalMs: 0,
    stateStore: { get: (k) => run.getMeta(k), put: (k, v) => run.commitMeta(k, v) },
    inputLog: run,
  });
  await engine.start();
  const send = (topic: string, payload: unknown): Promise<void> | undefined => {
    const m: Message = { topic, payload: Buffer.from(JSON.stringify(payload)), qos: 1, source: { kind: 'mqtt', id: 'c' }, receivedAt: timers.now() };
    return engine.handle(m);
  };
  return { engine, run, timers, deps, seen, send, install: (list) => engine.install(compileRuleSet(def(list), registry)) };
}

/** Checkpoint now and commit it. */
async function checkpoint(p: Proc): Promise<void> {
  const done = p.engine.checkpoint();
  await p.run.flush();
  await done;
  await p.run.flush();
}

function kill(p: Proc): void {
  p.run.crash();
  p.engine.close();
}

test('event time: acknowledged events since the last checkpoint are replayed exactly once (checkpoint in the middle, log reclaimed)', async () => {
  const disk = new Disk();
  const sql = "SELECT count(*) AS n, sum(v) AS s FROM 'w/+' TIMESTAMP BY ts GROUP BY TUMBLINGWINDOW(ss, 10)";
  let p = await boot(disk, [sql], 0);
  for (let v = 1; v <= 30; v++) p.send('w/a', { v, ts: v * 10 });
  await p.run.flush();
  await checkpoint(p); // covers 1..30
  assert.equal(disk.log.length, 0, 'the log is reclaimed behind the checkpoint');
  for (let v = 31; v <= 50; v++) p.send('w/a', { v, ts: v * 10 });
  await p.run.flush(); // acknowledged, not checkpointed
  p.send('w/a', { v: 1000, ts: 600 }); // not committed: never acknowledged
  kill(p);

  p = await boot(disk, [sql], 0);
  assert.equal(await metricValue(p.deps.registry, 'gatehouse_rule_input_log_total', { result: 'replayed' }), 20);
  for (let v = 51; v <= 100; v++) p.send('w/b', { v, ts: v * 10 });
  p.send('w/a', { v: 0, ts: 10_000 });
  await p.run.flush();
  assert.deepEqual(disk.out, [{ n: 100, s: 5050 }]);
  p.engine.close();
});

test('a long checkpoint interval does not fill the input log: a quarter of its bound appended asks for a checkpoint, which reclaims it; a crash after it loses nothing', async () => {
  const disk = new Disk();
  const sql = "SELECT count(*) AS n, sum(v) AS s FROM 'w/+' TIMESTAMP BY ts GROUP BY TUMBLINGWINDOW(ss, 10)";
  let p = await boot(disk, [sql], 0); // no periodic checkpoint (checkpointIntervalMs 0)
  p.run.maxBytes = 4000; // ~100 bytes per input: a checkpoint every ~10 inputs
  for (let v = 1; v <= 50; v++) {
    p.send('w/a', { v, ts: v * 10 });
    await p.run.flush();
  }
  await p.run.flush();
  assert.ok(disk.released > 30, `the log was reclaimed without a periodic checkpoint (released ${disk.released})`);
  assert.ok(disk.log.length < 20, `${disk.log.length} inputs still logged`);
  kill(p);
  p = await boot(disk, [sql], 0);
  p.send('w/a', { v: 0, ts: 10_000 });
  await p.run.flush();
  assert.deepEqual(disk.out, [{ n: 50, s: 1275 }]);
  p.engine.close();
});

test('processing time: a window that should have closed while the gateway was down closes right after the replay', async () => {
  const disk = new Disk();
  const sqls = [
    "SELECT count(*) AS n, sum(v) AS s FROM 'p/+' GROUP BY TUMBLINGWINDOW(ss, 10)",
    "SELECT count(*) AS n, window_start() AS ws FROM 'p/+' GROUP BY SESSIONWINDOW(ss, 60, 5)",
  ];
  let p = await boot(disk, sqls, 1_000);
  for (let v = 1; v <= 5; v++) {
    p.timers.advance(1_000);
    p.send('p/a', { v });
  }
  await p.run.flush();
  kill(p); // at t = 6000: both windows open, nothing checkpointed

  p = await boot(disk, sqls, 60_000); // restarted long after both were due
  await p.run.flush();
  assert.deepEqual(disk.out, [
    { n: 5, s: 15 },
    { n: 5, ws: 2_000 },
  ]);
  assert.equal(await metricValue(p.deps.registry, 'gatehouse_window_rows_after_crash_total', { result: 'reemitted' }), 2);
  p.engine.close();
});

test('processing time: a window restored overdue is not closed by its timer before the replay fed it the inputs logged after its checkpoint (the timer fires during the reads of the restore and the replay)', async () => {
  const disk = new Disk();
  const sqls = ["SELECT count(*) AS n, sum(v) AS s FROM 'p/+' GROUP BY TUMBLINGWINDOW(ss, 10)"];
  let p = await boot(disk, sqls, 1_000);
  for (let v = 1; v <= 5; v++) {
    p.timers.advance(1_000);
    p.send('p/a', { v });
    await p.run.flush();
    if (v === 3) await checkpoint(p); // covers 1..3
  }
  kill(p); // at t = 6000: the window holds 1..5, its checkpoint 1..3

  p = await boot(disk, sqls, 60_000, { ioFiresTimers: true }); // restarted long after it was due
  await p.run.flush();
  // Before, the restored window's timer (due at once) closed it with 1..3 while the replay read
  // the log, and the replay of 4 and 5 opened it again: two rows for one window.
  assert.deepEqual(disk.out, [{ n: 5, s: 15 }]);
  p.engine.close();
});

test('rows emitted before a crash: committed ones are not emitted again (marker), uncommitted ones are', async () => {
  const disk = new Disk();
  const sql = "SELECT count(*) AS n, window_start() AS ws FROM 'p/+' GROUP BY TUMBLINGWINDOW(ss, 10)";
  let p = await boot(disk, [sql], 0);
  p.send('p/a', {});
  p.timers.advanceTo(5_000);
  p.send('p/a', {});
  await p.run.flush();
  p.timers.advanceTo(10_000); // closes [0, 10 s): row and marker are committed together
  await p.run.flush();
  p.timers.advanceTo(12_000);
  p.send('p/a', {});
  await p.run.flush();
  p.timers.advanceTo(20_000); // closes [10 s, 20 s): the row is not committed before the crash
  assert.equal(p.seen.length, 2);
  kill(p);
  assert.deepEqual(disk.out, [{ n: 2, ws: 0 }]);

  p = await boot(disk, [sql], 30_000);
  await p.run.flush();
  assert.deepEqual(
    disk.out,
    [
      { n: 2, ws: 0 },
      { n: 1, ws: 10_000 },
    ],
    'the committed row is not repeated; the lost one is emitted again',
  );
  assert.equal(await metricValue(p.deps.registry, 'gatehouse_window_rows_after_crash_total', { result: 'suppressed' }), 1);
  assert.equal(await metricValue(p.deps.registry, 'gatehouse_window_rows_after_crash_total', { result: 'reemitted' }), 1);
  p.engine.close();
});

test('sliding and count windows: rows of replayed events are not duplicated when their marker was committed', async () => {
  const disk = new Disk();
  const sqls = [
    "SELECT count(*) AS n, max(i) AS last FROM 's/+' TIMESTAMP BY ts GROUP BY SLIDINGWINDOW(ss, 5)",
    "SELECT 'c' AS k, count(*) AS n, max(i) AS last FROM 's/+' GROUP BY COUNTWINDOW(3)",
  ];
  let p = await boot(disk, sqls, 0);
  for (let i = 1; i <= 4; i++) p.send('s/a', { i, ts: i * 1000 });
  await p.run.flush();
  await checkpoint(p);
  for (let i = 5; i <= 9; i++) p.send('s/a', { i, ts: i * 1000 });
  await p.run.flush(); // rows of 5..9 and their markers committed
  kill(p);
  const before = disk.out.length;
  p = await boot(disk, sqls, 0);
  await p.run.flush();
  assert.equal(disk.out.length, before, 'no row emitted again');
  p.send('s/a', { i: 10, ts: 10_000 });
  await p.run.flush();
  assert.deepEqual(disk.out.slice(-1), [{ n: 5, last: 10 }], 'the sliding window holds 6..10 (the replayed events included once)');
  const counts = disk.out.filter((r) => r.k === 'c');
  assert.deepEqual(counts, [
    { k: 'c', n: 3, last: 3 },
    { k: 'c', n: 3, last: 6 },
    { k: 'c', n: 3, last: 9 },
  ]);
  p.engine.close();
});

for (const [name, sql] of [
  ['RCF detector', "SELECT VALUE random_cut_forest(v, {numberOfTrees: 20, subSampleSize: 32, seed: 7}) OVER (PARTITION BY topic(2)) FROM 'd/+'"],
  ['default detector (anomaly_score)', "SELECT VALUE anomaly_score(v) OVER (PARTITION BY topic(2)) FROM 'd/+'"],
] as const)
  test(`${name}: scores after a crash and replay equal those of an uninterrupted run, bit for bit`, async () => {
    const value = (i: number): number => 50 + 10 * Math.sin(i / 3) + (i === 150 ? 80 : 0);
    const ref = await boot(new Disk(), [sql], 0);
    const want: number[] = [];
    ref.seen.length = 0;
    for (let i = 0; i < 200; i++) ref.send('d/a', { v: value(i) });
    want.push(...ref.seen.map((r) => r as unknown as number));
    ref.engine.close();

    const disk = new Disk();
    let p = await boot(disk, [sql], 0);
    const got: number[] = [];
    for (let i = 0; i < 200; i++) {
      p.send('d/a', { v: value(i) });
      if (i === 60) await checkpoint(p);
      if (i === 90 || i === 140) {
        await p.run.flush(); // acknowledged
        got.push(...(p.seen.splice(0) as unknown as number[]));
        kill(p);
        p = await boot(disk, [sql], 0);
      }
    }
    got.push(...(p.seen.splice(0) as unknown as number[]));
    assert.equal(got.length, 200);
    for (let i = 0; i < 200; i++) assert.ok(Object.is(got[i], want[i]), `score ${i}: ${got[i]} != ${want[i]}`);
    assert.ok(
      want.slice(60).some((s) => s > 0),
      'the detector is warm (non-zero scores compared)',
    );
    p.engine.close();
  });

test('a crash during the replay itself: the next start replays again, nothing counted twice', async () => {
  const disk = new Disk();
  const sql = "SELECT count(*) AS n, sum(v) AS s FROM 'w/+' TIMESTAMP BY ts GROUP BY TUMBLINGWINDOW(ss, 10)";
  let p = await boot(disk, [sql], 0);
  for (let v = 1; v <= 10; v++) p.send('w/a', { v, ts: v });
  await p.run.flush();
  kill(p);
  p = await boot(disk, [sql], 0); // replays 1..10, writes nothing yet
  kill(p);
  p = await boot(disk, [sql], 0);
  p.send('w/a', { v: 0, ts: 10_000 });
  await p.run.flush();
  assert.deepEqual(disk.out, [{ n: 10, s: 55 }]);
  p.engine.close();
});

test('a stateful rule added while running: after a crash it gets exactly the inputs it saw since it was added', async () => {
  const disk = new Disk();
  const a = "SELECT 'a' AS k, count(*) AS n FROM 'w/+' TIMESTAMP BY ts GROUP BY TUMBLINGWINDOW(ss, 10)";
  const b = "SELECT 'b' AS k, count(*) AS n FROM 'w/+' TIMESTAMP BY ts GROUP BY TUMBLINGWINDOW(ss, 10)";
  let p = await boot(disk, [a], 0);
  for (let i = 1; i <= 5; i++) p.send('w/a', { ts: i });
  await p.run.flush();
  await p.install([a, b]);
  for (let i = 6; i <= 12; i++) p.send('w/a', { ts: i });
  await p.run.flush();
  kill(p);
  p = await boot(disk, [a, b], 0);
  p.send('w/a', { ts: 10_000 });
  await p.run.flush();
  assert.deepEqual(disk.out, [
    { k: 'a', n: 12 },
    { k: 'b', n: 7 },
  ]);
  p.engine.close();
});

test('input log records: every message field the rules read survives the round trip; an unreadable record is skipped and counted', async () => {
  const m: Message = {
    topic: 'a/b',
    payload: Buffer.from([0, 1, 2, 255]),
    qos: 2,
    retain: true,
    source: { kind: 'serial', id: 'tank', ip: '10.0.0.7', principal: 'truck7' },
    receivedAt: 1_700_000_000_123,
    properties: { contentType: 'x', correlationData: Buffer.from('cd'), userProperties: { k: ['1', '2'] } },
    hops: 3,
    traceId: 't-1',
  };
  const rec = { seq: 9, topic: m.topic, payload: encodeInput({ no: 42, at: 77, message: m }), receivedAt: m.receivedAt };
  assert.deepEqual(decodeInput(rec), { no: 42, at: 77, message: m });
  // an http source's message keeps its kind (clientid() is 'n/a' for it, as before the crash)
  const http: Message = {
    topic: 'shelly/1',
    payload: Buffer.from('{}'),
    qos: 1,
    source: { kind: 'http', id: 'devices', ip: '::1', principal: 'shelly-fleet' },
    receivedAt: 5,
    properties: { contentType: 'application/json', userProperties: { event: 'up' } },
  };
  assert.deepEqual(decodeInput({ seq: 2, topic: http.topic, payload: encodeInput({ no: 2, at: 5, message: http }), receivedAt: 5 }).message, http);
  // every source kind keeps its kind: a Modbus or OPC UA poll's message read back as mqtt had
  // clientid() = the source's name after a crash replay (it is 'n/a' for them)
  const kinds: Message['source']['kind'][] = ['mqtt', 'serial', 'file', 'modbus', 'opcua', 'http', 'internal'];
  for (const kind of kinds) {
    const m: Message = { topic: 'plant/x', payload: Buffer.from('{}'), qos: 1, source: { kind, id: 'src' }, receivedAt: 7 };
    assert.equal(decodeInput({ seq: 3, topic: m.topic, payload: encodeInput({ no: 3, at: 7, message: m }), receivedAt: 7 }).message.source.kind, kind);
  }
  const bare: Message = { topic: 't', payload: Buffer.alloc(0), qos: 0, source: { kind: 'mqtt', id: '' }, receivedAt: 1 };
  assert.deepEqual(decodeInput({ seq: 1, topic: 't', payload: encodeInput({ no: 1, at: 1, message: bare }), receivedAt: 1 }).message, bare);
  assert.throws(
    () => decodeInput({ seq: 3, topic: 't', payload: Buffer.from('garbage'), receivedAt: 1 }),
    /^GatehouseError: corrupt data in input log record 3 of the stateful rules: /,
  );

  const disk = new Disk();
  const sql = "SELECT count(*) AS n FROM 'w/+' TIMESTAMP BY ts GROUP BY TUMBLINGWINDOW(ss, 10)";
  let p = await boot(disk, [sql], 0);
  p.send('w/a', { ts: 1 });
  await p.run.flush();
  disk.log.push({ seq: ++disk.lastSeq, topic: 'w/a', payload: Buffer.from('not a record'), receivedAt: 0 });
  kill(p);
  p = await boot(disk, [sql], 0);
  assert.equal(await metricValue(p.deps.registry, 'gatehouse_rule_input_log_total', { result: 'corrupt' }), 1);
  p.send('w/a', { ts: 10_000 });
  await p.run.flush();
  assert.deepEqual(disk.out, [{ n: 1 }]);
  p.engine.close();
});
