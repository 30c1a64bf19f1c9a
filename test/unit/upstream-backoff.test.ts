// Pure logic of the exporter helpers: full-jitter backoff, throttle pacing, token buckets,
// NDJSON lines and time partitions of the file destination.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { backoffCap, fullJitterDelay, ThrottlePacer, sleep } from '../../gateway/upstream/backoff.js';
import { TokenBucket, UplinkScheduler } from '../../gateway/upstream/rate-limit.js';
import { ndjsonLine, partitionOf } from '../../gateway/upstream/destinations/file.js';
import { takeBatch, newEntry, parkedDueAt, type Entry } from '../../gateway/upstream/batcher.js';

test('full jitter: delay in [0, min(max, initial*2^n)]', () => {
  assert.equal(backoffCap(0, 200, 30000), 200);
  assert.equal(backoffCap(3, 200, 30000), 1600);
  assert.equal(backoffCap(20, 200, 30000), 30000);
  assert.equal(backoffCap(1e9, 200, 30000), 30000, 'huge attempt numbers do not overflow');
  assert.equal(
    fullJitterDelay(3, 200, 30000, () => 0),
    0,
  );
  assert.equal(
    fullJitterDelay(3, 200, 30000, () => 0.999999),
    1599,
  );
  for (let i = 0; i < 200; i++) {
    const d = fullJitterDelay(5, 200, 30000);
    assert.ok(d >= 0 && d < 6400);
  }
});

test('throttle pacer doubles on throttling and decays on clean sends', () => {
  const p = new ThrottlePacer(100, 1000);
  assert.equal(p.delayMs, 0);
  p.throttled();
  p.throttled();
  assert.equal(p.delayMs, 200);
  for (let i = 0; i < 10; i++) p.throttled();
  assert.equal(p.delayMs, 1000);
  p.clean();
  assert.equal(p.delayMs, 500);
  for (let i = 0; i < 5; i++) p.clean();
  assert.equal(p.delayMs, 0);
});

test('sleep rejects on abort', async () => {
  const ac = new AbortController();
  const s = sleep(10_000, ac.signal);
  ac.abort(new Error('stop'));
  await assert.rejects(s, /stop/);
});

test('token bucket: debt is waited out at the configured rate', async () => {
  let now = 0;
  const bucket = new TokenBucket(8, () => now); // 8 kbit/s = 1000 bytes/s, 1 s burst
  await bucket.acquire(1500, 0); // full bucket: goes, 500 bytes of debt
  let done = false;
  const p = bucket.acquire(100, 0).then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false, 'in debt: must wait');
  now = 600; // 600 bytes refilled: +100 tokens
  await p;
  assert.equal(done, true);
});

test('uplink scheduler serves higher priority first, FIFO within a priority', async () => {
  let now = 0;
  const up = new UplinkScheduler(8, () => now);
  await up.acquire(2000, 0); // drain into debt
  const order: string[] = [];
  const a = up.acquire(10, 1).then(() => order.push('low-a'));
  const b = up.acquire(10, 5).then(() => order.push('high-b'));
  const c = up.acquire(10, 1).then(() => order.push('low-c'));
  const d = up.acquire(10, 5).then(() => order.push('high-d'));
  assert.equal(up.waiting, 4);
  now = 5000;
  await Promise.all([a, b, c, d]);
  assert.deepEqual(order, ['high-b', 'high-d', 'low-a', 'low-c']);
});

test('uplink waiters can be aborted', async () => {
  const up = new UplinkScheduler(8, () => 0);
  await up.acquire(5000, 0);
  const ac = new AbortController();
  const p = up.acquire(10, 0, ac.signal);
  ac.abort(new Error('stopping'));
  await assert.rejects(p, /stopping/);
  assert.equal(up.waiting, 0);
});

test('token bucket: a debt longer than a timer holds (~24.8 days) is waited out in steps, not re-armed every millisecond', async () => {
  // 0.001 kbit/s = 0.125 bytes/s: a 1 MB batch leaves a debt of ~93 days.
  const bucket = new TokenBucket(0.001, () => 0);
  const warnings: string[] = [];
  const onWarning = (w: Error): void => {
    if (w.name === 'TimeoutOverflowWarning') warnings.push(w.message);
  };
  process.on('warning', onWarning);
  const ac = new AbortController();
  try {
    await bucket.acquire(1_000_000, 0);
    const p = bucket.acquire(10, 0, ac.signal);
    // A timer past the bound is taken as 1 ms with a warning emitted on a later tick.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    ac.abort(new Error('stopping'));
    await assert.rejects(p, /stopping/);
  } finally {
    process.off('warning', onWarning);
  }
  assert.deepEqual(warnings, []);
});

test('takeBatch: count, bytes, skips done and dead entries, reports fullness', () => {
  const mk = (seq: number, size: number) => newEntry({ stream: 's', seq, topic: 't', payload: Buffer.alloc(size), receivedAt: 0 }, 0);
  const w = [mk(1, 10), mk(2, 10), mk(3, 10), mk(4, 10)];
  w[1]!.done = true;
  w[2]!.deadError = 'x';
  const out: ReturnType<typeof mk>[] = [];
  assert.equal(takeBatch(w, { maxRecords: 5, maxBytes: 100 }, out), false);
  assert.deepEqual(
    out.map((e) => e.rec.seq),
    [1, 4],
  );
  assert.equal(takeBatch(w, { maxRecords: 1, maxBytes: 100 }, out), true);
  assert.equal(takeBatch(w, { maxRecords: 5, maxBytes: 15 }, out), true);
  assert.deepEqual(
    out.map((e) => e.rec.seq),
    [1],
  );
  assert.equal(takeBatch([mk(1, 50)], { maxRecords: 5, maxBytes: 15 }, out), true, 'an oversized first entry still goes alone');
});

test('takeBatch: parked entries go alone once evidence came; past a waiting one, one record per batch; only waiting ones left, the oldest goes', () => {
  const mk = (seq: number) => newEntry({ stream: 's', seq, topic: 't', payload: Buffer.alloc(10), receivedAt: 0 }, 0);
  const seqs = (out: Entry[]) => out.map((e) => e.rec.seq);
  const limits = { maxRecords: 5, maxBytes: 100 };
  const w = [mk(1), mk(2), mk(3), mk(4)];
  const out: Entry[] = [];
  // Record 1 failed alone when the destination had accepted 5 records in all.
  w[0]!.parked = true;
  w[0]!.mark = 5;
  assert.equal(takeBatch(w, limits, out, 5), true, 'a probe does not linger');
  assert.deepEqual(seqs(out), [2], 'no evidence yet: the records after it go one per batch');
  assert.equal(takeBatch(w, limits, out, 6), true);
  assert.deepEqual(seqs(out), [1], 'the destination accepted a record since: it goes alone');
  // A parked entry whose evidence came ends the batch before it.
  w[0]!.done = true;
  w[2]!.parked = true;
  w[2]!.mark = 0;
  assert.equal(takeBatch(w, limits, out, 1), true);
  assert.deepEqual(seqs(out), [2]);
  // Only entries waiting for evidence are left: the oldest goes (how the loop sees a storm end).
  w[1]!.done = true;
  w[3]!.parked = true;
  w[2]!.mark = 1;
  w[3]!.mark = 1;
  assert.equal(takeBatch(w, limits, out, 1), true);
  assert.deepEqual(seqs(out), [3]);
});

test('parkedDueAt: a parked backoff that ended after takeBatch() found nothing to send still wakes the loop (it used to wait for new records for ever)', () => {
  const mk = (seq: number) => newEntry({ stream: 's', seq, topic: 't', payload: Buffer.alloc(10), receivedAt: 0 }, 0);
  const w = [mk(1)];
  w[0]!.parked = true;
  w[0]!.mark = 3;
  // Its backoff ended a moment ago; takeBatch() ran just before that, when it had not.
  const due = performance.now() - 1;
  w[0]!.notBefore = due;
  const out: Entry[] = [];
  takeBatch(w, { maxRecords: 5, maxBytes: 100 }, out, 3, due - 1);
  assert.equal(out.length, 0);
  // By the time the loop asks how long to sleep, the backoff has ended: it must still get a time
  // (in the past: the loop sleeps 1 ms and tries it), never "nothing to wait for".
  assert.equal(parkedDueAt(w), due);
  w[0]!.done = true;
  assert.equal(parkedDueAt(w), undefined, 'nothing parked: wait for new records only');
});

test('ndjson line: id; payload (JSON), payloadText (other UTF-8) or payloadBase64 (binary); multi-line JSON flattened', () => {
  const base = { stream: 'archive', seq: 7, topic: 'a/"b"', receivedAt: 1700000000000 };
  const j = JSON.parse(ndjsonLine({ ...base, payload: Buffer.from('{"temp":96.5}') }));
  assert.deepEqual(j, { id: 'archive:7', stream: 'archive', seq: 7, topic: 'a/"b"', receivedAt: 1700000000000, payload: { temp: 96.5 } });
  const bin = JSON.parse(ndjsonLine({ ...base, payload: Buffer.from([0xff, 0x00, 0x7b]), key: 'k1', attrs: { error: 'e' } }));
  assert.equal(bin.payloadBase64, Buffer.from([0xff, 0x00, 0x7b]).toString('base64'));
  assert.equal('payload' in bin || 'payloadText' in bin, false, 'exactly one payload field');
  assert.equal(bin.key, 'k1');
  assert.deepEqual(bin.attrs, { error: 'e' });
  const multi = ndjsonLine({ ...base, payload: Buffer.from('{\n "a": 1\n}') });
  assert.equal(multi.split('\n').length, 2, 'exactly one line');
  assert.deepEqual(JSON.parse(multi).payload, { a: 1 });
  const broken = JSON.parse(ndjsonLine({ ...base, payload: Buffer.from('{"temp":') }));
  assert.equal(broken.payloadText, '{"temp":', 'invalid JSON that is UTF-8 goes as text');
  // A JSON payload that looks like the old base64 wrapper is no longer ambiguous.
  const wrapper = JSON.parse(ndjsonLine({ ...base, payload: Buffer.from('{"base64":"AAE="}') }));
  assert.deepEqual(wrapper.payload, { base64: 'AAE=' });
  const text = JSON.parse(ndjsonLine({ ...base, payload: Buffer.from('temp=21.5 ok') }));
  assert.equal(text.payloadText, 'temp=21.5 ok');
  const empty = JSON.parse(ndjsonLine({ ...base, payload: Buffer.alloc(0) }));
  assert.equal(empty.payloadText, '');
});

test('partitions are UTC YYYY/MM/DD/HH', () => {
  assert.equal(partitionOf(Date.UTC(2024, 0, 2, 3, 59, 59)), '2024/01/02/03');
  assert.equal(partitionOf(Date.UTC(2024, 11, 31, 23, 0, 0)), '2024/12/31/23');
  // Across years and leap days, for as long as the appliance runs: folders sort by time.
  assert.equal(partitionOf(Date.UTC(2100, 0, 1, 0, 0, 0)), '2100/01/01/00');
  assert.equal(partitionOf(Date.UTC(2100, 1, 28, 23, 59, 59) + 1000), '2100/03/01/00', '2100 is no leap year');
  assert.equal(partitionOf(Date.UTC(2028, 1, 28, 23, 59, 59) + 1000), '2028/02/29/00');
  assert.equal(partitionOf(Date.UTC(9999, 11, 31, 23, 0, 0)), '9999/12/31/23');
});
