// The evaluation context of one window output row: the group's last message (for bare fields and
// topic()), the aggregate values, and the window bounds (window_start(), window_end()).
import type { Message } from '../../core/message.js';
import { EvalContext } from '../sql/context.js';
import type { Value } from '../sql/values.js';
import { define, type FunctionRegistry } from '../sql/functions/types.js';

export class WindowEvalContext extends EvalContext {
  constructor(
    message: Message,
    readonly aggs: Value[],
    readonly windowStart: number,
    readonly windowEnd: number,
  ) {
    super(message);
  }
}

/** Internal name the window compiler substitutes for aggregate calls (slot index argument). */
export const AGG_SLOT_FN = '__gh_agg';

/** window_start(), window_end() and the aggregate slot reader; Undefined outside a window. */
export function registerWindowFunctions(reg: FunctionRegistry): void {
  define(reg, [
    { name: 'window_start', minArgs: 0, maxArgs: 0, impl: (c) => (c instanceof WindowEvalContext ? c.windowStart : undefined) },
    { name: 'window_end', minArgs: 0, maxArgs: 0, impl: (c) => (c instanceof WindowEvalContext ? c.windowEnd : undefined) },
    { name: AGG_SLOT_FN, minArgs: 1, maxArgs: 1, impl: (c, a) => (c instanceof WindowEvalContext ? c.aggs[a[0] as number] : undefined) },
  ]);
}
