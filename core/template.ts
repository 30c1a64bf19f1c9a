// The one template syntax of Gatehouse: AWS IoT's `${...}` substitution. Every template in the
// configuration (rule action topics and keys, destination partition keys, NATS subjects, S3 object
// keys, serial link topics) is scanned here into literal text and placeholders; what a placeholder
// may contain is the site's vocabulary: a SQL expression in rule actions (`${topic(2)}`), a record
// field in destinations (`${stream}`, `${timestamp:yyyy}`), a link or decoded field in serial
// topics (`${link}`, `${deviceId}`).
//
// Sites that used the older forms keep accepting them when scanned with `legacy: true`
// (deprecated, documented in docs/decisions.md): `{name}` for `${name}`, and the Firehose-style
// `!{timestamp:yyyy}` for `${timestamp:yyyy}`.
import { ERRORS, GatehouseError, type ErrorCode } from './errors.js';

export interface Placeholder {
  /** The text between the braces, e.g. "topic(2)", "stream", "timestamp:yyyy". */
  readonly body: string;
  /** 0-based offset of the placeholder's first character in the template. */
  readonly at: number;
  /** Written in a deprecated form ({name} or !{name}). */
  readonly legacy: boolean;
}

export type TemplatePiece = string | Placeholder;

export interface ScanOptions {
  /** Accept the deprecated `{name}` and `!{name}` forms too (not in rule actions, where braces are text). */
  legacy?: boolean;
  /** Code of syntax errors (default GH_TEMPLATE_INVALID; config sites use their own). */
  code?: ErrorCode;
  /** Where the template sits (a config key path); default "column N". */
  where?: string;
}

/** Index of the '}' closing the placeholder whose body starts at `from`, honouring quotes and nested braces; -1 if none. */
export function findClose(src: string, from: number): number {
  let depth = 0;
  for (let i = from; i < src.length; i++) {
    const ch = src[i];
    if (ch === "'" || ch === '"' || ch === '`') {
      const q = ch;
      i++;
      while (i < src.length && src[i] !== q) {
        if (src[i] === '\\') i++;
        i++;
      }
    } else if (ch === '{') {
      depth++;
    } else if (ch === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

/**
 * A syntax error of a template, worded by GH_TEMPLATE_INVALID's catalogue template
 * ("template '...' is malformed: unclosed ${") whatever the code of the site (a config site
 * reports it under its own code, e.g. GH_DESTINATION_CONFIG).
 */
function malformed(code: ErrorCode, template: string, reason: string, where: string, hint: string): GatehouseError {
  const err = ERRORS.GH_TEMPLATE_INVALID({ template, reason }, { where, hint });
  return code === 'GH_TEMPLATE_INVALID' ? err : new GatehouseError(code, err.message, { where, hint });
}

/** Split a template into literal text and placeholders; throws on an unclosed or empty placeholder. */
export function scanTemplate(source: string, opts: ScanOptions = {}): TemplatePiece[] {
  const code = opts.code ?? 'GH_TEMPLATE_INVALID';
  const pieces: TemplatePiece[] = [];
  let text = '';
  let i = 0;
  while (i < source.length) {
    const open = opts.legacy ? source.indexOf('{', i) : source.indexOf('${', i) + 1;
    if (open <= 0 && !(opts.legacy && open === 0)) {
      text += source.slice(i);
      break;
    }
    const before = open > 0 ? source[open - 1] : '';
    const modern = before === '$';
    // A legacy placeholder is `{name}`, or `!{name}` (the `!` is part of it).
    const start = modern || before === '!' ? open - 1 : open;
    if (start > i) text += source.slice(i, start);
    const close = findClose(source, open + 1);
    const where = opts.where ?? `column ${start + 1}`;
    const shown = modern ? '${' : source.slice(start, open + 1);
    if (close < 0) throw malformed(code, source, `unclosed ${shown}`, where, 'close the placeholder with }');
    const body = source.slice(open + 1, close);
    if (body.trim() === '') throw malformed(code, source, `empty ${shown}}`, where, 'write a name or an expression between the braces');
    if (text) pieces.push(text);
    text = '';
    pieces.push({ body, at: start, legacy: !modern });
    i = close + 1;
  }
  if (text) pieces.push(text);
  return pieces;
}

/**
 * When a scanned template uses deprecated placeholders: one line naming them and the same template
 * in `${}` syntax (for a warning at start-up); undefined otherwise.
 */
export function legacyNote(source: string, pieces: readonly TemplatePiece[], where: string): string | undefined {
  const old: string[] = [];
  let modern = '';
  for (const p of pieces) {
    if (typeof p === 'string') {
      modern += p;
      continue;
    }
    modern += `\${${p.body}}`;
    if (p.legacy) old.push(source.slice(p.at, p.at + p.body.length + (source[p.at] === '!' ? 3 : 2)));
  }
  return old.length === 0 ? undefined : `${where}: ${old.join(', ')} is deprecated template syntax; write '${modern}'`;
}

/**
 * A template compiled once into literal text and named fields, so rendering per use is a few string
 * concatenations (no regex per message): destination templates (`${stream}`), MQTT client ids
 * (`gw-${installationId}`).
 */
export type TemplatePart = string | { field: string };

/** The parts of scanned `pieces` when every placeholder names one of `allowed`; else the first placeholder that does not. */
export function fieldParts(pieces: readonly TemplatePiece[], allowed: readonly string[]): TemplatePart[] | { unknown: string } {
  const parts: TemplatePart[] = [];
  for (const p of pieces) {
    if (typeof p === 'string') parts.push(p);
    else if (allowed.includes(p.body)) parts.push({ field: p.body });
    else return { unknown: p.body };
  }
  return parts;
}

/** The text of compiled `parts`, each field's value from `value`. */
export function renderTemplate(parts: readonly TemplatePart[], value: (field: string) => string): string {
  let s = '';
  for (const p of parts) s += typeof p === 'string' ? p : value(p.field);
  return s;
}
