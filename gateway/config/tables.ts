// `tables:` in the configuration: lookup tables that get_dynamodb() in rules reads (docs/rules-sql.md#lookup-tables).
// Only the schema (here, with the config's): the loaders (gateway/tables/) are imported when a table is configured.
import { z } from '../../core/zod.js';

/** A table name as DynamoDB allows them: letters, digits, _ . - (3 to 255 there; 1 to 64 here, as a stream name). */
export const TABLE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export const MAX_TABLE_ROWS = 1_000_000;
export const MAX_TABLE_BYTES = 256 * 1024 * 1024;

export const tableOptionsSchema = z.strictObject({
  file: z
    .string()
    .min(1)
    .describe(
      "The table's file, relative to the config file's folder: CSV with a header row (.csv), JSON (.json: a list of objects, or an object of objects by key) or YAML (.yaml/.yml, the same shapes).",
    ),
  key: z.string().min(1).describe("The attribute (a CSV column) that is the table's key: get_dynamodb()'s partitionKeyName. Each row has it, once per table."),
  maxRows: z
    .number()
    .int()
    .min(1)
    .max(MAX_TABLE_ROWS)
    .default(100_000)
    .describe('At most this many rows: a file with more is refused (at start, check-config, or a reload that keeps the old table).'),
  maxBytes: z
    .number()
    .int()
    .min(1)
    .max(MAX_TABLE_BYTES)
    .default(4 * 1024 * 1024)
    .describe(
      'At most this many bytes of file: a larger one is refused before it is read. A table in memory takes about 8 times its CSV file (100,000 rows of 5 columns, 2.9 MiB: 24 MiB of heap).',
    ),
});
export type TableOptions = z.output<typeof tableOptionsSchema>;

export const tablesSchema = z
  .record(z.string().regex(TABLE_NAME, 'a table name is 1 to 64 letters, digits, _ . -'), tableOptionsSchema)
  .default({})
  .describe(
    'Lookup tables by name, each { file, key, maxRows, maxBytes }: get_dynamodb(name, key, value, roleArn) in a rule returns the row whose key is value (docs/rules-sql.md#lookup-tables). Loaded at start, read again on SIGHUP (systemctl reload). Default: none.',
  );
