// get_thing_shadow() against a ShadowLookup (the gateway's local shadows, handed in as the Protobuf
// descriptors are): the AWS SQL reference's statements, classic and named, the role ARN taken and
// not used, Undefined for a shadow that does not exist or a name that is no string.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSql, evaluateQuery } from '../../rules/sql/compiler.js';
import { EvalContext } from '../../rules/sql/context.js';
import { createFunctionRegistry, NO_SHADOWS } from '../../rules/index.js';
import type { ShadowLookup } from '../../rules/types.js';
import { sqlMessage } from '../helpers/rules-sql.js';

const asked: Array<[string, string | undefined]> = [];
const shadows: ShadowLookup = {
  get(thing, name) {
    asked.push([thing, name]);
    if (thing !== 'MyThing') return undefined;
    return { state: { reported: { alarm: name === 'MyThingShadow' ? 'ON' : 'OFF' } }, version: 3 };
  },
};

function run(sql: string, lookup: ShadowLookup, payload = '{}'): string | undefined {
  const q = compileSql(sql, { functions: createFunctionRegistry({ shadows: lookup }) });
  return evaluateQuery(q, new EvalContext(sqlMessage(payload)))?.toString('utf8');
}

test("the reference's get_thing_shadow statements read the lookup: named (three arguments) and classic (two)", () => {
  const role = 'arn:aws:iam::123456789012:role/AllowsThingShadowAccess';
  assert.equal(
    run(`SELECT * from 'a/b' WHERE get_thing_shadow("MyThing","MyThingShadow","${role}").state.reported.alarm = 'ON'`, shadows, '{"x":1}'),
    '{"x":1}',
  );
  assert.equal(run(`SELECT * from 'a/b' WHERE get_thing_shadow("MyThing","${role}").state.reported.alarm = 'ON'`, shadows, '{"x":1}'), undefined);
  assert.equal(run(`SELECT get_thing_shadow(thing, 'r').version AS v FROM 'a/b'`, shadows, '{"thing":"MyThing"}'), '{"v":3}');
  assert.deepEqual(asked, [
    ['MyThing', 'MyThingShadow'],
    ['MyThing', undefined],
    ['MyThing', undefined],
  ]);
  // none: Undefined (the item is left out); a thing that is no string: Undefined, nothing asked
  assert.equal(run("SELECT get_thing_shadow('other', 'r') AS s FROM 'a/b'", shadows), '{}');
  asked.length = 0;
  assert.equal(run("SELECT get_thing_shadow(missing, 'r') AS s FROM 'a/b'", shadows), '{}');
  assert.deepEqual(asked, []);
  // where no gateway runs (rules check, rules eval): it compiles, and finds nothing
  assert.equal(run("SELECT get_thing_shadow('MyThing', 'r') AS s FROM 'a/b'", NO_SHADOWS), '{}');
});

test('without a lookup (shadows.enabled: false) the function is refused when the rule compiles, saying why', () => {
  assert.throws(
    () => compileSql("SELECT get_thing_shadow('t', 'r') AS s FROM 'a/b'", {}),
    (e: Error & { code?: string; hint?: string }) =>
      e.code === 'GH_SQL_SEMANTIC' && /shadows\.enabled: false/.test(e.message) && /docs\/shadows\.md/.test(e.hint ?? ''),
  );
});
