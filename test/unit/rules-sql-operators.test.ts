// The AWS IoT SQL operator tables, row by row (AWS IoT developer guide, "Operators", and the
// "Conversions" tables of "Data types"), through the real compiler and evaluator. Each case names
// the table row it checks; both SQL versions give the same values here (2015-10-08 also shows
// whether a whole result is an Int or a Decimal: `3` vs `3.0`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSql, evaluateQuery } from '../../rules/sql/compiler.js';
import { EvalContext } from '../../rules/sql/context.js';
import { isGatehouseError } from '../../core/errors.js';

const P = JSON.stringify({
  i: 7,
  d: 2.5,
  s: 'str',
  n5: '5',
  t: true,
  z: null,
  arr: [1, 2, 3],
  same: [1, 2, 3],
  rev: [3, 2, 1],
  o: { a: 1, b: 'v' },
  o2: { b: 'v', a: 1.0 },
});

/** Raw output of `SELECT VALUE <expr>` ('Undefined' when there is no output). */
function run(expr: string, v: '2016-03-23' | '2015-10-08'): string {
  const q = compileSql(`SELECT VALUE ${expr} FROM 'a/b'`, { sqlVersion: v });
  const m = { topic: 'a/b', payload: Buffer.from(P), qos: 0 as const, source: { kind: 'mqtt' as const, id: 'c' }, receivedAt: 0, traceId: 't' };
  return evaluateQuery(q, new EvalContext(m))?.toString('utf8') ?? 'Undefined';
}

// [table: row, expression, 2015-10-08 output (2016-03-23 writes a whole Decimal without ".0")]
const ROWS: Array<[string, string, string]> = [
  ['AND: Boolean, Boolean', 'true AND false', 'false'],
  ['AND: String/Boolean, String/Boolean ("true"/"false", any case)', "'TRUE' AND t", 'true'],
  ['AND: Other value, Other value', "true AND 'yes'", 'Undefined'],
  ['AND: Other value (Null)', 'true AND z', 'Undefined'],
  ['AND: Other value (Undefined), even when the other side is false', 'false AND missing', 'Undefined'],
  ['OR: Boolean, Boolean', 'false OR t', 'true'],
  ['OR: String/Boolean, String/Boolean', "'false' OR 'False'", 'false'],
  ['OR: Other value, Other value', 'true OR 1', 'Undefined'],
  ['NOT: Boolean', 'NOT t', 'false'],
  ['NOT: String "true"/"false"', "NOT 'FALSE'", 'true'],
  ['NOT: Other value (Int)', 'NOT 0', 'Undefined'],
  ['NOT: Other value (Null)', 'NOT z', 'Undefined'],
  ['>: Int/Decimal, Int/Decimal', 'd > 2', 'true'],
  ['>: String/Int/Decimal, all strings convert', "n5 > '4.5'", 'true'],
  ['>: a String converts when it matches ^-?\\d+(\\.\\d+)?((?i)E-?\\d+)?$', "'1E1' > 9", 'true'],
  ['>: a String that does not match (space, +, trailing point) is Undefined', "'+3' > 2", 'Undefined'],
  ['>: String, String that do not convert', "'abc' > 'abb'", 'Undefined'],
  ['>: Other value (Boolean)', 'true > 0', 'Undefined'],
  ['>: Other value (Null)', 'z > 0', 'Undefined'],
  ['>: Undefined', 'missing > 0', 'Undefined'],
  ['>=: Int/Decimal, Int/Decimal (Int converted to Decimal)', '2 >= 2.0', 'true'],
  ['<: String/Int/Decimal', "1 < '2'", 'true'],
  ['<: Other value (Array)', 'arr < 5', 'Undefined'],
  ['<=: String/Int/Decimal', "'2' <= 2", 'true'],
  ['=: Int, Int', 'i = 7', 'true'],
  ['=: Decimal, Decimal (Int converted to Decimal)', 'i = 7.0', 'true'],
  ['=: String, String (case matters)', "s = 'STR'", 'false'],
  ['=: Array, Array (same items, same order)', 'arr = same', 'true'],
  ['=: Array, Array (other order)', 'arr = rev', 'false'],
  ['=: Object, Object (key order unimportant)', 'o = o2', 'true'],
  ['=: Null, Null', 'z = null', 'true'],
  ['=: Any value, Undefined', 'i = missing', 'Undefined'],
  ['=: Undefined, Any value', 'missing = z', 'Undefined'],
  ['=: Mismatched type (String, Int)', 'n5 = 5', 'false'],
  ['=: Mismatched type (Boolean, String)', "t = 'true'", 'false'],
  ['=: Mismatched type (Boolean, Int)', 't = 1', 'false'],
  ['=: Mismatched type (Null, Int)', 'z = 0', 'false'],
  ['<>: Int, Int', 'i <> 8', 'true'],
  ['<>: Decimal, Decimal (Int converted to Decimal)', '2.0 <> 2', 'false'],
  ['<>: Array, Array (other order)', 'arr <> rev', 'true'],
  ['<>: Object, Object', 'o <> o2', 'false'],
  ['<>: Null, Null', 'z <> null', 'false'],
  ['<>: Any value, Undefined', 'i <> missing', 'Undefined'],
  ['<>: Mismatched type', 'n5 <> 5', 'true'],
  ['+: String, Any value (right operand converted to a string)', 's + 1', '"str1"'],
  ["+: Any value, String (left operand converted to a string): 1 + 'x'", "1 + 'x'", '"1x"'],
  ['+: Any value (Boolean), String', "t + 'x'", '"truex"'],
  ['+: Any value (Array), String (the Array serialised to JSON)', "arr + 'x'", '"[1,2,3]x"'],
  ['+: String, Null (Null has no string form: Undefined)', 's + z', 'Undefined'],
  ['+: String, Undefined', 's + missing', 'Undefined'],
  ['+: numeric String, Int (concatenates, no conversion)', 'n5 + 2', '"52"'],
  ['+: Int, Int', '1 + 2', '3'],
  ['+: Int/Decimal, Int/Decimal', '1 + 2.0', '3.0'],
  ['+: Other value, Other value', 'true + 1', 'Undefined'],
  ['+: Other value (Null), Int', 'z + 1', 'Undefined'],
  ['-: Int, Int', '5 - 2', '3'],
  ['-: Int/Decimal, Int/Decimal', '5 - 2.0', '3.0'],
  ['-: String/Int/Decimal, strings convert (Decimal)', 'n5 - 2', '3.0'],
  ['-: String/Int/Decimal, a string does not convert', 's - 2', 'Undefined'],
  ['-: Other value', 'z - 1', 'Undefined'],
  ['*: Int, Int', '3 * 2', '6'],
  ['*: Int/Decimal, Int/Decimal', '3 * 2.0', '6.0'],
  ['*: String/Int/Decimal (Decimal)', "'3' * '2'", '6.0'],
  ['*: Other value', 't * 2', 'Undefined'],
  ['/: Int, Int (Int: truncated toward zero)', '-7 / 2', '-3'],
  ['/: Int/Decimal, Int/Decimal', '7 / 2.0', '3.5'],
  ['/: String/Int/Decimal (Decimal)', "'7' / 2", '3.5'],
  ['/: Other value', 'arr / 2', 'Undefined'],
  ['%: Int, Int (Int, sign of the dividend)', '-7 % 3', '-1'],
  ['%: String/Int/Decimal (Decimal)', "'7' % 2", '1.0'],
  ['%: Int, Decimal (Decimal)', '7 % 2.5', '2.0'],
  ['%: Other value', 't % 2', 'Undefined'],
];

test('every row of the AWS operator tables', () => {
  for (const [row, expr, want] of ROWS) {
    assert.equal(run(expr, '2015-10-08'), want, `${row}: ${expr}`);
    assert.equal(run(expr, '2016-03-23'), want.replace(/^(-?\d+)\.0$/, '$1'), `${row}: ${expr} (2016-03-23)`);
  }
});

test('|| is not an AWS IoT SQL operator: the syntax error says how to concatenate', () => {
  assert.throws(
    () => compileSql("SELECT 'a' || 'b' AS x FROM 'a/b'"),
    (e: unknown) => isGatehouseError(e, 'GH_SQL_SYNTAX') && /column 12/.test(String(e.where)) && /\+ or concat\(/.test(String(e.hint)),
  );
});
