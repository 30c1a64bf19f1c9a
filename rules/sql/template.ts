// ${expr} substitution templates (syntax scanned by core/template.ts), compiled once at load:
// text parts and compiled expressions.
// An expression sees the source payload and message (not SELECT aliases), like AWS. Its value is
// converted to a string (objects/arrays as JSON); Undefined and Null render as ''.
import { ERRORS, GatehouseError } from '../../core/errors.js';
import { scanTemplate } from '../../core/template.js';
import type { ActionContext, SqlVersion, Template } from '../types.js';
import { evalContextOf, type EvalContext } from './context.js';
import { compileExpression, type Compiled } from './compiler.js';
import type { FunctionRegistry } from './functions/index.js';
import { parseExpression } from './parser.js';
import { toStr } from './values.js';

export interface TemplateOptions {
  sqlVersion?: SqlVersion;
  functions?: FunctionRegistry;
  /** The rule's SET variables (`${@name}`), computed once per message with the rule's SELECT. */
  variables?: ReadonlyMap<string, Compiled>;
}

export interface CompiledTemplate extends Template {
  /** Render against an EvalContext directly (engine fast path). */
  renderWith(c: EvalContext): string;
  /** True when there is no ${...} at all. */
  readonly constant: boolean;
}

export function compileTemplate(source: string, opts: TemplateOptions = {}): CompiledTemplate {
  const parts: Array<string | Compiled> = [];
  // The shared ${...} scanner (core/template.ts); here a placeholder holds a SQL expression.
  for (const piece of scanTemplate(source)) {
    if (typeof piece === 'string') {
      parts.push(piece);
      continue;
    }
    const exprSrc = piece.body;
    try {
      parts.push(compileExpression(parseExpression(exprSrc), opts));
    } catch (err) {
      const ge = err instanceof GatehouseError ? err : undefined;
      throw ERRORS.GH_TEMPLATE_INVALID(
        { template: source, reason: `bad expression \${${exprSrc}}: ${ge ? ge.message : String(err)}` },
        {
          where: `column ${piece.at + 3}${ge?.where ? ` (expression ${ge.where})` : ''}`,
          hint: ge?.hint ?? 'a template expression is any SQL expression, e.g. ${topic(2)}',
          cause: err,
        },
      );
    }
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
