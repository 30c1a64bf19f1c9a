// Lookup tables' files (gateway/tables/): the CSV parser (quoting, BOM, CRLF, empty lines, what is
// not CSV, with its line), column types, JSON and YAML shapes, the key (missing, duplicate,
// number or text), the bounds (maxRows, maxBytes), a reload keeping a table that fails; and
// check-config naming each problem with the table's file and line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from '../../core/prom-client.js';
import { isGatehouseError } from '../../core/errors.js';
import { parseCsv, CsvError } from '../../gateway/tables/csv.js';
import { loadTable, LookupTables } from '../../gateway/tables/index.js';
import { tableOptionsSchema } from '../../gateway/config/tables.js';
import { tempDir } from '../helpers/index.js';
import { configIn } from '../helpers/check-config.js';

const opts = (file: string, key: string, more: Record<string, number> = {}) => tableOptionsSchema.parse({ file, key, ...more });

async function table(t: import('node:test').TestContext, name: string, text: string, key = 'id', more: Record<string, number> = {}) {
  const dir = await tempDir(t);
  const file = join(dir, name);
  await writeFile(file, text);
  return { file, load: () => loadTable('t', opts(file, key, more)) };
}

/** The GH_TABLE_LOAD a load throws: its message and where. */
async function loadError(p: Promise<unknown>): Promise<{ message: string; where: string }> {
  try {
    await p;
  } catch (err) {
    assert.ok(isGatehouseError(err, 'GH_TABLE_LOAD'), String(err));
    return { message: err.message, where: err.where ?? '' };
  }
  assert.fail('the table loaded');
}

test('CSV: quoted fields (commas, newlines, doubled quotes), a BOM, CRLF and empty lines', () => {
  const recs = parseCsv('\uFEFFid,name\r\n\r\n1,"a, ""b"""\r\n2,"two\nlines"\n\n3,\n');
  assert.deepEqual(recs, [
    { line: 1, fields: ['id', 'name'] },
    { line: 3, fields: ['1', 'a, "b"'] },
    { line: 4, fields: ['2', 'two\nlines'] },
    { line: 7, fields: ['3', ''] },
  ]);
  // what is not CSV: each refused with its line
  const bad: Array<[string, RegExp, number]> = [
    ['id\n1,"open\n', /never closed/, 2],
    ['id\n1\n2,"x"y\n', /after a closing quote/, 3],
    ['id\nab"c\n', /a quote inside a field/, 2],
  ];
  for (const [text, re, line] of bad) {
    assert.throws(
      () => parseCsv(text),
      (e: unknown) => e instanceof CsvError && re.test(e.message) && e.line === line,
      text,
    );
  }
});

test('CSV tables: a numeric column is numbers, others text, an empty cell no attribute; a number key finds the row', async (t) => {
  const { load } = await table(t, 'assets.csv', 'id,site,max,code,note\n17,north,80.5,007,\n18,south,1e3,12,x\n');
  const tb = await load();
  assert.deepEqual(tb.items.get('17'), { id: 17, site: 'north', max: 80.5, code: '007' });
  assert.deepEqual(tb.items.get('18'), { id: 18, site: 'south', max: 1000, code: '12', note: 'x' });
  assert.ok(Object.isFrozen(tb.items.get('17')), 'items are frozen: a rule cannot change a table');
  // a key column of text keeps its text; 17.0 in a numeric key column is the key 17
  const text = await (await table(t, 'a.csv', 'id,v\nA-1,1\n17.0,2\n')).load();
  assert.deepEqual([...text.items.keys()], ['A-1', '17.0'], 'a column with a letter is text in every row');
  const num = await (await table(t, 'b.csv', 'id,v\n17.0,2\n')).load();
  assert.deepEqual([...num.items.keys()], ['17']);
  // numbers are looked up as numbers (no text made per call): the keys that are a number's text
  assert.equal(num.byNumber.get(17), num.items.get('17'));
  assert.deepEqual([...text.byNumber.keys()], [], "'17.0' as text is not the number 17's text, 'A-1' no number");
  const codes = await (await table(t, 'c.csv', 'id,v\n007,1\n-3,2\n')).load();
  assert.deepEqual([...codes.byNumber.keys()], [-3], "'007' is text only");
});

test('CSV tables: every problem named with its file and line', async (t) => {
  const cases: Array<[string, RegExp, number | undefined]> = [
    ['id,v\n1,a\n1,b\n', /line 3 has the key '1' of line 2: each key once/, 3],
    ['id,v\nx,a\n\n\n"x",b\n', /line 5 has the key 'x' of line 2/, 5],
    ['id,v\n1,a\n,b\n', /line 3 has no key 'id'/, 3],
    ['id,v\n1,a\n2\n', /line 3 has 1 fields, the header 2/, 3],
    ['name,v\nx,1\n', /no column 'id'.*name, v/, 1],
    ['id,id\n1,2\n', /names column 'id' twice/, 1],
    ['id,\n1,2\n', /empty column name/, 1],
    ['', /no header row/, undefined],
    ['id\n"1\n', /never closed/, 2],
  ];
  for (const [text, re, line] of cases) {
    const { file, load } = await table(t, 'x.csv', text);
    const e = await loadError(load());
    assert.match(e.message, re, text);
    assert.match(e.message, /^table t: /);
    assert.equal(e.where, line === undefined ? file : `${file}:${line}`, text);
  }
});

test('JSON and YAML tables: a list of objects or an object by key; values as written; the key added', async (t) => {
  const list = await (await table(t, 'a.json', '[{"id":17,"limits":{"max":80}},{"id":"B7","on":true}]')).load();
  assert.deepEqual(list.items.get('17'), { id: 17, limits: { max: 80 } });
  assert.deepEqual(list.items.get('B7'), { id: 'B7', on: true });
  const byKey = await (await table(t, 'b.yaml', '"17": { site: north }\nB7: { site: south, id: B7 }\n')).load();
  assert.deepEqual(byKey.items.get('17'), { id: '17', site: 'north' });
  assert.deepEqual(byKey.items.get('B7'), { id: 'B7', site: 'south' });
  const cases: Array<[string, string, RegExp]> = [
    ['c.json', '[{"id":1},{"id":"1"}]', /item 2 has the key '1' of item 1/],
    ['d.json', '[{"id":true}]', /item 1 has a key 'id' that is neither text nor a number/],
    ['e.json', '[{"x":1}]', /item 1 has no key 'id'/],
    ['f.json', '[1]', /item 1 of the list is not an object/],
    ['g.yaml', 'a: { id: b }\n', /the item 'a' has 'id' "b", another key/],
    ['h.json', '{"a": 1', /^table t: the file is not valid JSON: /],
    ['l.json', '{"a": {"v": "{\\"b\\": 1"}, "b": {"a": {}},\n "a": {}}', /the key 'a' is in the object twice \(line 2\)/],
    ['m.yaml', 'a: {}\na: {}\n', /not valid YAML: .*unique/i],
    ['k.yaml', 'a: [1,\n', /^table t: the file is not valid YAML: /],
    ['i.txt', 'id\n1\n', /\.csv, \.json, \.yaml or \.yml/],
    ['j.json', '"text"', /neither a list of objects nor an object of objects/],
  ];
  for (const [name, text, re] of cases) assert.match((await loadError((await table(t, name, text)).load())).message, re, name);
});

test('bounds: more rows than maxRows, a file larger than maxBytes (not read), a missing file', async (t) => {
  const rows = await table(t, 'r.csv', 'id\n1\n2\n3\n', 'id', { maxRows: 2 });
  assert.match((await loadError(rows.load())).message, /more than maxRows \(2\) rows, at line 4/);
  const big = await table(t, 'b.csv', `id,v\n1,${'x'.repeat(200)}\n`, 'id', { maxBytes: 100 });
  assert.match((await loadError(big.load())).message, /has 208 bytes, more than maxBytes \(100\)/);
  const dir = await tempDir(t);
  assert.match((await loadError(loadTable('t', opts(join(dir, 'none.csv'), 'id')))).message, /does not exist/);
});

test('a reload swaps in each table that loads and keeps the old contents of one that does not, counting it', async (t) => {
  const dir = await tempDir(t);
  const a = join(dir, 'a.csv');
  const b = join(dir, 'b.csv');
  await writeFile(a, 'id,v\n1,old\n');
  await writeFile(b, 'k,v\nx,old\n');
  const registry = new Registry();
  const specs = { a: opts(a, 'id'), b: opts(b, 'k') };
  const tables = await LookupTables.load(specs, { registry, logger: pino({ level: 'silent' }) });
  assert.deepEqual(tables.get('a', '1'), { id: 1, v: 'old' });
  await writeFile(a, 'id,v\n1,new\n');
  await writeFile(b, 'k,v\nx,new\nx,dup\n');
  const out = await tables.reload(specs);
  assert.deepEqual(out.loaded, ['a']);
  assert.deepEqual(
    out.failed.map((f) => f.table),
    ['b'],
  );
  assert.match(out.failed[0]!.error, /line 3 has the key 'x' of line 2/);
  assert.deepEqual(tables.get('a', '1'), { id: 1, v: 'new' });
  assert.deepEqual(tables.get('b', 'x'), { k: 'x', v: 'old' }, 'the table that failed keeps its contents');
  const metrics = await registry.metrics();
  assert.match(metrics, /gatehouse_table_reload_failures_total\{table="b"\} 1/);
  assert.match(metrics, /gatehouse_table_rows\{table="a"\} 1/);
  // a table no longer configured stays until the restart
  const removed = await tables.reload({ a: specs.a });
  assert.deepEqual(removed.removed, ['b']);
  assert.deepEqual(tables.names(), ['a', 'b']);
});

test('check-config: a missing table file, a bad row, a duplicate key, each with its file and line; a rule naming no table', async (t) => {
  const c = await configIn(t);
  await writeFile(join(c.dir, 'good.csv'), 'sensor,site\n17,north\n');
  await writeFile(join(c.dir, 'dup.csv'), 'sensor,site\n17,north\n17,south\n');
  await writeFile(join(c.dir, 'short.csv'), 'sensor,site\n17\n');
  const base = `broker: { listeners: [{ host: 127.0.0.1, port: 0 }] }\nadmin: { enabled: false }\nexporters: []\n`;
  const rules = (table: string, key = 'sensor') =>
    `rules: { version: 1, rules: [{ name: enrich, sql: "SELECT get_dynamodb('${table}', '${key}', id, 'arn').site AS site FROM 'a/#'", actions: [{ stream: { name: archive } }] }] }\n`;
  const bad = await c.check(
    `${base}tables:\n  good: { file: good.csv, key: sensor }\n  dup: { file: dup.csv, key: sensor }\n  short: { file: short.csv, key: sensor }\n  gone: { file: gone.csv, key: sensor }\n${rules('good')}`,
  );
  assert.equal(bad.code, 1);
  const text = bad.out + bad.err;
  assert.match(text, /table dup: line 3 has the key '17' of line 2/);
  assert.ok(text.includes(`${join(c.dir, 'dup.csv')}:3`), text);
  assert.match(text, /table short: line 2 has 1 fields, the header 2/);
  assert.ok(text.includes(`${join(c.dir, 'short.csv')}:2`), text);
  assert.match(text, /table gone: the file does not exist/);
  const typo = await c.check(`${base}tables:\n  good: { file: good.csv, key: sensor }\n${rules('god')}`);
  assert.equal(typo.code, 1);
  assert.match(typo.out + typo.err, /GH_TABLE_LOOKUP.*no lookup table 'god': did you mean 'good'\? \(tables: good\)/);
  const key = await c.check(`${base}tables:\n  good: { file: good.csv, key: sensor }\n${rules('good', 'id')}`);
  assert.match(key.out + key.err, /table 'good' is keyed by 'sensor', not 'id'/);
  const none = await c.check(`${base}${rules('good')}`);
  assert.match(none.out + none.err, /no lookup table 'good' \(tables: none: the configuration has no `tables:`\)/);
  const ok = await c.check(`${base}tables:\n  good: { file: good.csv, key: sensor }\n${rules('good')}`);
  assert.equal(ok.code, 0, ok.out + ok.err);
});
