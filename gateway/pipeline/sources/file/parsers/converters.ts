// Kinesis Agent `dataProcessingOptions` as a chain of converters over one record (a line, or a
// multi-line record). Semantics follow the agent: CSVTOJSON fills missing columns with null and
// drops extra ones; LOGTOJSON needs the whole record to match (anchored), one group per field.
// Where the agent silently drops a record it cannot parse, we count it (parse error) and, by
// default, keep it raw (onParseError).
import type { DataProcessingOption } from '../options.js';
import { LOG_FORMATS } from './patterns.js';
import { logMatchRegExp } from './regex.js';

export type ConvertResult = { ok: true; text: string } | { ok: false; text: string; error: string };
export type Converter = (text: string, now: number) => ConvertResult;

function singleLine(text: string): ConvertResult {
  // Each line trimmed, newlines removed (the agent's SingleLineDataConverter).
  if (!text.includes('\n')) return { ok: true, text: text.trim() };
  return {
    ok: true,
    text: text
      .split('\n')
      .map((l) => l.trim())
      .join(''),
  };
}

/**
 * The fields of a CSV record (RFC 4180): a field opening with `"` runs to its closing `"` (`""`
 * within it is one `"`) and may hold the delimiter and newlines (a record joined from several
 * lines by multiLineStartPattern). Undefined when a quoted field is not closed, or is followed by
 * something other than the delimiter: not CSV quoting.
 */
export function csvFields(text: string, delimiter: string): string[] | undefined {
  if (!text.includes('"')) return text.split(delimiter);
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let value: string;
    if (text[i] === '"') {
      value = '';
      let from = i + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q < 0) return undefined;
        value += text.slice(from, q);
        if (text[q + 1] !== '"') {
          i = q + 1;
          break;
        }
        value += '"';
        from = q + 2;
      }
      if (i < text.length && !text.startsWith(delimiter, i)) return undefined;
    } else {
      const d = text.indexOf(delimiter, i);
      value = text.slice(i, d < 0 ? text.length : d);
      i = d < 0 ? text.length : d;
    }
    out.push(value);
    if (i >= text.length) return out;
    i += delimiter.length; // past the delimiter: another field follows (empty at the end)
  }
}

function csvToJson(fields: readonly string[], delimiter: string): Converter {
  return (text) => {
    const quoted = csvFields(text, delimiter);
    // Quotes that are not CSV quoting: split as the agent does (and counted).
    const columns = quoted ?? text.split(delimiter);
    const obj: Record<string, string | null> = {};
    for (let i = 0; i < fields.length; i++) obj[fields[i]!] = i < columns.length ? columns[i]! : null;
    const json = JSON.stringify(obj);
    if (quoted === undefined) return { ok: false, text: json, error: 'a quoted field is not closed (or text follows its closing quote)' };
    if (columns.length !== fields.length) return { ok: false, text: json, error: `expected ${fields.length} fields, found ${columns.length}` };
    return { ok: true, text: json };
  };
}

function logToJson(opt: Extract<DataProcessingOption, { optionName: 'LOGTOJSON' }>): Converter {
  const def = LOG_FORMATS[opt.logFormat]!;
  // Anchored at both ends (Java's Matcher.matches()); a matchPattern was compiled once by the
  // options schema, so this does not throw.
  const re = logMatchRegExp(opt.matchPattern ?? def.pattern + (def.trailing ? '.*' : ''));
  const fields = opt.customFieldNames ?? def.fields;
  const dashIsNull = opt.matchPattern === undefined ? def.dashIsNull : opt.logFormat.includes('APACHE');
  return (text) => {
    const m = re.exec(text);
    if (!m) return { ok: false, text, error: `does not match ${opt.logFormat}${opt.matchPattern ? ' matchPattern' : ''}` };
    if (m.length - 1 !== fields.length) return { ok: false, text, error: `pattern has ${m.length - 1} groups for ${fields.length} field names` };
    const obj: Record<string, string | null> = {};
    for (let i = 0; i < fields.length; i++) {
      const v = m[i + 1];
      obj[fields[i]!] = v === undefined || (dashIsNull && v === '-') ? null : v;
    }
    return { ok: true, text: JSON.stringify(obj) };
  };
}

function addMetadata(opt: Extract<DataProcessingOption, { optionName: 'ADDMETADATA' }>): Converter {
  const meta = JSON.stringify(opt.metadata);
  return (text, now) => {
    let data: string;
    try {
      JSON.parse(text);
      data = text;
    } catch {
      data = JSON.stringify(text);
    }
    return { ok: true, text: `{${opt.timestamp ? `"timestamp":${now},` : ''}"metadata":${meta},"data":${data}}` };
  };
}

export function buildConverter(opt: DataProcessingOption): Converter {
  switch (opt.optionName) {
    case 'SINGLELINE':
      return singleLine;
    case 'CSVTOJSON':
      return csvToJson(opt.customFieldNames, opt.delimiter === '\\t' ? '\t' : opt.delimiter);
    case 'LOGTOJSON':
      return logToJson(opt);
    case 'ADDBRACKETS':
      return (text) => ({ ok: true, text: `{${text}}` });
    case 'ADDMETADATA':
      return addMetadata(opt);
  }
}

export interface ChainResult {
  /** The converted text, or undefined when the record is dropped. */
  text: string | undefined;
  /** First conversion error, if any. */
  error?: string;
}

/** The options in order; a failing LOGTOJSON stops the chain (the record stays as it was). */
export function buildChain(options: readonly DataProcessingOption[], onParseError: 'raw' | 'drop'): (text: string, now: number) => ChainResult {
  const steps = options.map((o) => ({ name: o.optionName, run: buildConverter(o) }));
  if (steps.length === 0) return (text) => ({ text });
  return (text, now) => {
    let cur = text;
    let error: string | undefined;
    for (const step of steps) {
      const r = step.run(cur, now);
      if (r.ok) {
        cur = r.text;
        continue;
      }
      error ??= `${step.name}: ${r.error}`;
      if (step.name === 'CSVTOJSON') {
        cur = r.text; // the agent's behaviour: nulls for missing columns, extra ones dropped
        continue;
      }
      return onParseError === 'drop' ? { text: undefined, error } : { text: cur, error };
    }
    return error === undefined ? { text: cur } : { text: cur, error };
  };
}
