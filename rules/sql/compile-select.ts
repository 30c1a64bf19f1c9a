// SELECT lists -> output values (aliases, nested aliases `a.b`, `*`, SELECT VALUE), nested
// `(SELECT ... FROM expr)` over arrays/objects, and the one-time serialisation of an output.
import type { Pos, SelectItem, SelectQuery } from './ast.js';
import { payloadRoot, semantic, V2, type Compiled, type CompilerContext, type Scope } from './compile-types.js';
import type { SqlVersion } from '../types.js';
import type { EvalContext } from './context.js';
import { stringifyKeepingDecimals } from './json-decimal.js';
import { isObject, truthy, type Value } from './values.js';

/** (SELECT ... FROM expr [WHERE ...]): over an array -> array of projections; over an object -> one. */
export function compileNested(cx: CompilerContext, q: SelectQuery, pos: Pos, scope: Scope): Compiled {
  cx.needV2('a nested SELECT', pos);
  if (q.from.kind !== 'expr') throw semantic('a nested SELECT reads FROM a field of the message', pos);
  const from = cx.compileExpr(q.from.expr, scope);
  const where = q.where ? cx.compileExpr(q.where, 'row') : undefined;
  const project = cx.compileProjection(q, 'row').fn;
  const one = (c: EvalContext, row: Value): Value => {
    const saved = c.cur;
    c.cur = row;
    try {
      if (where && !truthy(where(c))) return undefined;
      return project(c);
    } finally {
      c.cur = saved;
    }
  };
  return (c) => {
    const src = from(c);
    if (Array.isArray(src)) {
      const out: Value[] = [];
      for (const row of src) {
        const v = one(c, row);
        if (v !== undefined) out.push(v);
      }
      return out;
    }
    if (isObject(src)) return one(c, src);
    return undefined;
  };
}

export function compileProjection(cx: CompilerContext, q: SelectQuery, scope: Scope): { fn: Compiled; passthrough: boolean } {
  if (q.value) {
    const item = q.items[0]!;
    if (item.kind === 'star') {
      if (scope === 'root') {
        cx.touchPayload();
        return { fn: (c) => c.message.payload, passthrough: true };
      }
      return { fn: (c) => c.cur, passthrough: false };
    }
    const f = cx.compileExpr(item.expr, scope);
    if (cx.sqlVersion !== V2 && scope === 'root') {
      // 2015-10-08 cannot output an array as the top-level value.
      return {
        fn: (c) => {
          const v = f(c);
          return Array.isArray(v) ? undefined : v;
        },
        passthrough: false,
      };
    }
    return { fn: f, passthrough: false };
  }
  const stars = q.items.filter((i) => i.kind === 'star').length;
  if (stars === 1 && q.items.length === 1) {
    if (scope === 'root') return { fn: (c) => c.message.payload, passthrough: true };
    return { fn: (c) => c.cur, passthrough: false };
  }
  const star: Compiled | undefined = stars ? (scope === 'root' ? payloadRoot(cx) : (c) => c.cur) : undefined;
  const fields = q.items
    .filter((i): i is Extract<SelectItem, { kind: 'expr' }> => i.kind === 'expr')
    .map((it, idx) => ({ path: outputName(it, idx).split('.'), f: cx.compileExpr(it.expr, scope) }));
  return {
    passthrough: false,
    fn: (c) => {
      let out: Record<string, Value>;
      if (star) {
        const base = star(c);
        // Spread, not Object.assign: a payload key "__proto__" stays an own key (assign would set the prototype).
        out = isObject(base) ? { ...base } : {};
      } else {
        out = {};
      }
      for (let i = 0; i < fields.length; i++) {
        const fd = fields[i]!;
        let v = fd.f(c);
        if (v === undefined) continue;
        if (Buffer.isBuffer(v)) v = v.toString('utf8');
        const p = fd.path;
        if (p.length === 1) {
          out[p[0]!] = v;
        } else {
          let o = out;
          for (let k = 0; k < p.length - 1; k++) {
            const next = o[p[k]!];
            o = (isObject(next) ? next : (o[p[k]!] = {})) as Record<string, Value>;
          }
          o[p[p.length - 1]!] = v;
        }
      }
      return out;
    },
  };
}

/** Output key: the alias; else the last field name; else the function name; else _N (1-based). */
function outputName(it: Extract<SelectItem, { kind: 'expr' }>, idx: number): string {
  if (it.alias !== undefined) return it.alias;
  const e = it.expr;
  if (e.kind === 'field' || e.kind === 'member') return e.name;
  if (e.kind === 'call') return e.name;
  if (e.kind === 'cast') return e.expr.kind === 'field' || e.expr.kind === 'member' ? e.expr.name : 'cast';
  return `_${idx + 1}`;
}

/**
 * Serialise a SELECT output once: Buffer as is, everything else compact JSON; undefined = no
 * message. A whole Decimal is written `2` under 2016-03-23 (AWS: whole numbers such as 10.0 are
 * processed as Int) and `2.0` under 2015-10-08 (which AWS says keeps them Decimal).
 */
export function serializeOutput(v: Value, sqlVersion: SqlVersion = V2): Buffer | undefined {
  if (v === undefined) return undefined;
  if (Buffer.isBuffer(v)) return v;
  const text = sqlVersion === V2 ? JSON.stringify(v) : stringifyKeepingDecimals(v);
  return text === undefined ? undefined : Buffer.from(text, 'utf8');
}
