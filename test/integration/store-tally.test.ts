// Per-stream tallies (gateway/store/tally.ts): opening takes a stream's counters from its tally
// instead of walking every segment key (which reads the whole backlog from disk). The tally must
// give exactly what the walk gives, after any mix of writes and after a kill -9, and must not be
// trusted when a write it did not see (an older gateway) moved the first or last segment.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { Level } from 'level';
import pino from 'pino';
import { Registry } from 'prom-client';
import { openLocalStreams, type LocalStreams, type StreamInfo } from '../../gateway/store/index.js';
import { compiled, repoRoot, tempDir } from '../helpers/index.js';

interface Opened {
  store: LocalStreams;
  /** The 'store opened' line's counts: streams taken from their tally, streams walked. */
  tallied: number;
  walked: number;
}

async function openStore(path: string, extra: Record<string, unknown> = {}): Promise<Opened> {
  const lines: Array<{ msg: string; tallied?: number; walked?: number }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as (typeof lines)[number]);
      cb();
    },
  });
  const store = await openLocalStreams({ path, ...extra }, { logger: pino({ level: 'info' }, sink), registry: new Registry() });
  const opened = lines.find((l) => l.msg === 'store opened');
  assert.ok(opened, `no 'store opened' line in ${JSON.stringify(lines)}`);
  return { store, tallied: opened.tallied ?? -1, walked: opened.walked ?? -1 };
}

/** The raw database: what another program (an older gateway) could have done to it. */
async function raw(path: string, fn: (db: Level<Buffer, Buffer>) => Promise<void>): Promise<void> {
  const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

/** A tally's key: the stream's high-water mark key ('H' stream) and 0x00 (gateway/store/tally.ts). */
const tallyKey = (stream: string): Buffer => Buffer.concat([Buffer.from([0x48]), Buffer.from(stream), Buffer.from([0])]);

async function tallies(db: Level<Buffer, Buffer>): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const [k, v] of db.iterator({ gte: Buffer.from([0x48]), lt: Buffer.from([0x49]) })) {
    if (k[k.length - 1] === 0) out.set(k.toString('utf8', 1, k.length - 1), v);
  }
  return out;
}

async function dropTallies(path: string): Promise<void> {
  await raw(path, async (db) => {
    const keys = [...(await tallies(db)).keys()].map(tallyKey);
    await db.batch(keys.map((key) => ({ type: 'del' as const, key })));
  });
}

/** What opening rebuilds (the consumers' checkpoints and counters included). */
function stateOf(info: StreamInfo): unknown {
  const { firstSeq, lastSeq, records, bytes, oldestAt, consumers } = info;
  return { firstSeq, lastSeq, records, bytes, oldestAt, consumers };
}

const STREAMS = [
  { name: 'kept', maxBytes: 64 << 20, onFull: 'reject' as const },
  { name: 'ring', maxBytes: 6_000, onFull: 'drop-oldest' as const },
  { name: 'aged', maxBytes: 64 << 20, onFull: 'reject' as const, ttlMs: 60_000 },
];

async function define(store: LocalStreams): Promise<void> {
  for (const s of STREAMS) await store.defineStream(s);
}

/** The same state, read from tallies and from a walk of the keys. */
async function assertTallyMatchesWalk(t: TestContext, dir: string, names: readonly string[]): Promise<Record<string, unknown>> {
  const a = await openStore(dir);
  await define(a.store);
  const fromTally = Object.fromEntries(names.map((n) => [n, stateOf(a.store.info(n))]));
  await a.store.close();
  assert.equal(a.walked, 0, 'every stream was taken from its tally');
  assert.equal(a.tallied, names.length);
  await dropTallies(dir);
  const b = await openStore(dir);
  t.after(() => b.store.close());
  await define(b.store);
  const fromWalk = Object.fromEntries(names.map((n) => [n, stateOf(b.store.info(n))]));
  assert.equal(b.walked, names.length, 'without tallies every stream is walked');
  assert.deepEqual(fromTally, fromWalk);
  return fromWalk;
}

test('counters taken from the tallies equal a walk of the keys after appends, reclaim, partial heads, drop-oldest and ttl', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir, { durability: 'os' });
  await define(store);
  await store.addConsumer('kept', 'up');
  const old = Date.now() - 3_600_000;
  let n = 0;
  const rec = (at = Date.now()) => ({ topic: `dev/${n % 7}`, payload: Buffer.alloc(40 + (n++ % 90), 97), receivedAt: at });
  for (let round = 0; round < 40; round++) {
    // Batches of several appends: several records per segment, so checkpoints land inside them.
    await Promise.all(Array.from({ length: 1 + (round % 5) }, () => store.append('kept', rec())));
    await Promise.all(Array.from({ length: 1 + (round % 3) }, () => store.append('ring', rec())));
    await store.append('aged', rec(round < 20 ? old : Date.now()));
    if (round % 6 === 5) {
      const k = store.info('kept');
      // Inside a segment (a partial head) as often as at its end.
      await store.setCheckpoint('kept', 'up', k.firstSeq + Math.floor((k.lastSeq - k.firstSeq) / 2));
    }
  }
  await store.sweep();
  const before = Object.fromEntries(STREAMS.map((s) => [s.name, stateOf(store.info(s.name))]));
  await store.close();
  const ring = before.ring as { firstSeq: number; records: number };
  assert.ok(ring.firstSeq > 1, 'drop-oldest dropped records');
  const aged = before.aged as { records: number };
  assert.equal(aged.records, 20, 'ttl dropped the 20 old records');
  const after = await assertTallyMatchesWalk(
    t,
    dir,
    STREAMS.map((s) => s.name),
  );
  assert.deepEqual(after, before, 'a reopened store holds what the closed one held');
});

test('a tally that missed later appends is completed by walking them; one that missed deletes at the head is not trusted: the stream is walked', async (t) => {
  const dir = await tempDir(t);
  const rec = (i: number) => ({ topic: 't', payload: Buffer.from(`r${i}`.padEnd(50, '.')), receivedAt: Date.now() });
  {
    const { store } = await openStore(dir);
    await define(store);
    await store.addConsumer('kept', 'up');
    for (let i = 0; i < 10; i++) await store.append('kept', rec(i));
    await store.close();
  }
  let stale: Buffer | undefined;
  await raw(dir, async (db) => {
    stale = (await tallies(db)).get('kept');
  });
  assert.ok(stale, 'the commits wrote a tally');
  const restoreStale = () => raw(dir, (db) => db.put(tallyKey('kept'), stale as Buffer));

  // Appends the tally did not see (after a power cut, or an older gateway ran in between).
  {
    const { store } = await openStore(dir);
    await define(store);
    for (let i = 10; i < 15; i++) await store.append('kept', rec(i));
    await store.close();
  }
  await restoreStale();
  {
    // The head did not move: the tally is taken and the segments after its last one walked.
    const o = await openStore(dir);
    await define(o.store);
    assert.deepEqual([o.tallied, o.walked], [1, 0]);
    assert.equal(o.store.info('kept').records, 15);
    assert.equal(o.store.info('kept').lastSeq, 15);
    await o.store.close();
  }
  // Head deletes the tally did not see (the older gateway's exporter delivered): the first segment
  // moved. (An append first writes a tally that matches again: a walk writes none.)
  {
    const { store } = await openStore(dir);
    await define(store);
    await store.append('kept', rec(15));
    await store.close();
  }
  await raw(dir, async (db) => {
    stale = (await tallies(db)).get('kept');
  });
  {
    const { store } = await openStore(dir);
    await define(store);
    await store.setCheckpoint('kept', 'up', 12);
    assert.equal(store.info('kept').firstSeq, 13);
    await store.close();
  }
  await restoreStale();
  const o = await openStore(dir);
  t.after(() => o.store.close());
  await define(o.store);
  assert.equal(o.walked, 1);
  const info = o.store.info('kept');
  assert.equal(info.lastSeq, 16);
  assert.equal(info.firstSeq, 13);
  assert.equal(info.records, 4);
  const read = await o.store.read('kept', 13, { limit: 10 });
  assert.deepEqual(
    read.map((r) => r.payload.toString().replace(/\.+$/, '')),
    ['r12', 'r13', 'r14', 'r15'],
  );
});

/** Run the crash child (store-crash.child.ts) until `target` appends are acknowledged, then kill -9 it; the highest acknowledged seq. */
async function crashAfter(t: TestContext, dir: string, target: number, tallyEveryBytes?: number): Promise<number> {
  const script = compiled ? join(repoRoot, 'dist/test/integration/store-crash.child.js') : join(repoRoot, 'test/integration/store-crash.child.ts');
  const args = [...(compiled ? [script] : ['--import', 'tsx', script]), dir, ...(tallyEveryBytes ? [String(tallyEveryBytes)] : [])];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let maxAcked = 0;
  let acked = 0;
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child acknowledged only ${acked} appends in 30 s; stderr: ${stderr}`)), 30_000);
    lines.on('line', (line) => {
      const seq = Number(line.split(' ')[0]);
      if (!Number.isInteger(seq)) return;
      acked++;
      if (seq > maxAcked) maxAcked = seq;
      if (acked === target) {
        child.kill('SIGKILL');
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await exited;
  return maxAcked;
}

async function crashTally(dir: string): Promise<Buffer | undefined> {
  let tally: Buffer | undefined;
  await raw(dir, async (db) => {
    tally = (await tallies(db)).get('crash');
  });
  return tally;
}

test('commits carry no tally until tallyEveryBytes were appended (a tally in every commit made LevelDB rewrite an append-only backlog)', async (t) => {
  const dir = await tempDir(t);
  await crashAfter(t, dir, 500);
  assert.equal(await crashTally(dir), undefined, '500 records of 120 bytes, far under the default 64 MiB: no tally');
});

test('after kill -9 mid-stream, the counters from the tallies equal a walk of the keys', async (t) => {
  const dir = await tempDir(t);
  // A tally every 16 KiB appended (~130 records): the crash leaves a tally and appends after it.
  const maxAcked = await crashAfter(t, dir, 1500, 16 * 1024);
  assert.ok(await crashTally(dir), 'a commit past tallyEveryBytes carried the tally');
  const a = await openStore(dir);
  await a.store.defineStream({ name: 'crash', maxBytes: 64 * 1024 * 1024, onFull: 'reject' });
  const fromTally = stateOf(a.store.info('crash'));
  await a.store.close();
  assert.equal(a.tallied, 1);
  await dropTallies(dir);
  const b = await openStore(dir);
  t.after(() => b.store.close());
  await b.store.defineStream({ name: 'crash', maxBytes: 64 * 1024 * 1024, onFull: 'reject' });
  assert.equal(b.walked, 1);
  assert.deepEqual(fromTally, stateOf(b.store.info('crash')));
  assert.ok(b.store.info('crash').lastSeq >= maxAcked, 'every acknowledged append is held');
});
