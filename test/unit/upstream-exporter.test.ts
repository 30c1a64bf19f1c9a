// Exporter loop, with test doubles on both sides because this tests the loop's logic alone:
// - MemoryStreams (test/helpers/memory-streams.ts) stands in for the store (the real store is
//   exercised in test/integration/upstream-*.test.ts);
// - ScriptedDestination is a destination whose per-record verdicts each test scripts (no real
//   peer returns arbitrary per-record mixes on demand; the real destinations have their own tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { createExporter, type Exporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions, type ExporterOptionsInput } from '../../gateway/upstream/options.js';
import type { Destination, DestinationLimits, RecordResult } from '../../gateway/upstream/types.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import { MemoryStreams } from '../helpers/memory-streams.js';
import { metricValue, testDeps, waitForEvent, waitUntil } from '../helpers/index.js';
import { capturedLogger } from '../helpers/industrial.js';

type Verdict = (rec: StoredRecord, call: number) => RecordResult;

class ScriptedDestination extends EventEmitter implements Destination {
  readonly kind = 'scripted';
  readonly target = 'memory';
  readonly limits: DestinationLimits;
  /** Sequences of each send, in order. */
  readonly sends: number[][] = [];
  readonly delivered: number[] = [];
  verdict: Verdict = () => ({ ok: true });
  /** Throw (whole-batch retryable failure) for the next N sends. */
  throwNext = 0;
  /** When set, send() waits for this promise (or the abort signal). */
  gate: Promise<void> | undefined;
  started = 0;
  stopped = 0;

  constructor(limits: Partial<DestinationLimits> = {}) {
    super();
    this.limits = { maxRecords: 500, maxRecordBytes: 1024, maxBatchBytes: 1 << 20, ...limits };
  }

  async start(): Promise<void> {
    this.started++;
  }

  async stop(): Promise<void> {
    this.stopped++;
  }

  async send(records: readonly StoredRecord[], signal: AbortSignal): Promise<RecordResult[]> {
    const call = this.sends.length;
    this.sends.push(records.map((r) => r.seq));
    this.emit('send', records);
    if (this.gate) {
      await new Promise<void>((resolve, reject) => {
        signal.addEventListener('abort', () => reject(new Error('aborted by stop')), { once: true });
        this.gate!.then(resolve, reject);
      });
    }
    if (this.throwNext > 0) {
      this.throwNext--;
      throw new Error('network down (scripted)');
    }
    const out = records.map((r) => this.verdict(r, call));
    records.forEach((r, i) => {
      if (out[i]!.ok) this.delivered.push(r.seq);
    });
    this.emit('sent', out);
    return out;
  }
}

/**
 * `random`: the jitter source (default 0.5). 0 for a poison record's tries: its own backoff then
 * ends at once, so it goes after each accepted probe whatever the machine's speed. With 0.5 (1 ms,
 * then 2 ms) a fast run sent every probe within that time, and the record, with no accepted
 * record after its last try, waited for new records (docs/upstream.md), as the test never sent.
 */
async function setup(
  t: import('node:test').TestContext,
  opts: Partial<ExporterOptionsInput> = {},
  limits: Partial<DestinationLimits> = {},
  random: () => number = () => 0.5,
) {
  const streams = new MemoryStreams();
  await streams.open();
  await streams.defineStream({ name: 'telemetry', maxBytes: 1 << 30, onFull: 'reject' });
  const dest = new ScriptedDestination(limits);
  const deps = testDeps();
  const options = parseExporterOptions({
    name: 'exp1',
    stream: 'telemetry',
    destination: { type: 'http' },
    batch: { maxRecords: 10, lingerMs: 0 },
    backoff: { initialMs: 2, maxMs: 20 },
    ...opts,
  });
  const exporter = createExporter(options, { ...deps, streams, destination: dest, random });
  t.after(() => exporter.stop());
  return { streams, dest, deps, exporter };
}

function rec(i: number, size = 10): { topic: string; payload: Buffer; receivedAt: number } {
  return { topic: `dev/${i % 3}`, payload: Buffer.from(String(i).padStart(size, '0')), receivedAt: Date.now() };
}

async function fill(streams: MemoryStreams, n: number, size = 10): Promise<void> {
  for (let i = 1; i <= n; i++) await streams.append('telemetry', rec(i, size));
}

async function drained(streams: MemoryStreams, exporter: Exporter, n: number): Promise<void> {
  await waitUntil(() => exporter.status().lastExportedSeq >= n, `checkpoint reaches ${n}`);
  assert.equal(await streams.getCheckpoint('telemetry', 'exp1'), n);
}

test('batches respect maxRecords and the checkpoint advances and reclaims', async (t) => {
  const { streams, dest, exporter } = await setup(t);
  await fill(streams, 25);
  await exporter.start();
  await drained(streams, exporter, 25);
  assert.deepEqual(
    dest.sends.map((s) => s.length),
    [10, 10, 5],
  );
  assert.deepEqual(
    dest.delivered,
    Array.from({ length: 25 }, (_, i) => i + 1),
  );
  assert.equal(streams.info('telemetry').records, 0, 'records behind the only consumer are reclaimed');
});

test('batches respect maxBytes and the destination limits (the smaller wins)', async (t) => {
  const { streams, dest, exporter } = await setup(t, { batch: { maxRecords: 100, maxBytes: 35, lingerMs: 0 } }, { maxRecords: 3 });
  await fill(streams, 7, 10);
  await exporter.start();
  await drained(streams, exporter, 7);
  for (const s of dest.sends) assert.ok(s.length <= 3, `batch of ${s.length} > destination maxRecords 3`);
  assert.deepEqual(dest.sends, [[1, 2, 3], [4, 5, 6], [7]]);
  const { dest: d2, streams: s2, exporter: e2 } = await setup(t, { batch: { maxRecords: 100, maxBytes: 25, lingerMs: 0 } });
  await fill(s2, 5, 10);
  await e2.start();
  await drained(s2, e2, 5);
  assert.deepEqual(d2.sends, [[1, 2], [3, 4], [5]], 'two 10-byte records fit in 25 bytes, three do not');
});

test('linger: a partial batch waits for more records, then goes', async (t) => {
  const { streams, dest, exporter } = await setup(t, { batch: { maxRecords: 10, lingerMs: 300 } });
  await exporter.start();
  const firstSend = waitForEvent(dest, 'send', 5000);
  const t0 = Date.now();
  await streams.append('telemetry', rec(1));
  await streams.append('telemetry', rec(2));
  await streams.append('telemetry', rec(3));
  await firstSend;
  assert.ok(Date.now() - t0 >= 250, 'sent before the linger time');
  assert.deepEqual(dest.sends[0], [1, 2, 3], 'records appended during linger join the batch');
  // A full batch does not wait for linger.
  const t1 = Date.now();
  await fill(streams, 10);
  await drained(streams, exporter, 13);
  assert.ok(Date.now() - t1 < 250, 'full batch waited for linger');
});

test('whole-batch retryable failures are retried with backoff; nothing lost, retries counted', async (t) => {
  const { streams, dest, exporter, deps } = await setup(t);
  dest.throwNext = 3;
  await fill(streams, 5);
  await exporter.start();
  await drained(streams, exporter, 5);
  assert.equal(dest.sends.length, 4);
  assert.deepEqual(
    dest.sends.every((s) => s.join() === '1,2,3,4,5'),
    true,
    'a retry resends the same batch',
  );
  assert.deepEqual(dest.delivered, [1, 2, 3, 4, 5]);
  const st = exporter.status();
  assert.equal(st.retries, 15);
  assert.equal(st.exportedRecords, 5);
  assert.equal(st.deadLetters, 0);
  assert.match(st.lastError?.message ?? '', /network down/);
  assert.ok(st.lastError && new Date(st.lastError.at).toISOString() === st.lastError.at, 'lastError.at is ISO 8601, like the API times');
  assert.equal(await metricValue(deps.registry, 'gatehouse_export_retries_total', { exporter: 'exp1' }), 15);
  assert.equal(await metricValue(deps.registry, 'gatehouse_export_errors_total', { exporter: 'exp1', kind: 'retryable' }), 15);
});

test('partial failure: only the failed records are resent', async (t) => {
  const { streams, dest, exporter } = await setup(t);
  dest.verdict = (r, call) => (r.seq === 3 && call === 0 ? { ok: false, retryable: true, error: 'busy', code: 'THROTTLED' } : { ok: true });
  await fill(streams, 6);
  await exporter.start();
  await drained(streams, exporter, 6);
  assert.deepEqual(dest.sends[0], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(dest.sends[1], [3], 'the retry holds only the failed record');
  assert.deepEqual(
    [...dest.delivered].sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6],
    'no duplicates, nothing missing',
  );
});

test('permanent errors are dead-lettered at once without blocking later records', async (t) => {
  const { streams, dest, exporter, deps } = await setup(t);
  dest.verdict = (r) => (r.seq === 2 ? { ok: false, retryable: false, error: 'schema mismatch' } : { ok: true });
  await fill(streams, 12);
  await exporter.start();
  await drained(streams, exporter, 12);
  assert.deepEqual(dest.sends.flat().filter((s) => s === 2).length, 1, 'a permanent error is not retried');
  const dlq = await streams.read('telemetry-dlq', 1);
  assert.equal(dlq.length, 1);
  assert.equal(dlq[0]!.payload.toString(), rec(2).payload.toString());
  assert.deepEqual(
    { ...dlq[0]!.attrs },
    { error: 'schema mismatch', sourceStream: 'telemetry', sourceSeq: '2', destination: 'scripted:memory', attempts: '1' },
  );
  assert.equal(dlq[0]!.topic, 'dev/2');
  assert.equal(exporter.status().deadLetters, 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_export_dead_letters_total', { exporter: 'exp1' }), 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_export_errors_total', { kind: 'permanent' }), 1);
});

test('a destination refusing every record: each is dead-lettered and counted, the log says so once a minute (not a line per record)', async (t) => {
  const streams = new MemoryStreams();
  await streams.open();
  await streams.defineStream({ name: 'telemetry', maxBytes: 1 << 30, onFull: 'reject' });
  const dest = new ScriptedDestination();
  dest.verdict = () => ({ ok: false, retryable: false, error: 'schema mismatch' });
  const { logger, lines } = capturedLogger();
  const deps = { ...testDeps(), logger };
  const options = parseExporterOptions({ name: 'exp1', stream: 'telemetry', destination: { type: 'http' }, batch: { maxRecords: 10, lingerMs: 0 } });
  const exporter = createExporter(options, { ...deps, streams, destination: dest, random: () => 0.5 });
  t.after(() => exporter.stop());
  await fill(streams, 50);
  await exporter.start();
  await drained(streams, exporter, 50);
  assert.equal(exporter.status().deadLetters, 50);
  assert.equal(await metricValue(deps.registry, 'gatehouse_export_dead_letters_total', { exporter: 'exp1' }), 50);
  const dead = lines.filter((l) => l.msg === 'record dead-lettered');
  assert.equal(dead.length, 1, `one line for 50 dead letters within a minute, got ${dead.length}`);
  assert.match(JSON.stringify(dead[0]), /"exporter":"exp1".*schema mismatch/);
});

const FAULT: RecordResult = { ok: false, retryable: true, error: 'HTTP 500 (scripted)' };

test('retry budget: a record failing per record while others are accepted spends it, then goes to the dead-letter stream', async (t) => {
  const { streams, dest, exporter } = await setup(t, { maxAttempts: 3 });
  // Like Kinesis InternalFailure for one record: a per-record verdict, the others accepted.
  dest.verdict = (r) => (r.seq === 4 ? { ok: false, retryable: true, error: 'flaky' } : { ok: true });
  await fill(streams, 30);
  await exporter.start();
  await drained(streams, exporter, 30);
  const dlq = await streams.read('telemetry-dlq', 1);
  assert.equal(dlq.length, 1);
  assert.equal(dlq[0]!.attrs?.attempts, '3');
  assert.match(dlq[0]!.attrs?.error ?? '', /flaky \(gave up after 3 attempts\)/);
  assert.deepEqual(
    dest.delivered.sort((a, b) => a - b),
    Array.from({ length: 30 }, (_, i) => i + 1).filter((i) => i !== 4),
  );
  // Each counted failure had evidence: the first with others accepted in the same send, each later
  // one with an accepted send between it and the record's previous failure.
  const withFour = dest.sends.flatMap((s, i) => (s.includes(4) ? [i] : []));
  assert.ok(withFour.length > 3, `record 4 was sent ${withFour.length} times, its failures without evidence not counted`);
  assert.ok(withFour.length <= 3 + 1, 'a failed record is resent once; failing again with nothing accepted, it waits for evidence');
});

test('a storm (every send fails, nothing accepted) spends no budget: nothing dead-lettered, everything delivered after it', async (t) => {
  const { streams, dest, exporter } = await setup(t, { maxAttempts: 3 });
  // 60 failing sends: under a budget spent by every failure the 25 records would all be dead after 9.
  const STORM = 60;
  dest.verdict = (_r, call) => (call < STORM ? FAULT : { ok: true });
  await fill(streams, 25);
  await exporter.start();
  await drained(streams, exporter, 25);
  assert.equal(exporter.status().deadLetters, 0);
  assert.equal((await streams.read('telemetry-dlq', 1)).length, 0);
  assert.deepEqual(
    [...dest.delivered].sort((a, b) => a - b),
    Array.from({ length: 25 }, (_, i) => i + 1),
  );
  const worst = Math.max(...Array.from({ length: 25 }, (_, i) => dest.sends.slice(0, STORM).filter((s) => s.includes(i + 1)).length));
  assert.ok(worst > 3 * 3, `a record failed ${worst} times in the storm`);
  // Per-record verdicts that fail every record (Kinesis InternalFailure for the whole call) are the
  // same: nothing accepted, no evidence against any record.
  const b = await setup(t, { maxAttempts: 2 });
  b.dest.verdict = (_r, call) => (call < 30 ? { ok: false, retryable: true, error: 'InternalFailure', code: 'InternalFailure' } : { ok: true });
  await fill(b.streams, 12);
  await b.exporter.start();
  await drained(b.streams, b.exporter, 12);
  assert.equal(b.exporter.status().deadLetters, 0);
});

test('a whole-batch failure is resent once as it is, then split; a poison record is isolated and dead-lettered after maxAttempts', async (t) => {
  const { streams, dest, exporter, deps } = await setup(t, { maxAttempts: 3 }, {}, () => 0);
  // Like HTTP 500 from an endpoint that crashes on record 6: the whole send fails when it carries it.
  dest.verdict = () => ({ ok: true });
  const orig = dest.send.bind(dest);
  dest.send = async (records, signal) => {
    const out = await orig(records, signal);
    if (!records.some((r) => r.seq === 6)) return out;
    dest.delivered.splice(dest.delivered.length - records.length, records.length);
    return records.map(() => FAULT);
  };
  await fill(streams, 30);
  await exporter.start();
  await drained(streams, exporter, 30);
  assert.deepEqual(dest.sends[0], dest.sends[1], 'the first resend is the same batch (same request id)');
  assert.deepEqual(dest.sends[2], [1, 2, 3, 4, 5], 'then it is split in halves');
  const dlq = await streams.read('telemetry-dlq', 1);
  assert.deepEqual(
    dlq.map((r) => [r.attrs?.sourceSeq, r.attrs?.attempts]),
    [['6', '3']],
    'only the poison record is dead-lettered, after maxAttempts counted failures',
  );
  assert.deepEqual(
    [...dest.delivered].sort((a, b) => a - b),
    Array.from({ length: 30 }, (_, i) => i + 1).filter((i) => i !== 6),
  );
  // Every counted failure of the poison record came alone and after other records were accepted.
  const alone = dest.sends.filter((s) => s.length === 1 && s[0] === 6).length;
  assert.ok(alone >= 3, `record 6 went alone ${alone} times`);
  assert.equal(await metricValue(deps.registry, 'gatehouse_export_dead_letters_total', { exporter: 'exp1' }), 1);
});

test('a failing record with nothing behind it waits (no evidence) until the destination accepts other records', async (t) => {
  const { streams, dest, exporter } = await setup(t, { maxAttempts: 2 }, {}, () => 0);
  dest.verdict = (r) => (r.seq === 3 ? FAULT : { ok: true });
  await fill(streams, 3);
  await exporter.start();
  // Records 1-2 are delivered; 3 fails alone again and again: the destination accepts nothing in
  // between, so nothing says the record is at fault.
  await waitUntil(() => dest.sends.filter((s) => s.join() === '3').length >= 8, 'record 3 resent alone several times');
  assert.equal(exporter.status().deadLetters, 0);
  assert.equal(exporter.status().lastExportedSeq, 2);
  assert.equal(exporter.status().parked, 1, 'the status shows the record held alone');
  assert.equal(exporter.status().outage, true, 'nothing accepted, nothing counted: said as an outage');
  // New records are accepted between its tries: now its failures count.
  for (let i = 4; i <= 8; i++) await streams.append('telemetry', rec(i));
  await drained(streams, exporter, 8);
  const dlq = await streams.read('telemetry-dlq', 1);
  assert.deepEqual(
    dlq.map((r) => r.attrs?.sourceSeq),
    ['3'],
  );
  assert.deepEqual(
    [...dest.delivered].sort((a, b) => a - b),
    [1, 2, 4, 5, 6, 7, 8],
  );
  assert.equal(exporter.status().parked, 0, 'dead-lettered, it is no longer held');
  assert.equal(exporter.status().outage, false, 'sends go through again');
});

test('records cut off by a lost link (DISCONNECTED after other acks) never spend their budget, however often it drops', async (t) => {
  const { streams, dest, exporter } = await setup(t, { maxAttempts: 2 });
  // Like an MQTT bridge whose link drops after the first PUBACK of every batch, six times over.
  const DROPS = 6;
  dest.verdict = (r, call) => {
    const first = dest.sends[call]?.[0];
    return call < DROPS && r.seq !== first ? { ok: false, retryable: true, error: 'disconnected before PUBACK', code: 'DISCONNECTED' } : { ok: true };
  };
  await fill(streams, 10);
  await exporter.start();
  await drained(streams, exporter, 10);
  assert.equal(exporter.status().deadLetters, 0, 'a flapping link dead-letters nothing');
  assert.equal((await streams.read('telemetry-dlq', 1)).length, 0);
  assert.deepEqual(
    [...dest.delivered].sort((a, b) => a - b),
    Array.from({ length: 10 }, (_, i) => i + 1),
  );
});

test('no hot loop: the failed sends of a storm are paced by the backoff', async (t) => {
  // random() is 0.5 (setup): each backoff is half its cap of 20 ms.
  const { streams, dest, exporter } = await setup(t, { maxAttempts: 3, backoff: { initialMs: 20, maxMs: 20, outageMaxMs: 20 } });
  const STORM = 12;
  dest.verdict = (_r, call) => (call < STORM ? FAULT : { ok: true });
  await fill(streams, 10);
  const t0 = performance.now();
  await exporter.start();
  await waitUntil(() => dest.sends.length > STORM, 'the storm is over');
  const elapsed = performance.now() - t0;
  assert.ok(elapsed >= STORM * 9, `${STORM} failed sends took ${elapsed.toFixed(0)} ms (>= ${STORM} backoffs of >= 10 ms expected)`);
  await drained(streams, exporter, 10);
  assert.equal(exporter.status().deadLetters, 0);
});

test('a record over the destination maxRecordBytes is dead-lettered, never sent', async (t) => {
  const { streams, dest, exporter, deps } = await setup(t, {}, { maxRecordBytes: 50 });
  await streams.append('telemetry', rec(1));
  await streams.append('telemetry', { topic: 'big', payload: Buffer.alloc(51, 0x41), receivedAt: Date.now() });
  await streams.append('telemetry', rec(3));
  await exporter.start();
  await drained(streams, exporter, 3);
  assert.ok(!dest.sends.flat().includes(2));
  const dlq = await streams.read('telemetry-dlq', 1);
  assert.equal(dlq.length, 1);
  assert.match(dlq[0]!.attrs?.error ?? '', /51 bytes exceeds the destination limit of 50/);
  assert.equal(await metricValue(deps.registry, 'gatehouse_export_errors_total', { kind: 'permanent' }), 1);
});

test('a whole batch failing permanently is split to isolate the bad record', async (t) => {
  const { streams, dest, exporter } = await setup(t);
  // Like HTTP 413: the batch fails as a whole whenever it contains the bad record.
  dest.verdict = () => ({ ok: true });
  const orig = dest.send.bind(dest);
  dest.send = async (records, signal) => {
    const out = await orig(records, signal);
    if (records.some((r) => r.seq === 6)) {
      dest.delivered.splice(dest.delivered.length - records.length, records.length);
      return records.map(() => ({ ok: false as const, retryable: false, error: 'HTTP 413' }));
    }
    return out;
  };
  await fill(streams, 10);
  await exporter.start();
  await drained(streams, exporter, 10);
  const dlq = await streams.read('telemetry-dlq', 1);
  assert.deepEqual(
    dlq.map((r) => r.attrs?.sourceSeq),
    ['6'],
    'only the bad record is dead-lettered',
  );
  assert.deepEqual(
    [...dest.delivered].sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 7, 8, 9, 10],
  );
});

test('stop during a send: aborted send does not advance the checkpoint; restart resends', async (t) => {
  const { streams, dest, exporter } = await setup(t, { stopTimeoutMs: 50 });
  let release!: () => void;
  dest.gate = new Promise<void>((r) => (release = r));
  await fill(streams, 4);
  const sending = waitForEvent(dest, 'send');
  await exporter.start();
  await sending;
  await exporter.stop();
  assert.equal(exporter.status().state, 'stopped');
  assert.equal(await streams.getCheckpoint('telemetry', 'exp1'), 0, 'checkpoint moved past unsent records');
  assert.equal(dest.stopped, 1);
  release();
  dest.gate = undefined;
  await exporter.start();
  await drained(streams, exporter, 4);
  assert.deepEqual(dest.delivered, [1, 2, 3, 4]);
});

test('stop lets an in-flight send finish within the timeout and keeps its progress', async (t) => {
  const { streams, dest, exporter } = await setup(t, { stopTimeoutMs: 5000 });
  let release!: () => void;
  dest.gate = new Promise<void>((r) => (release = r));
  await fill(streams, 3);
  const sending = waitForEvent(dest, 'send');
  await exporter.start();
  await sending;
  const stopped = exporter.stop();
  release();
  await stopped;
  assert.equal(await streams.getCheckpoint('telemetry', 'exp1'), 3);
});

test('store failures (checkpoint write, dead-letter append) never crash the loop nor skip records', async (t) => {
  const { streams, dest, exporter } = await setup(t);
  streams.failSetCheckpoint = 2;
  streams.failAppends.add('telemetry-dlq');
  dest.verdict = (r) => (r.seq === 2 ? { ok: false, retryable: false, error: 'bad' } : { ok: true });
  await fill(streams, 3);
  await exporter.start();
  await waitUntil(() => dest.sends.length >= 1 && exporter.status().lastError, 'an error is noted');
  // The dead letter cannot be written: the checkpoint must not pass seq 2.
  await waitUntil(() => streams.calls.setCheckpoint >= 3, 'checkpoint retried');
  assert.ok((await streams.getCheckpoint('telemetry', 'exp1')) < 2);
  streams.failAppends.delete('telemetry-dlq');
  await drained(streams, exporter, 3);
  assert.equal((await streams.read('telemetry-dlq', 1)).length, 1);
});

test('waits for new data without polling and exports it when it arrives', async (t) => {
  const { streams, dest, exporter } = await setup(t);
  await exporter.start();
  await waitUntil(() => streams.calls.read >= 1, 'first read');
  const reads = streams.calls.read;
  await new Promise((r) => setImmediate(r));
  assert.ok(streams.calls.read <= reads + 1, 'idle exporter keeps reading');
  await fill(streams, 2);
  await drained(streams, exporter, 2);
  assert.deepEqual(dest.delivered, [1, 2]);
});

test('backlog: records retention dropped before export are not counted as still to export', async (t) => {
  const { streams, dest, exporter } = await setup(t);
  dest.throwNext = 1_000_000; // destination down
  await exporter.start();
  // drop-oldest keeps the last 4 records of 15 bytes (payload + topic) each.
  await streams.defineStream({ name: 'telemetry', maxBytes: 60, onFull: 'drop-oldest' });
  await fill(streams, 10);
  await waitUntil(() => exporter.status().state === 'backoff', 'backoff state');
  const info = streams.info('telemetry');
  assert.equal(info.droppedRecords, 6);
  // What is still to export: the 4 held records, not the 10 appended.
  assert.equal(exporter.status().backlog.records, 4);
});

test('status: lastError.since is when the run of failures began, kept while it lasts, new after a send went through; and in gatehouse_export_failing_since_timestamp_seconds', async (t) => {
  const { streams, dest, exporter, deps } = await setup(t);
  const failingSince = () => metricValue(deps.registry, 'gatehouse_export_failing_since_timestamp_seconds', { exporter: 'exp1' });
  await fill(streams, 2);
  dest.throwNext = 1_000_000; // destination down
  await exporter.start();
  const first = await waitUntil(() => exporter.status().lastError, 'a first error');
  await waitUntil(() => exporter.status().lastError!.at > first.since, 'a later error');
  assert.equal(exporter.status().lastError?.since, first.since, 'failing since the first error, not the latest');
  await waitUntil(async () => (await failingSince()) === Date.parse(first.since) / 1000, 'the gauge says since when');
  dest.throwNext = 0;
  await drained(streams, exporter, 2);
  await waitUntil(async () => (await failingSince()) === 0, 'the gauge is 0 once a send went through');
  dest.throwNext = 1_000_000;
  await fill(streams, 1);
  await waitUntil(() => exporter.status().lastError?.current, 'failing again');
  const again = exporter.status().lastError!;
  assert.ok(again.since > first.since, `a new run of failures starts a new since (${again.since} after ${first.since})`);
});

test('status: the last record refused for good in a send that went through, nothing left to send: its error is no longer current, the failing-since gauge 0', async (t) => {
  const { streams, dest, exporter, deps } = await setup(t);
  dest.verdict = (r) => (r.seq === 5 ? { ok: false, retryable: false, error: 'schema mismatch' } : { ok: true });
  await fill(streams, 5);
  await exporter.start();
  await drained(streams, exporter, 5);
  assert.equal(exporter.status().deadLetters, 1);
  const last = exporter.status().lastError;
  assert.match(last?.message ?? '', /schema mismatch/, 'the error is still shown');
  assert.equal(last?.current, false, 'nothing is failing: every record went through or was dead-lettered');
  assert.equal(await metricValue(deps.registry, 'gatehouse_export_failing_since_timestamp_seconds', { exporter: 'exp1' }), 0);
});

test('status and metrics: backlog, exported records/bytes, destination, state', async (t) => {
  const { streams, dest, exporter, deps } = await setup(t);
  await fill(streams, 5);
  dest.throwNext = 1_000_000; // destination down
  await exporter.start();
  await waitUntil(() => exporter.status().state === 'backoff', 'backoff state');
  let st = exporter.status();
  assert.equal(st.lastError?.current, true, 'failing: no send went through since the error');
  assert.equal(st.backlog.records, 5);
  assert.equal(st.backlog.bytes, 5 * (10 + 5)); // payload + topic bytes as the store counts them
  assert.ok(st.backlog.ageSeconds >= 0);
  assert.deepEqual(st.destination, { kind: 'scripted', target: 'memory' });
  assert.equal(st.name, 'exp1');
  assert.equal(st.stream, 'telemetry');
  dest.throwNext = 0;
  await drained(streams, exporter, 5);
  st = exporter.status();
  assert.equal(st.exportedRecords, 5);
  assert.equal(st.exportedBytes, 50);
  assert.equal(st.backlog.records, 0);
  assert.equal(st.lastExportedSeq, 5);
  assert.ok(st.lastExportAt !== undefined);
  assert.equal(st.lastError?.current, false, 'recovered: a send went through after the error');
  assert.equal(await metricValue(deps.registry, 'gatehouse_export_records_total', { exporter: 'exp1' }), 5);
  assert.equal(await metricValue(deps.registry, 'gatehouse_export_bytes_total', { exporter: 'exp1' }), 50);
  const text = await deps.registry.metrics();
  for (const m of [
    'gatehouse_export_batch_records_bucket',
    'gatehouse_export_send_seconds_bucket',
    'gatehouse_export_backlog_records',
    'gatehouse_export_backlog_age_seconds',
  ]) {
    assert.ok(text.includes(m), `missing ${m}`);
  }
  await exporter.stop();
  assert.equal(exporter.status().state, 'stopped');
  assert.equal(await metricValue(deps.registry, 'gatehouse_export_backlog_records', { exporter: 'exp1' }), 0);
});

test('an unknown stream is refused with a clear error', async (t) => {
  const { exporter } = await setup(t, { stream: 'nope' });
  await assert.rejects(exporter.start(), /GH_STREAM_UNKNOWN|not defined/);
});

test('options: defaults and validation', () => {
  const o = parseExporterOptions({ name: 'a', stream: 's', destination: { type: 'file' } });
  assert.deepEqual(o.batch, { maxRecords: 500, maxBytes: 4 * 1024 * 1024, lingerMs: 1000 });
  assert.deepEqual(o.backoff, { initialMs: 200, maxMs: 30000, outageMaxMs: 3000 });
  assert.equal(o.maxAttempts, 10);
  assert.equal(o.priority, 0);
  assert.throws(() => parseExporterOptions({ name: 'bad name!', stream: 's', destination: { type: 'file' } }));
  assert.throws(() => parseExporterOptions({ name: 'a', stream: 's', destination: { type: 'ftp' } }));
});
