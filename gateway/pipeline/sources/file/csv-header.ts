// A file source's CSV header lines (CSVTOJSON with skipHeaderLines; source.ts wires it): the first
// header line read, saved in the state with the offsets (state-writer.ts) and taken back at start,
// and the check of each file's header against it. Rows are mapped to customFieldNames by position,
// so a header that is not the first one the source read (a column added, removed or moved in a new
// file or after a rotation), or whose column count is not that of customFieldNames, maps them to
// the wrong names: warned once per file (GH_FILE_HEADER_CHANGED) and counted. Rows are never
// dropped or remapped for it.
import type { Logger } from 'pino';
import type { FileCounter } from './metrics.js';
import type { FileSourceOptions } from './options.js';
import { csvFields } from './parsers/converters.js';
import type { FileTracker } from './tracker.js';

export interface CsvHeaderDeps {
  /** The source's name, for the log line. */
  name: string;
  logger: Logger;
  count: (c: FileCounter) => void;
}

export class CsvHeader {
  /** The first header line read (saved in the state); undefined before one is read. */
  first: string | undefined;
  /** The configured field names and delimiter; undefined when the source checks no header. */
  private readonly csv: { fields: string[]; delimiter: string } | undefined;

  constructor(
    private readonly options: FileSourceOptions,
    private readonly d: CsvHeaderDeps,
  ) {
    const csv = options.dataProcessingOptions.find((o) => o.optionName === 'CSVTOJSON');
    this.csv = csv && options.skipHeaderLines > 0 ? { fields: csv.customFieldNames, delimiter: csv.delimiter } : undefined;
  }

  /** The source reads CSV rows under a header: the splitter keeps the header line for seen(). */
  get checked(): boolean {
    return this.csv !== undefined;
  }

  /** A file's header line (the last line skipped by skipHeaderLines). */
  seen(t: FileTracker, line: Buffer): void {
    if (!this.csv) return;
    const text = line.toString(this.options.encoding);
    this.first ??= text; // saved with the offsets (the emit that follows commits the state)
    const columns = (csvFields(text, this.csv.delimiter) ?? text.split(this.csv.delimiter)).length;
    const expected =
      text !== this.first
        ? `the first header read (${this.first})`
        : columns !== this.csv.fields.length
          ? `customFieldNames (${this.csv.fields.length} names: ${this.csv.fields.join(this.csv.delimiter)})`
          : undefined;
    if (expected === undefined || t.headerChanged) return;
    t.headerChanged = true;
    this.d.count('headerChanges');
    this.d.logger.warn(
      { file: t.path, code: 'GH_FILE_HEADER_CHANGED', header: text, expected },
      `file source ${this.d.name}: ${t.path}: header line ${text} differs from ${expected}; its rows are mapped to customFieldNames by position (update customFieldNames and the rules using them, or tail each layout with its own source)`,
    );
  }
}
