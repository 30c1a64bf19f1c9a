// The function library is a registry (a Map from lower-case name to definition), so other parts
// (windows, anomaly detection) can add functions without touching the compiler.
import type { SqlVersion } from '../../types.js';
import type { EvalContext } from '../context.js';
import type { Expr, Pos } from '../ast.js';
import type { Value } from '../values.js';

/** A plain function. `args` is reused between calls of one call site: never keep a reference to it. */
export type SqlFunctionImpl = (ctx: EvalContext, args: Value[]) => Value;

export interface CallSite {
  /** Rule name ('' for rules eval / templates). */
  rule: string;
  name: string;
  args: Expr[];
  pos: Pos;
  sqlVersion: SqlVersion;
  /** PARTITION BY expressions of an OVER clause, if any. */
  partitionBy: Expr[];
}

/**
 * A stateful function (e.g. a moving average): `factory` is called once per compiled rule and per
 * call site; the instance receives the evaluated arguments and the partition key (the PARTITION BY
 * values joined, '' without OVER). State must be bounded by the implementer.
 */
export type StatefulInstance = ((ctx: EvalContext, args: Value[], partitionKey: string) => Value) & {
  /** Optional checkpoint support: the engine snapshots it periodically and restores it at start. */
  state?: StatefulState;
};

/** The durable side of a stateful call site (e.g. one detector per partition). */
export interface StatefulState {
  snapshot(): Buffer;
  /** Replace the state with a snapshot; throws on corrupt or incompatible bytes. */
  restore(bytes: Buffer): void;
  /** Partitions evicted by the call site's bound so far (metrics). */
  evicted(): number;
  /** Inputs it could not use (not a finite number: missing, a string, an object, 1e999) so far (metrics). */
  skipped?(): number;
}

interface BaseDef {
  name: string;
  minArgs: number;
  maxArgs: number;
  /** First SQL version that has it (AWS marks several functions "2016-03-23 and later"). */
  since?: SqlVersion;
  /**
   * Passes `*` as the raw payload Buffer (encode(*, 'base64')) instead of the parsed JSON; a
   * function of the call's arguments when it depends on them (decode(*, 'proto', ...) only).
   */
  rawStar?: boolean | ((args: Expr[]) => boolean);
  /** Evaluates without touching the payload/message (eligible for constant folding when args are literals). */
  pure?: boolean;
  /**
   * Literal-argument validation at compile time; return an error message to refuse the rule
   * (GH_SQL_SEMANTIC), or throw a GatehouseError of its own code (the call's position is added).
   */
  check?(args: Expr[], sqlVersion: SqlVersion): string | undefined;
}

export interface PlainFunctionDef extends BaseDef {
  kind?: 'plain';
  impl: SqlFunctionImpl;
}

export interface StatefulFunctionDef extends BaseDef {
  kind: 'stateful';
  /** Accepts `OVER (PARTITION BY ...)` (analytic function, computed once per event and partition). */
  analytic?: boolean;
  factory(site: CallSite): StatefulInstance;
}

export type SqlFunctionDef = PlainFunctionDef | StatefulFunctionDef;

export type FunctionRegistry = Map<string, SqlFunctionDef>;

export function define(reg: FunctionRegistry, defs: SqlFunctionDef[]): void {
  for (const d of defs) reg.set(d.name.toLowerCase(), d);
}
