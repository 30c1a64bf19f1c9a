// get_dynamodb(tableName, partitionKeyName, partitionKeyValue, roleArn) on an injected table
// source: the item as AWS returns it, Undefined for a missing key, number and text keys alike,
// what is no key; a table or key name that is wrong refused at compile time when literal, failing
// the message when computed; the sort-key form refused; `rules eval --tables` and `rules check --tables`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compileSql, createFunctionRegistry, EvalContext, NO_LOOKUP_TABLES, serializeOutput, type LookupTableSource } from '../../rules/index.js';
import { isGatehouseError } from '../../core/errors.js';
import { runRulesCheck, runRulesEval } from '../../gateway/cli/rules-offline.js';
import { buildActionRegistry } from '../../gateway/pipeline/actions/index.js';
import { allDestinationKinds } from '../../gateway/upstream/registry.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { tempDir } from '../helpers/index.js';

const ITEMS = new Map<string, Record<string, unknown>>([
  ['17', { sensor: 17, asset: 'press-4', maxTemp: 80 }],
  ['B7', { sensor: 'B7', asset: 'oven-2', maxTemp: 240 }],
]);
let lookups = 0;
const TABLES: LookupTableSource = {
  keyOf: (t) => (t === 'assets' ? 'sensor' : undefined),
  names: () => ['assets'],
  get: (t, k) => {
    lookups++;
    return t === 'assets' ? ITEMS.get(typeof k === 'number' ? String(k) : k) : undefined;
  },
};

function run(sql: string, payload: string, tables: LookupTableSource | undefined = TABLES): string | undefined {
  const q = compileSql(sql, { functions: createFunctionRegistry({ lookupTables: tables }) });
  const c = new EvalContext({ topic: 'plant/1/t', payload: Buffer.from(payload), qos: 0, source: { kind: 'internal', id: '' }, receivedAt: 0 });
  return serializeOutput(q.select(c), q.sqlVersion)?.toString();
}

const ENRICH = "SELECT temp, get_dynamodb('assets', 'sensor', id, 'arn:aws:iam::1:role/r') AS a FROM 'plant/#'";

test('the item of the key, as AWS returns it; a missing key is Undefined; a number key finds its row', () => {
  assert.equal(run(ENRICH, '{"id":17,"temp":91}'), '{"temp":91,"a":{"sensor":17,"asset":"press-4","maxTemp":80}}');
  assert.equal(run(ENRICH, '{"id":"17","temp":91}'), '{"temp":91,"a":{"sensor":17,"asset":"press-4","maxTemp":80}}', 'the text "17" too');
  assert.equal(run(ENRICH, '{"id":17.0,"temp":91}'), '{"temp":91,"a":{"sensor":17,"asset":"press-4","maxTemp":80}}', '17.0 is the key 17');
  assert.equal(run(ENRICH, '{"id":"B7","temp":1}'), '{"temp":1,"a":{"sensor":"B7","asset":"oven-2","maxTemp":240}}');
  assert.equal(run(ENRICH, '{"id":99,"temp":91}'), '{"temp":91}', 'no item: Undefined, the field left out');
  // a field of the item, and a limit from it in WHERE
  const over =
    "SELECT id, get_dynamodb('assets', 'sensor', id, 'r').asset AS asset FROM 'plant/#' WHERE temp > get_dynamodb('assets', 'sensor', id, 'r').maxTemp";
  assert.equal(run(over, '{"id":17,"temp":91}'), '{"id":17,"asset":"press-4"}');
  const q = compileSql(over, { functions: createFunctionRegistry({ lookupTables: TABLES }) });
  const c = new EvalContext({ topic: 'plant/1/t', payload: Buffer.from('{"id":17,"temp":50}'), qos: 0, source: { kind: 'internal', id: '' }, receivedAt: 0 });
  assert.equal(q.where!(c), false, 'under its limit');
});

test('a value that is no key (a boolean, an object, Null, missing) is Undefined, without a lookup', () => {
  for (const id of ['true', '{"a":1}', 'null', '[17]']) {
    const before = lookups;
    assert.equal(run(ENRICH, `{"id":${id},"temp":1}`), '{"temp":1}', id);
    assert.equal(lookups, before, `${id}: no lookup`);
  }
  assert.equal(run(ENRICH, '{"temp":1}'), '{"temp":1}');
});

test('a literal table or key name that is wrong refuses the rule, naming the tables; a computed one fails the message', () => {
  const refused = (sql: string, tables: LookupTableSource, re: RegExp) =>
    assert.throws(
      () => compileSql(sql, { functions: createFunctionRegistry({ lookupTables: tables }) }),
      (e: unknown) => isGatehouseError(e, 'GH_TABLE_LOOKUP') && re.test(e.message) && /^line 1, column \d+$/.test(e.where ?? ''),
      sql,
    );
  refused("SELECT get_dynamodb('asets', 'sensor', id, 'r') AS a FROM 'x'", TABLES, /no lookup table 'asets': did you mean 'assets'\? \(tables: assets\)/);
  refused("SELECT get_dynamodb('assets', 'id', id, 'r') AS a FROM 'x'", TABLES, /table 'assets' is keyed by 'sensor', not 'id'/);
  refused("SELECT get_dynamodb('assets', 'sensor', id, 'r') AS a FROM 'x'", NO_LOOKUP_TABLES, /tables: none: the configuration has no `tables:`/);
  // computed: the message fails (the engine's rule error and error action)
  assert.throws(
    () => run("SELECT get_dynamodb(t, 'sensor', id, 'r') AS a FROM 'x'", '{"t":"nope","id":17}'),
    (e: unknown) => isGatehouseError(e, 'GH_TABLE_LOOKUP') && /no lookup table 'nope'/.test(e.message),
  );
  assert.throws(
    () => run("SELECT get_dynamodb('assets', k, id, 'r') AS a FROM 'x'", '{"k":"id","id":17}'),
    (e: unknown) => isGatehouseError(e, 'GH_TABLE_LOOKUP') && /keyed by 'sensor', not 'id'/.test(e.message),
  );
  assert.equal(run("SELECT get_dynamodb(t, k, id, 'r').asset AS a FROM 'x'", '{"t":"assets","k":"sensor","id":17}'), '{"a":"press-4"}');
  // AWS's sort-key form: one key here
  assert.throws(
    () =>
      compileSql("SELECT get_dynamodb('assets', 'sensor', id, 'ts', ts, 'r') AS a FROM 'x'", { functions: createFunctionRegistry({ lookupTables: TABLES }) }),
    (e: unknown) => isGatehouseError(e, 'GH_SQL_SEMANTIC') && /with a sort key \(6 arguments\) is not supported/.test(e.message),
  );
});

test('rules eval --tables FILE: a CSV table relative to FILE; rules check --tables names a wrong table', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'assets.csv'), 'sensor,asset,maxTemp\n17,press-4,80\n');
  await writeFile(join(dir, 'gatehouse.yaml'), 'dataDir: ./data\ntables:\n  assets: { file: assets.csv, key: sensor }\n');
  const tables = join(dir, 'gatehouse.yaml');
  const sql = "SELECT temp, get_dynamodb('assets', 'sensor', id, 'arn').asset AS asset FROM 'plant/#'";
  const ok = await runCaptured(runRulesEval, ['--sql', sql, '--topic', 'plant/1', '--payload', '{"id":17,"temp":91}', '--tables', tables]);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.out, '{"temp":91,"asset":"press-4"}\n');
  const typo = await runCaptured(runRulesEval, ['--sql', sql.replace("'assets'", "'asset'"), '--topic', 'plant/1', '--payload', '{}', '--tables', tables]);
  assert.equal(typo.code, 2);
  assert.match(typo.err, /GH_TABLE_LOOKUP: get_dynamodb\(\): no lookup table 'asset': did you mean 'assets'\?/);
  const none = await runCaptured(runRulesEval, ['--sql', sql, '--topic', 'plant/1', '--payload', '{"id":17}']);
  assert.equal(none.code, 1, 'without --tables the call fails when it runs');
  assert.match(none.err, /--tables FILE/);
  await writeFile(join(dir, 'bad.yaml'), 'tables:\n  assets: { file: missing.csv, key: sensor }\n');
  const bad = await runCaptured(runRulesEval, ['--sql', sql, '--topic', 'plant/1', '--payload', '{}', '--tables', join(dir, 'bad.yaml')]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /GH_TABLE_LOAD: table assets: the file does not exist/);
  await writeFile(
    join(dir, 'rules.yaml'),
    `version: 1\nrules:\n  - name: r\n    sql: "${sql.replace("'assets'", "'asets'")}"\n    actions: [{ stream: { name: archive } }]\n`,
  );
  const registry = buildActionRegistry({ mode: 'inert', destinations: allDestinationKinds, streamNames: ['archive'] });
  const check = await runCaptured((a, io) => runRulesCheck(a, io, registry), [join(dir, 'rules.yaml'), '--tables', tables]);
  assert.equal(check.code, 1);
  assert.match(check.err, /no lookup table 'asets'/);
});
