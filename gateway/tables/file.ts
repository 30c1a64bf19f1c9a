// `gatehouse rules eval|check --tables FILE`: the tables of a YAML/JSON file's `tables:` (a gateway
// configuration works as it is: its other settings are not read), their files relative to FILE's
// folder as in a configuration, read now: a rule tried offline reads the rows the gateway would.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ERRORS, errorMessage } from '../../core/errors.js';
import { formatProblems, parseConfigText, zodProblems } from '../config/load.js';
import type { LookupTableSource } from '../../rules/index.js';
import { itemOf, loadTable, type LoadedTable } from './load.js';
import { tablesSchema } from '../config/tables.js';

/** A source over tables loaded once (no reload). */
export function staticTables(tables: readonly LoadedTable[]): LookupTableSource {
  const byName = new Map(tables.map((t) => [t.name, t]));
  return {
    keyOf: (table) => byName.get(table)?.key,
    names: () => [...byName.keys()],
    get: (table, key) => {
      const t = byName.get(table);
      return t && itemOf(t, key);
    },
  };
}

/** Every table `file`'s `tables:` names, loaded; throws GH_CONFIG_READ (the file) or GH_TABLE_LOAD (a table). */
export async function readTablesFile(file: string): Promise<LookupTableSource> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw ERRORS.GH_CONFIG_READ({ what: 'tables file', file, reason: errorMessage(err) }, { where: file });
  }
  const doc = parseConfigText(text, file) as { tables?: unknown } | null;
  const raw = doc && typeof doc === 'object' ? doc.tables : undefined;
  const parsed = tablesSchema.safeParse(raw ?? {});
  if (!parsed.success || raw === undefined) {
    throw ERRORS.GH_CONFIG_READ(
      { what: 'tables file', file, reason: parsed.success ? 'it has no `tables:` (name: { file, key })' : formatProblems(zodProblems(parsed.error)) },
      { where: file, hint: 'write tables: { NAME: { file: rows.csv, key: COLUMN } } (docs/rules-sql.md#lookup-tables)' },
    );
  }
  const base = dirname(resolve(file));
  const loaded: LoadedTable[] = [];
  for (const [name, t] of Object.entries(parsed.data)) loaded.push(await loadTable(name, { ...t, file: isAbsolute(t.file) ? t.file : resolve(base, t.file) }));
  return staticTables(loaded);
}
