// The prometheus destination's mapping (prometheus-series.ts), options (prometheus-options.ts) and
// wire format (prometheus-wire.ts): what samples a record makes, with which names and labels and at
// which time; what a batch sends (sorted, deduplicated, contradictions set aside); and the body read
// back through snappyjs's decompressor and protobufjs's decoder as a receiver would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import snappy from 'snappyjs';
import { isGatehouseError } from '../../core/errors.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import { labelOf, prometheusOptionsSchema, sanitiseName, type PrometheusOptions } from '../../gateway/upstream/destinations/prometheus-options.js';
import { recordSamples, writeBatch, type Label } from '../../gateway/upstream/destinations/prometheus-series.js';
import { decodeWriteRequest, encodeWriteRequest } from '../../gateway/upstream/destinations/prometheus-wire.js';
import { parseDestinationOptions } from '../../gateway/upstream/registry.js';

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const rec = (payload: unknown, topic = 'fleet/truck7/engine', seq = 1, receivedAt = T0): StoredRecord => ({
  stream: 'up',
  seq,
  topic,
  payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)),
  receivedAt,
});
const opts = (o: Record<string, unknown> = {}): PrometheusOptions => prometheusOptionsSchema.parse({ url: 'http://127.0.0.1:9/api/v1/write', ...o });
const labelsText = (labels: readonly Label[]): string => labels.map((l) => `${l.name}=${l.value}`).join(',');

/** name -> [labels without __name__, value, timestamp] of a record's samples. */
function samples(payload: unknown, o: Record<string, unknown> = {}, topic?: string): Record<string, [string, number, number]> {
  const out = recordSamples(rec(payload, topic), opts(o), 'depot-7');
  assert.ok('samples' in out, `samples: ${JSON.stringify(out)}`);
  const got: Record<string, [string, number, number]> = {};
  for (const s of out.samples) {
    const name = s.labels.find((l) => l.name === '__name__')!.value;
    got[name] = [labelsText(s.labels.filter((l) => l.name !== '__name__')), s.value, s.timestamp];
  }
  return got;
}
const refusal = (payload: unknown, o: Record<string, unknown> = {}): string => {
  const out = recordSamples(rec(payload), opts(o), 'depot-7');
  assert.ok('error' in out, `refused: ${JSON.stringify(out)}`);
  return out.error;
};

test('prometheus: by default each number and boolean is a sample named by its key, labelled gateway and topic, at the receive time in ms', () => {
  assert.deepEqual(samples({ temp: 96.5, rpm: 1200, running: true, off: false, state: 'run', nested: { x: 1 }, list: [1], none: null }), {
    temp: ['gateway=depot-7,topic=fleet/truck7/engine', 96.5, T0],
    rpm: ['gateway=depot-7,topic=fleet/truck7/engine', 1200, T0],
    running: ['gateway=depot-7,topic=fleet/truck7/engine', 1, T0],
    off: ['gateway=depot-7,topic=fleet/truck7/engine', 0, T0],
  });
});

test('prometheus: labels sorted by name, from payload keys, topic levels and externalLabels; topic and gateway labels renamed or left out', () => {
  const out = recordSamples(
    rec({ temp: 90, site: 'north', line: 3, empty: '' }),
    opts({
      labels: ['site', 'line', 'empty', 'absent'],
      topicLabels: { truck: 2 },
      externalLabels: { env: 'prod' },
      topicLabel: false,
      gatewayLabel: 'site_gw',
    }),
    'depot-7',
  );
  assert.ok('samples' in out);
  assert.equal(out.samples.length, 1, 'labels are not samples (line: 3 is a label, not a sample)');
  assert.equal(labelsText(out.samples[0]!.labels), '__name__=temp,env=prod,line=3,site=north,site_gw=depot-7,truck=truck7');
});

test('prometheus: metric names from prefix, metricKey or metricTopicLevel, sanitised to [a-zA-Z_:][a-zA-Z0-9_:]*', () => {
  assert.deepEqual(Object.keys(samples({ temp: 1, 'temp-C': 2, '2nd': 3, 'a.b c': 4, 'r:w': 5 }, { prefix: 'plant', topicLabel: false })), [
    'plant_temp',
    'plant_temp_C',
    'plant_2nd',
    'plant_a_b_c',
    'plant_r:w',
  ]);
  assert.deepEqual(Object.keys(samples({ temp: 1 }, { metricTopicLevel: 3 })), ['engine_temp']);
  assert.deepEqual(Object.keys(samples({ kind: 'cold-room', temp: 1 }, { metricKey: 'kind' })), ['cold_room_temp'], 'metricKey is not a sample');
  assert.deepEqual(Object.keys(samples({ '9lives': 1 })), ['_9lives'], 'a leading digit gets _');
  assert.equal(sanitiseName('ünits/s', true), '_nits_s');
  assert.equal(labelOf('__name__'), '_name__', 'a payload key cannot write a Prometheus-reserved label');
  assert.match(refusal({ kind: 'x', temp: 1 }, { metricTopicLevel: 5 }), /has no level 5 \(metricTopicLevel\)/);
  assert.match(refusal({ temp: 1 }, { metricKey: 'kind' }), /its metricKey 'kind' is missing/);
  assert.match(refusal({ 'temp-C': 1, temp_C: 2 }), /keys 'temp-C' and 'temp_C' both become the metric temp_C/);
});

test('prometheus: time from a payload key (number in timeUnit or ISO 8601), in ms', () => {
  assert.equal(samples({ t: 1_700_000_000, v: 1 }, { time: 't', timeUnit: 's' }).v![2], 1_700_000_000_000);
  assert.equal(samples({ t: 1_700_000_000_123_456, v: 1 }, { time: 't', timeUnit: 'us' }).v![2], 1_700_000_000_123, 'us floored to ms');
  assert.equal(samples({ t: '2026-01-02T03:04:05.678Z', v: 1 }, { time: 't' }).v![2], T0);
  assert.equal(Object.keys(samples({ t: 1, v: 1 }, { time: 't' })).join(), 'v', 'the time key is not a sample');
  assert.match(refusal({ v: 1 }, { time: 't' }), /no time key 't'/);
  assert.match(refusal({ v: 1, t: 'yesterday' }, { time: 't' }), /not an ISO 8601 time/);
});

test('prometheus: a record without a number is refused with the reason', () => {
  assert.match(refusal({ state: 'run', where: { x: 1 } }), /no number or boolean key to write as a sample/);
  assert.match(refusal('not json'), /not JSON/);
  assert.match(refusal([1, 2]), /JSON array, not an object/);
  assert.match(refusal({ temp: 'hot' }, { fields: ['temp'] }), /none of its fields temp holds a number/);
});

test('prometheus batch: samples of a series sorted by time, one series per label set, a resent identical sample once, a contradicting one refused', () => {
  const o = opts({ time: 't' });
  const batch = writeBatch(
    [
      rec({ t: 3000, temp: 3 }, 'a', 1),
      rec({ t: 1000, temp: 1 }, 'a', 2),
      rec({ t: 2000, temp: 2 }, 'b', 3),
      rec({ t: 1000, temp: 1 }, 'a', 4), // the same as seq 2: left out of the request, delivered
      rec({ t: 3000, temp: 30, rpm: 5 }, 'a', 5), // temp contradicts seq 1: the whole record refused (rpm too)
      rec({ state: 'x', t: 5 }, 'a', 6),
    ],
    o,
    'gw',
  );
  assert.deepEqual(
    [...batch.refused].map(([i, r]) => [i, r.code]),
    [
      [4, 'DUPLICATE'],
      [5, 'NO_SAMPLE'],
    ],
  );
  assert.match(batch.refused.get(4)!.reason, /record up:1 gives temp\{gateway="gw",topic="a"\} the value 3 at the same millisecond \(3000\), this one 30/);
  assert.equal(batch.samples, 3);
  const bySeries = batch.series.map((s) => [labelsText(s.labels), s.samples.map((x) => [x.timestamp, x.value])]);
  assert.deepEqual(bySeries, [
    [
      '__name__=temp,gateway=gw,topic=a',
      [
        [1000, 1],
        [3000, 3],
      ],
    ],
    ['__name__=temp,gateway=gw,topic=b', [[2000, 2]]],
  ]);
});

test('prometheus batch: records of two topics in one series (topicLabel false, nothing else telling them apart) are named as merged; told apart, not', () => {
  const records = [rec({ temp: 1 }, 'fleet/t3/engine', 1, T0), rec({ temp: 2 }, 'fleet/t4/engine', 2, T0 + 70)];
  const merged = writeBatch(records, opts({ topicLabel: false }), 'gw').merged;
  assert.deepEqual(merged, { series: 'temp{gateway="gw"}', topics: ['fleet/t3/engine', 'fleet/t4/engine'] });
  assert.equal(writeBatch(records, opts({ topicLabel: false, topicLabels: { truck: 2 } }), 'gw').merged, undefined);
  assert.equal(writeBatch(records, opts(), 'gw').merged, undefined);
});

test('prometheus: a key with no letter or digit of its own (温度, 湿度: both the metric __) is refused, not written into a series shared with other such keys', () => {
  // Found by the round-39 trial: {"温度":20} and {"湿度":60} of one device went into one series __.
  assert.match(
    refusal({ 温度: 20 }),
    /its key '温度' has no letter or digit .* the name __, shared with every other such key; rename it in the rule's SELECT \(SELECT `温度` AS temp/,
  );
  assert.match(refusal({ 湿度: 60, rpm: 3 }, { prefix: 'plant' }), /its key '湿度' has no letter or digit/);
  assert.deepEqual(Object.keys(samples({ température: 3, '2nd': 5 })), ['temp_rature', '_2nd'], 'a key with letters of its own stays');
  assert.ok('samples' in recordSamples(rec({ 湿度: 60, rpm: 3 }), opts({ fields: ['rpm'] }), 'gw'), 'left out with fields');
});

test('prometheus: a time more than maxFutureMs ahead of the clock is refused (FUTURE); without time the receive time is never checked', () => {
  const now = T0;
  const ahead = recordSamples(rec({ temp: 1, t: now + 11 * 60_000 }), opts({ time: 't' }), 'gw', now);
  assert.ok('error' in ahead && ahead.code === 'FUTURE', JSON.stringify(ahead));
  assert.match(ahead.error, /is 0\.2 h ahead of the gateway's clock/);
  assert.ok('samples' in recordSamples(rec({ temp: 1, t: now + 9 * 60_000 }), opts({ time: 't' }), 'gw', now));
  assert.ok('samples' in recordSamples(rec({ temp: 1, t: now + 11 * 60_000 }), opts({ time: 't', maxFutureMs: 0 }), 'gw', now));
  assert.ok('samples' in recordSamples(rec({ temp: 1 }, 'a', 1, now + 3_600_000), opts(), 'gw', now));
});

test('prometheus wire: the body is snappy block format of a WriteRequest, read back by snappyjs and protobufjs as sent', () => {
  const o = opts({ labels: ['site'], time: 't' });
  const records = Array.from({ length: 50 }, (_, i) => rec({ t: T0 + i, temp: 20 + i / 4, on: i % 2 === 0, site: `s${i % 3}` }, `d/${i % 5}`, i + 1));
  const batch = writeBatch(records, o, 'depot-7');
  const body = encodeWriteRequest(batch.series);
  // A receiver's view: the snappy block first (not the framed format: it would start with 0xff 'sNaPpY').
  assert.notEqual(body[0], 0xff);
  const raw = snappy.uncompress(body);
  assert.ok(raw.length > body.length, 'compressed');
  const back = decodeWriteRequest(body);
  assert.deepEqual(
    back.timeseries.map((s) => ({
      labels: s.labels.map((l) => ({ name: l.name, value: l.value })),
      samples: s.samples.map((x) => ({ value: x.value, timestamp: x.timestamp })),
    })),
    batch.series,
  );
  assert.equal(
    back.timeseries.reduce((n, s) => n + s.samples.length, 0),
    100,
  );
  for (const s of back.timeseries) {
    const names = s.labels.map((l) => l.name);
    assert.deepEqual(names, [...names].sort(), 'labels sorted by name');
    const ts = s.samples.map((x) => x.timestamp);
    assert.deepEqual(
      ts,
      [...ts].sort((a, b) => a - b),
      'samples sorted by time',
    );
  }
  // A timestamp past 2^32 ms and a value of full double precision survive.
  const one = decodeWriteRequest(
    encodeWriteRequest([{ labels: [{ name: '__name__', value: 'x' }], samples: [{ value: 0.1 + 0.2, timestamp: 4_102_444_800_123 }] }]),
  );
  assert.deepEqual(one.timeseries[0]!.samples, [{ value: 0.1 + 0.2, timestamp: 4_102_444_800_123 }]);
});

test('prometheus options: bad ones refused with their key, every problem at once', () => {
  const bad = (o: Record<string, unknown>): string => {
    try {
      parseDestinationOptions(prometheusOptionsSchema, { type: 'prometheus', ...o }, 'prometheus');
    } catch (err) {
      assert.ok(isGatehouseError(err, 'GH_DESTINATION_CONFIG'), String(err));
      return err.message;
    }
    assert.fail('accepted');
  };
  assert.match(bad({}), /destination\.url/);
  assert.match(bad({ url: 'ftp://x/api/v1/write' }), /destination\.url/);
  const many = bad({
    url: 'http://p:9090/api/v1/write',
    prefix: '9x',
    topicLabels: { 'bad-name': 2 },
    externalLabels: { __name__: 'x' },
    bogus: 1,
  });
  for (const want of [
    /destination\.prefix: .*not the start of a Prometheus metric name/,
    /destination\.topicLabels\.bad-name/,
    /destination\.externalLabels\.__name__.*reserved/,
    /unknown key 'bogus'/,
  ])
    assert.match(many, want);
  // The checks across keys, once each key is valid on its own.
  const across = bad({
    url: 'http://p:9090/api/v1/write',
    prefix: 'plant',
    metricTopicLevel: 2,
    externalLabels: { topic: 'y' },
    labels: ['gateway'],
    headers: { 'Content-Encoding': 'gzip' },
  });
  for (const want of [
    /give at most one of prefix, metricKey, metricTopicLevel/,
    /label 'topic' is given twice \(topicLabel and externalLabels\)/,
    /label 'gateway' is given twice \(gatewayLabel and labels\)/,
    /header 'Content-Encoding' is set by the destination itself/,
  ])
    assert.match(across, want);
});
