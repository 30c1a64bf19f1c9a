// Pure logic of the store: the binary segment format, segment keys, durations, option schemas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeSegment,
  encodeSegment,
  measureRecord,
  parseSegmentKey,
  prefixBytes,
  segmentKey,
  seqKey,
  streamPrefix,
  prefixEnd,
  validStreamName,
  type RecordSize,
} from '../../gateway/store/codec.js';
import { parseDuration, storeOptionsSchema, streamDefaultsSchema, toStreamOptions } from '../../gateway/store/options.js';
import { isGatehouseError } from '../../core/errors.js';
import type { AppendRecord, StoredRecord } from '../../gateway/store/types.js';

function encode(recs: AppendRecord[], from = 0): Buffer {
  const size: RecordSize = { bytes: 0, encoded: 0 };
  let enc = 0;
  for (let i = from; i < recs.length; i++) {
    measureRecord(recs[i] as AppendRecord, size);
    enc += size.encoded;
  }
  return encodeSegment(recs, from, enc);
}

const recs: AppendRecord[] = [
  { topic: 'a/b', payload: Buffer.from('hello'), receivedAt: 1700000000123.5 },
  { topic: 'tëst/ü', payload: Buffer.alloc(0), receivedAt: 1, key: 'dev-7' },
  { topic: 'x', payload: Buffer.from([0, 1, 2, 255]), receivedAt: 2, key: '', attrs: { error: 'boom ✓', 'orig-seq': '42' } },
  { topic: '', payload: Buffer.from('z'), receivedAt: 3, attrs: {} },
];

test('segment round trip keeps every field and sequence', () => {
  const value = encode(recs);
  const out: StoredRecord[] = [];
  const stopped = decodeSegment(value, 's1', 10, 10, 13, out, { limit: 100, maxBytes: Infinity, payloadBytes: 0 });
  assert.equal(stopped, false);
  assert.equal(out.length, 4);
  out.forEach((r, i) => {
    const src = recs[i] as AppendRecord;
    assert.equal(r.seq, 10 + i);
    assert.equal(r.stream, 's1');
    assert.equal(r.topic, src.topic);
    assert.deepEqual(r.payload, src.payload);
    assert.equal(r.receivedAt, src.receivedAt);
    assert.equal(r.key, src.key);
    assert.deepEqual(r.attrs, src.attrs);
  });
});

test('decode from the middle of a segment, with limit and byte cap', () => {
  const value = encode(recs);
  const out: StoredRecord[] = [];
  decodeSegment(value, 's', 1, 3, 4, out, { limit: 100, maxBytes: Infinity, payloadBytes: 0 });
  assert.deepEqual(
    out.map((r) => r.seq),
    [3, 4],
  );
  const limited: StoredRecord[] = [];
  assert.equal(decodeSegment(value, 's', 1, 1, 4, limited, { limit: 2, maxBytes: Infinity, payloadBytes: 0 }), true);
  assert.deepEqual(
    limited.map((r) => r.seq),
    [1, 2],
  );
  const capped: StoredRecord[] = [];
  // 5 payload bytes in the first record: the cap of 1 still returns one record, then stops.
  assert.equal(decodeSegment(value, 's', 1, 1, 4, capped, { limit: 100, maxBytes: 1, payloadBytes: 0 }), true);
  assert.deepEqual(
    capped.map((r) => r.seq),
    [1],
  );
});

test('prefixBytes sums accounted bytes of the first records', () => {
  const value = encode(recs);
  const size: RecordSize = { bytes: 0, encoded: 0 };
  let want = 0;
  for (let i = 0; i < 3; i++) {
    measureRecord(recs[i] as AppendRecord, size);
    want += size.bytes;
  }
  assert.equal(prefixBytes(value, 3), want);
  assert.equal(prefixBytes(value, 0), 0);
});

test('garbage and truncated segments fail with GH_STORE_CORRUPT, never a crash', () => {
  const value = encode(recs);
  const cases = [Buffer.alloc(0), Buffer.from('not a segment'), value.subarray(0, value.length - 3), Buffer.concat([value, Buffer.from([1])])];
  const flipped = Buffer.from(value);
  flipped.writeUInt32BE(0xfffffff0, 6 + 11); // first record's payload length
  cases.push(flipped);
  for (const c of cases) {
    assert.throws(
      () => decodeSegment(c, 's', 1, 1, 4, [], { limit: 100, maxBytes: Infinity, payloadBytes: 0 }),
      (err: unknown) => isGatehouseError(err, 'GH_STORE_CORRUPT'),
    );
  }
  // Random bytes: either decodes or throws GH_STORE_CORRUPT; nothing else escapes.
  for (let i = 0; i < 200; i++) {
    const junk = Buffer.from(value);
    junk[6 + Math.floor(Math.random() * (junk.length - 6))] = Math.floor(Math.random() * 256);
    try {
      decodeSegment(junk, 's', 1, 1, 4, [], { limit: 100, maxBytes: Infinity, payloadBytes: 0 });
    } catch (err) {
      assert.ok(isGatehouseError(err, 'GH_STORE_CORRUPT'), String(err));
    }
  }
});

test('segment keys sort by sequence within a stream and carry the summary', () => {
  const p = streamPrefix('archive');
  const a = segmentKey(p, { firstSeq: 9, count: 3, bytes: 100, minAt: 5, maxAt: 6 });
  const b = segmentKey(p, { firstSeq: 10, count: 1, bytes: 1, minAt: 1, maxAt: 1 });
  const c = segmentKey(p, { firstSeq: 2 ** 40, count: 1, bytes: 1, minAt: 1, maxAt: 1 });
  assert.ok(Buffer.compare(a, b) < 0 && Buffer.compare(b, c) < 0);
  assert.deepEqual(parseSegmentKey(a, p.length), { firstSeq: 9, count: 3, bytes: 100, minAt: 5, maxAt: 6 });
  assert.ok(Buffer.compare(seqKey(p, 9), a) < 0 && Buffer.compare(a, seqKey(p, 10)) < 0);
  // Another stream whose name extends this one never falls in its range.
  const other = segmentKey(streamPrefix('archive2'), { firstSeq: 1, count: 1, bytes: 1, minAt: 1, maxAt: 1 });
  assert.ok(Buffer.compare(other, prefixEnd(p)) >= 0);
  assert.equal(parseSegmentKey(Buffer.from('S\0short'), p.length), undefined);
});

test('record limits are checked on measure', () => {
  const size: RecordSize = { bytes: 0, encoded: 0 };
  assert.throws(
    () => measureRecord({ topic: 'x'.repeat(70000), payload: Buffer.alloc(0), receivedAt: 0 }, size),
    (e: unknown) => isGatehouseError(e, 'GH_RECORD_TOO_LARGE'),
  );
  measureRecord({ topic: 'ab', payload: Buffer.alloc(10), receivedAt: 0, key: 'k', attrs: { a: 'bc' } }, size);
  assert.equal(size.bytes, 2 + 10 + 1 + 3);
  assert.ok(!validStreamName('') && !validStreamName('a\0b') && validStreamName('archive'));
});

test('parseDuration accepts ms numbers and unit strings, refuses the rest', () => {
  assert.equal(parseDuration(1500), 1500);
  assert.equal(parseDuration('7d'), 7 * 86_400_000);
  assert.equal(parseDuration('12h'), 12 * 3_600_000);
  assert.equal(parseDuration('30m'), 1_800_000);
  assert.equal(parseDuration('45s'), 45_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('5000'), 5000);
  for (const bad of ['', 'x', '7y', '-1s', '1h 30m', 'd7', '0s']) assert.throws(() => parseDuration(bad), RangeError, bad);
  assert.throws(() => parseDuration(0), RangeError);
  assert.throws(() => parseDuration(Number.NaN), RangeError);
});

test('option schemas fill defaults and report bad values', () => {
  const o = storeOptionsSchema.parse({ path: '/tmp/x' });
  assert.deepEqual(o, {
    path: '/tmp/x',
    durability: 'fsync',
    appendTimeoutMs: 30000,
    maxPendingBytes: 16 * 1024 * 1024,
    sweepIntervalMs: 60000,
    tallyEveryBytes: 256 * 1024 * 1024,
    reserveBytes: 32 * 1024 * 1024,
    ballastBytes: 16 * 1024 * 1024,
    diskProbeMs: 500,
    commitStallMs: 5000,
    slowCommitMeanMs: 100,
  });
  assert.equal(storeOptionsSchema.safeParse({ path: '/x', durability: 'never' }).success, false);
  assert.equal(storeOptionsSchema.safeParse({}).success, false);
  const d = streamDefaultsSchema.parse({ ttl: '7d' });
  assert.deepEqual(toStreamOptions('archive', d), { name: 'archive', maxBytes: 256 * 1024 * 1024, ttlMs: 7 * 86_400_000, onFull: 'reject' });
  assert.deepEqual(toStreamOptions('a', streamDefaultsSchema.parse({})), { name: 'a', maxBytes: 256 * 1024 * 1024, onFull: 'reject' });
  const bad = streamDefaultsSchema.safeParse({ ttl: 'soon', onFull: 'explode' });
  assert.equal(bad.success, false);
  assert.ok(bad.error?.issues.some((i) => i.path[0] === 'ttl' && /not a duration/.test(i.message)));
});
