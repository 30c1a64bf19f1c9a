// A lookup table's CSV (RFC 4180, strict): a header row naming the columns, then one record per
// row; fields separated by commas, a field in double quotes may hold commas, newlines and `""` (one
// quote). A UTF-8 byte order mark is skipped, so are empty lines. Anything else that is not CSV (a
// quote inside an unquoted field, text after a closing quote, a quote never closed, a row with
// another number of fields than the header) is an error naming the line, never a guess: a table
// read wrongly would enrich every message wrongly. (The file source's csvFields is per line and
// lenient, as the agent it mirrors; a table file is read whole, so it has its own parser.)

export interface CsvRecord {
  /** The 1-based line the record starts on. */
  line: number;
  fields: string[];
}

export class CsvError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

/** The records of `text`, the header first; empty lines left out. Throws CsvError. */
export function parseCsv(text: string): CsvRecord[] {
  const s = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const out: CsvRecord[] = [];
  let line = 1;
  let i = 0;
  const n = s.length;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    let empty = true;
    for (;;) {
      let value: string;
      if (s[i] === '"') {
        empty = false;
        value = '';
        let from = i + 1;
        for (;;) {
          const q = s.indexOf('"', from);
          if (q < 0) throw new CsvError(start, `line ${start}: a quoted field is never closed`);
          const part = s.slice(from, q);
          for (let k = part.indexOf('\n'); k >= 0; k = part.indexOf('\n', k + 1)) line++;
          value += part;
          if (s[q + 1] === '"') {
            value += '"';
            from = q + 2;
            continue;
          }
          i = q + 1;
          break;
        }
        if (i < n && s[i] !== ',' && s[i] !== '\n' && !(s[i] === '\r' && s[i + 1] === '\n')) {
          throw new CsvError(line, `line ${line}: text after a closing quote (a field in quotes ends with its quote; write "" for a quote inside it)`);
        }
      } else {
        let j = i;
        while (j < n && s[j] !== ',' && s[j] !== '\n' && !(s[j] === '\r' && s[j + 1] === '\n')) j++;
        value = s.slice(i, j);
        if (value.includes('"'))
          throw new CsvError(line, `line ${line}: a quote inside a field that does not start with one (quote the whole field and double the quote: "a ""b""")`);
        if (value !== '') empty = false;
        i = j;
      }
      fields.push(value);
      if (s[i] === ',') {
        empty = false;
        i++;
        continue;
      }
      // the end of the record: a newline (LF or CRLF) or the end of the text
      if (s[i] === '\r') i++;
      if (s[i] === '\n') i++;
      line++;
      break;
    }
    if (!empty) out.push({ line: start, fields });
  }
  return out;
}

/** JSON's number syntax: no leading zeros (a code 007 stays text), no hex, no Infinity. */
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * Each CSV column's type: a column whose every non-empty cell is a number (JSON's syntax, finite)
 * is numbers, any other column text. Decided per column, not per cell, so one column has one type
 * in every row (a limit compared in a rule is a number in every row, an id with a letter in one row
 * is text in all).
 */
export function numericColumns(rows: readonly CsvRecord[], width: number): boolean[] {
  const numeric = new Array<boolean>(width).fill(true);
  const seen = new Array<boolean>(width).fill(false);
  for (const r of rows) {
    for (let c = 0; c < width; c++) {
      const v = r.fields[c]!;
      if (v === '' || !numeric[c]) continue;
      seen[c] = true;
      if (!NUMBER.test(v) || !Number.isFinite(Number(v))) numeric[c] = false;
    }
  }
  return numeric.map((n, c) => n && seen[c]!);
}

/**
 * The first key of a JSON object text's top level that is there twice (JSON.parse keeps the last
 * silently: a table by key would lose a row unsaid), with its line; undefined when none is. A scan
 * of the text (strings and nesting), run only on an object-by-key table.
 */
export function duplicateTopLevelKey(text: string): { key: string; line: number } | undefined {
  const seen = new Set<string>();
  let depth = 0;
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\n') line++;
    else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
    else if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (k < text.length && /\s/.test(text[k]!)) k++;
        if (text[k] === ':') {
          const key = JSON.parse(text.slice(i, j + 1)) as string;
          if (seen.has(key)) return { key, line };
          seen.add(key);
        }
      }
      i = j;
    }
  }
  return undefined;
}
