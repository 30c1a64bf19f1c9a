// What the window compiler hands the runner for one rule: the window, the group keys, the event
// time, the aggregates with their per-event arguments, and the per-row output clauses (SELECT,
// HAVING, ORDER BY, LIMIT) compiled against a WindowEvalContext.
import type { EvalContext } from '../sql/context.js';
import type { Compiled } from '../sql/compile-types.js';
import type { AggDef } from './aggregates.js';
import type { WindowSpec } from './spec.js';

export interface AggSlot {
  def: AggDef;
  /** Per-event argument; undefined for count(*). */
  arg: Compiled | undefined;
  param?: number;
}

export interface WindowPlan {
  ruleName: string;
  spec: WindowSpec;
  keys: Compiled[];
  eventTime: Compiled | undefined;
  lateness: number;
  aggs: AggSlot[];
  project: Compiled;
  having: ((c: EvalContext) => boolean) | undefined;
  order: Array<{ alias: string | undefined; f: Compiled | undefined; desc: boolean }>;
  limit: number | undefined;
}
