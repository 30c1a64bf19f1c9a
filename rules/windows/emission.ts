// The output rows of one window close: HAVING, the SELECT projection, ORDER BY and LIMIT over the
// groups closing together, each row with the message its actions get (the group's last message,
// received now, from the rule).
import type { Message } from '../../core/message.js';
import type { WindowEmission } from '../sql/compile-types.js';
import { getField, sqlCompare, type Value } from '../sql/values.js';
import { WindowEvalContext } from './context.js';
import type { Closing } from './group-state.js';
import type { WindowPlan } from './plan.js';

export function outputRows(p: WindowPlan, closing: Closing[], now: () => number): WindowEmission[] {
  const kept: Array<{ value: Value; message: Message; keys: Value[] }> = [];
  for (const cl of closing) {
    const ctx = new WindowEvalContext(cl.last, cl.accs, cl.start, cl.end);
    if (p.having && !p.having(ctx)) continue;
    const value = p.project(ctx);
    if (value === undefined) continue;
    const keys = p.order.map((o) => (o.alias !== undefined ? getField(value, o.alias) : o.f!(ctx)));
    kept.push({ value, message: { ...cl.last, receivedAt: now(), source: { kind: 'internal', id: p.ruleName } }, keys });
  }
  if (p.order.length && kept.length > 1) {
    kept.sort((a, b) => {
      for (let i = 0; i < p.order.length; i++) {
        const x = a.keys[i];
        const y = b.keys[i];
        if (x === undefined || y === undefined) {
          if (x === y) continue;
          return x === undefined ? 1 : -1; // missing values sort last either way
        }
        const s = sqlCompare(x, y) ?? 0;
        if (s !== 0) return p.order[i]!.desc ? -s : s;
      }
      return 0;
    });
  }
  const n = p.limit !== undefined ? Math.min(p.limit, kept.length) : kept.length;
  const out: WindowEmission[] = new Array<WindowEmission>(n);
  for (let i = 0; i < n; i++) out[i] = { value: kept[i]!.value, message: kept[i]!.message };
  return out;
}
