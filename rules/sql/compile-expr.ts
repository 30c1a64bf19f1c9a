// Expressions and operators -> closures: literals, field paths, indexing, unary and binary
// operators, CAST, CASE, object/array literals. Calls and nested SELECTs are compiled by their
// own modules. Everything here runs once per rule; the returned closures run per message and
// are kept allocation-free where the SQL allows it.
import type { Expr } from './ast.js';
import { compileCall } from './compile-calls.js';
import { compileNested } from './compile-select.js';
import { payloadRoot, semantic, V2, type Compiled, type CompilerContext, type Scope } from './compile-types.js';
import {
  arith,
  decimal,
  getField,
  logical,
  negate,
  numeric,
  sqlCompare,
  sqlEquals,
  toBoolean,
  toIntFloor,
  toNumber,
  toStr,
  truthy,
  type Value,
} from './values.js';

type CastTarget = 'string' | 'int' | 'double' | 'decimal' | 'bool';

const CAST_TYPES: Record<string, { to: CastTarget; v2?: boolean }> = {
  string: { to: 'string' },
  nvarchar: { to: 'string' },
  text: { to: 'string' },
  ntext: { to: 'string' },
  varchar: { to: 'string' },
  int: { to: 'int' },
  integer: { to: 'int' },
  double: { to: 'double' },
  decimal: { to: 'decimal', v2: true },
  bool: { to: 'bool', v2: true },
  boolean: { to: 'bool', v2: true },
};

export function castValue(v: Value, to: CastTarget): Value {
  switch (to) {
    case 'string':
      return toStr(v);
    case 'int':
      if (typeof v === 'boolean') return v ? 1 : 0;
      return toIntFloor(v);
    case 'double':
    case 'decimal': {
      // A Decimal even when whole (cast(2 AS Decimal) / 4 = 0.5); true = 1.0, false = 0.0.
      if (typeof v === 'boolean') return decimal(v ? 1 : 0);
      const n = toNumber(v);
      return n === undefined ? undefined : decimal(n);
    }
    case 'bool': {
      const n = numeric(v);
      if (n !== undefined) return n !== 0;
      return toBoolean(v);
    }
  }
}

export function compileExpr(cx: CompilerContext, e: Expr, scope: Scope): Compiled {
  switch (e.kind) {
    case 'literal': {
      // 1000.0 stays a Decimal (boxed when whole): the type the rule author wrote.
      const v = e.decimal && typeof e.value === 'number' ? decimal(e.value) : e.value;
      return () => v;
    }
    case 'field':
    case 'member':
      return compilePath(cx, e, scope);
    case 'var': {
      const v = cx.variable(e.name);
      if (!v)
        throw semantic(
          `unknown variable @${e.name}`,
          e.pos,
          `set it before SELECT: SET @${e.name} = expression SELECT ... (a variable sees only those set before it)`,
        );
      return v;
    }
    case 'star':
      if (scope === 'row') return (c) => c.cur;
      cx.touchPayload();
      if (cx.sqlVersion !== V2) return (c) => (c.isNonJson() ? c.message.payload : c.rootV1());
      return (c) => (c.isNonJson() ? c.message.payload : c.root());
    case 'index': {
      const obj = cx.compileExpr(e.object, scope);
      const idx = cx.compileExpr(e.index, scope);
      return (c) => {
        const o = obj(c);
        const i = idx(c);
        if (Array.isArray(o)) {
          const n = toIntFloor(i);
          return n === undefined || n < 0 ? undefined : o[n];
        }
        if (typeof i === 'string') return getField(o, i);
        return undefined;
      };
    }
    case 'unary': {
      const f = cx.compileExpr(e.operand, scope);
      if (e.op === '-') return (c) => negate(f(c));
      return (c) => {
        const b = logical(f(c));
        return b === undefined ? undefined : !b;
      };
    }
    case 'binary':
      return compileBinary(cx, e, scope);
    case 'call':
      return compileCall(cx, e, scope);
    case 'cast': {
      const spec = CAST_TYPES[e.type.toLowerCase()];
      if (!spec) throw semantic(`unknown cast type '${e.type}'`, e.typePos, 'use String, Int, Integer, Double, Decimal, Bool or Boolean');
      if (spec.v2) cx.needV2(`cast to ${e.type}`, e.typePos);
      const f = cx.compileExpr(e.expr, scope);
      const to = spec.to;
      return (c) => castValue(f(c), to);
    }
    case 'case': {
      const subject = e.subject ? cx.compileExpr(e.subject, scope) : undefined;
      const whens = e.whens.map((w) => ({ when: cx.compileExpr(w.when, scope), then: cx.compileExpr(w.then, scope) }));
      const otherwise = e.otherwise ? cx.compileExpr(e.otherwise, scope) : undefined;
      if (subject) {
        return (c) => {
          const v = subject(c);
          if (v === undefined) return undefined;
          for (const w of whens) if (sqlEquals(v, w.when(c)) === true) return w.then(c);
          return otherwise ? otherwise(c) : undefined;
        };
      }
      return (c) => {
        for (const w of whens) if (truthy(w.when(c))) return w.then(c);
        return otherwise ? otherwise(c) : undefined;
      };
    }
    case 'object': {
      cx.needV2('an object literal', e.pos);
      const entries = e.entries.map((en) => ({ key: en.key, f: cx.compileExpr(en.value, scope) }));
      return (c) => {
        const o: Record<string, Value> = {};
        for (const en of entries) {
          const v = en.f(c);
          if (v !== undefined) o[en.key] = v;
        }
        return o;
      };
    }
    case 'array': {
      cx.needV2('an array literal', e.pos);
      const items = e.items.map((i) => cx.compileExpr(i, scope));
      return (c) => items.map((f) => f(c));
    }
    case 'select':
      return compileNested(cx, e.query, e.pos, scope);
  }
}

/** a.b.c from the payload (root) or the nested-select row, as one closure walking the path. */
function compilePath(cx: CompilerContext, e: Expr, scope: Scope): Compiled {
  const path: string[] = [];
  let base: Expr = e;
  while (base.kind === 'member') {
    path.unshift(base.name);
    base = base.object;
  }
  let head: Compiled;
  if (base.kind === 'field') {
    path.unshift(base.name);
    if (scope === 'root') {
      cx.touchPayload();
      head = payloadRoot(cx);
    } else {
      head = (c) => c.cur;
    }
  } else {
    head = cx.compileExpr(base, scope);
  }
  if (path.length === 1) {
    const k = path[0]!;
    return (c) => getField(head(c), k);
  }
  if (path.length === 2) {
    const k0 = path[0]!;
    const k1 = path[1]!;
    return (c) => getField(getField(head(c), k0), k1);
  }
  return (c) => {
    let v = head(c);
    for (let i = 0; i < path.length && v !== undefined; i++) v = getField(v, path[i]!);
    return v;
  };
}

function compileBinary(cx: CompilerContext, e: Extract<Expr, { kind: 'binary' }>, scope: Scope): Compiled {
  const l = cx.compileExpr(e.left, scope);
  const r = cx.compileExpr(e.right, scope);
  switch (e.op) {
    case 'AND':
      return (c) => {
        const a = logical(l(c));
        const b = logical(r(c));
        return a === undefined || b === undefined ? undefined : a && b;
      };
    case 'OR':
      return (c) => {
        const a = logical(l(c));
        const b = logical(r(c));
        return a === undefined || b === undefined ? undefined : a || b;
      };
    case '=':
      return (c) => sqlEquals(l(c), r(c));
    case '<>':
      return (c) => {
        const eq = sqlEquals(l(c), r(c));
        return eq === undefined ? undefined : !eq;
      };
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const op = e.op;
      const test = op === '<' ? (s: number) => s < 0 : op === '<=' ? (s: number) => s <= 0 : op === '>' ? (s: number) => s > 0 : (s: number) => s >= 0;
      // Fast path for the common `field > 50`: a numeric literal on the right.
      if (e.right.kind === 'literal' && typeof e.right.value === 'number') {
        const k = e.right.value;
        if (op === '>')
          return (c) => {
            const v = l(c);
            return typeof v === 'number' ? v > k : cmp(v, k, test);
          };
        if (op === '<')
          return (c) => {
            const v = l(c);
            return typeof v === 'number' ? v < k : cmp(v, k, test);
          };
      }
      return (c) => cmp(l(c), r(c), test);
    }
    case '+':
    case '-':
    case '*':
    case '/':
    case '%': {
      const op = e.op;
      return (c) => arith(op, l(c), r(c));
    }
    case 'IN':
      return (c) => {
        const a = l(c);
        const arr = r(c);
        if (a === undefined || !Array.isArray(arr)) return undefined;
        for (const x of arr) if (sqlEquals(a, x) === true) return true;
        return false;
      };
  }
}

function cmp(a: Value, b: Value, test: (s: number) => boolean): boolean | undefined {
  const s = sqlCompare(a, b);
  return s === undefined ? undefined : test(s);
}
