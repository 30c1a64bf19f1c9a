// Parse and semantic errors: every bad statement is refused with line, column and what was expected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSql, evaluateQuery } from '../../rules/sql/compiler.js';
import { EvalContext } from '../../rules/sql/context.js';
import { parseSql } from '../../rules/sql/parser.js';
import { GatehouseError } from '../../core/errors.js';
import { createFunctionRegistry } from '../../rules/sql/functions/index.js';
import { AGGREGATES } from '../../rules/windows/aggregates.js';
import { AGG_SLOT_FN } from '../../rules/windows/context.js';

function failure(sql: string): GatehouseError {
  try {
    compileSql(sql);
  } catch (err) {
    assert.ok(err instanceof GatehouseError, `not a GatehouseError: ${String(err)}`);
    return err;
  }
  assert.fail(`accepted: ${sql}`);
}

test('syntax errors carry line, column and what was expected', () => {
  const cases: Array<[string, string, RegExp]> = [
    ["SELEC * FROM 'a'", 'line 1, column 1', /expected SELECT/],
    ["SELECT FROM 'a'", 'line 1, column 8', /expected a select item/],
    ["SELECT a, FROM 'a'", 'line 1, column 11', /expected a select item/],
    ['SELECT a FROM', 'line 1, column 14', /expected a topic filter/],
    ["SELECT a 'a/b'", 'line 1, column 10', /expected ',' or FROM/],
    ["SELECT a FROM 'a' WHERE", 'line 1, column 24', /expected an expression/],
    ["SELECT a FROM 'a' WHERE b >", 'line 1, column 28', /expected an expression/],
    ["SELECT upper(a FROM 'a'", 'line 1, column 16', /expected ',' or '\)'/],
    ["SELECT (a + 1 FROM 'a'", 'line 1, column 15', /expected '\)'/],
    ["SELECT 'abc FROM 'a'", 'line 1, column 19', /expected ',' or FROM, found 'a'/],
    ["SELECT a FROM 'a' WHERE b = 1 garbage", 'line 1, column 31', /expected end of statement/],
    ["SELECT CASE a THEN 1 END FROM 'a'", 'line 1, column 15', /expected WHEN/],
    ["SELECT CASE WHEN a THEN 1 FROM 'a'", 'line 1, column 27', /expected END/],
    ["SELECT a AS FROM 'a'", 'line 1, column 13', /expected an alias|expected ',' or FROM/],
    ["SELECT a FROM 'a'\nWHERE x = = 2", 'line 2, column 11', /expected an expression/],
    ["SELECT a # b FROM 'a'", 'line 1, column 10', /unexpected character '#'/],
    ["SELECT 1e FROM 'a'", 'line 1, column 8', /malformed number/],
    ["SELECT {'a' 1} AS o FROM 'a'", 'line 1, column 13', /expected ':'/],
    ["SELECT cast(a Int) FROM 'a'", 'line 1, column 15', /expected AS/],
    ["SELECT a FROM 'a' LIMIT x", 'line 1, column 25', /whole number/],
    ["SELECT select FROM 'a'", 'line 1, column 8', /expected a select item|expected an expression/],
  ];
  for (const [sql, where, msg] of cases) {
    const e = failure(sql);
    assert.equal(e.code, 'GH_SQL_SYNTAX', `${sql}: ${e.describe()}`);
    assert.equal(e.where, where, `${sql}: ${e.describe()}`);
    assert.match(e.message, msg, sql);
  }
});

test('semantic errors: unknown function, arity, cloud functions, bad filters, unsupported clauses', () => {
  const cases: Array<[string, string, RegExp]> = [
    ["SELECT nope(a) FROM 'a'", 'line 1, column 8', /unknown function nope/],
    ["SELECT abs(a, b) FROM 'a'", 'line 1, column 8', /abs\(\) takes 1 argument, got 2/],
    ["SELECT substring(a) FROM 'a'", 'line 1, column 8', /takes 2 to 3 arguments/],
    ["SELECT aws_lambda('arn', *) FROM 'a'", 'line 1, column 8', /cloud service/],
    ["SELECT cast(a AS Blob) FROM 'a'", 'line 1, column 18', /unknown cast type/],
    ["SELECT a FROM 'a/#/b'", 'line 1, column 15', /'#' must be the last level/],
    ["SELECT a FROM 'a/b+'", 'line 1, column 15', /'\+' must fill a whole level/],
    ["SELECT encode(a, 'hex') FROM 'a'", 'line 1, column 8', /only the 'base64'/],
    ["SELECT a FROM 'x' GROUP BY a", 'line 1, column 28', /GROUP BY is not supported yet/],
    ["SELECT a FROM 'x' ORDER BY a DESC LIMIT 5", 'line 1, column 28', /ORDER BY is not supported yet/],
    ["SELECT avg(a) OVER (PARTITION BY b) FROM 'x'", 'line 1, column 8', /avg\(\) is an aggregate: it needs a window/],
    ["SELECT abs(a) OVER (PARTITION BY b) FROM 'x'", 'line 1, column 15', /not supported yet/],
  ];
  for (const [sql, where, msg] of cases) {
    const e = failure(sql);
    assert.equal(e.code, 'GH_SQL_SEMANTIC', `${sql}: ${e.describe()}`);
    assert.equal(e.where, where, `${sql}: ${e.describe()}`);
    assert.match(e.message, msg, sql);
  }
});

test('every wrong-arity call of a built-in function or window aggregate hints its shape, from its declared arity', () => {
  const calls: Array<{ name: string; n: number; sql: (call: string) => string }> = [];
  const plain = (call: string): string => `SELECT ${call} FROM 't'`;
  const windowed = (call: string): string => `SELECT ${call} FROM 't' GROUP BY TUMBLINGWINDOW(ss, 10)`;
  for (const [defs, sql] of [
    [[...createFunctionRegistry().values(), { name: 'sql_version', minArgs: 0, maxArgs: 0 }], plain],
    [[...AGGREGATES.values()], windowed],
  ] as const) {
    for (const def of defs) {
      if (def.name === AGG_SLOT_FN) continue; // internal (a window's aggregate slot), never written by a user
      if (def.minArgs > 0) calls.push({ name: def.name, n: def.minArgs - 1, sql });
      if (def.maxArgs !== Infinity) calls.push({ name: def.name, n: def.maxArgs + 1, sql });
    }
  }
  assert.ok(calls.length > 100, `${calls.length} calls`);
  for (const { name, n, sql } of calls) {
    const e = failure(sql(`${name}(${Array.from({ length: n }, () => '1').join(', ')})`));
    assert.equal(e.code, 'GH_SQL_SEMANTIC', `${name} with ${n}: ${e.describe()}`);
    assert.match(e.message, new RegExp(`^${name}\\(\\) takes .* arguments?, got ${n}$`), `${name} with ${n}`);
    assert.match(e.hint ?? '', new RegExp(`^call it as ${name}\\(`), `${name} with ${n}: ${e.describe()}`);
  }
  // the shapes, from minArgs and maxArgs
  for (const [sql, shape] of [
    ["SELECT abs(1, 2) FROM 't'", 'abs(x)'],
    ["SELECT mod(1) FROM 't'", 'mod(x, y)'],
    ["SELECT substring('a') FROM 't'", 'substring(x, y[, z])'],
    ["SELECT get_user_properties(1, 2) FROM 't'", 'get_user_properties([x])'],
    ["SELECT anomaly_score() FROM 't'", 'anomaly_score(x, ...)'],
    ["SELECT sql_version(1) FROM 't'", 'sql_version()'],
    [windowed('count(1, 2)'), 'count(x)'],
  ] as const) {
    assert.equal(failure(sql).hint, `call it as ${shape} (docs/rules-sql.md, the AWS IoT SQL function reference)`, sql);
  }
  assert.equal(failure("SELECT sql_version(1) FROM 't'").message, 'sql_version() takes no arguments, got 1');
});

test('window and anomaly clauses parse into the AST', () => {
  const q = parseSql(
    "SELECT device, avg(temp) OVER (PARTITION BY device, site) AS a FROM 'f/+' WHERE temp > 1 GROUP BY device, site HAVING count(*) > 2 ORDER BY device DESC, a LIMIT 10",
  );
  assert.equal(q.groupBy?.length, 2);
  assert.ok(q.having);
  assert.deepEqual(
    q.orderBy?.map((o) => o.descending),
    [true, false],
  );
  assert.equal(q.limit?.value, 10);
  const item = q.items[1];
  assert.ok(item && item.kind === 'expr' && item.expr.kind === 'call' && item.expr.over?.partitionBy.length === 2);
});

test('unquoted FROM topics, case-insensitive keywords, multi-line statements', () => {
  assert.equal(compileSql('select * from topic/#').topicFilter, 'topic/#');
  assert.equal(compileSql("Select a\n  From 'x/+'\n  Where a > 1").topicFilter, 'x/+');
  const q = compileSql("SELECT \"it\"\"s\" AS s, 'a\\'b' AS t FROM 'a'");
  const out = evaluateQuery(q, new EvalContext({ topic: 'a', payload: Buffer.from('{}'), qos: 0, source: { kind: 'internal', id: 'x' }, receivedAt: 0 }));
  assert.equal(out?.toString(), '{"s":"it\\"s","t":"a\'b"}');
});

test('garbage and oversized input never crash the parser', () => {
  for (const junk of [
    '',
    '   ',
    '\u0000\u0001',
    'SELECT',
    "SELECT * FROM ''",
    '((((((((',
    ']]]]',
    'SELECT '.repeat(1000),
    `SELECT ${'('.repeat(500)}1${')'.repeat(500)} AS x FROM 'a'`,
  ]) {
    try {
      compileSql(junk);
    } catch (err) {
      assert.ok(err instanceof GatehouseError, `${JSON.stringify(junk.slice(0, 20))}: ${String(err)}`);
    }
  }
});

test('SQL of other dialects and text copied from documents is refused with where and how to fix it', () => {
  // [statement, where, hint]: what an AWS IoT user pastes (the SELECT example of the AWS reference
  // has an en dash in `(temperature – 32)`) or writes from habit (==, LIKE, IS NULL, IN (...), ;).
  const cases: Array<[string, string, RegExp]> = [
    ["SELECT (temperature \u2013 32) * 5 / 9 AS celsius FROM 'a/b'", 'line 1, column 21', /typographic dash.*write the minus sign -/],
    ["SELECT \u201cx\u201d AS y FROM 'a/b'", 'line 1, column 8', /typographic quote/],
    ["SELECT a FROM 'a/b' WHERE a == 5", 'line 1, column 30', /single = \(AWS IoT SQL has no ==\)/],
    ["SELECT a FROM 'a/b' WHERE a LIKE 'p%'", 'line 1, column 29', /regexp_matches/],
    ["SELECT a FROM 'a/b' WHERE a BETWEEN 1 AND 5", 'line 1, column 29', /x >= low AND x <= high/],
    ["SELECT a FROM 'a/b' WHERE a IS NOT NULL", 'line 1, column 29', /isNull\(x\).*isUndefined\(x\)/],
    ["SELECT a FROM 'a/b' WHERE a IN (1, 2, 3)", 'line 1, column 34', /\[a, b, c\] \(e\.g\. x IN \[1, 2, 3\]\)/],
    ["SELECT a FROM 'a/b' WHERE (a > 5", 'line 1, column 33', /close the \( opened at line 1, column 27/],
    ["SELECT a FROM 'a/b';", 'line 1, column 20', /no ';' terminator/],
    ["SELECT a FROM 'a/b' WHERE a = 1 -- only ones", 'line 1, column 33', /comment.*a - \(-1\)/],
    ["SELECT a FROM 'a/b' /* note */", 'line 1, column 21', /remove the comment/],
    ["SELECT a FROM 'a/b' WHERE a & 1", 'line 1, column 29', /bitand\(a, b\)/],
    ["SELECT DISTINCT a FROM 'a/b'", 'line 1, column 17', /no SELECT DISTINCT/],
    ["SELECT a, FROM 'a/b'", 'line 1, column 11', /remove the ',' before FROM/],
    ["SELECT a 'a/b'", 'line 1, column 10', /write FROM before the topic filter/],
    ["SELECT a FROM 'a/b' WHERE a = 1 AND AND b", 'line 1, column 37', /an expression is missing before AND/],
    // Typographic quotes around an unquoted filter would be part of the filter: a rule matching nothing.
    ['SELECT * FROM \u2018a/b\u2019', 'line 1, column 15', /between straight quotes/],
    ['SELECT * FROM a/\u201cb\u201d', 'line 1, column 17', /between straight quotes/],
  ];
  for (const [sql, where, hint] of cases) {
    const e = failure(sql);
    assert.equal(e.code, 'GH_SQL_SYNTAX', `${sql}: ${e.describe()}`);
    assert.equal(e.where, where, `${sql}: ${e.describe()}`);
    assert.match(e.hint ?? '', hint, `${sql}: ${e.describe()}`);
  }
  // Still accepted: a subtraction of a negative number written with a space, straight quotes.
  assert.equal(compileSql("SELECT a - -1 AS x FROM 'a/b'").topicFilter, 'a/b');
  assert.equal(compileSql('SELECT * FROM a/b').topicFilter, 'a/b');
});

test('a statement nested too deeply to compile is refused with a GH_SQL_SYNTAX saying so, not a RangeError', () => {
  for (const sql of [
    `SELECT ${'('.repeat(20_000)}1${')'.repeat(20_000)} AS x FROM 'a'`,
    `SELECT 1${' + 1'.repeat(20_000)} AS x FROM 'a'`,
    `SELECT ${'NOT '.repeat(20_000)}true AS x FROM 'a'`,
    `SELECT ${'['.repeat(20_000)}${']'.repeat(20_000)} AS x FROM 'a'`,
  ]) {
    const e = failure(sql);
    assert.equal(e.code, 'GH_SQL_SYNTAX', e.describe());
    assert.match(e.message, /nested too deeply/);
    assert.match(e.hint ?? '', /fewer nested/);
  }
});

test('a misspelt function name is answered with the closest one; a statement ending too early says so', () => {
  for (const [sql, near] of [
    ["SELECT uper(name) AS n FROM 'a/b'", /did you mean upper\(\)\?/],
    ["SELECT regex_matches(name, 'x') AS n FROM 'a/b'", /did you mean regexp_matches\(\)\?/],
    ["SELECT timestmp() AS n FROM 'a/b'", /did you mean timestamp\(\)\?/],
    // an aggregate of a windowed rule is a name too: cont(*) is count(*), not cos()
    ["SELECT cont(*) AS n FROM 'a/b' GROUP BY TUMBLINGWINDOW(ss, 10)", /did you mean count\(\)\?/],
    ["SELECT avgg(t) AS n FROM 'a/b' GROUP BY TUMBLINGWINDOW(ss, 10)", /did you mean avg\(\)\?/],
  ] as const) {
    const e = failure(sql);
    assert.equal(e.code, 'GH_SQL_SEMANTIC');
    assert.match(e.hint ?? '', near, e.describe());
  }
  assert.doesNotMatch(failure("SELECT zzzzzz(1) AS n FROM 'a/b'").hint ?? '', /did you mean/);
  // OVER takes PARTITION BY or nothing: a misspelt PARTITION gets the form, not the grammar page
  assert.match(failure("SELECT zscore(t) OVER (PARTITON BY topic()) AS n FROM 'a/b'").hint ?? '', /OVER \(PARTITION BY key, \.\.\.\).*OVER \(\)/);
  assert.match(failure("SELECT * FROM 'a/b' WHERE temp >").hint ?? '', /ends too early/);
  assert.match(failure('SELECT * FROM').hint ?? '', /topic filter the rule reads after FROM/);
});

test("decode's argument counts: 2 for 'base64', 6 for AWS's Protobuf form (its files: rules-proto.test.ts); other schemes refused", () => {
  // Without a descriptor folder (as here) the Protobuf form compiles on its arguments alone.
  assert.ok(compileSql("SELECT VALUE decode(*, 'proto', 'bucket', 'key.desc', 'file', 'Msg') FROM 'a/b'"));
  assert.match(failure("SELECT decode(*, 'proto', 'bucket') AS y FROM 'a/b'").message, /takes 6 arguments/);
  assert.match(failure("SELECT decode(x, 'base64', 1) AS y FROM 'a/b'").message, /takes 2 arguments \(value, 'base64'\), got 3/);
  assert.match(failure("SELECT decode(x, 'hex') AS y FROM 'a/b'").message, /supports the 'base64' and 'proto' schemes/);
});

test('FROM is optional, as in AWS IoT, for a rule reached only through Basic Ingest; not for one keeping state', () => {
  for (const sql of ['SELECT *', 'SELECT temp, topic(2) AS dev WHERE temp > 30', 'SET @t = temp SELECT @t AS t', 'SELECT VALUE temp']) {
    assert.equal(compileSql(sql).topicFilter, undefined, sql);
  }
  const cases: Array<[string, string, RegExp]> = [
    ['SELECT avg(temp) AS a GROUP BY TUMBLINGWINDOW(ss, 10)', 'line 1, column 23', /GROUP BY/],
    ['SELECT zscore(temp) OVER (PARTITION BY topic(2)) AS z', 'line 1, column 54', /a detector/],
    ['SELECT temp WHERE zscore(temp) OVER (PARTITION BY topic(2)) > 4', 'line 1, column 13', /a detector/],
  ];
  for (const [sql, where, what] of cases) {
    const e = failure(sql);
    assert.equal(e.code, 'GH_SQL_SEMANTIC', `${sql}: ${e.describe()}`);
    assert.equal(e.where, where, `${sql}: ${e.describe()}`);
    assert.match(e.message, /a rule without FROM runs only through Basic Ingest/, sql);
    assert.match(e.message, what, sql);
    assert.match(e.hint ?? '', /add FROM 'topic\/filter'/, sql);
  }
  // Still refused: something other than WHERE where FROM goes, and SELECT DISTINCT/TOP read as a field.
  assert.match(failure("SELECT a 'a/b'").message, /expected ',' or FROM/);
  assert.match(failure('SELECT DISTINCT a').hint ?? '', /no SELECT DISTINCT/);
  assert.match(failure('SELECT x FROM').message, /expected a topic filter/);
});
