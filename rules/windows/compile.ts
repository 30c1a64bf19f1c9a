// The compiler hook for GROUP BY <keys>, <window> [HAVING] [ORDER BY] [LIMIT] and TIMESTAMP BY:
// aggregate calls in SELECT / HAVING / ORDER BY are replaced by slot reads, their arguments are
// compiled to run per event, and the rest is compiled to run per output row against a
// WindowEvalContext (the group's last message + aggregate values + window bounds).
import { closestName } from '../../core/closest-name.js';
import type { Expr, SelectItem, SelectQuery } from '../sql/ast.js';
import { arityError, type Compiled, type CompiledQuery, type CompilerHooks, type CompilerTools } from '../sql/compile-types.js';
import { truthy } from '../sql/values.js';
import { AGGREGATES } from './aggregates.js';
import { AGG_SLOT_FN } from './context.js';
import { parseWindow, semantic, unitMs, WINDOW_FUNCTIONS, type WindowSpec } from './spec.js';
import { WindowRunner, type AggSlot, type WindowPlan } from './runtime.js';

function canonical(e: Expr): string {
  return JSON.stringify(e, (k, v: unknown) => (k === 'pos' || k === 'typePos' ? undefined : v));
}

function findAggregate(e: Expr | undefined): Extract<Expr, { kind: 'call' }> | undefined {
  if (!e) return undefined;
  let found: Extract<Expr, { kind: 'call' }> | undefined;
  const visit = (x: Expr): void => {
    if (found) return;
    if (x.kind === 'call' && AGGREGATES.has(x.name.toLowerCase())) {
      found = x;
      return;
    }
    forEachChild(x, visit);
  };
  visit(e);
  return found;
}

function forEachChild(e: Expr, f: (x: Expr) => void): void {
  switch (e.kind) {
    case 'member':
      return f(e.object);
    case 'index':
      f(e.object);
      return f(e.index);
    case 'unary':
      return f(e.operand);
    case 'binary':
      f(e.left);
      return f(e.right);
    case 'call':
      e.args.forEach(f);
      e.over?.partitionBy.forEach(f);
      return;
    case 'cast':
      return f(e.expr);
    case 'case':
      if (e.subject) f(e.subject);
      e.whens.forEach((w) => {
        f(w.when);
        f(w.then);
      });
      if (e.otherwise) f(e.otherwise);
      return;
    case 'object':
      return e.entries.forEach((en) => f(en.value));
    case 'array':
      return e.items.forEach(f);
    default:
      return;
  }
}

class Rewriter {
  readonly slots: Array<{ call: Extract<Expr, { kind: 'call' }>; key: string }> = [];

  rewrite = (e: Expr): Expr => {
    switch (e.kind) {
      case 'call': {
        const lname = e.name.toLowerCase();
        const def = AGGREGATES.get(lname);
        if (def) {
          if (e.over) throw semantic(`aggregate ${e.name}() takes no OVER clause`, e.over.pos);
          const n = e.args.length;
          if (n < def.minArgs || n > def.maxArgs) throw arityError(def, n, e.pos);
          for (const a of e.args) {
            const inner = findAggregate(a);
            if (inner) throw semantic(`aggregate ${inner.name}() cannot be nested inside ${e.name}()`, inner.pos);
            if (a.kind === 'star' && !def.acceptsStar) throw semantic(`${e.name}(*) is not allowed`, a.pos, 'name a field, e.g. avg(temp)');
          }
          const key = canonical(e);
          let idx = this.slots.findIndex((s) => s.key === key);
          if (idx < 0) idx = this.slots.push({ call: e, key }) - 1;
          return { kind: 'call', name: AGG_SLOT_FN, args: [{ kind: 'literal', value: idx, pos: e.pos }], pos: e.pos };
        }
        return { ...e, args: e.args.map(this.rewrite) };
      }
      case 'member':
        return { ...e, object: this.rewrite(e.object) };
      case 'index':
        return { ...e, object: this.rewrite(e.object), index: this.rewrite(e.index) };
      case 'unary':
        return { ...e, operand: this.rewrite(e.operand) };
      case 'binary':
        return { ...e, left: this.rewrite(e.left), right: this.rewrite(e.right) };
      case 'cast':
        return { ...e, expr: this.rewrite(e.expr) };
      case 'case': {
        const out: Expr = { ...e, whens: e.whens.map((w) => ({ when: this.rewrite(w.when), then: this.rewrite(w.then) })) };
        if (e.subject) out.subject = this.rewrite(e.subject);
        if (e.otherwise) out.otherwise = this.rewrite(e.otherwise);
        return out;
      }
      case 'object':
        return { ...e, entries: e.entries.map((en) => ({ key: en.key, value: this.rewrite(en.value) })) };
      case 'array':
        return { ...e, items: e.items.map(this.rewrite) };
      default:
        return e;
    }
  };
}

/** Compile a windowed statement; throws GH_SQL_SEMANTIC for clauses without a window. */
export function compileWindowClauses(q: SelectQuery, tools: CompilerTools): CompiledQuery {
  const groupBy = q.groupBy ?? [];
  const windows = groupBy.filter((g): g is Extract<Expr, { kind: 'call' }> => g.kind === 'call' && WINDOW_FUNCTIONS.has(g.name.toLowerCase()));
  if (windows.length === 0) {
    // A misspelt window (HOPINGWINDOW) is a group key to the parser: name it rather than say the
    // GROUP BY has no window, which its author can see it has.
    for (const g of groupBy) {
      const near = g.kind === 'call' ? closestName(g.name, WINDOW_FUNCTIONS) : undefined;
      if (g.kind === 'call' && near)
        throw semantic(
          `${g.name}() is not a window function: did you mean ${near.toUpperCase()}()?`,
          g.pos,
          'the windows: TUMBLINGWINDOW, HOPPINGWINDOW, SLIDINGWINDOW, SESSIONWINDOW, COUNTWINDOW (docs/windows.md)',
        );
    }
    const p = groupBy[0]?.pos ?? q.having?.pos ?? q.orderBy?.[0]?.expr.pos ?? q.limit?.pos ?? q.timestampBy?.pos ?? q.pos;
    const clause = groupBy.length ? 'GROUP BY' : q.having ? 'HAVING' : q.orderBy ? 'ORDER BY' : q.limit ? 'LIMIT' : 'TIMESTAMP BY';
    throw semantic(
      `${clause} is not supported yet without a window function in GROUP BY`,
      p,
      'e.g. GROUP BY topic(2), TUMBLINGWINDOW(ss, 10); see docs/windows.md',
    );
  }
  if (windows.length > 1) throw semantic('GROUP BY takes one window function', windows[1]!.pos);
  const spec: WindowSpec = parseWindow(windows[0]!);
  const keyExprs = groupBy.filter((g) => g !== windows[0]);
  for (const k of keyExprs) {
    const agg = findAggregate(k);
    if (agg) throw semantic(`aggregate ${agg.name}() is not allowed in GROUP BY`, agg.pos);
  }
  const whereAgg = findAggregate(q.where);
  if (whereAgg)
    throw semantic(
      `aggregate ${whereAgg.name}() is not allowed in WHERE (it filters events before the window)`,
      whereAgg.pos,
      'use HAVING for conditions on aggregates',
    );
  if (q.timestampBy && findAggregate(q.timestampBy.expr)) throw semantic('aggregates are not allowed in TIMESTAMP BY', q.timestampBy.pos);
  if (q.limit && q.limit.value <= 0) throw semantic('LIMIT must be > 0', q.limit.pos);

  const rw = new Rewriter();
  const items: SelectItem[] = q.items.map((it) => (it.kind === 'expr' ? { ...it, expr: rw.rewrite(it.expr) } : it));
  const having = q.having ? rw.rewrite(q.having) : undefined;
  const aliases = new Set(q.items.flatMap((it) => (it.kind === 'expr' && it.alias !== undefined ? [it.alias] : [])));
  const order = (q.orderBy ?? []).map((o) => {
    if (o.expr.kind === 'field' && aliases.has(o.expr.name)) return { alias: o.expr.name, f: undefined, desc: o.descending };
    return { alias: undefined, f: tools.compileExpr(rw.rewrite(o.expr), 'root'), desc: o.descending };
  });

  const aggs: AggSlot[] = rw.slots.map(({ call }) => {
    const def = AGGREGATES.get(call.name.toLowerCase())!;
    const a0 = call.args[0]!;
    let param: number | undefined;
    if (def.name === 'percentile') {
      const p = call.args[1]!;
      if (p.kind !== 'literal' || typeof p.value !== 'number' || p.value < 0 || p.value > 1) {
        throw semantic('percentile(expr, p): p must be a number literal in [0, 1]', p.pos, 'e.g. percentile(temp, 0.95)');
      }
      param = p.value;
    }
    const arg: Compiled | undefined = a0.kind === 'star' && def.name === 'count' ? undefined : tools.compileExpr(a0, 'root');
    return { def, arg, param };
  });

  const project = tools.compileProjection({ ...q, items }, 'root');
  const havingFn = having ? tools.compileExpr(having, 'root') : undefined;
  let lateness = 0;
  if (q.timestampBy?.lateness) lateness = unitMs(q.timestampBy.lateness.unit, q.timestampBy.pos) * q.timestampBy.lateness.value;
  const plan: WindowPlan = {
    ruleName: tools.ruleName,
    spec,
    keys: keyExprs.map((k) => tools.compileExpr(k, 'root')),
    eventTime: q.timestampBy ? tools.compileExpr(q.timestampBy.expr, 'root') : undefined,
    lateness,
    aggs,
    project: project.fn,
    having: havingFn ? (c) => truthy(havingFn(c)) : undefined,
    order,
    limit: q.limit?.value,
  };
  const whereFn = q.where ? tools.compileExpr(q.where, 'root') : undefined;
  if (q.from.kind !== 'topic') throw semantic('FROM needs a topic filter', q.pos);
  return {
    sql: '',
    sqlVersion: tools.sqlVersion,
    topicFilter: q.from.filter,
    ast: q,
    where: whereFn ? (c) => truthy(whereFn(c)) : undefined,
    // Conservative: a non-JSON payload never enters a window whose WHERE exists.
    whereUsesPayload: whereFn !== undefined,
    select: () => undefined,
    passthrough: false,
    windowed: new WindowRunner(plan),
  };
}

/** The hooks to pass to compileSql / compileRuleSet (the default of both). */
export const windowHooks: CompilerHooks = { compileClauses: compileWindowClauses };
