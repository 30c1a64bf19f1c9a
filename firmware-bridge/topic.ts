// Topic templates: '${link}' and '${field}' placeholders, compiled once per link.
// Field values are sanitised: '/', '+', '#' become '_' so a value can't change the topic's shape;
// a missing field renders as 'unknown'.
import { GatehouseError } from '../core/errors.js';
import { legacyNote, scanTemplate } from '../core/template.js';

type Part = { lit: string } | { field: string };

export interface TopicTemplate {
  readonly source: string;
  /** True when the template needs fields of the decoded object. */
  readonly usesFields: boolean;
  render(fields: Record<string, unknown>): string;
  /** MQTT subscription filter: every segment holding a field placeholder becomes '+'. */
  filter(): string;
}

function clean(v: unknown): string {
  if (v === undefined || v === null || v === '') return 'unknown';
  // An object or array as its JSON text: String() would give every object the same "[object Object]".
  const s = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  let bad = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 47 || c === 43 || c === 35 || c === 0) {
      bad = true;
      break;
    }
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what must be replaced in a topic level
  return bad ? s.replace(/[/+#\u0000]/g, '_') : s;
}

export function compileTopic(source: string, link: string, where = 'topic', warn?: (msg: string) => void): TopicTemplate {
  // core/template.ts syntax: ${link} and ${field}; the deprecated {link} and {field} are still read.
  const pieces = scanTemplate(source, { legacy: true, code: 'GH_CONFIG_INVALID', where });
  const parts: Part[] = [];
  for (const p of pieces) {
    if (typeof p === 'string') {
      parts.push({ lit: p });
      continue;
    }
    const name = p.body;
    if (!/^[A-Za-z0-9_.-]+$/.test(name))
      throw new GatehouseError('GH_CONFIG_INVALID', `bad placeholder '\${${name}}' in '${source}'`, {
        where,
        hint: 'placeholders are ${link} or a field name, e.g. devices/${deviceId}/telemetry',
      });
    parts.push(name === 'link' ? { lit: link } : { field: name });
  }
  const note = legacyNote(source, pieces, where);
  if (note !== undefined) warn?.(note);
  // Merge adjacent literals so a fixed topic renders with no work.
  const merged: Part[] = [];
  for (const p of parts) {
    const last = merged[merged.length - 1];
    if ('lit' in p && last && 'lit' in last) merged[merged.length - 1] = { lit: last.lit + p.lit };
    else merged.push(p);
  }
  const usesFields = merged.some((p) => 'field' in p);
  const fixed = usesFields ? '' : merged.map((p) => ('lit' in p ? p.lit : '')).join('');
  return {
    source,
    usesFields,
    render(fields) {
      if (!usesFields) return fixed;
      let s = '';
      for (const p of merged) s += 'lit' in p ? p.lit : clean(fields[p.field]);
      return s;
    },
    filter() {
      const withMarks = merged.map((p) => ('lit' in p ? p.lit : '\u0000')).join('');
      return withMarks
        .split('/')
        .map((seg) => (seg.includes('\u0000') ? '+' : seg))
        .join('/');
    },
  };
}
