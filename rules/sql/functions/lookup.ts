// get_dynamodb(tableName, partitionKeyName, partitionKeyValue, roleArn): AWS IoT's DynamoDB read,
// answered from a lookup table of the gateway (the injected LookupTableSource: `tables:` in the
// configuration, gateway/tables/). The item comes back as AWS returns it, an object of the row's
// attributes (the key among them); no item with that key is Undefined (a field selected from it is
// left out of the output). roleArn is accepted and ignored, as the other AWS-only arguments are.
//
// Keys are matched as text: a number (17, or 17.0) finds the row whose key is "17", so a sensor id
// sent as a JSON number finds its CSV row; a value that is neither a string nor a number (a
// boolean, an object, Null, Undefined) is no key DynamoDB accepts: Undefined, no lookup.
//
// A literal table name the configuration does not define, or a literal key name that is not the
// table's key, refuses the rule when it compiles (GH_TABLE_LOOKUP, naming the tables there are);
// computed ones fail the message at evaluation (the rule's error action), as proto's decode does.
// AWS's 6-argument form (a sort key) is refused: a table on the gateway has one key.
import { ERRORS } from '../../../core/errors.js';
import { closestName } from '../../../core/closest-name.js';
import type { LookupTableSource } from '../../types.js';
import type { Expr } from '../ast.js';
import { numberToString, numeric, type Value } from '../values.js';
import { define, type FunctionRegistry } from './types.js';

/** A key value as the text tables are keyed by; undefined for a value that is no key (not a string or a number). */
export function lookupKeyText(v: Value): string | undefined {
  if (typeof v === 'string') return v;
  const n = numeric(v);
  return n !== undefined && Number.isFinite(n) ? numberToString(n) : undefined;
}

function listed(names: readonly string[]): string {
  if (names.length === 0) return 'none: the configuration has no `tables:`';
  return names.length > 20 ? `${names.slice(0, 20).join(', ')} and ${names.length - 20} more` : names.join(', ');
}

/** Why `table` and `keyName` do not name a table and its key; undefined when they do. */
function problem(tables: LookupTableSource, table: string, keyName: string | undefined): string | undefined {
  const key = tables.keyOf(table);
  if (key === undefined) {
    const near = closestName(table, tables.names());
    return `get_dynamodb(): no lookup table '${table}'${near ? `: did you mean '${near}'?` : ''} (tables: ${listed(tables.names())})`;
  }
  if (keyName !== undefined && keyName !== key) return `get_dynamodb(): table '${table}' is keyed by '${key}', not '${keyName}'`;
  return undefined;
}

const literalString = (e: Expr | undefined): string | undefined => (e?.kind === 'literal' && typeof e.value === 'string' ? e.value : undefined);

/**
 * get_dynamodb() on `tables`. Without a source (`rules check` given no --tables) a call compiles
 * unchecked and fails when it runs; a gateway always gives one (an empty one without `tables:`).
 */
export function registerLookup(reg: FunctionRegistry, tables: LookupTableSource | undefined): void {
  define(reg, [
    {
      name: 'get_dynamodb',
      minArgs: 4,
      maxArgs: 6,
      check(args) {
        if (args.length !== 4) {
          return `get_dynamodb() with a sort key (${args.length} arguments) is not supported: a lookup table on the gateway has one key; give (tableName, partitionKeyName, partitionKeyValue, roleArn)`;
        }
        const table = literalString(args[0]);
        if (!tables || table === undefined) return undefined;
        const why = problem(tables, table, literalString(args[1]));
        if (why) throw ERRORS.GH_TABLE_LOOKUP({ reason: why });
        return undefined;
      },
      impl: (_c, a) => {
        if (!tables) throw ERRORS.GH_TABLE_LOOKUP({ reason: 'get_dynamodb(): no lookup tables were given (rules eval and rules check take --tables FILE)' });
        const table = a[0];
        const keyName = a[1];
        if (typeof table !== 'string' || typeof keyName !== 'string') {
          throw ERRORS.GH_TABLE_LOOKUP({ reason: 'get_dynamodb(): the table name and the key name must be strings' });
        }
        const key = tables.keyOf(table);
        if (key !== keyName) throw ERRORS.GH_TABLE_LOOKUP({ reason: problem(tables, table, keyName) ?? `get_dynamodb(): table '${table}'` });
        // a number looked up as a number (no text made per call: the source keeps its numeric keys apart)
        const v = a[2];
        if (typeof v === 'string') return tables.get(table, v);
        const n = numeric(v);
        return n !== undefined && Number.isFinite(n) ? tables.get(table, n) : undefined;
      },
    },
  ]);
}

/** The tables of a gateway without `tables:`: every get_dynamodb() is refused naming the setting. */
export const NO_LOOKUP_TABLES: LookupTableSource = {
  keyOf: () => undefined,
  names: () => [],
  get: () => undefined,
};
