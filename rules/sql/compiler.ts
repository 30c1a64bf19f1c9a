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
// return Undefined on bad input.
import { GatehouseError } from '../../gateway/errors.js';
import type { SqlVersion } from '../types.js';
import type { Message } from '../../gateway/message.js';
import type { Expr, Pos, SelectItem, SelectQuery } from './ast.js';
import { EvalContext } from './context.js';
import { CLOUD_FUNCTIONS, createFunctionRegistry, type FunctionRegistry, type SqlFunctionDef, type StatefulState } from './functions/index.js';
import { parseSql } from './parser.js';
import { windowHooks } from '../windows/compile.js';
import {
  arith, getField, isObject, logical, sqlCompare, sqlEquals, toBoolean, toIntFloor, toNumber, toStr, truthy, type Value,
} from './values.js';

export type Compiled = (c: EvalContext) => Value;
export type Scope = 'root' | 'row';

export interface CompiledQuery {
  sql: string;
  sqlVersion: SqlVersion;
  /** The FROM topic filter. */
  topicFilter: string;
  ast: SelectQuery;
  /** WHERE as a predicate (undefined when there is no WHERE). */
  where: ((c: EvalContext) => boolean) | undefined;
  /** True when WHERE reads payload fields (then a non-JSON payload makes it false, counted). */
  whereUsesPayload: boolean;
  /** SELECT: the output value (object, bare value, or the raw payload Buffer); undefined = no output. */
  select: Compiled;
  /** `SELECT *` alone: the output is the source payload, byte for byte. */
  passthrough: boolean;
  /** Windowed aggregation (GROUP BY window): the engine feeds events to it instead of SELECT. */
  windowed?: WindowedQuery;
  /** Analytic call sites holding state (detectors), in call-site order, for checkpoints. */
  stateSites?: StateSite[];
}

export interface StateSite {
  /** Stable identity of the call site inside the rule (function + canonical arguments). */
  key: string;
  state: StatefulState;
}

/** One output row of a windowed query and the message its actions see (topic, templates). */
export interface WindowEmission {
  value: Value;
  message: Message;
}

/** What the engine gives a windowed query: clock, timers, limits, and a sink for timer emissions. */
export interface WindowRuntime {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  /** Emissions that happen outside handle(msg) (window close on a timer). */
  emit(rows: WindowEmission[]): void;
  maxGroups: number;
  maxRowsPerWindow: number;
}

export interface WindowStats {
  late: number;
  evicted: number;
  droppedRows: number;
  invalidTimestamps: number;
}

export interface WindowedQuery {
  /** One event that passed WHERE; returns rows emitted now (sliding/count/event-time), if any. */
  add(c: EvalContext): WindowEmission[] | undefined;
  /** Attach to the engine (timers start); stop() detaches. */
  start(rt: WindowRuntime): void;
  stop(): void;
  snapshot(): Buffer;
  /** Replace the state (legal before or after start); throws on corrupt bytes. */
  restore(bytes: Buffer): void;
  readonly stats: WindowStats;
}

export interface CompilerTools {
  compileExpr(e: Expr, scope?: Scope): Compiled;
  /** SELECT list -> output value (aliases, nested aliases, `*`), as for plain rules. */
  compileProjection(q: SelectQuery, scope: Scope): { fn: Compiled; passthrough: boolean };
  sqlVersion: SqlVersion;
  functions: FunctionRegistry;
  ruleName: string;
}

export interface CompilerHooks {
  compileClauses?(query: SelectQuery, tools: CompilerTools): CompiledQuery | undefined;
}

export interface CompileOptions {
  sqlVersion?: SqlVersion;
  functions?: FunctionRegistry;
  ruleName?: string;
  hooks?: CompilerHooks;
}

const V2: SqlVersion = '2016-03-23';
let defaultFunctions: FunctionRegistry | undefined;

function semantic(msg: string, pos: Pos, hint?: string): GatehouseError {
  return new GatehouseError('GH_SQL_SEMANTIC', msg, { where: `line ${pos.line}, column ${pos.column}`, hint });
}

const CAST_TYPES: Record<string, { to: 'string' | 'int' | 'double' | 'decimal' | 'bool'; v2?: boolean }> = {
  string: { to: 'string' }, nvarchar: { to: 'string' }, text: { to: 'string' }, ntext: { to: 'string' }, varchar: { to: 'string' },
  int: { to: 'int' }, integer: { to: 'int' }, double: { to: 'double' },
  decimal: { to: 'decimal', v2: true }, bool: { to: 'bool', v2: true }, boolean: { to: 'bool', v2: true },
};

export function castValue(v: Value, to: 'string' | 'int' | 'double' | 'decimal' | 'bool'): Value {
  switch (to) {
    case 'string':
      return toStr(v);
    case 'int':
      if (typeof v === 'boolean') return v ? 1 : 0;
      return toIntFloor(v);
    case 'double':
    case 'decimal':
      if (typeof v === 'boolean') return v ? 1 : 0;
      return toNumber(v);
    case 'bool':
      if (typeof v === 'number') return v !== 0;
      return toBoolean(v);
  }
}

class Compiler implements CompilerTools {
  readonly functions: FunctionRegistry;
  readonly sqlVersion: SqlVersion;
  readonly ruleName: string;
  /** Set while compiling WHERE: did it read the payload? */
  private touchesPayload = false;
  /** Stateful call sites by canonical text: one instance (and one computation per event) each. */
  private readonly statefulCalls = new Map<string, Compiled>();
  readonly stateSites: StateSite[] = [];

  constructor(opts: CompileOptions) {
    this.sqlVersion = opts.sqlVersion ?? V2;
    this.functions = opts.functions ?? (defaultFunctions ??= createFunctionRegistry());
    this.ruleName = opts.ruleName ?? '';
  }

  private needV2(what: string, pos: Pos): void {
    if (this.sqlVersion !== V2) {
      throw semantic(`${what} needs SQL version 2016-03-23 (this rule uses ${this.sqlVersion})`, pos, "set sqlVersion: '2016-03-23'");
    }
  }

  compileExpr = (e: Expr, scope: Scope = 'root'): Compiled => {
    switch (e.kind) {
      case 'literal': {
        const v = e.value;
        return () => v;
      }
      case 'field':
      case 'member':
        return this.compilePath(e, scope);
      case 'star':
        if (scope === 'row') return (c) => c.cur;
        this.touchesPayload = true;
        return (c) => (c.isNonJson() ? c.message.payload : c.root());
      case 'index': {
        const obj = this.compileExpr(e.object, scope);
        const idx = this.compileExpr(e.index, scope);
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
        const f = this.compileExpr(e.operand, scope);
        if (e.op === '-') {
          return (c) => {
            const n = toNumber(f(c));
            return n === undefined ? undefined : n === 0 ? 0 : -n;
          };
        }
        return (c) => {
          const b = logical(f(c));
          return b === undefined ? undefined : !b;
        };
      }
      case 'binary':
        return this.compileBinary(e, scope);
      case 'call':
        return this.compileCall(e, scope);
      case 'cast': {
        const spec = CAST_TYPES[e.type.toLowerCase()];
        if (!spec) throw semantic(`unknown cast type '${e.type}'`, e.typePos, 'use String, Int, Integer, Double, Decimal, Bool or Boolean');
        if (spec.v2) this.needV2(`cast to ${e.type}`, e.typePos);
        const f = this.compileExpr(e.expr, scope);
        const to = spec.to;
        return (c) => castValue(f(c), to);
      }
      case 'case': {
        const subject = e.subject ? this.compileExpr(e.subject, scope) : undefined;
        const whens = e.whens.map((w) => ({ when: this.compileExpr(w.when, scope), then: this.compileExpr(w.then, scope) }));
        const otherwise = e.otherwise ? this.compileExpr(e.otherwise, scope) : undefined;
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
        this.needV2('an object literal', e.pos);
        const entries = e.entries.map((en) => ({ key: en.key, f: this.compileExpr(en.value, scope) }));
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
        this.needV2('an array literal', e.pos);
        const items = e.items.map((i) => this.compileExpr(i, scope));
        return (c) => items.map((f) => f(c));
      }
      case 'select':
        return this.compileNested(e.query, e.pos, scope);
    }
  };

  /** a.b.c from the payload (root) or the nested-select row, as one closure walking the path. */
  private compilePath(e: Expr, scope: Scope): Compiled {
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
        this.touchesPayload = true;
        head = (c) => c.root();
      } else {
        head = (c) => c.cur;
      }
    } else {
      head = this.compileExpr(base, scope);
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

  private compileBinary(e: Extract<Expr, { kind: 'binary' }>, scope: Scope): Compiled {
    const l = this.compileExpr(e.left, scope);
    const r = this.compileExpr(e.right, scope);
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
          if (op === '>') return (c) => { const v = l(c); return typeof v === 'number' ? v > k : cmp(v, k, test); };
          if (op === '<') return (c) => { const v = l(c); return typeof v === 'number' ? v < k : cmp(v, k, test); };
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

  private compileCall(e: Extract<Expr, { kind: 'call' }>, scope: Scope): Compiled {
    const lname = e.name.toLowerCase();
    if (lname === 'sql_version') {
      if (e.args.length) throw semantic('sql_version() takes no arguments', e.pos);
      const v = this.sqlVersion;
      return () => v;
    }
    const def: SqlFunctionDef | undefined = this.functions.get(lname);
    if (!def) {
      if (CLOUD_FUNCTIONS.has(lname)) throw semantic(`${e.name}() calls an AWS cloud service and is not available on the gateway`, e.pos, 'compute the value upstream or remove the call');
      if (lname === 'md2') throw semantic('md2() is not available in this Node.js build (OpenSSL 3 disabled MD2)', e.pos, 'use md5() or sha256()');
      throw semantic(`unknown function ${e.name}()`, e.pos, 'see docs/rules-sql.md for the function list');
    }
    if (def.since === V2) this.needV2(`${def.name}()`, e.pos);
    const n = e.args.length;
    if (n < def.minArgs || n > def.maxArgs) {
      const want = def.minArgs === def.maxArgs ? `${def.minArgs}` : def.maxArgs === Infinity ? `at least ${def.minArgs}` : `${def.minArgs} to ${def.maxArgs}`;
      throw semantic(`${def.name}() takes ${want} argument${want === '1' ? '' : 's'}, got ${n}`, e.pos);
    }
    const problem = def.check?.(e.args, this.sqlVersion);
    if (problem) throw semantic(problem, e.pos);
    const argFns: Compiled[] = e.args.map((a) => {
      if (a.kind === 'star' && def.rawStar && scope === 'root') return (c: EvalContext) => c.message.payload;
      return this.compileExpr(a, scope);
    });
    const args: Value[] = new Array<Value>(n).fill(undefined);

    if (def.kind === 'stateful') {
      if (e.over && !(def as { analytic?: boolean }).analytic) {
        throw semantic(`${def.name}() OVER (...) is not supported yet`, e.over.pos, 'remove the OVER clause');
      }
      // The same call (function, arguments, partition) in SELECT and WHERE shares one instance and
      // is computed once per event: the result is cached against the EvalContext of the event.
      const siteKey = `${scope}:${def.name}(${e.args.map(canonical).join(',')})/${(e.over?.partitionBy ?? []).map(canonical).join(',')}`;
      const known = this.statefulCalls.get(siteKey);
      if (known) return known;
      const partition = (e.over?.partitionBy ?? []).map((p) => this.compileExpr(p, scope));
      const inst = def.factory({ rule: this.ruleName, name: def.name, args: e.args, pos: e.pos, sqlVersion: this.sqlVersion, partitionBy: e.over?.partitionBy ?? [] });
      if (inst.state) this.stateSites.push({ key: siteKey, state: inst.state });
      let lastCtx: EvalContext | undefined;
      let lastVal: Value;
      // Inside a nested SELECT one context serves several rows: no caching there.
      const cache = scope === 'root';
      const fn: Compiled = (c) => {
        if (cache && c === lastCtx) return lastVal;
        for (let i = 0; i < n; i++) args[i] = argFns[i]!(c);
        let key = '';
        for (let i = 0; i < partition.length; i++) key += (i ? '\u0001' : '') + (toStr(partition[i]!(c)) ?? '');
        const v = inst(c, args, key);
        if (cache) {
          lastCtx = c;
          lastVal = v;
        }
        return v;
      };
      this.statefulCalls.set(siteKey, fn);
      return fn;
    }
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

  /** (SELECT ... FROM expr [WHERE ...]): over an array -> array of projections; over an object -> one. */
  private compileNested(q: SelectQuery, pos: Pos, scope: Scope): Compiled {
    this.needV2('a nested SELECT', pos);
    if (q.from.kind !== 'expr') throw semantic('a nested SELECT reads FROM a field of the message', pos);
    const from = this.compileExpr(q.from.expr, scope);
    const where = q.where ? this.compileExpr(q.where, 'row') : undefined;
    const project = this.compileProjection(q, 'row').fn;
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

  compileProjection(q: SelectQuery, scope: Scope): { fn: Compiled; passthrough: boolean } {
    if (q.value) {
      const item = q.items[0]!;
      if (item.kind === 'star') {
        if (scope === 'root') {
          this.touchesPayload = true;
          return { fn: (c) => c.message.payload, passthrough: true };
        }
        return { fn: (c) => c.cur, passthrough: false };
      }
      const f = this.compileExpr(item.expr, scope);
      if (this.sqlVersion !== V2 && scope === 'root') {
        // 2015-10-08 cannot output an array as the top-level value.
        return { fn: (c) => { const v = f(c); return Array.isArray(v) ? undefined : v; }, passthrough: false };
      }
      return { fn: f, passthrough: false };
    }
    const stars = q.items.filter((i) => i.kind === 'star').length;
    if (stars === 1 && q.items.length === 1) {
      if (scope === 'root') return { fn: (c) => c.message.payload, passthrough: true };
      return { fn: (c) => c.cur, passthrough: false };
    }
    const star: Compiled | undefined = stars ? (scope === 'root' ? (c) => c.root() : (c) => c.cur) : undefined;
    const fields = q.items
      .filter((i): i is Extract<SelectItem, { kind: 'expr' }> => i.kind === 'expr')
      .map((it, idx) => ({ path: this.outputName(it, idx).split('.'), f: this.compileExpr(it.expr, scope) }));
    return {
      passthrough: false,
      fn: (c) => {
        let out: Record<string, Value>;
        if (star) {
          const base = star(c);
          out = isObject(base) ? Object.assign({}, base) : {};
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
  private outputName(it: Extract<SelectItem, { kind: 'expr' }>, idx: number): string {
    if (it.alias !== undefined) return it.alias;
    const e = it.expr;
    if (e.kind === 'field' || e.kind === 'member') return e.name;
    if (e.kind === 'call') return e.name;
    if (e.kind === 'cast') return e.expr.kind === 'field' || e.expr.kind === 'member' ? e.expr.name : 'cast';
    return `_${idx + 1}`;
  }

  compileStatement(sql: string, q: SelectQuery, hooks?: CompilerHooks): CompiledQuery {
    if (q.from.kind !== 'topic') throw semantic('FROM needs a topic filter', q.pos);
    validateFilter(q.from.filter, q.from.pos);
    const clause = q.groupBy ? 'GROUP BY' : q.having ? 'HAVING' : q.orderBy ? 'ORDER BY' : q.limit ? 'LIMIT' : q.timestampBy ? 'TIMESTAMP BY' : undefined;
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
    return {
      sql,
      sqlVersion: this.sqlVersion,
      topicFilter: q.from.filter,
      ast: q,
      where: whereFn ? (c) => truthy(whereFn(c)) : undefined,
      whereUsesPayload,
      select: proj.fn,
      passthrough: proj.passthrough,
      ...(this.stateSites.length ? { stateSites: this.stateSites } : {}),
    };
  }
}

/** Position-free text of an expression, to recognise the same call written twice. */
function canonical(e: Expr): string {
  return JSON.stringify(e, (k, v: unknown) => (k === 'pos' || k === 'typePos' ? undefined : v));
}

function cmp(a: Value, b: Value, test: (s: number) => boolean): boolean | undefined {
  const s = sqlCompare(a, b);
  return s === undefined ? undefined : test(s);
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
  const q = parseSql(sql);
  return new Compiler(opts).compileStatement(sql, q, opts.hooks ?? windowHooks);
}

/** Compile a standalone expression (substitution templates) in the payload scope. */
export function compileExpression(e: Expr, opts: CompileOptions = {}): Compiled {
  return new Compiler(opts).compileExpr(e, 'root');
}

/** Serialise a SELECT output once: Buffer as is, everything else compact JSON; undefined = no message. */
export function serializeOutput(v: Value): Buffer | undefined {
  if (v === undefined) return undefined;
  if (Buffer.isBuffer(v)) return v;
  return Buffer.from(JSON.stringify(v), 'utf8');
}

/** Evaluate a compiled query against one message context: the output bytes, or undefined (WHERE false / no output). */
export function evaluateQuery(q: CompiledQuery, c: EvalContext): Buffer | undefined {
  if (q.where) {
    if (q.whereUsesPayload && c.isNonJson()) return undefined;
    if (!q.where(c)) return undefined;
  }
  return serializeOutput(q.select(c));
}
