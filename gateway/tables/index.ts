// The gateway's lookup tables (`tables:`), the LookupTableSource get_dynamodb() reads in rules.
// Loaded at start (a table that does not load fails the start, as check-config says it would);
// read again on SIGHUP with the rule set: each table that loads replaces its old contents in one
// step (a rule sees the old table or the new one, never a mix); one that does not keeps its old
// contents, and the failure is logged and counted (gatehouse_table_reload_failures_total). A table
// added at a reload is loaded; one removed from the configuration stays until the next restart (a
// running rule may read it). Imported only when `tables:` names a table (idle footprint).
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from '../../core/prom-client.js';
import { errorMessage } from '../../core/errors.js';
import type { LookupTableSource } from '../../rules/index.js';
import { itemOf, loadTable, type Item, type LoadedTable } from './load.js';
import type { TableOptions } from '../config/tables.js';

export { loadTable, type LoadedTable } from './load.js';

export interface TablesReloadOutcome {
  /** Tables read again (or added). */
  loaded: string[];
  /** Tables that did not load: their old contents (if any) kept. */
  failed: Array<{ table: string; error: string }>;
  /** Tables no longer in the configuration, kept until the next restart. */
  removed: string[];
}

export class LookupTables implements LookupTableSource {
  private tables = new Map<string, LoadedTable>();
  private readonly failures: Counter<'table'>;
  private readonly rows: Gauge<'table'>;

  private constructor(
    registry: Registry,
    private readonly logger: Logger,
  ) {
    this.failures = new Counter({
      name: 'gatehouse_table_reload_failures_total',
      help: 'Reloads (SIGHUP) of a lookup table whose file did not load: the table kept its previous contents',
      labelNames: ['table'],
      registers: [registry],
    });
    this.rows = new Gauge({
      name: 'gatehouse_table_rows',
      help: 'Rows of each lookup table (tables:) in memory',
      labelNames: ['table'],
      registers: [registry],
    });
  }

  /** Every table of `specs`, read now; throws the first GH_TABLE_LOAD (the start fails). */
  static async load(specs: Readonly<Record<string, TableOptions>>, deps: { registry: Registry; logger: Logger }): Promise<LookupTables> {
    const t = new LookupTables(deps.registry, deps.logger);
    for (const [name, opts] of Object.entries(specs)) t.install(await loadTable(name, opts));
    deps.logger.info({ tables: [...t.tables.values()].map((x) => ({ name: x.name, rows: x.items.size })) }, 'lookup tables loaded');
    return t;
  }

  private install(table: LoadedTable): void {
    this.tables.set(table.name, table);
    this.rows.set({ table: table.name }, table.items.size);
  }

  /** Read every table of `specs` again; each one that loads is swapped in, each one that does not keeps its contents. */
  async reload(specs: Readonly<Record<string, TableOptions>>): Promise<TablesReloadOutcome> {
    const out: TablesReloadOutcome = { loaded: [], failed: [], removed: [] };
    for (const [name, opts] of Object.entries(specs)) {
      try {
        this.install(await loadTable(name, opts));
        out.loaded.push(name);
      } catch (err) {
        this.failures.inc({ table: name });
        out.failed.push({ table: name, error: errorMessage(err) });
        this.logger.error(
          { table: name, err: errorMessage(err) },
          this.tables.has(name) ? `reload: lookup table ${name} did not load; its previous contents are kept` : `reload: lookup table ${name} did not load`,
        );
      }
    }
    for (const name of this.tables.keys()) if (!(name in specs)) out.removed.push(name);
    return out;
  }

  keyOf(table: string): string | undefined {
    return this.tables.get(table)?.key;
  }

  names(): string[] {
    return [...this.tables.keys()];
  }

  get(table: string, key: string | number): Item | undefined {
    const t = this.tables.get(table);
    return t && itemOf(t, key);
  }
}

/**
 * The tables as the configuration names them, for compiling rules without reading the files
 * (check-config reports the files' own problems apart): names and keys, no rows.
 */
export function configuredTables(specs: Readonly<Record<string, TableOptions>>): LookupTableSource {
  return {
    keyOf: (table) => (Object.hasOwn(specs, table) ? specs[table]!.key : undefined),
    names: () => Object.keys(specs),
    get: () => undefined,
  };
}
