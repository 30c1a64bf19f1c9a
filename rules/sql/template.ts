// ${expr} substitution templates, compiled once at load: text parts and compiled expressions.
// An expression sees the source payload and message (not SELECT aliases), like AWS. Its value is
// converted to a string (objects/arrays as JSON); Undefined and Null render as ''.
import { GatehouseError } from '../../core/errors.js';
import type { ActionContext, SqlVersion, Template } from '../types.js';
import { evalContextOf, type EvalContext } from './context.js';
import { compileExpression, type Compiled } from './compiler.js';
import type { FunctionRegistry } from './functions/index.js';
import { parseExpression } from './parser.js';
import { toStr } from './values.js';

export interface TemplateOptions {
  sqlVersion?: SqlVersion;
  functions?: FunctionRegistry;
}

export interface CompiledTemplate extends Template {
  /** Render against an EvalContext directly (engine fast path). */
  renderWith(c: EvalContext): string;
  /** True when there is no ${...} at all. */
  readonly constant: boolean;
}

/** Index of the '}' closing the expression that starts at `from`, honouring quotes and nested braces. */
function findClose(src: string, from: number): number {
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

export function compileTemplate(source: string, opts: TemplateOptions = {}): CompiledTemplate {
  const parts: Array<string | Compiled> = [];
  let i = 0;
  while (i < source.length) {
    const start = source.indexOf('${', i);
    if (start < 0) {
      parts.push(source.slice(i));
      break;
    }
    if (start > i) parts.push(source.slice(i, start));
    const close = findClose(source, start + 2);
    if (close < 0) {
      throw new GatehouseError('GH_TEMPLATE_INVALID', `unclosed \${ in template '${source}'`, { where: `column ${start + 1}`, hint: 'close the expression with }' });
    }
    const exprSrc = source.slice(start + 2, close);
    if (exprSrc.trim() === '') {
      throw new GatehouseError('GH_TEMPLATE_INVALID', `empty \${} in template '${source}'`, { where: `column ${start + 1}` });
    }
    try {
      parts.push(compileExpression(parseExpression(exprSrc), opts));
    } catch (err) {
      const ge = err instanceof GatehouseError ? err : undefined;
      throw new GatehouseError('GH_TEMPLATE_INVALID', `bad expression \${${exprSrc}} in template '${source}': ${ge ? ge.message : String(err)}`, {
        where: `column ${start + 3}${ge?.where ? ` (expression ${ge.where})` : ''}`,
        hint: ge?.hint ?? 'a template expression is any SQL expression, e.g. ${topic(2)}',
        cause: err,
      });
    }
    i = close + 1;
  }
  const constant = parts.every((p) => typeof p === 'string');
  const text = constant ? parts.join('') : '';
  const renderWith = (c: EvalContext): string => {
    if (constant) return text;
    let out = '';
    for (const p of parts) {
      if (typeof p === 'string') out += p;
      else out += toStr(p(c)) ?? '';
    }
    return out;
  };
  return {
    source,
    constant,
    renderWith,
    render: (ctx: ActionContext) => renderWith(evalContextOf(ctx)),
  };
}
