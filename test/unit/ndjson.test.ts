// The NDJSON export writer: its JSON scanner agrees with JSON.parse on valid, invalid and fuzzed
// payloads, and batches hold exactly the lines of their records (embedded, text or base64).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isJsonText, ndjsonLine, NdjsonWriter } from '../../gateway/upstream/destinations/ndjson.js';
import type { StoredRecord } from '../../gateway/store/types.js';

function parses(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

const VALID = [
  '{}',
  '[]',
  ' {"a":1} ',
  '\t[1, 2.5, -0.1e+3, 0, -0, 1E5]\t',
  '{"a":{"b":[true,false,null,"x\\"y\\\\z\\/\\b\\f\\n\\r\\t\\u00e9"]},"c":""}',
  '"just a string"',
  '42',
  '-7.25e-3',
  'true',
  'null',
  '{"temp":96.5,"unit":"°C","ok":true}',
  '[[[[[]]]]]',
  '{"a" : 1 , "b" : [ 1 , 2 ] }',
];
const INVALID = [
  '',
  ' ',
  '{',
  '}',
  '[1,]',
  '{"a":1,}',
  '{a:1}',
  "{'a':1}",
  '01',
  '1.',
  '.5',
  '1e',
  '-',
  '+1',
  'tru',
  'nul',
  'True',
  '"unterminated',
  '"bad \\x escape"',
  '"\\u12G4"',
  '"tab\tinside"',
  '{"a":1}{"b":2}',
  '[1 2]',
  '{"a" 1}',
  '{"a":}',
  'NaN',
  'Infinity',
  '\u00a0{}',
  '[1]]',
  '{"a":[1}',
];

test('the JSON scanner agrees with JSON.parse on valid and invalid texts', () => {
  for (const s of [...VALID, ...INVALID]) {
    const b = Buffer.from(s);
    const got = isJsonText(b, 0, b.length);
    assert.equal(got, parses(s), `${JSON.stringify(s)}: scanner ${got}, JSON.parse ${parses(s)}`);
  }
});

test('the JSON scanner agrees with JSON.parse on 20,000 fuzzed mutations of JSON texts', () => {
  // A seeded generator: the same cases on every run (a failure names the case).
  let seed = 0x9e3779b9;
  const rnd = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const alphabet = '{}[]",:0123456789.-+eEtrufalsn \t\\/u"abcAF';
  let checked = 0;
  for (let k = 0; k < 20_000; k++) {
    const base = VALID[rnd(VALID.length)]!;
    const chars = [...base];
    const edits = 1 + rnd(3);
    for (let e = 0; e < edits; e++) {
      const at = rnd(chars.length + 1);
      const op = rnd(3);
      const ch = alphabet[rnd(alphabet.length)]!;
      if (op === 0) chars.splice(at, 0, ch);
      else if (op === 1) chars.splice(at, 1);
      else chars.splice(at, 1, ch);
    }
    const s = chars.join('');
    const b = Buffer.from(s);
    const got = isJsonText(b, 0, b.length);
    if (got === undefined) continue;
    assert.equal(got, parses(s), `case ${k}: ${JSON.stringify(s)}`);
    checked++;
  }
  assert.ok(checked > 19_000);
});

test('nesting deeper than the scanner keeps is left to JSON.parse', () => {
  const deep = `${'['.repeat(500)}${']'.repeat(500)}`;
  assert.equal(isJsonText(Buffer.from(deep), 0, deep.length), undefined);
  const rec = record(1, deep);
  assert.deepEqual(JSON.parse(ndjsonLine(rec)).payload.length, 1);
});

function record(seq: number, payload: string | Buffer, extra: Partial<StoredRecord> = {}): StoredRecord {
  return { stream: 'archive', seq, topic: 'fleet/truck7/engine', receivedAt: 1_700_000_000_000 + seq, payload: Buffer.from(payload), ...extra } as StoredRecord;
}

test('a batch is the lines of its records: JSON embedded as sent, text, base64, pretty JSON on one line', () => {
  const recs = [
    record(1, '  {"temp":96.5, "n": 1e3}  '),
    record(2, 'temp=21.5 ok'),
    record(3, Buffer.from([0xff, 0x00, 0x7b])),
    record(4, '{\n  "a": 1\n}'),
    record(5, '{"x":"\u00e9\u{1F600}"}', { key: 'truck7', attrs: { error: 'e' } }),
    record(6, '{"temp":'),
    record(7, ''),
    { ...record(8, '1'), stream: 'other "quoted"', topic: 'a/\u00e9/b' },
  ];
  const text = new NdjsonWriter().batch(recs).toString('utf8');
  assert.ok(text.endsWith('\n'));
  const lines = text
    .slice(0, -1)
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, recs.length);
  // Embedded as sent (bytes kept, spaces around trimmed): 1e3 stays 1e3.
  assert.ok(
    text.startsWith(
      '{"id":"archive:1","stream":"archive","seq":1,"topic":"fleet/truck7/engine","receivedAt":1700000000001,"payload":{"temp":96.5, "n": 1e3}}\n',
    ),
  );
  assert.equal(lines[1]!.payloadText, 'temp=21.5 ok');
  assert.equal(lines[2]!.payloadBase64, Buffer.from([0xff, 0x00, 0x7b]).toString('base64'));
  assert.deepEqual(lines[3]!.payload, { a: 1 });
  assert.deepEqual(lines[4], {
    id: 'archive:5',
    stream: 'archive',
    seq: 5,
    topic: 'fleet/truck7/engine',
    receivedAt: 1_700_000_000_005,
    key: 'truck7',
    attrs: { error: 'e' },
    payload: { x: '\u00e9\u{1F600}' },
  });
  assert.equal(lines[5]!.payloadText, '{"temp":');
  assert.equal(lines[6]!.payloadText, '');
  assert.equal(lines[7]!.id, 'other "quoted":8');
  assert.equal(lines[7]!.stream, 'other "quoted"');
  assert.equal(lines[7]!.topic, 'a/\u00e9/b');
  assert.equal(lines[7]!.payload, 1);
});

test('a batch larger than the writer buffer grows it; later batches reuse it', () => {
  const w = new NdjsonWriter();
  const big = Array.from({ length: 3000 }, (_, i) => record(i, JSON.stringify({ i, pad: 'x'.repeat(100) })));
  const a = w.batch(big).toString('utf8').trim().split('\n');
  assert.equal(a.length, 3000);
  assert.equal((JSON.parse(a[2999]!) as { payload: { i: number } }).payload.i, 2999);
  const b = w.batch([record(1, '{"small":true}')]).toString('utf8');
  assert.equal(b.split('\n').length, 2);
  // The first batch's Buffer is a copy: the second did not overwrite it.
  assert.equal((JSON.parse(a[0]!) as { seq: number }).seq, 0);
});
