// Compiles the AST of one statement into closures (never eval / new Function on rule text).
//
// EXTENSION POINTS (for the windows and anomaly helpers):
//  1. Function registry: `CompileOptions.functions` is a Map (see functions/types.ts). Add plain
//     functions, or `kind: 'stateful'` ones whose `factory(site)` is called once per compiled rule
//     and per call site; the instance is called per evaluation with the partition key (the
//     PARTITION BY values of an `OVER (...)` clause joined by U+0001, '' without OVER). Mark a
//     stateful def `analytic: true` to accept `OVER (PARTITION BY ...)`; other functions refuse OVER.
//  2. Clause hook: `CompileOptions.hooks.compileClauses(query, tools)` is called when a statement
//     uses GROUP BY / HAVING / ORDER BY / LIMIT. Return a CompiledQuery to take over evaluation (with
//     `tools.compileExpr` to compile sub-expressions), or undefined to refuse. Without a hook these
//     clauses are refused with GH_SQL_SEMANTIC "... not supported yet".
//  3. Stateful queries: a hook may set `CompiledQuery.windowed` (rules/windows); the engine then
//     hands every event that passes WHERE to `windowed.add(c)` instead of SELECT, and routes
//     emissions (per event, or later from a timer) to the rule's actions. Analytic call sites with
//     a `state` are listed in `CompiledQuery.stateSites` for checkpoints.
// Evaluation contract: WHERE is evaluated first and cannot see SELECT aliases; field references
// read the payload parsed once per message (EvalContext.root()); functions never throw, they
// return Undefined on bad input, except decode(*, 'proto', ...) on bytes that are not its message
// (GH_PROTO_DECODE: the message goes to the rule's error action, as AWS fails the rule).
//
// The work is split by concern: compile-expr.ts (expressions, operators, CAST, CASE), compile-calls.ts
// (plain, stateful and analytic OVER calls), compile-select.ts (SELECT lists, nested SELECT, output
// serialisation), compile-types.ts (shared types). This file is the entry point: one Compiler per
// statement (the per-statement bookkeeping), the clause hook, and evaluation.
import { ERRORS, type GatehouseError } from '../../core/errors.js';
import type { Expr, Pos, SelectQuery } from './ast.js';
import type { SqlVersion } from '../types.js';
import { compileExpr as compileExprIn } from './compile-expr.js';
import { compileProjection as compileProjectionIn, serializeOutput } from './compile-select.js';
import {
  semantic,
  V2,
  type Compiled,
  type CompiledQuery,
  type CompilerContext,
  type CompilerHooks,
  type CompileOptions,
  type Scope,
  type StateSite,
} from './compile-types.js';
import type { EvalContext } from './context.js';
import { createFunctionRegistry, type FunctionRegistry } from './functions/index.js';
import { parseSql } from './parser.js';
import { windowHooks } from '../windows/compile.js';
import { truthy } from './values.js';

export type {
  Compiled,
  CompiledQuery,
  CompileOptions,
  CompilerHooks,
  CompilerTools,
  Scope,
  StateSite,
  WindowedQuery,
  WindowEmission,
  WindowRuntime,
  WindowStats,
} from './compile-types.js';
export { castValue } from './compile-expr.js';
export { serializeOutput } from './compile-select.js';

let defaultFunctions: FunctionRegistry | undefined;

/** The state of compiling one statement; the per-concern modules reach it as a CompilerContext. */
class Compiler implements CompilerContext {
  readonly functions: FunctionRegistry;
  readonly sqlVersion: SqlVersion;
  readonly ruleName: string;
  /** Set while compiling WHERE: did it read the payload? */
  private touchesPayload = false;
  readonly statefulCalls = new Map<string, Compiled>();
  readonly stateSites: StateSite[] = [];
  /** SET variables: each computed once per message; `payload` when its expression reads the payload. */
  private readonly variables = new Map<string, { fn: Compiled; payload: boolean }>();

  constructor(opts: CompileOptions) {
    this.sqlVersion = opts.sqlVersion ?? V2;
    this.functions = opts.functions ?? (defaultFunctions ??= createFunctionRegistry());
    this.ruleName = opts.ruleName ?? '';
    // A template's variables: whether they read the payload matters to no WHERE.
    for (const [name, fn] of opts.variables ?? []) this.variables.set(name, { fn, payload: false });
  }

  variable(name: string): Compiled | undefined {
    const v = this.variables.get(name);
    if (v?.payload) this.touchesPayload = true;
    return v?.fn;
  }

  /** SET @a = expr, ...: in order, each sees the ones before it; computed at most once per message. */
  private compileSet(set: NonNullable<SelectQuery['set']>): void {
    for (const a of set) {
      if (this.variables.has(a.name)) throw semantic(`variable @${a.name} is set twice`, a.pos, 'a variable is set once: give the second one another name');
      this.touchesPayload = false;
      const f = this.compileExpr(a.expr, 'root');
      let last: EvalContext | undefined;
      let value: unknown;
      const fn: Compiled = (c) => {
        if (c !== last) {
          value = f(c);
          last = c;
        }
        return value;
      };
      this.variables.set(a.name, { fn, payload: this.touchesPayload });
    }
  }

  needV2(what: string, pos: Pos): void {
    if (this.sqlVersion !== V2) {
      throw semantic(`${what} needs SQL version 2016-03-23 (this rule uses ${this.sqlVersion})`, pos, "set sqlVersion: '2016-03-23'");
    }
  }

  touchPayload(): void {
    this.touchesPayload = true;
  }

  // An arrow property: hooks receive `tools.compileExpr` and may call it detached.
  compileExpr = (e: Expr, scope: Scope = 'root'): Compiled => compileExprIn(this, e, scope);

  compileProjection(q: SelectQuery, scope: Scope): { fn: Compiled; passthrough: boolean } {
    return compileProjectionIn(this, q, scope);
  }

  compileStatement(sql: string, q: SelectQuery, hooks?: CompilerHooks): CompiledQuery {
    if (q.from.kind === 'expr') throw semantic('FROM needs a topic filter', q.pos);
    if (q.from.kind === 'topic') validateFilter(q.from.filter, q.from.pos);
    const clause = q.groupBy ? 'GROUP BY' : q.having ? 'HAVING' : q.orderBy ? 'ORDER BY' : q.limit ? 'LIMIT' : q.timestampBy ? 'TIMESTAMP BY' : undefined;
    if (q.from.kind === 'none' && clause) throw noFromStateful(q.from.pos, clause);
    if (q.set && clause) {
      throw semantic(`SET is not supported with ${clause} (a windowed rule)`, q.set[0]!.pos, 'write the expressions where they are used');
    }
    if (q.set) this.compileSet(q.set);
    if (clause) {
      const taken = hooks?.compileClauses?.(q, this);
      if (taken) {
        taken.sql = sql;
        if (this.stateSites.length) taken.stateSites = this.stateSites;
        return taken;
      }
      const p = q.groupBy?.[0]?.pos ?? q.having?.pos ?? q.orderBy?.[0]?.expr.pos ?? q.limit?.pos ?? q.timestampBy?.pos ?? q.pos;
      throw semantic(`${clause} is not supported yet`, p, 'windowed aggregation arrives with the windows feature; remove the clause');
    }
    this.touchesPayload = false;
    const whereFn = q.where ? this.compileExpr(q.where, 'root') : undefined;
    const whereUsesPayload = this.touchesPayload;
    const proj = this.compileProjection(q, 'root');
    if (q.from.kind === 'none' && this.stateSites.length) throw noFromStateful(q.from.pos, 'a detector');
    return {
      sql,
      sqlVersion: this.sqlVersion,
      topicFilter: q.from.kind === 'topic' ? q.from.filter : undefined,
      ast: q,
      where: whereFn ? (c) => truthy(whereFn(c)) : undefined,
      whereUsesPayload,
      select: proj.fn,
      passthrough: proj.passthrough,
      ...(this.stateSites.length ? { stateSites: this.stateSites } : {}),
      ...(this.variables.size ? { variables: new Map([...this.variables].map(([name, v]) => [name, v.fn])) } : {}),
    };
  }
}

/** A rule without FROM runs only through Basic Ingest, which does not run rules keeping state. */
function noFromStateful(pos: Pos, what: string): GatehouseError {
  return semantic(
    `a rule without FROM runs only through Basic Ingest ($aws/rules/<rule>/...), which does not run rules keeping state (${what})`,
    pos,
    "add FROM 'topic/filter' after the select items",
  );
}

/** MQTT topic filter rules: '#' only last and alone in its level, '+' alone in its level. */
export function validateFilter(filter: string, pos: Pos): void {
  const levels = filter.split('/');
  levels.forEach((l, i) => {
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) {
      throw semantic(`invalid topic filter '${filter}': '#' must be the last level, alone`, pos, "e.g. 'sensors/#'");
    }
    if (l.includes('+') && l !== '+') throw semantic(`invalid topic filter '${filter}': '+' must fill a whole level`, pos, "e.g. 'sensors/+/temp'");
  });
}

/** Parse and compile one statement. Throws GH_SQL_SYNTAX / GH_SQL_SEMANTIC with line and column. */
export function compileSql(sql: string, opts: CompileOptions = {}): CompiledQuery {
  try {
    const q = parseSql(sql);
    return new Compiler(opts).compileStatement(sql, q, opts.hooks ?? windowHooks);
  } catch (err) {
    // A statement nested thousands deep (a generated `a + b + ... `, `((((...))))`) exhausts the
    // recursive parser or compiler: a refusal that says so, not a bare RangeError.
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      throw ERRORS.GH_SQL_SYNTAX(
        { reason: 'the statement is nested too deeply to compile (call stack exceeded)' },
        {
          where: 'line 1, column 1',
          hint: 'write it with fewer nested operators, parentheses, brackets or NOTs (a sum of thousands of terms: split it over several rules, or compute it on the device)',
        },
      );
    }
    throw err;
  }
}

/** Compile a standalone expression (substitution templates) in the payload scope. */
export function compileExpression(e: Expr, opts: CompileOptions = {}): Compiled {
  return new Compiler(opts).compileExpr(e, 'root');
}

/** Evaluate a compiled query against one message context: the output bytes, or undefined (WHERE false / no output). */
export function evaluateQuery(q: CompiledQuery, c: EvalContext): Buffer | undefined {
  if (q.where) {
    if (q.whereUsesPayload && c.isNonJson()) return undefined;
    if (!q.where(c)) return undefined;
  }
  return serializeOutput(q.select(c), q.sqlVersion);
}
