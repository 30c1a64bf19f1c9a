// Reading one lookup table's file into a Map from key text to item (a frozen object of the row's
// attributes), once: a lookup is then a Map get. Bounded: the file's size is checked against
// maxBytes before it is read, the rows against maxRows as they are added.
//
// CSV: the header names the attributes; a column whose every non-empty cell is a number holds
// numbers, any other column text (csv.ts numericColumns); an empty cell is no attribute (CSV cannot
// tell an empty text from a missing value). JSON and YAML: a list of objects, or an object of
// objects by key (the key then added to each item as AWS returns it); values as written.
// The key is text in the Map (lookupKeyText): 17, 17.0 and "17" are one key, so a rule looking up
// a sensor id sent as a JSON number finds the CSV row "17".
import { readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { ERRORS, errorMessage, GatehouseError } from '../../core/errors.js';
import { lookupKeyText } from '../../rules/index.js';
import { parseConfigText } from '../config/load.js';
import { CsvError, duplicateTopLevelKey, numericColumns, parseCsv } from './csv.js';
import type { TableOptions } from '../config/tables.js';

export type Item = Readonly<Record<string, unknown>>;

export interface LoadedTable {
  readonly name: string;
  readonly key: string;
  readonly file: string;
  readonly items: ReadonlyMap<string, Item>;
  /** The items whose key is a number's text ("17"), by that number: a number looked up without making its text. */
  readonly byNumber: ReadonlyMap<number, Item>;
}

/** The item of `key` in `t`: text as is, a number through byNumber. */
export function itemOf(t: LoadedTable, key: string | number): Item | undefined {
  return typeof key === 'string' ? t.items.get(key) : t.byNumber.get(key);
}

/**
 * Rows added between two turns of the event loop: a large table (100,000 rows: ~0.7 s of CPU) read
 * at a reload does not hold the messages the running rules are handling for all that time.
 */
const YIELD_ROWS = 4096;
const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const fail = (table: string, reason: string, where: string): GatehouseError => ERRORS.GH_TABLE_LOAD({ table, reason }, { where });

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Adds items one by one: the key present, text or a number, once; at most maxRows. */
class Builder {
  readonly items = new Map<string, Item>();
  readonly byNumber = new Map<number, Item>();
  /** The row that first had a key, for the error of a duplicate (searched then: nothing kept per row for it). */
  earlier: (key: string) => string | undefined = () => undefined;
  constructor(
    private readonly name: string,
    private readonly opts: TableOptions,
  ) {}

  /** `where` names the row in a message ('line 7'), `at` the place in the file ('file.csv:7', or the file). */
  add(item: Record<string, unknown>, where: string, at: string): void {
    const { key, maxRows } = this.opts;
    const text = lookupKeyText(item[key]);
    if (text === undefined) {
      const v = item[key];
      throw fail(
        this.name,
        `${where} has ${v === undefined || v === '' ? `no key '${key}'` : `a key '${key}' that is neither text nor a number (${JSON.stringify(v)})`}`,
        at,
      );
    }
    if (this.items.has(text)) throw fail(this.name, `${where} has the key '${text}' of ${this.earlier(text) ?? 'an earlier row'}: each key once`, at);
    if (this.items.size >= maxRows) throw fail(this.name, `more than maxRows (${maxRows}) rows, at ${where}`, at);
    this.items.set(text, deepFreeze(item));
    const n = Number(text);
    if (text !== '' && lookupKeyText(n) === text) this.byNumber.set(n, item);
  }
}

async function fromCsv(name: string, opts: TableOptions, text: string, b: Builder): Promise<void> {
  let records: ReturnType<typeof parseCsv>;
  try {
    records = parseCsv(text);
  } catch (err) {
    if (err instanceof CsvError) throw fail(name, err.message, `${opts.file}:${err.line}`);
    throw err;
  }
  const header = records.shift();
  if (!header) throw fail(name, 'the file has no header row (the first line names the columns)', opts.file);
  const cols = header.fields.map((c) => c.trim());
  const seen = new Set<string>();
  for (const c of cols) {
    if (c === '') throw fail(name, 'the header row has an empty column name', `${opts.file}:${header.line}`);
    if (seen.has(c)) throw fail(name, `the header row names column '${c}' twice`, `${opts.file}:${header.line}`);
    seen.add(c);
  }
  if (!seen.has(opts.key))
    throw fail(name, `the header row has no column '${opts.key}' (the table's key): it has ${cols.join(', ')}`, `${opts.file}:${header.line}`);
  for (const r of records) {
    if (r.fields.length !== cols.length) {
      throw fail(name, `line ${r.line} has ${r.fields.length} fields, the header ${cols.length}`, `${opts.file}:${r.line}`);
    }
  }
  const numeric = numericColumns(records, cols.length);
  const k = cols.indexOf(opts.key);
  b.earlier = (key) => {
    const r = records.find((x) => (numeric[k] ? lookupKeyText(Number(x.fields[k])) : x.fields[k]) === key);
    return r && `line ${r.line}`;
  };
  for (const [i, r] of records.entries()) {
    if (i % YIELD_ROWS === YIELD_ROWS - 1) await yieldTurn();
    const item: Record<string, unknown> = {};
    for (let c = 0; c < cols.length; c++) {
      const v = r.fields[c]!;
      if (v !== '') item[cols[c]!] = numeric[c] ? Number(v) : v;
    }
    b.add(item, `line ${r.line}`, `${opts.file}:${r.line}`);
  }
}

async function fromDocument(name: string, opts: TableOptions, doc: unknown, b: Builder): Promise<void> {
  if (Array.isArray(doc)) {
    b.earlier = (key) => {
      const i = doc.findIndex((x) => isPlain(x) && lookupKeyText(x[opts.key]) === key);
      return i < 0 ? undefined : `item ${i + 1}`;
    };
    for (const [i, item] of doc.entries()) {
      if (i % YIELD_ROWS === YIELD_ROWS - 1) await yieldTurn();
      if (!isPlain(item)) throw fail(name, `item ${i + 1} of the list is not an object of attributes`, opts.file);
      b.add(item, `item ${i + 1}`, opts.file);
    }
    return;
  }
  if (!isPlain(doc)) throw fail(name, 'the file holds neither a list of objects nor an object of objects by key', opts.file);
  for (const [i, [k, v]] of Object.entries(doc).entries()) {
    if (i % YIELD_ROWS === YIELD_ROWS - 1) await yieldTurn();
    if (!isPlain(v)) throw fail(name, `the value of '${k}' is not an object of attributes`, opts.file);
    const own = v[opts.key];
    if (own !== undefined && lookupKeyText(own) !== k) throw fail(name, `the item '${k}' has '${opts.key}' ${JSON.stringify(own)}, another key`, opts.file);
    b.add({ [opts.key]: k, ...v }, `the item '${k}'`, opts.file);
  }
}

/** Read the table `name`'s file now; throws GH_TABLE_LOAD naming the file (and line, for CSV). */
export async function loadTable(name: string, opts: TableOptions): Promise<LoadedTable> {
  const ext = extname(opts.file).toLowerCase();
  if (!['.csv', '.json', '.yaml', '.yml'].includes(ext)) {
    throw fail(name, `the file's name ends with '${ext || '(nothing)'}': a table is .csv, .json, .yaml or .yml`, opts.file);
  }
  let text: string;
  try {
    const st = await stat(opts.file);
    if (!st.isFile()) throw fail(name, 'the path is not a file', opts.file);
    if (st.size > opts.maxBytes) throw fail(name, `the file has ${st.size} bytes, more than maxBytes (${opts.maxBytes})`, opts.file);
    text = await readFile(opts.file, 'utf8');
  } catch (err) {
    if (err instanceof GatehouseError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw fail(name, code === 'ENOENT' ? 'the file does not exist' : `the file cannot be read: ${errorMessage(err)}`, opts.file);
  }
  const b = new Builder(name, opts);
  if (ext === '.csv') await fromCsv(name, opts, text, b);
  else {
    let doc: unknown;
    try {
      doc = text.trim() === '' ? [] : parseConfigText(text, opts.file);
    } catch (err) {
      // the parser's reason and position, without the config file's wording around it
      const reason = err instanceof GatehouseError ? err.message.replace(/^cannot read the config file .*?: /, '') : errorMessage(err);
      const where = err instanceof GatehouseError && err.where ? err.where : opts.file;
      throw fail(name, `the file is not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${reason}`, where);
    }
    // JSON.parse keeps the last of two equal keys (YAML's parser refuses them): said, not lost
    const dup = ext === '.json' && isPlain(doc) ? duplicateTopLevelKey(text) : undefined;
    if (dup) throw fail(name, `the key '${dup.key}' is in the object twice (line ${dup.line}): each key once`, `${opts.file}:${dup.line}`);
    await fromDocument(name, opts, doc ?? [], b);
  }
  return { name, key: opts.key, file: opts.file, items: b.items, byNumber: b.byNumber };
}
