// AWS IoT SQL's SET clause: `SET @a = expr, @b = expr SELECT ...`. A variable is computed once per
// message, seen by the variables after it, SELECT, WHERE, nested SELECTs, function arguments and
// the rule's substitution templates (actions and error action).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSql, evaluateQuery } from '../../rules/sql/compiler.js';
import { EvalContext } from '../../rules/sql/context.js';
import { compileTemplate } from '../../rules/sql/template.js';
import type { GatehouseError } from '../../core/errors.js';
import type { Message } from '../../core/message.js';

function ctx(payload: string): EvalContext {
  const m: Message = { topic: 'device/7/data', payload: Buffer.from(payload), qos: 0, source: { kind: 'mqtt', id: 'dev-7' }, receivedAt: 1_700_000_000_000 };
  return new EvalContext(m);
}

function run(sql: string, payload = '{}'): string | undefined {
  return evaluateQuery(compileSql(sql), ctx(payload))?.toString();
}

test('SET variables: the AWS example, chained variables, WHERE, nested SELECT, JSON extensions, functions', () => {
  assert.equal(
    run(
      "SET @temp_celsius = (temp_fahrenheit - 32) * 5 / 9 SELECT @temp_celsius AS celsius, humidity FROM 'device/data'",
      '{"temp_fahrenheit":75,"humidity":60}',
    ),
    '{"celsius":23,"humidity":60}',
  );
  const hot = "SET @c = (t - 32) * 5 / 9.0, @hot = @c > 30 SELECT @c AS c, @hot AS hot FROM 'a/b' WHERE @hot";
  assert.equal(run(hot, '{"t":104}'), '{"c":40,"hot":true}');
  assert.equal(run(hot, '{"t":50}'), undefined, 'WHERE reads the variable');
  assert.equal(
    run("SET @o = {'a': 1, 'b': [1, 2]} SELECT @o.a AS a, @o.b[1] AS b, upper(@o) AS u FROM 'a/b'"),
    '{"a":1,"b":2,"u":"{\\"A\\":1,\\"B\\":[1,2]}"}',
  );
  assert.equal(run("set @n = 2 select (SELECT VALUE v * @n FROM e) AS doubled FROM 'a/b'", '{"e":[{"v":1},{"v":2}]}'), '{"doubled":[2,4]}');
  assert.equal(run("SET @a = 1 SELECT VALUE @a FROM 'a/b'"), '1');
  // Computed once per message: newuuid() in a variable is one id wherever it is used.
  const ids = JSON.parse(run("SET @id = newuuid() SELECT @id AS a, @id AS b FROM 'a/b'")!) as { a: string; b: string };
  assert.equal(ids.a, ids.b);
  // A field named set or a variable-free statement are unaffected.
  assert.equal(run("SELECT set FROM 'a/b'", '{"set":1}'), '{"set":1}');
});

test("SET variables reach the rule's templates with the value the SELECT saw", () => {
  const q = compileSql("SET @c = (f - 32) * 5 / 9, @id = newuuid() SELECT @id AS id FROM 'device/+/data'");
  assert.ok(q.variables);
  const t = compileTemplate('out/${topic(2)}/${@c}/${@id}', { variables: q.variables });
  const c = ctx('{"f":212}');
  const out = JSON.parse(evaluateQuery(q, c)!.toString()) as { id: string };
  assert.equal(t.renderWith(c), `out/7/100/${out.id}`);
  assert.throws(
    () => compileTemplate('${@nope}', { variables: q.variables }),
    (e: GatehouseError) => e.code === 'GH_TEMPLATE_INVALID' && /unknown variable @nope/.test(e.message),
  );
});

test('SET mistakes are refused with where and how to fix them', () => {
  const cases: Array<[string, string, string, RegExp]> = [
    ["SET @x = 1 SELECT @y AS y FROM 'a/b'", 'GH_SQL_SEMANTIC', 'line 1, column 19', /unknown variable @y/],
    ["SET @x = @y, @y = 1 SELECT @x AS x FROM 'a/b'", 'GH_SQL_SEMANTIC', 'line 1, column 10', /unknown variable @y/],
    ["SET @x = 1, @x = 2 SELECT @x AS x FROM 'a/b'", 'GH_SQL_SEMANTIC', 'line 1, column 13', /set twice/],
    ["SET x = 1 SELECT x FROM 'a/b'", 'GH_SQL_SYNTAX', 'line 1, column 5', /expected a variable such as @celsius/],
    ["SET @x 1 SELECT x FROM 'a/b'", 'GH_SQL_SYNTAX', 'line 1, column 8', /expected '='/],
    ["SET @x = 1 SET @y = 2 SELECT x FROM 'a/b'", 'GH_SQL_SYNTAX', 'line 1, column 12', /expected SELECT, found 'SET'/],
    ["SELECT @x AS x FROM 'a/b'", 'GH_SQL_SEMANTIC', 'line 1, column 8', /unknown variable @x/],
    ["SELECT @ AS x FROM 'a/b'", 'GH_SQL_SYNTAX', 'line 1, column 8', /unexpected character '@'/],
    ["SET @x = 1 SELECT count(*) AS n FROM 'a/b' GROUP BY TUMBLINGWINDOW(ss, 10)", 'GH_SQL_SEMANTIC', 'line 1, column 5', /not supported with GROUP BY/],
  ];
  for (const [sql, code, where, msg] of cases) {
    assert.throws(
      () => compileSql(sql),
      (e: GatehouseError) => {
        assert.equal(e.code, code, `${sql}: ${e.describe()}`);
        assert.equal(e.where, where, `${sql}: ${e.describe()}`);
        assert.match(e.message, msg, sql);
        assert.ok(e.hint, `${sql}: a hint`);
        return true;
      },
    );
  }
});
