// The webhook destination's bodies (webhook-body.ts, influx-line.ts) and options (webhook-options.ts):
// what each format writes for a record, the line protocol's escaping and time units, and the
// records that cannot be written set aside with their reason instead of failing the batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { influxLine } from '../../gateway/upstream/destinations/influx-line.js';
import { WebhookEncoder } from '../../gateway/upstream/destinations/webhook-body.js';
import { webhookOptionsSchema, type WebhookOptions } from '../../gateway/upstream/destinations/webhook-options.js';
import { parseDestinationOptions } from '../../gateway/upstream/registry.js';
import { isGatehouseError } from '../../core/errors.js';
import type { StoredRecord } from '../../gateway/store/types.js';

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const rec = (payload: string, topic = 'fleet/truck7/engine', seq = 1): StoredRecord => ({
  stream: 'up',
  seq,
  topic,
  payload: Buffer.from(payload),
  receivedAt: T0,
});
const opts = (o: Record<string, unknown> = {}): WebhookOptions => webhookOptionsSchema.parse({ url: 'http://127.0.0.1:9/w', ...o });
const line = (payload: string, influx: Record<string, unknown> = {}, topic?: string): string => {
  const out = influxLine(rec(payload, topic), opts({ format: 'influx', influx }).influx);
  assert.ok('line' in out, `a line: ${JSON.stringify(out)}`);
  return out.line;
};
const refusal = (payload: string, influx: Record<string, unknown> = {}): string => {
  const out = influxLine(rec(payload), opts({ format: 'influx', influx }).influx);
  assert.ok('error' in out, `refused: ${JSON.stringify(out)}`);
  return out.error;
};

test('influx: by default the topic is the measurement, every scalar key a field, the receive time in ns', () => {
  assert.equal(
    line('{"temp":96.5,"rpm":1200,"ok":true,"state":"run","nested":{"x":1},"list":[1],"none":null}'),
    `fleet/truck7/engine temp=96.5,rpm=1200,ok=true,state="run" ${BigInt(T0) * 1_000_000n + 1n}`,
  );
});

test('influx without a time key: records received in one millisecond are apart by their seq within it (one point each), the same record the same time again', () => {
  const timeAt = (seq: number, influx: Record<string, unknown> = {}, url = 'http://x/write'): bigint => {
    const o = webhookOptionsSchema.parse({ url, format: 'influx', influx: { measurement: 'm', ...influx } });
    const out = influxLine(rec('{"v":1}', 'a/b', seq), o.influx);
    assert.ok('line' in out);
    return BigInt(out.line.split(' ')[2]!);
  };
  // was: every one of them at T0 exactly, so InfluxDB kept the last of the millisecond only
  const times = [1, 2, 3, 999_999, 1_000_000, 1_000_001].map((seq) => timeAt(seq));
  assert.equal(new Set(times.slice(0, 5)).size, 5, 'a million in one millisecond are apart');
  for (const ns of times) assert.ok(ns >= BigInt(T0) * 1_000_000n && ns < BigInt(T0 + 1) * 1_000_000n, 'within the millisecond received');
  assert.equal(timeAt(7), timeAt(7), 'a record sent again is the same point');
  const us = [1, 2, 999, 1000].map((seq) => timeAt(seq, { precision: 'us' }, 'http://x/write?precision=u'));
  assert.deepEqual(us, [BigInt(T0) * 1000n + 1n, BigInt(T0) * 1000n + 2n, BigInt(T0) * 1000n + 999n, BigInt(T0) * 1000n]);
  // ms and s have no room within the millisecond: refused without a time key, with both ways out
  for (const precision of ['ms', 's']) {
    const parsed = webhookOptionsSchema.safeParse({ url: `http://x/write?precision=${precision}`, format: 'influx', influx: { precision } });
    assert.equal(parsed.success, false);
    assert.match(JSON.stringify(parsed.error?.issues), /without a time key: records of one series received in the same .* would be one point.*give time/);
  }
  assert.equal(webhookOptionsSchema.safeParse({ url: 'http://x/write?precision=ms', format: 'influx', influx: { precision: 'ms', time: 'ts' } }).success, true);
});

test('influx: measurement from a literal, a payload key or a topic level; tags from keys and topic levels, sorted; fields chosen', () => {
  assert.match(line('{"t":1}', { measurement: 'engine' }), /^engine t=1 /);
  assert.match(line('{"m":"cpu","t":1}', { measurementKey: 'm' }), /^cpu t=1 /);
  assert.match(line('{"t":1}', { measurementTopicLevel: 3 }), /^engine t=1 /);
  assert.match(
    line('{"site":"north","t":1,"u":2,"v":"x"}', { measurement: 'm', tags: ['site'], topicTags: { truck: 2 }, fields: ['t', 'v'] }),
    /^m,site=north,truck=truck7 t=1,v="x" \d+$/,
  );
  // a tag key missing from the record is left out of its line
  assert.match(line('{"t":1}', { measurement: 'm', tags: ['site'] }), /^m t=1 /);
});

test('influx: special characters escaped as the line protocol says', () => {
  assert.equal(
    line('{"a b,c=d":"say \\"hi\\" \\\\ now\\nok","tag":"x y,z=w","at":1}', { measurement: 'my meas,ure', tags: ['tag'], time: 'at', timeUnit: 's' }),
    'my\\ meas\\,ure,tag=x\\ y\\,z\\=w a\\ b\\,c\\=d="say \\"hi\\" \\\\ now\\nok" 1000000000',
  );
});

test('influx: time from a key in s, ms, us, ns or ISO 8601, written in the precision asked', () => {
  const at = (payload: string, influx: Record<string, unknown>, url = 'http://x/write'): string => {
    const o = webhookOptionsSchema.parse({ url, format: 'influx', influx: { measurement: 'm', time: 'ts', ...influx } });
    const out = influxLine(rec(payload), o.influx);
    assert.ok('line' in out);
    return out.line.split(' ')[2]!;
  };
  assert.equal(at('{"v":1,"ts":1700000000}', { timeUnit: 's' }), '1700000000000000000');
  assert.equal(at('{"v":1,"ts":1700000000.25}', { timeUnit: 's' }), '1700000000250000000');
  assert.equal(at('{"v":1,"ts":1700000000123}', {}), '1700000000123000000');
  assert.equal(at('{"v":1,"ts":1700000000123456}', { timeUnit: 'us' }), '1700000000123456000');
  assert.equal(at('{"v":1,"ts":1700000000123456789}', { timeUnit: 'ns' }).slice(0, 16), '1700000000123456');
  assert.equal(at('{"v":1,"ts":"2026-01-02T03:04:05.678Z"}', {}), String(BigInt(T0) * 1_000_000n));
  assert.equal(at('{"v":1,"ts":"2026-01-02T03:04:05.678Z"}', { precision: 'ms' }, 'http://x/write?precision=ms'), String(T0));
  assert.equal(at('{"v":1,"ts":"2026-01-02T03:04:05.678Z"}', { precision: 's' }, 'http://x/write?db=a&precision=s'), String(Math.floor(T0 / 1000)));
  // the time key is not a field of its own
  assert.doesNotMatch(line('{"v":1,"ts":5}', { time: 'ts' }), /ts=/);
});

test('influx: a record that cannot be a point says why (no field, not an object, a bad time, no measurement)', () => {
  assert.match(refusal('{"nested":{"a":1}}'), /no number, boolean or string key/);
  assert.match(refusal('[1,2]'), /JSON array, not an object/);
  assert.match(refusal('temp=96.5'), /not JSON/);
  assert.match(refusal('{"v":1,"ts":"yesterday"}', { time: 'ts' }), /time key 'ts' holds "yesterday", not an ISO 8601 time/);
  assert.match(refusal('{"v":1}', { time: 'ts' }), /no time key 'ts'/);
  assert.match(refusal('{"v":1}', { measurementKey: 'm' }), /measurementKey 'm' is missing/);
  // an empty one was said to be "not a string"
  assert.match(refusal('{"v":1,"m":""}', { measurementKey: 'm' }), /measurementKey 'm' is empty$/);
  assert.match(refusal('{"v":1,"m":{"a":1}}', { measurementKey: 'm' }), /measurementKey 'm' is object, not a string, number or boolean/);
  assert.match(refusal('{"v":1}', { fields: ['w'] }), /none of its fields w/);
});

test('ndjson body: the export lines by default, the payloads alone with records: payload (a payload not JSON set aside)', () => {
  const recs = [rec('{"i":0}', 'a/b', 1), rec('{\n  "i": 1\n}', 'a/b', 2), rec('plain text', 'a/b', 3)];
  const lines = new WebhookEncoder(opts()).encode(recs);
  assert.equal(lines.refused.size, 0);
  const parsed = lines.body
    .toString()
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    parsed.map((p) => [p.id, p.topic, p.receivedAt, p.payload ?? p.payloadText]),
    [
      ['up:1', 'a/b', T0, { i: 0 }],
      ['up:2', 'a/b', T0, { i: 1 }],
      ['up:3', 'a/b', T0, 'plain text'],
    ],
  );
  const payloads = new WebhookEncoder(opts({ records: 'payload' })).encode(recs);
  assert.equal(payloads.body.toString(), '{"i":0}\n{"i":1}\n');
  assert.deepEqual([...payloads.refused.keys()], [2]);
  assert.match(payloads.refused.get(2)!, /not JSON/);
});

test('json body: one array per batch, of export lines or payloads', () => {
  const recs = [rec('{"i":0}', 'a/b', 1), rec('7', 'a/b', 2)];
  const arr = JSON.parse(new WebhookEncoder(opts({ format: 'json' })).encode(recs).body.toString()) as Array<Record<string, unknown>>;
  assert.deepEqual(
    arr.map((r) => [r.seq, r.payload]),
    [
      [1, { i: 0 }],
      [2, 7],
    ],
  );
  assert.equal(new WebhookEncoder(opts({ format: 'json', records: 'payload' })).encode(recs).body.toString(), '[{"i":0},7]');
});

test('influx body: one line per record, the refused ones left out with their reason', () => {
  const out = new WebhookEncoder(opts({ format: 'influx', influx: { measurement: 'm' } })).encode([
    rec('{"v":1}', 'a', 1),
    rec('{}', 'a', 2),
    rec('{"v":2}', 'a', 3),
  ]);
  assert.match(out.body.toString(), /^m v=1 \d+\nm v=2 \d+\n$/);
  assert.deepEqual([...out.refused.keys()], [1]);
});

test('options: defaults, and the mistakes refused with their key', () => {
  const o = opts();
  assert.equal(o.method, 'POST');
  assert.equal(o.format, 'ndjson');
  assert.equal(o.maxRecords, 500);
  assert.equal(o.maxBatchBytes, 1024 * 1024);
  assert.equal(o.idempotencyHeader, 'Idempotency-Key');
  const refused = (block: Record<string, unknown>, key: RegExp): void => {
    assert.throws(
      () => parseDestinationOptions(webhookOptionsSchema, { type: 'webhook', url: 'http://x/w', ...block }, 'webhook'),
      (err: unknown) => {
        assert.ok(isGatehouseError(err, 'GH_DESTINATION_CONFIG'), String(err));
        assert.match((err as Error).message, key);
        return true;
      },
    );
  };
  refused({ url: 'ftp://x/w' }, /destination\.url/);
  refused({ method: 'GET' }, /destination\.method/);
  refused({ format: 'csv' }, /destination\.format/);
  refused({ auth: { type: 'bearer' } }, /destination\.auth\.token: give exactly one of token or tokenFile/);
  refused({ auth: { type: 'basic', username: 'u', password: 'p', passwordFile: '/p' } }, /give exactly one of password or passwordFile/);
  refused({ headers: { 'Content-Type': 'text/csv' } }, /destination\.headers\.Content-Type: header 'Content-Type' is set by the destination/);
  refused({ headers: { 'X-A': 'a\r\nX-B: b' } }, /line break/);
  refused({ headers: { 'Bad Name': 'v' } }, /not an HTTP header name/);
  refused({ format: 'influx', influx: { measurement: 'a', measurementKey: 'b' } }, /at most one of measurement/);
  refused({ format: 'influx', url: 'http://x/write?db=a&precision=s' }, /destination\.influx\.precision: the url says precision=s and influx\.precision is ns/);
  refused({ mehtod: 'PUT' }, /unknown key 'mehtod'/);
});
