// Topic templates of the industrial sources, in the one template syntax (core/template.ts):
// `plant/${device}/${tag}`. A placeholder is a name from the source's vocabulary (no expressions:
// a poll is not a message yet). The `{name}` spelling is refused with the `${}` one to write.
import { scanTemplate, legacyNote } from '../../../core/template.js';
import { errorMessage } from '../../../core/errors.js';

/** Problems of a template (empty when valid), for a zod superRefine. */
export function topicProblems(template: string, vocabulary: readonly string[]): string[] {
  let pieces: ReturnType<typeof scanTemplate>;
  try {
    pieces = scanTemplate(template, { legacy: true });
  } catch (err) {
    return [errorMessage(err)];
  }
  const out: string[] = [];
  const legacy = legacyNote(template, pieces, 'topic');
  if (legacy) out.push(legacy.replace(/^topic: /, ''));
  for (const p of pieces) {
    if (typeof p !== 'string' && !vocabulary.includes(p.body))
      out.push(`unknown placeholder \${${p.body}}: use ${vocabulary.map((v) => `\${${v}}`).join(' ')}`);
  }
  if (/[#+]/.test(template)) out.push('a topic template cannot contain MQTT wildcards # or +');
  return out;
}

const compiled = new Map<string, (vars: Readonly<Record<string, string | number>>) => string>();

/** A renderer of a (validated) template; compiled once per template string. */
export function topicRenderer(template: string): (vars: Readonly<Record<string, string | number>>) => string {
  let render = compiled.get(template);
  if (!render) {
    const pieces = scanTemplate(template);
    render = (vars) => {
      let s = '';
      for (const p of pieces) s += typeof p === 'string' ? p : String(vars[p.body] ?? '');
      return s;
    };
    compiled.set(template, render);
  }
  return render;
}
