// Function calls -> closures: plain functions (with constant folding and fixed-arity fast paths
// reusing one argument array), stateful ones (one instance per call site, computed once per event)
// and analytic `OVER (PARTITION BY ...)` calls. Unknown / cloud-only functions and wrong arity are
// refused here, at compile time, with the position of the call.
import type { Expr } from './ast.js';
import { arityError, canonical, semantic, V2, type Compiled, type CompilerContext, type Scope } from './compile-types.js';
import { EvalContext } from './context.js';
import { CLOUD_FUNCTIONS, type SqlFunctionDef } from './functions/index.js';
import { keyPart, toStr, type Value } from './values.js';
import { closestName } from '../../core/closest-name.js';
import { GatehouseError } from '../../core/errors.js';

/**
 * The aggregates of windowed rules (rules/windows/aggregates.ts, which imports this compiler, so the
 * names are repeated here; a test keeps the two equal): outside a window they get their own error.
 */
export const WINDOW_AGGREGATES: ReadonlySet<string> = new Set([
  'count',
  'sum',
  'avg',
  'var',
  'vars',
  'stddev',
  'stddevs',
  'min',
  'max',
  'first',
  'last',
  'collect',
  'percentile',
]);

export function compileCall(cx: CompilerContext, e: Extract<Expr, { kind: 'call' }>, scope: Scope): Compiled {
  const lname = e.name.toLowerCase();
  if (lname === 'sql_version') {
    if (e.args.length) throw arityError({ name: 'sql_version', minArgs: 0, maxArgs: 0 }, e.args.length, e.pos);
    const v = cx.sqlVersion;
    return () => v;
  }
  const def: SqlFunctionDef | undefined = cx.functions.get(lname);
  if (!def) {
    const cloud = CLOUD_FUNCTIONS.get(lname);
    if (cloud) throw semantic(`${e.name}() ${cloud.reason}`, e.pos, cloud.hint);
    if (WINDOW_AGGREGATES.has(lname))
      throw semantic(
        `${e.name}() is an aggregate: it needs a window`,
        e.pos,
        'add GROUP BY with a window, e.g. GROUP BY TUMBLINGWINDOW(ss, 10) (docs/windows.md)',
      );
    // The window aggregates are names too (cont(*) means count(*), not cos()).
    const near = closestName(lname, [...WINDOW_AGGREGATES, ...cx.functions.keys()]);
    throw semantic(`unknown function ${e.name}()`, e.pos, `${near ? `did you mean ${near}()? ` : ''}see docs/rules-sql.md for the function list`);
  }
  if (def.since === V2) cx.needV2(`${def.name}()`, e.pos);
  const n = e.args.length;
  if (n < def.minArgs || n > def.maxArgs) throw arityError(def, n, e.pos);
  let problem: string | undefined;
  try {
    problem = def.check?.(e.args, cx.sqlVersion);
  } catch (err) {
    // A check's own error (decode 'proto': GH_PROTO_DESCRIPTOR) with the position of the call.
    if (err instanceof GatehouseError && !err.where) {
      throw new GatehouseError(err.code, err.message, { where: `line ${e.pos.line}, column ${e.pos.column}`, hint: err.hint, cause: err });
    }
    throw err;
  }
  if (problem) throw semantic(problem, e.pos);
  const rawStar = typeof def.rawStar === 'function' ? def.rawStar(e.args) : def.rawStar === true;
  const argFns: Compiled[] = e.args.map((a) => {
    if (a.kind === 'star' && rawStar && scope === 'root') return (c: EvalContext) => c.message.payload;
    return cx.compileExpr(a, scope);
  });
  // One argument array per call site, refilled per evaluation (no per-message allocation).
  const args: Value[] = new Array<Value>(n).fill(undefined);

  if (def.kind === 'stateful') return compileStateful(cx, e, def, scope, argFns, args);
  if (e.over) throw semantic(`analytic call ${def.name}() OVER (...) is not supported yet`, e.over.pos, 'remove the OVER clause');
  const impl = def.impl;
  // Constant folding: a pure function of literals is evaluated once, here.
  if (def.pure && e.args.every((a) => a.kind === 'literal')) {
    const dummy = new EvalContext({ topic: '', payload: Buffer.alloc(0), qos: 0, source: { kind: 'internal', id: '' }, receivedAt: 0 });
    for (let i = 0; i < n; i++) args[i] = argFns[i]!(dummy);
    const v = impl(dummy, args);
    return () => v;
  }
  if (n === 0) return (c) => impl(c, args);
  if (n === 1) {
    const a0 = argFns[0]!;
    return (c) => {
      args[0] = a0(c);
      return impl(c, args);
    };
  }
  if (n === 2) {
    const a0 = argFns[0]!;
    const a1 = argFns[1]!;
    return (c) => {
      const v0 = a0(c);
      args[1] = a1(c);
      args[0] = v0;
      return impl(c, args);
    };
  }
  return (c) => {
    const vals = argFns.map((f) => f(c));
    for (let i = 0; i < n; i++) args[i] = vals[i];
    return impl(c, args);
  };
}

/** A stateful (optionally analytic OVER) call site: one instance per rule and canonical call. */
function compileStateful(
  cx: CompilerContext,
  e: Extract<Expr, { kind: 'call' }>,
  def: Extract<SqlFunctionDef, { kind: 'stateful' }>,
  scope: Scope,
  argFns: Compiled[],
  args: Value[],
): Compiled {
  if (e.over && !(def as { analytic?: boolean }).analytic) {
    throw semantic(`${def.name}() OVER (...) is not supported yet`, e.over.pos, 'remove the OVER clause');
  }
  const n = argFns.length;
  // The same call (function, arguments, partition) in SELECT and WHERE shares one instance and
  // is computed once per event: the result is cached against the EvalContext of the event.
  const siteKey = `${scope}:${def.name}(${e.args.map(canonical).join(',')})/${(e.over?.partitionBy ?? []).map(canonical).join(',')}`;
  const known = cx.statefulCalls.get(siteKey);
  if (known) return known;
  const partition = (e.over?.partitionBy ?? []).map((p) => cx.compileExpr(p, scope));
  const inst = def.factory({ rule: cx.ruleName, name: def.name, args: e.args, pos: e.pos, sqlVersion: cx.sqlVersion, partitionBy: e.over?.partitionBy ?? [] });
  if (inst.state) cx.stateSites.push({ key: siteKey, state: inst.state });
  let lastCtx: EvalContext | undefined;
  let lastVal: Value;
  // Inside a nested SELECT one context serves several rows: no caching there.
  const cache = scope === 'root';
  const fn: Compiled = (c) => {
    if (cache && c === lastCtx) return lastVal;
    for (let i = 0; i < n; i++) args[i] = argFns[i]!(c);
    let key = '';
    for (let i = 0; i < partition.length; i++) key += (i ? '\u0001' : '') + keyPart(toStr(partition[i]!(c)) ?? '');
    const v = inst(c, args, key);
    if (cache) {
      lastCtx = c;
      lastVal = v;
    }
    return v;
  };
  cx.statefulCalls.set(siteKey, fn);
  return fn;
}
