// Table-driven tests of the AWS IoT SQL dialect: operators, conversions, functions, nested SELECT,
// VALUE, CASE, literals, templates, binary payloads and SQL-version differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSql, evaluateQuery } from '../../rules/sql/compiler.js';
import { EvalContext } from '../../rules/sql/context.js';
import { compileTemplate } from '../../rules/sql/template.js';
import type { Message } from '../../core/message.js';
import type { SqlVersion } from '../../rules/types.js';
import { sqlMessage as msg } from '../helpers/rules-sql.js';

/** Raw output text, or undefined when there is no output. */
function runRaw(sql: string, payload: string | Buffer = '{}', opts: { topic?: string; v?: SqlVersion; extra?: Partial<Message> } = {}): string | undefined {
  const q = compileSql(sql, { sqlVersion: opts.v });
  return evaluateQuery(q, new EvalContext(msg(payload, opts.topic, opts.extra)))?.toString('utf8');
}

/** Value of `SELECT VALUE <expr>` (undefined = Undefined / no output). */
function val(expr: string, payload = '{}', v?: SqlVersion): unknown {
  const out = runRaw(`SELECT VALUE ${expr} FROM 'a/b'`, payload, { v });
  return out === undefined ? undefined : JSON.parse(out);
}

const P = JSON.stringify({ s: 'str', n5: '5', i: 7, d: 2.5, t: true, z: null, arr: [1, 2, 3], o: { k: 'v', deep: { x: 1 } } });

test('operators and type conversions follow the AWS tables', () => {
  const cases: Array<[string, unknown]> = [
    ['1 + 2', 3],
    ['7 / 2', 3], // Int / Int stays Int
    ['7.0 / 2', 3.5], // a literal written 7.0 is a Decimal, even whole
    ['7.5 / 2', 3.75],
    ['-7 / 2', -3],
    ['7 % 3', 1],
    ['-7 % 3', -1],
    ['1 / 0', undefined],
    ["'a' + 1", 'a1'], // + concatenates when a side is a String
    ["1 + 'a'", '1a'],
    ["'5' - 2", 3], // other operators convert strings to Decimal
    ["'x' - 2", undefined],
    ["'2' * '3'", 6],
    ['true + 1', undefined],
    ['i + d', 9.5],
    ['n5 > 4', true], // string converted for comparison
    ["'abc' > 'abb'", undefined], // non-numeric strings do not compare
    ['i > missing', undefined],
    ['i = 7', true],
    ['i = 7.0', true],
    ['n5 = 5', false], // mismatched types are not equal
    ['z = null', true],
    ['missing = 1', undefined],
    ['arr = [1,2,3]', true],
    ["o = {'deep': {'x': 1}, 'k': 'v'}", true],
    ['i <> 8', true],
    ['missing <> 1', undefined],
    ["true AND 'TRUE'", true],
    ["true AND 'yes'", undefined],
    ['false OR t', true],
    ['NOT t', false],
    ["NOT 'false'", true],
    ['NOT 5', undefined],
    ['2 IN arr', true],
    ['9 IN arr', false],
    ['9 NOT IN arr', true],
    ['-d', -2.5],
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
  ];
  for (const [expr, want] of cases) assert.deepEqual(val(expr, P), want, expr);
});

/** Raw text of `SELECT VALUE <expr>` under 2015-10-08, which writes a whole Decimal as 2.0 (the type is visible). */
function v1(expr: string, payload = '{}'): string | undefined {
  return runRaw(`SELECT VALUE ${expr} FROM 'a/b'`, payload, { v: '2015-10-08' });
}

test('a literal keeps its Int or Decimal type through evaluation: 1500 / 1000.0 = 1.5 (the reported bug)', () => {
  const p = '{"values":{"p":1500}}';
  for (const v of ['2016-03-23', '2015-10-08'] as const) {
    assert.equal(runRaw("SELECT values.p / 1000.0 AS kpa FROM 'a/b'", p, { v }), '{"kpa":1.5}', v);
    assert.equal(runRaw("SELECT values.p / 1000 AS kpa FROM 'a/b'", p, { v }), '{"kpa":1}', v); // Int / Int stays Int
  }
  // Every way of writing a Decimal literal: point, exponent, negative, zero, leading/trailing point.
  const decimals: Array<[string, unknown]> = [
    ['values.p / 1.0e3', 1.5],
    ['values.p / 1e3', 1.5],
    ['values.p / 1000.', 1.5],
    ['values.p / -2.0', -750],
    ['3 / 2.0', 1.5],
    ['3.0 / 2', 1.5],
    ['-3.0 / 2', -1.5],
    ['0.0 + 3 / 2', 1], // 3 / 2 is Int division first; 0.0 + 1 is Decimal 1
    ['(0.0 + 3) / 2', 1.5],
    ['-(3.0) / 2', -1.5], // unary minus keeps the type
    ['-(3) / 2', -1],
    ['.5 * 4 / 8', 0.25],
  ];
  for (const [expr, want] of decimals) assert.deepEqual(val(expr, p), want, expr);
  // The type is visible where 2015-10-08 writes a whole Decimal with its point.
  const written: Array<[string, string]> = [
    ['1000.0', '1000.0'],
    ['1.0e3', '1000.0'],
    ['1e3', '1000.0'],
    ['-2.0', '-2.0'],
    ['0.0', '0.0'],
    ['-0.0', '0.0'],
    ['1000', '1000'],
    ['-2', '-2'],
    ['2.5', '2.5'],
  ];
  for (const [expr, want] of written) assert.equal(v1(expr), want, expr);
});

test('Int and Decimal through every operator and comparison (AWS operator tables)', () => {
  // 2015-10-08 output shows the result type: Int op Int is Int, any Decimal (or numeric String) operand makes a Decimal.
  const typed: Array<[string, string | undefined]> = [
    ['1 + 2', '3'],
    ['1 + 2.0', '3.0'],
    ['1.5 + 1.5', '3.0'],
    ['5 - 2', '3'],
    ['5.0 - 2', '3.0'],
    ['2.5 - 0.5', '2.0'],
    ['3 * 2', '6'],
    ['3 * 2.0', '6.0'],
    ['1.5 * 2', '3.0'],
    ['7 / 2', '3'],
    ['6.0 / 2', '3.0'],
    ['7 / 2.0', '3.5'],
    ['7 % 2', '1'],
    ['7.0 % 2', '1.0'],
    ['7 % 2.5', '2.0'],
    ["'5' - 2", '3.0'], // String converted to Decimal
    ["'6' * '1'", '6.0'],
    ['-(2.0)', '-2.0'],
    ["'a' + 2.0", '"a2"'], // + concatenates; a whole Decimal converts to the string "2"
    ['1 + true', undefined],
    ['1.0 / 0', undefined],
    ['1.0 % 0.0', undefined],
  ];
  for (const [expr, want] of typed) assert.equal(v1(expr), want, expr);
  // Comparisons convert both sides to Decimal; = converts an Int to Decimal first: 1 = 1.0.
  const cmp: Array<[string, unknown]> = [
    ['1 = 1.0', true],
    ['1.0 = 1', true],
    ['2.0 <> 2', false],
    ['2.0 <> 3', true],
    ['2.0 > 1', true],
    ['2.0 >= 2', true],
    ['2 < 2.0', false],
    ['2 <= 2.0', true],
    ["'2' = 2.0", false], // mismatched types
    ["'2.0' > 1.5", true], // numeric string converted
    ['[1, 2.0] = [1.0, 2]', true],
    ["{'a': 1.0} = {'a': 1}", true],
    ['2.0 IN [1, 2]', true],
    ['2 IN [1.0, 2.0]', true],
    ["CASE 1.0 WHEN 1 THEN 'one' ELSE 'other' END", 'one'],
    ['i = 7.0', true],
    ['i / 2.0', 3.5],
    ['d * 2', 5],
  ];
  for (const [expr, want] of cmp) assert.deepEqual(val(expr, P), want, expr);
});

test('CAST and functions type their results as the AWS tables say', () => {
  // 2016-03-23: the type shows in what follows (Decimal / 2 divides exactly, Int / 2 truncates).
  const v2: Array<[string, unknown]> = [
    ['cast(3 AS Decimal) / 2', 1.5],
    ['cast(3 AS Double) / 2', 1.5],
    ["cast('3' AS Decimal) / 2", 1.5],
    ['cast(true AS Decimal) / 2', 0.5], // true = 1.0
    ['cast(3.9 AS Int) / 2', 1], // rounded down to an Int
    ['cast(3.0 AS Int) / 2', 1],
    ['cast(2.0 AS Bool)', true],
    ['cast(0.0 AS Boolean)', false],
    ['cast(2.0 AS String)', '2'], // strings write a whole Decimal without a fraction
    ['cast(2.5 AS String)', '2.5'],
    ["concat('v', 2.0)", 'v2'],
    ['length(cast(10.0 AS String))', 2],
    ['sqrt(9) / 2', 1.5], // Decimal (double precision) even when whole
    ['power(2, 2) / 8', 0.5],
    ['log(100) / 4', 0.5],
    ['exp(0) / 2', 0.5],
    ['ceil(1.2) / 4', 0], // Int
    ['floor(4.0) / 8', 0],
    ['round(2.5) / 2', 1],
    ['sign(-2.0) / 2', 0], // Int: -1 / 2 truncates to 0
    ['abs(-3) / 2', 1], // Int stays Int
    ['abs(-3.0) / 2', 1.5], // Decimal stays Decimal
    ['mod(7, 2) / 2', 0],
    ['mod(7.0, 2) / 2', 0.5],
    ['remainder(7, 2.0) / 2', 0.5],
    ['trunc(2.00, 5) / 4', 0], // "trailing zeroes are stripped": an Int
    ['trunc(2.75, 1)', 2.7],
    ['bitand(6.0, 3)', 2],
    ['bitnot(0.0)', -1],
    ["get(['a', 'b'], 1.0)", 'b'],
    ["substring('012345', 2.0)", '2345'],
    ["lpad('x', 2.0)", '  x'],
    ['nanvl(2.0, 3) / 4', 0.5],
    ["get(cast(2 AS Decimal), 'amount')", undefined], // a number has no fields
  ];
  for (const [expr, want] of v2) assert.deepEqual(val(expr), want, expr);
  // 2015-10-08 writes the result type: the function examples of the reference (sqrt(9) = 3.0, power(2, 5) = 32.0, log(100) = 2.0).
  const v1Cases: Array<[string, string]> = [
    ['sqrt(9)', '3.0'],
    ['power(2, 5)', '32.0'],
    ['log(100)', '2.0'],
    ['atan2(0, 1)', '0.0'],
    ['ceil(1.2)', '2'],
    ['floor(-1.2)', '-2'],
    ['round(1.5)', '2'],
    ['sign(-7.5)', '-1'],
    ['abs(-5)', '5'],
    ['abs(-5.0)', '5.0'],
    ["abs('-5')", '5.0'],
    ['mod(8, 3)', '2'],
    ['mod(8.0, 3)', '2.0'],
    ['trunc(2.3, 0)', '2'],
    ['cast(2.0 AS Int)', '2'],
    ['cast(2 AS Double)', '2.0'],
  ];
  for (const [expr, want] of v1Cases) assert.equal(v1(expr), want, expr);
});

test('payload numbers: 2016-03-23 reads 10.0 as Int 10 (documented), 2015-10-08 keeps it a Decimal', () => {
  const p = '{"p":1500.0,"q":2.5,"e":1.5e3,"i":1500,"s":"1.0","arr":[1.0,2,3.50],"o":{"x":10.0}}';
  assert.equal(runRaw("SELECT p / 1000 AS a, e / 1000 AS b, i / 1000 AS c FROM 'a/b'", p), '{"a":1,"b":1,"c":1}');
  assert.equal(runRaw("SELECT p / 1000 AS a, e / 1000 AS b, i / 1000 AS c FROM 'a/b'", p, { v: '2015-10-08' }), '{"a":1.5,"b":1.5,"c":1}');
  // What a 2015-10-08 rule writes keeps the point of every whole Decimal it read or computed.
  assert.equal(
    runRaw("SELECT p, q, i, s, arr, o.x AS x FROM 'a/b'", p, { v: '2015-10-08' }),
    '{"p":1500.0,"q":2.5,"i":1500,"s":"1.0","arr":[1.0,2,3.5],"x":10.0}',
  );
  assert.equal(runRaw("SELECT *, p * 2 AS p2 FROM 'a/b'", '{"p":1.0,"n":null,"t":true}', { v: '2015-10-08' }), '{"p":1.0,"n":null,"t":true,"p2":2.0}');
  assert.equal(runRaw("SELECT *, p * 2 AS p2 FROM 'a/b'", '{"p":1.0,"n":null,"t":true}'), '{"p":1,"n":null,"t":true,"p2":2}');
  assert.equal(runRaw("SELECT VALUE arr FROM 'a/b'", p), '[1,2,3.5]');
  // SELECT * alone still passes the bytes as they came, in both versions.
  assert.equal(runRaw("SELECT * FROM 'a/b'", '{"p": 1.0}', { v: '2015-10-08' }), '{"p": 1.0}');
  // Payload corner cases read exactly as JSON.parse reads them, except the whole Decimals.
  const corner = '{"__proto__":{"x":1.0},"u":"\\u00e9\\"1.0","neg":-0.0,"big":1e400,"deep":[[[{"k":[2.0]}]]],"k":1,"k":2.0}';
  assert.equal(
    runRaw("SELECT * , 1 AS one FROM 'a/b'", corner, { v: '2015-10-08' }),
    '{"__proto__":{"x":1.0},"u":"é\\"1.0","neg":0.0,"big":null,"deep":[[[{"k":[2.0]}]]],"k":2.0,"one":1}',
  );
  assert.equal(runRaw("SELECT constructor FROM 'a/b'", corner, { v: '2015-10-08' }), '{}');
  // Nesting deeper than the parser's stack falls back to 2016-03-23 numbers, never an error.
  const deep = `${'['.repeat(100_000)}1.0${']'.repeat(100_000)}`;
  assert.equal(runRaw("SELECT topic() AS t FROM 'a/b' WHERE isNull(x) = false", deep, { v: '2015-10-08' }), '{"t":"a/b"}');
  // 2015-10-08 and 2016-03-23 rules read one shared message each their way.
  const ctx = new EvalContext(msg('{"p":3.0}'));
  const q1 = compileSql("SELECT VALUE p / 2 FROM 'a/b'", { sqlVersion: '2015-10-08' });
  const q2 = compileSql("SELECT VALUE p / 2 FROM 'a/b'");
  assert.equal(evaluateQuery(q2, ctx)?.toString(), '1');
  assert.equal(evaluateQuery(q1, ctx)?.toString(), '1.5');
  assert.equal(evaluateQuery(q2, ctx)?.toString(), '1');
});

test('field access: nested, indexes, missing fields are Undefined and dropped from output', () => {
  assert.equal(runRaw("SELECT o.deep.x AS x, o.nope.y AS y, arr[1] AS second, arr[9] AS none, o['k'] AS k FROM 'a/b'", P), '{"x":1,"second":2,"k":"v"}');
  assert.equal(runRaw("SELECT o.k, i FROM 'a/b'", P), '{"k":"v","i":7}');
  assert.equal(runRaw("SELECT constructor, toString FROM 'a/b'", P), '{}'); // no prototype leaks
  assert.equal(runRaw("SELECT *, 15 AS speed FROM 'a/b'", '{"color":"red"}'), '{"color":"red","speed":15}');
  assert.equal(runRaw("SELECT foo.bar AS bar.baz FROM 'a/b'", '{"foo":{"bar":3}}'), '{"bar":{"baz":3}}');
  assert.equal(runRaw("SELECT value FROM 'a/b'", '{"value":4}'), '{"value":4}'); // `value` as a field name
  assert.equal(runRaw("SELECT `select` AS s FROM 'a/b'", '{"select":1}'), '{"s":1}');
  assert.equal(runRaw("SELECT NULL AS n FROM 'a/b'", '{}'), '{"n":null}');
});

test('AWS reference examples', () => {
  assert.equal(
    runRaw("SELECT (temperature - 32) * 5 / 9 AS celsius, upper(color) as my_color FROM 'a/b'", '{"color":"red", "temperature":50}'),
    '{"celsius":10,"my_color":"RED"}',
  );
  assert.equal(runRaw("SELECT VALUE color FROM 'a/b'", '{"color":"red"}'), '"red"');
  assert.equal(runRaw("SELECT color.red as red_value FROM 'a/b'", '{"color":{"red":255}}'), '{"red_value":255}');
  assert.equal(
    runRaw("SELECT {'latitude': get(lat_long, 0),'longitude':get(lat_long, 1)} as lat_long FROM 'a/b'", '{"lat_long":[47.606,-122.332]}'),
    '{"lat_long":{"latitude":47.606,"longitude":-122.332}}',
  );
  assert.equal(runRaw("SELECT [lat,long] as lat_long FROM 'a/b'", '{"lat":47.696,"long":-122.332}'), '{"lat_long":[47.696,-122.332]}');
  assert.equal(
    runRaw(
      "SELECT CASE color WHEN 'green' THEN 'go' WHEN 'yellow' THEN 'caution' WHEN 'red' THEN 'stop' ELSE 'you are not at a stop light' END as instructions FROM 'a/b'",
      '{"color":"yellow"}',
    ),
    '{"instructions":"caution"}',
  );
  assert.equal(runRaw("SELECT CASE missing WHEN 1 THEN 'a' ELSE 'b' END AS r FROM 'a/b'", '{}'), '{}');
  assert.equal(runRaw("SELECT CASE WHEN t > 10 THEN 'hot' ELSE 'cold' END AS r FROM 'a/b'", '{"t":12}'), '{"r":"hot"}');
  assert.equal(
    runRaw("SELECT temp, md5(deviceid) AS hashed_id FROM 'a/b'", '{"deviceid":"iot123","temp":54.98}'),
    '{"temp":54.98,"hashed_id":"e37f81fb397e595c4aeb5645b8cbbbd1"}',
  );
});

test('nested object queries (2016-03-23)', () => {
  const e = '{"e":[{"n":"temperature","u":"Cel","t":1234,"v":22.5},{"n":"light","u":"lm","t":1235,"v":135},{"n":"acidity","u":"pH","t":1235,"v":7}]}';
  assert.equal(runRaw("SELECT (SELECT VALUE n FROM e) as sensors FROM 'my/topic'", e), '{"sensors":["temperature","light","acidity"]}');
  assert.equal(runRaw("SELECT (SELECT v FROM e WHERE n = 'temperature') as temperature FROM 'my/topic'", e), '{"temperature":[{"v":22.5}]}');
  assert.equal(runRaw("SELECT get((SELECT v FROM e WHERE n = 'temperature'), 0).v as temperature FROM 'topic'", e), '{"temperature":22.5}');
  const t3 = '{"data1":"example","data2":{"a":"first","b":"second","c":[{"x":{"someInt":5},"y":true},{"x":{"someInt":10},"y":false}]}}';
  assert.deepEqual(JSON.parse(runRaw("select value transform('enrichArray', (select a, b from data2), (select value c from data2)) from 'A/B'", t3)!), [
    { x: { someInt: 5 }, y: true, a: 'first', b: 'second' },
    { x: { someInt: 10 }, y: false, a: 'first', b: 'second' },
  ]);
  assert.deepEqual(
    JSON.parse(
      runRaw(
        "select value transform('enrichArray', {'key': attributes.data1}, values) from 'A/B'",
        '{"attributes":{"data1":1,"data2":2},"values":[{"a":3},{"b":4}]}',
      )!,
    ),
    [
      { a: 3, key: 1 },
      { b: 4, key: 1 },
    ],
  );
});

test('functions: table of results', () => {
  const cases: Array<[string, unknown]> = [
    ['abs(-5)', 5],
    ["abs('-5.123')", 5.123],
    ['abs(true)', undefined],
    ['abs(null)', undefined],
    ['acos(0)', 1.5707963267948966],
    ['asin(2)', undefined],
    ['atan2(1, 0)', 1.5707963267948966],
    ['bitand(13, 5)', 5],
    ['bitor(8, 5)', 13],
    ['bitxor(13, 5)', 8],
    ['bitnot(13)', -14],
    ["bitand('13.9', 5)", 5],
    ['cast(true as Int)', 1],
    ["cast('5.9' as Int)", 5],
    ['cast(2.5 as String)', '2.5'],
    ["cast('TRUE' as Boolean)", true],
    ['cast(0 as Bool)', false],
    ['cast([1,2] as String)', '[1,2]'],
    ['cast(null as String)', undefined],
    ['ceil(1.2)', 2],
    ['ceil(-1.2)', -1],
    ['floor(1.2)', 1],
    ['floor(-1.2)', -2],
    ['chr(65)', 'A'],
    ["chr('49')", '1'],
    ['chr(300)', undefined],
    ['concat()', undefined],
    ['concat(1)', 1],
    ['concat([1, 2, 3], 4)', [1, 2, 3, 4]],
    ["concat([1, 2, 3], 'hello')", [1, 2, 3, 'hello']],
    ["concat('con', 'cat')", 'concat'],
    ["concat(1, 'hello')", '1hello'],
    ["concat('he','is','man')", 'heisman'],
    ['cos(0)', 1],
    ['cosh(2.3)', 5.037220649268761],
    ['exp(0)', 1],
    ["endswith('cat','at')", true],
    ["endswith(null,'at')", undefined],
    ["startswith('ranger','ran')", true],
    ['startswith(123, 1)', true],
    ["get(['a', 'b', 'c'], 1)", 'b'],
    ["get({'a':'b'}, 'a')", 'b'],
    ["get('abc', 1)", 'b'],
    ["get(['a'], 5)", undefined],
    ['get_or_default(missing, 3)', 3],
    ['get_or_default(null, 3)', 3],
    ['get_or_default(1, 3)', 1],
    ["indexof('abcd', 'bc')", 1],
    ["indexof('abcd', 'x')", -1],
    ['isNull(5)', false],
    ['isNull(null)', true],
    ['isNull(missing)', false],
    ['isUndefined(missing)', true],
    ['isUndefined(floor([1,2,3]))', true],
    ["length('hi')", 2],
    ['length(false)', 5],
    ["numbytes('€')", 3],
    ['ln(1)', 0],
    ['log(100)', 2],
    ["lower('HELLO')", 'hello'],
    ["upper('hello')", 'HELLO'],
    ["lower(['HELLO'])", '["hello"]'],
    ["lpad('hello', 2)", '  hello'],
    ['lpad(1, 3)', '   1'],
    ["rpad('hello', 2)", 'hello  '],
    ["lpad('x', -5)", 'x'],
    ["ltrim(' h i ')", 'h i '],
    ["rtrim(' h i ')", ' h i'],
    ["trim(' hi ')", 'hi'],
    ['trim(null)', undefined],
    ['mod(8, 3)', 2],
    ['remainder(8, 3)', 2],
    ['mod(8, 0)', undefined],
    ["mod('8.5', 2)", 0.5],
    ['nanvl(8, 3)', 8],
    ['nanvl(missing, 3)', 3],
    ['nanvl(null, 3)', 3],
    ['power(2, 5)', 32],
    ["power('x', 2)", undefined],
    ["regexp_matches('aaaa', 'a{2,}')", true],
    ["regexp_matches('aaaa', 'b')", false],
    ["regexp_matches('a', '(')", undefined],
    ["regexp_replace('abcd', 'bc', 'x')", 'axd'],
    ["regexp_replace('abcd', 'b(.*)d', '$1')", 'ac'],
    ["regexp_replace('a1b22', '\\d+', '#')", 'a#b#'],
    // The replacement follows Java's Matcher (AWS runs on the JVM), not JavaScript's String.replace.
    ["regexp_replace('abc', 'b', '[$0]')", 'a[b]c'],
    ["regexp_replace('abc', '(?<x>b)', '<${x}>')", 'a<b>c'],
    ["regexp_replace('abc', 'b', '\\\\$')", 'a$c'], // SQL '\\$' is the replacement \$: a literal $
    ["regexp_replace('abc', '(b)', '$12')", 'ab2c'], // group 12 does not exist: group 1, then '2'
    ["regexp_replace('abc', '(x)?b', '[$1]')", 'a[]c'], // a group that did not take part adds ''
    ["regexp_replace('abc', 'b', '$&')", undefined], // Java: illegal group reference
    ["regexp_replace('abc', '(b)', '$2')", undefined], // Java: no group 2
    ["regexp_replace('abc', 'b', '$')", undefined],
    ["regexp_replace('abc', 'x', '$')", 'abc'], // no match: the replacement is never read
    ["regexp_substr('hihihello', 'hi')", 'hi'],
    ["regexp_substr('hihihello', '(hi)*')", 'hihi'],
    ["replace('abcd', 'bc', 'x')", 'axd'],
    ["replace('abcdabcd', 'b', 'x')", 'axcdaxcd'],
    ['round(1.2)', 1],
    ['round(1.5)', 2],
    ['round(1.7)', 2],
    ['round(-1.1)', -1],
    ['round(-1.5)', -2],
    ['sign(-7)', -1],
    ['sign(0)', 0],
    ['sign(13)', 1],
    ['sin(0)', 0],
    ['sinh(2.3)', 4.936961805545957],
    ['sqrt(9)', 3],
    ['sqrt(-1)', undefined],
    ['tan(3)', -0.1425465430742778],
    ['tanh(2.3)', 0.9800963962661914],
    ["substring('012345', 0)", '012345'],
    ["substring('012345', 2)", '2345'],
    ["substring('012345', 2.745)", '2345'],
    ['substring(123, 2)', '3'],
    ["substring('012345', -1)", '012345'],
    ['substring(true, 1.2)', 'rue'],
    ['substring(false, -2.411E247)', 'false'],
    ["substring('012345', 1, 3)", '12'],
    ["substring('012345', -50, 50)", '012345'],
    ["substring('012345', 3, 1)", ''],
    ['trunc(2.3, 0)', 2],
    ['trunc(2.3123, 2)', 2.31],
    ['trunc(2.888, 2)', 2.88],
    ['trunc(2.00, 5)', 2],
    ['trunc(-2.899, 1)', -2.8],
    ["md5('hello')", '5d41402abc4b2a76b9719d911017c592'],
    ["sha1('hello')", 'aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d'],
    ["sha256('hello')", '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824'],
    ["encode('hello', 'base64')", 'aGVsbG8='],
    ["decode('aGVsbG8=', 'base64')", 'hello'],
    ["decode('eyAidGVtcGVyYXR1cmUiOiAzMyB9Cg==', 'base64').temperature", 33],
    ["parse_time('yyyy.MM.dd G ''at'' HH:mm:ss z', 100000000, 'America/Belize')", '1970.01.01 AD at 21:46:40 CST'],
    ["parse_time('yyyy-MM-dd''T''HH:mm:ss.SSSZZ', 1700000000123)", '2023-11-14T22:13:20.123+00:00'],
    ["time_to_epoch('2020-04-03 09:45:18 UTC+01:00', 'yyyy-MM-dd HH:mm:ss VV')", 1585903518000],
    ["time_to_epoch('18 December 2015', 'dd MMMM yyyy')", 1450396800000],
    ["time_to_epoch('2007-12-03 10:15:30.592 America/Los_Angeles', 'yyyy-MM-dd HH:mm:ss.SSS z')", 1196705730592],
    ["time_to_epoch('garbage', 'yyyy')", undefined],
    ['sql_version()', '2016-03-23'],
  ];
  for (const [expr, want] of cases) assert.deepEqual(val(expr, P), want, expr);
  assert.match(String(val('newuuid()')), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  const r = val('rand()') as number;
  assert.ok(r >= 0 && r < 1);
});

test('context functions read the message', () => {
  const extra: Partial<Message> = {
    properties: {
      contentType: 'application/json',
      payloadFormatIndicator: true,
      correlationData: Buffer.from('id-1'),
      userProperties: { site: ['A', 'B'], line: '7' },
    },
  };
  const out = runRaw(
    "SELECT topic() AS t, topic(2) AS t2, topic(9) AS t9, clientid() AS c, principal() AS p, sourceip() AS ip, timestamp() AS ts, traceid() AS tr, get_mqtt_property('content_type') AS ct, get_mqtt_property('format') AS f, get_mqtt_property('correlation_data') AS cd, get_user_properties('site') AS site, get_user_properties('nope') AS nope FROM 'fleet/#'",
    '{}',
    { topic: 'fleet/truck7/engine', extra },
  );
  assert.deepEqual(JSON.parse(out!), {
    t: 'fleet/truck7/engine',
    t2: 'truck7',
    c: 'dev-1',
    p: 'alice',
    ip: '10.0.0.7',
    ts: 1_700_000_000_123,
    tr: 'trace-1',
    ct: 'application/json',
    f: 'UTF8_DATA',
    cd: Buffer.from('id-1').toString('base64'),
    site: ['A', 'B'],
  });
  assert.equal(runRaw("SELECT VALUE clientid() FROM 'a/b'", '{}', { extra: { source: { kind: 'serial', id: 'tty0' } } }), '"n/a"');
});

test('WHERE is evaluated first, cannot see aliases, Undefined means false', () => {
  assert.equal(runRaw("SELECT temp AS t FROM 'a/b' WHERE t > 1", '{"temp":5}'), undefined);
  assert.equal(runRaw("SELECT temp AS t FROM 'a/b' WHERE temp > 1", '{"temp":5}'), '{"t":5}');
  assert.equal(runRaw("SELECT * FROM 'a/b' WHERE missing > 1", '{"temp":5}'), undefined);
  assert.equal(runRaw("SELECT * FROM 'a/b' WHERE 'true'", '{"temp":5}'), '{"temp":5}');
});

test('binary payloads: SELECT * passes the bytes, function-only selects work, fields are Undefined', () => {
  const bin = Buffer.from([0x00, 0xff, 0x10, 0x80]);
  const q = compileSql("SELECT * FROM 'a/b'");
  const out = evaluateQuery(q, new EvalContext(msg(bin)));
  assert.ok(out?.equals(bin));
  assert.equal(runRaw("SELECT encode(*, 'base64') AS data, topic() AS t FROM 'a/b'", bin), `{"data":"${bin.toString('base64')}","t":"a/b"}`);
  assert.equal(runRaw("SELECT x, topic() AS t FROM 'a/b'", bin), '{"t":"a/b"}');
  assert.equal(runRaw("SELECT * FROM 'a/b' WHERE x = 1", bin), undefined);
  assert.equal(runRaw("SELECT * FROM 'a/b' WHERE timestamp() > 0", bin), bin.toString('utf8'));
  // JSON payload passthrough is byte-exact (no re-serialisation)
  assert.equal(runRaw("SELECT * FROM 'a/b'", '{ "a" : 1 }'), '{ "a" : 1 }');
});

test('SQL versions: 2015-10-08 refuses 2016-only features and top-level arrays', () => {
  for (const sql of [
    "SELECT {'a': 1} AS o FROM 'a/b'",
    "SELECT [1] AS o FROM 'a/b'",
    "SELECT (SELECT v FROM e) AS o FROM 'a/b'",
    "SELECT encode(*, 'base64') AS o FROM 'a/b'",
    "SELECT cast(1 AS Boolean) AS o FROM 'a/b'",
    "SELECT isUndefined(x) AS o FROM 'a/b'",
  ]) {
    assert.throws(
      () => compileSql(sql, { sqlVersion: '2015-10-08' }),
      (e: Error & { code?: string; where?: string }) =>
        e.code === 'GH_SQL_SEMANTIC' && /2016-03-23/.test(e.message) && /^line 1, column \d+$/.test(e.where ?? ''),
      sql,
    );
    assert.doesNotThrow(() => compileSql(sql), sql);
  }
  assert.equal(runRaw("SELECT VALUE arr FROM 'a/b'", '{"arr":[1,2]}', { v: '2015-10-08' }), undefined);
  assert.equal(runRaw("SELECT VALUE arr FROM 'a/b'", '{"arr":[1,2]}'), '[1,2]');
  assert.equal(val('sql_version()', '{}', '2015-10-08'), '2015-10-08');
  assert.equal(runRaw("SELECT cast(1 AS Int) AS o FROM 'a/b'", '{}', { v: '2015-10-08' }), '{"o":1}');
});

test('substitution templates accept any expression and are compiled once', () => {
  const ctx = new EvalContext(msg('{"device":{"id":"d9"},"n":3}', 'fleet/truck7/engine'));
  const t = compileTemplate("out/${topic(2)}/${device.id}/${n * 2}/${missing}/${upper('x')}");
  assert.equal(t.renderWith(ctx), 'out/truck7/d9/6//X');
  assert.match(compileTemplate('${newuuid()}').renderWith(ctx), /^[0-9a-f-]{36}$/);
  assert.equal(compileTemplate("${concat('a}', '{b')}").renderWith(ctx), 'a}{b');
  assert.equal(compileTemplate('plain/topic').constant, true);
  // A Decimal literal divides exactly in templates too; whole Decimals render without a fraction.
  assert.equal(compileTemplate('${n / 2.0}/${n * 1.0}/${n / 2}').renderWith(ctx), '1.5/3/1');
  for (const bad of ['x/${', 'x/${}', 'x/${topic(}', 'x/${nope()}']) {
    assert.throws(
      () => compileTemplate(bad),
      (e: Error & { code?: string }) => e.code === 'GH_TEMPLATE_INVALID',
      bad,
    );
  }
});

// A rule pattern that could backtrack exponentially on a crafted payload: V8's linear-time fallback
// (core/regex-safety.ts) finishes '(a+)+$' at once, but not a pattern with a back-reference, a
// lookaround or {n,m}: such a literal pattern is refused when the rule compiles, one read from the
// payload gives Undefined.
test('regexp functions: a pattern that could stall the gateway is refused at compile, Undefined at run time', () => {
  for (const fn of ["regexp_matches(s, '(a+)+\\\\1$')", "regexp_replace(s, '(\\\\w{1,20}\\\\s?)+$', 'x')", "regexp_substr(s, '(?=a)(a+)+$')"]) {
    assert.throws(
      () => compileSql(`SELECT VALUE ${fn} FROM 'a/b'`),
      (e: Error & { code?: string; hint?: string }) => /may backtrack exponentially/.test(e.message) && e.code === 'GH_SQL_SEMANTIC',
      fn,
    );
  }
  // what the linear engine runs passes, and is answered on a crafted input
  const crafted = JSON.stringify({ s: `${'a'.repeat(32)}!`, p: '(a+)+\\1$' });
  assert.equal(val("regexp_matches(s, '(a+)+$')", crafted), false);
  assert.equal(val('regexp_matches(s, p)', crafted), undefined);
});
