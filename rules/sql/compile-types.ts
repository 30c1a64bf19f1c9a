// Types shared by the SQL compiler modules (public ones are re-exported by compiler.ts), plus the
// internal CompilerContext the per-concern modules compile against, so they need no import cycle:
// recursion always goes back through `cx.compileExpr`.
import { ERRORS, type GatehouseError } from '../../core/errors.js';
import type { Message } from '../../core/message.js';
import type { SqlVersion } from '../types.js';
import type { Expr, Pos, SelectQuery } from './ast.js';
import type { EvalContext } from './context.js';
import type { FunctionRegistry, StatefulState } from './functions/types.js';
import type { Value } from './values.js';

export type Compiled = (c: EvalContext) => Value;
export type Scope = 'root' | 'row';

export interface CompiledQuery {
  sql: string;
  sqlVersion: SqlVersion;
  /** The FROM topic filter; undefined without FROM: the rule runs only through Basic Ingest ($aws/rules/<rule>/...). */
  topicFilter: string | undefined;
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
  /** The SET clause's variables, for the rule's substitution templates (computed once per message). */
  variables?: ReadonlyMap<string, Compiled>;
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
  /** Processing time (the replayed time during a replay). */
  now(): number;
  /** Elapsed (monotonic) time: what timers count. */
  elapsed(): number;
  /** The wall clock minus elapsed time now (changes when the wall clock is stepped). */
  skew(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  /** Emissions that happen outside handle(msg) (window close on a timer). */
  emit(rows: WindowEmission[]): void;
  maxGroups: number;
  /** Group states of a tumbling or hopping window rule across its open windows. */
  maxGroupStates: number;
  maxRowsPerWindow: number;
  /** Bytes the groups of a window rule hold (kept messages once, rows); default 64 MiB. */
  maxGroupBytes?: number;
  /** Groups were evicted by maxGroupBytes (the host logs it at a bounded rate). */
  onBudgetEvict?(info: { evicted: number; bytes: number; maxGroupBytes: number }): void;
}

export interface WindowStats {
  late: number;
  /** Groups evicted by a bound (maxGroups, maxGroupStates, maxGroupBytes). */
  evicted: number;
  /** Of those, evicted by maxGroupBytes. */
  evictedBytes: number;
  droppedRows: number;
  invalidTimestamps: number;
}

export interface WindowedQuery {
  /** One event that passed WHERE; returns rows emitted now (sliding/count/event-time), if any. */
  add(c: EvalContext): WindowEmission[] | undefined;
  /** Attach to the engine (timers start); stop() detaches. */
  start(rt: WindowRuntime): void;
  stop(): void;
  /** Processing time: close what is due at the runtime's now() and return the rows (replay). */
  tick(): WindowEmission[] | undefined;
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
  /** Variables an expression may read (a rule's SET clause, for its templates). */
  variables?: ReadonlyMap<string, Compiled>;
  functions?: FunctionRegistry;
  ruleName?: string;
  hooks?: CompilerHooks;
}

/** What the per-concern compile modules see of the one compiler instance of a statement. */
export interface CompilerContext extends CompilerTools {
  /** Throws GH_SQL_SEMANTIC unless the rule uses SQL version 2016-03-23. */
  needV2(what: string, pos: Pos): void;
  /** The expression being compiled reads the payload (tracked while compiling WHERE). */
  touchPayload(): void;
  /** A SET variable by name (undefined when the statement sets none of that name). */
  variable(name: string): Compiled | undefined;
  /** Stateful call sites by canonical text: one instance (and one computation per event) each. */
  readonly statefulCalls: Map<string, Compiled>;
  readonly stateSites: StateSite[];
}

export const V2: SqlVersion = '2016-03-23';

export function semantic(msg: string, pos: Pos, hint?: string): GatehouseError {
  return ERRORS.GH_SQL_SEMANTIC({ reason: msg }, { where: `line ${pos.line}, column ${pos.column}`, hint });
}

/** What a built-in function declares of its arguments (SqlFunctionDef, a window aggregate). */
export interface Arity {
  readonly name: string;
  readonly minArgs: number;
  readonly maxArgs: number;
}

/** Optional arguments spelled out up to this many; more (decode's 6, a detector's 65, concat's any) are `...`. */
const SPELLED_OPTIONAL = 2;

/**
 * The call shape of a function from its declared arity, with placeholder names: `abs(x)`,
 * `mod(x, y)`, `substring(x, y[, z])`, `decode(x, y, ...)`, `concat(...)`.
 */
export function callSignature(def: Arity): string {
  const max = def.maxArgs - def.minArgs > SPELLED_OPTIONAL ? Infinity : def.maxArgs;
  const names = max === Infinity ? def.minArgs : max;
  const name = (i: number): string => (names <= 3 ? ['x', 'y', 'z'][i]! : `x${i + 1}`);
  let s = '';
  for (let i = 0; i < def.minArgs; i++) s += `${i ? ', ' : ''}${name(i)}`;
  if (max === Infinity) s += `${def.minArgs ? ', ' : ''}...`;
  else for (let i = def.minArgs; i < max; i++) s += `${i ? '[, ' : '['}${name(i)}]`;
  return `${def.name}(${s})`;
}

/** A call of `def` with `n` arguments, outside its declared arity: the count it takes, and its shape as the hint. */
export function arityError(def: Arity, n: number, pos: Pos): GatehouseError {
  const want =
    def.maxArgs === 0
      ? 'no'
      : def.minArgs === def.maxArgs
        ? `${def.minArgs}`
        : def.maxArgs === Infinity
          ? `at least ${def.minArgs}`
          : `${def.minArgs} to ${def.maxArgs}`;
  return semantic(
    `${def.name}() takes ${want} argument${want === '1' ? '' : 's'}, got ${n}`,
    pos,
    `call it as ${callSignature(def)} (docs/rules-sql.md, the AWS IoT SQL function reference)`,
  );
}

/** The parsed payload as a rule of this SQL version reads it (2015-10-08 keeps 10.0 a Decimal). */
export function payloadRoot(cx: { sqlVersion: SqlVersion }): (c: EvalContext) => unknown {
  return cx.sqlVersion === V2 ? (c) => c.root() : (c) => c.rootV1();
}

/** Position-free text of an expression, to recognise the same call written twice. */
export function canonical(e: Expr): string {
  return JSON.stringify(e, (k, v: unknown) => (k === 'pos' || k === 'typePos' ? undefined : v));
}
