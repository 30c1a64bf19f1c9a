// Window aggregates: small accumulators with a JSON-able state (checkpoints). Numeric aggregates
// read numbers (numeric strings are converted, other values ignored, like SQL ignores NULL).
// Memory: count/sum/avg/min/max/var/first/last hold O(1); collect and percentile keep up to
// maxRowsPerWindow values per group and window (beyond: dropped and counted).
// Types as the operator tables would give them: sum of Ints is an Int, any Decimal input makes it
// a Decimal; avg, var, stddev and percentile are Decimals (so avg(x) / 4 never divides as Int);
// min and max keep the type of the value they picked, first, last and collect the values they hold
// (saved with checkpoint-values.ts, so a whole Decimal is still one after a restore).
import { decimal, isInt, isObject, toNumber, type Value } from '../sql/values.js';
import { loadValue, saveValue } from './checkpoint-values.js';
import { valueBytes } from './group-bytes.js';

export interface Acc {
  add(v: Value): void;
  result(): Value;
  save(): unknown;
  load(s: unknown): void;
  /** Bytes of the values it holds (collect, percentile, first/last), for maxGroupBytes; none: O(1) state. */
  bytes?(): number;
}

export interface AggContext {
  maxRows: number;
  onDrop(): void;
}

export interface AggDef {
  name: string;
  minArgs: number;
  maxArgs: number;
  /** count(*): counts events, the argument is not evaluated. */
  acceptsStar?: boolean;
  create(param: number | undefined, ctx: AggContext): Acc;
}

class Count implements Acc {
  n = 0;
  add(v: Value): void {
    if (v !== undefined && v !== null) this.n++;
  }
  result(): Value {
    return this.n;
  }
  save(): unknown {
    return this.n;
  }
  load(s: unknown): void {
    this.n = Number(s) || 0;
  }
}

/** Sum, mean and Welford's running variance in one accumulator. */
class Moments implements Acc {
  n = 0;
  sum = 0;
  mean = 0;
  m2 = 0;
  /** Every input so far was an Int (sum stays an Int). */
  ints = true;
  constructor(private readonly out: 'sum' | 'avg' | 'var' | 'vars' | 'stddev' | 'stddevs') {}
  add(v: Value): void {
    const x = typeof v === 'number' ? v : toNumber(v);
    if (x === undefined || !Number.isFinite(x)) return;
    if (!isInt(v)) this.ints = false;
    this.n++;
    this.sum += x;
    const d = x - this.mean;
    this.mean += d / this.n;
    this.m2 += d * (x - this.mean);
  }
  result(): Value {
    const n = this.n;
    switch (this.out) {
      case 'sum':
        // Beyond a double's range the sum is Undefined, as SQL arithmetic's overflow (it was
        // Infinity, written as null).
        return n ? (this.ints && Number.isFinite(this.sum) ? this.sum : decimal(this.sum)) : undefined;
      case 'avg':
        // The running mean when the sum overflows (avg of 1e308 and 1e308 is 1e308).
        return n ? decimal(Number.isFinite(this.sum) ? this.sum / n : this.mean) : undefined;
      case 'var':
        return n ? decimal(this.m2 / n) : undefined;
      case 'stddev':
        return n ? decimal(Math.sqrt(this.m2 / n)) : undefined;
      case 'vars':
        return n > 1 ? decimal(this.m2 / (n - 1)) : undefined;
      case 'stddevs':
        return n > 1 ? decimal(Math.sqrt(this.m2 / (n - 1))) : undefined;
    }
  }
  save(): unknown {
    return [this.n, this.sum, this.mean, this.m2, this.ints ? 1 : 0];
  }
  load(s: unknown): void {
    const a = s as number[];
    [this.n, this.sum, this.mean, this.m2] = [a[0] ?? 0, a[1] ?? 0, a[2] ?? 0, a[3] ?? 0];
    // Checkpoints written before the flag existed: sums were written as plain numbers.
    this.ints = a[4] !== 0;
  }
}

class Extreme implements Acc {
  v: number | undefined;
  /** The picked value was a Decimal (or a String, converted to one). */
  dec = false;
  constructor(private readonly max: boolean) {}
  add(v: Value): void {
    // Non-finite numbers are ignored as by sum and percentile: a JSON 1e999 (Infinity) made the
    // window's max Undefined.
    const x = toNumber(v);
    if (x === undefined) return;
    if (this.v === undefined || (this.max ? x > this.v : x < this.v)) {
      this.v = x;
      this.dec = !isInt(v);
    }
  }
  result(): Value {
    return this.dec && this.v !== undefined ? decimal(this.v) : this.v;
  }
  save(): unknown {
    // A number (Int, or a checkpoint from before types were kept) or [value] for a Decimal.
    return this.v === undefined ? null : this.dec ? [this.v] : this.v;
  }
  load(s: unknown): void {
    const a = Array.isArray(s) ? (s[0] as unknown) : s;
    this.v = typeof a === 'number' ? a : undefined;
    this.dec = Array.isArray(s);
  }
}

class FirstLast implements Acc {
  v: Value = undefined;
  has = false;
  private held = 0;
  constructor(private readonly last: boolean) {}
  add(v: Value): void {
    if (v === undefined) return;
    if (!this.has || this.last) {
      this.v = Buffer.isBuffer(v) ? v.toString('utf8') : v;
      this.has = true;
      this.held = valueBytes(this.v);
    }
  }
  bytes(): number {
    return this.held;
  }
  result(): Value {
    return this.v;
  }
  save(): unknown {
    return this.has ? { value: saveValue(this.v) } : [];
  }
  load(s: unknown): void {
    if (Array.isArray(s)) {
      // Checkpoints written before values kept their type: [] or [value].
      this.has = s.length > 0;
      this.v = s[0] as Value;
      this.held = valueBytes(this.v);
      return;
    }
    this.has = isObject(s);
    this.v = this.has ? loadValue((s as { value?: unknown }).value) : undefined;
    this.held = this.has ? valueBytes(this.v) : 0;
  }
}

class Collect implements Acc {
  items: Value[] = [];
  private held = 0;
  constructor(private readonly ctx: AggContext) {}
  add(v: Value): void {
    if (v === undefined) return;
    if (this.items.length >= this.ctx.maxRows) return this.ctx.onDrop();
    const item = Buffer.isBuffer(v) ? v.toString('utf8') : v;
    this.items.push(item);
    this.held += 8 + valueBytes(item);
  }
  bytes(): number {
    return this.held;
  }
  result(): Value {
    return this.items.slice();
  }
  save(): unknown {
    // One text for all (the items are never Undefined).
    return { items: saveValue(this.items) };
  }
  load(s: unknown): void {
    // An array: a checkpoint written before values kept their type.
    const items = Array.isArray(s) ? s : isObject(s) ? loadValue(s.items) : undefined;
    this.items = Array.isArray(items) ? items : [];
    this.held = this.items.reduce((n: number, x) => n + 8 + valueBytes(x), 0);
  }
}

/** percentile(expr, p), p in [0, 1]: linear interpolation between closest ranks (R-7, numpy's default). */
class Percentile implements Acc {
  xs: number[] = [];
  constructor(
    private readonly p: number,
    private readonly ctx: AggContext,
  ) {}
  add(v: Value): void {
    const x = typeof v === 'number' ? v : toNumber(v);
    if (x === undefined || !Number.isFinite(x)) return;
    if (this.xs.length >= this.ctx.maxRows) return this.ctx.onDrop();
    this.xs.push(x);
  }
  result(): Value {
    const n = this.xs.length;
    if (!n) return undefined;
    const s = Float64Array.from(this.xs).sort();
    const h = (n - 1) * this.p;
    const lo = Math.floor(h);
    const hi = Math.min(n - 1, lo + 1);
    return decimal(s[lo]! + (h - lo) * (s[hi]! - s[lo]!));
  }
  save(): unknown {
    return this.xs;
  }
  bytes(): number {
    return 8 * this.xs.length;
  }
  load(s: unknown): void {
    this.xs = Array.isArray(s) ? (s as number[]) : [];
  }
}

const moments = (name: 'sum' | 'avg' | 'var' | 'vars' | 'stddev' | 'stddevs'): AggDef => ({ name, minArgs: 1, maxArgs: 1, create: () => new Moments(name) });

export const AGGREGATES: ReadonlyMap<string, AggDef> = new Map(
  [
    { name: 'count', minArgs: 1, maxArgs: 1, acceptsStar: true, create: () => new Count() } as AggDef,
    moments('sum'),
    moments('avg'),
    moments('var'),
    moments('vars'),
    moments('stddev'),
    moments('stddevs'),
    { name: 'min', minArgs: 1, maxArgs: 1, create: () => new Extreme(false) },
    { name: 'max', minArgs: 1, maxArgs: 1, create: () => new Extreme(true) },
    { name: 'first', minArgs: 1, maxArgs: 1, create: () => new FirstLast(false) },
    { name: 'last', minArgs: 1, maxArgs: 1, create: () => new FirstLast(true) },
    { name: 'collect', minArgs: 1, maxArgs: 1, acceptsStar: true, create: (_p: number | undefined, ctx: AggContext) => new Collect(ctx) },
    { name: 'percentile', minArgs: 2, maxArgs: 2, create: (p: number | undefined, ctx: AggContext) => new Percentile(p ?? 0.5, ctx) },
  ].map((d) => [d.name, d]),
);
