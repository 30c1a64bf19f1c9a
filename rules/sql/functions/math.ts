// Math functions (AWS IoT SQL reference). Strings are converted to Decimal per the conversion
// table; anything unconvertible gives Undefined, never an exception. Result types follow the
// function tables: the double-precision functions (sqrt, power, log...) give a Decimal even when
// whole (sqrt(9) = 3.0), ceil/floor/round/sign an Int, abs and mod keep Int for Int arguments.
import { define, type FunctionRegistry, type SqlFunctionDef } from './types.js';
import { decimal, isInt, num, toNumber, toIntFloor, type Value } from '../values.js';

/** "Decimal (with double precision)" result. */
function unaryDouble(name: string, f: (x: number) => number): SqlFunctionDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 1,
    pure: true,
    impl: (_c, a) => {
      const x = toNumber(a[0]);
      return x === undefined ? undefined : decimal(f(x));
    },
  };
}

/** Int result (ceil, floor, round, sign). */
function unaryInt(name: string, f: (x: number) => number): SqlFunctionDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 1,
    pure: true,
    impl: (_c, a) => {
      const x = toNumber(a[0]);
      if (x === undefined) return undefined;
      const r = num(f(x));
      return r === 0 ? 0 : r;
    },
  };
}

function bitwise(name: string, f: (x: bigint, y: bigint) => bigint): SqlFunctionDef {
  return {
    name,
    minArgs: 2,
    maxArgs: 2,
    pure: true,
    impl: (_c, a) => {
      const x = toIntFloor(a[0]);
      const y = toIntFloor(a[1]);
      if (x === undefined || y === undefined || !Number.isSafeInteger(x) || !Number.isSafeInteger(y)) return undefined;
      return Number(f(BigInt(x), BigInt(y)));
    },
  };
}

function modulo(name: string): SqlFunctionDef {
  return {
    name,
    minArgs: 2,
    maxArgs: 2,
    pure: true,
    impl: (_c, a) => {
      const x = toNumber(a[0]);
      const y = toNumber(a[1]);
      if (x === undefined || y === undefined || y === 0) return undefined;
      // Int, Int -> Int; any Decimal (or String) -> Decimal.
      return isInt(a[0]) && isInt(a[1]) ? x % y : decimal(x % y);
    },
  };
}

/** Half away from zero, as the examples show (round(-1.5) = -2); the table's "rounded down" is not followed. */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

export function registerMath(reg: FunctionRegistry): void {
  define(reg, [
    {
      name: 'abs',
      minArgs: 1,
      maxArgs: 1,
      pure: true,
      impl: (_c, a) => {
        const x = toNumber(a[0]);
        if (x === undefined) return undefined;
        return isInt(a[0]) ? Math.abs(x) : decimal(Math.abs(x));
      },
    },
    unaryDouble('acos', Math.acos),
    unaryDouble('asin', Math.asin),
    unaryDouble('atan', Math.atan),
    {
      name: 'atan2',
      minArgs: 2,
      maxArgs: 2,
      pure: true,
      impl: (_c, a) => {
        const y = toNumber(a[0]);
        const x = toNumber(a[1]);
        return y === undefined || x === undefined ? undefined : decimal(Math.atan2(y, x));
      },
    },
    bitwise('bitand', (x, y) => x & y),
    bitwise('bitor', (x, y) => x | y),
    bitwise('bitxor', (x, y) => x ^ y),
    {
      name: 'bitnot',
      minArgs: 1,
      maxArgs: 1,
      pure: true,
      impl: (_c, a) => {
        const x = toIntFloor(a[0]);
        if (x === undefined || !Number.isSafeInteger(x)) return undefined;
        return Number(~BigInt(x));
      },
    },
    unaryInt('ceil', Math.ceil),
    unaryDouble('cos', Math.cos),
    unaryDouble('cosh', Math.cosh),
    unaryDouble('exp', Math.exp),
    unaryInt('floor', Math.floor),
    unaryDouble('ln', Math.log),
    unaryDouble('log', Math.log10),
    modulo('mod'),
    modulo('remainder'),
    {
      name: 'nanvl',
      minArgs: 2,
      maxArgs: 2,
      pure: true,
      impl: (_c, a) => {
        const v: Value = a[0];
        if (v === undefined || v === null || (typeof v === 'number' && Number.isNaN(v))) return a[1];
        return v;
      },
    },
    {
      name: 'power',
      minArgs: 2,
      maxArgs: 2,
      pure: true,
      impl: (_c, a) => {
        const x = toNumber(a[0]);
        const y = toNumber(a[1]);
        return x === undefined || y === undefined ? undefined : decimal(x ** y);
      },
    },
    { name: 'rand', minArgs: 0, maxArgs: 0, impl: () => decimal(Math.random()) },
    unaryInt('round', roundHalfAway),
    unaryInt('sign', Math.sign),
    unaryDouble('sin', Math.sin),
    unaryDouble('sinh', Math.sinh),
    unaryDouble('sqrt', Math.sqrt),
    unaryDouble('tan', Math.tan),
    unaryDouble('tanh', Math.tanh),
    {
      name: 'trunc',
      minArgs: 2,
      maxArgs: 2,
      pure: true,
      impl: (_c, a) => {
        const x = toNumber(a[0]);
        let d = toIntFloor(a[1]);
        if (x === undefined || d === undefined) return undefined;
        // "Trailing zeroes are stripped": a whole result is an Int (trunc(2.00, 5) = 2).
        if (Number.isInteger(x)) return x;
        d = Math.min(34, Math.max(0, d));
        // Truncate through the decimal string form to avoid binary rounding (2.3 * 100 = 229.99...).
        let s = String(x);
        if (/e/i.test(s)) s = x.toFixed(Math.min(d + 15, 100));
        const dot = s.indexOf('.');
        const cut = dot < 0 ? s : d === 0 ? s.slice(0, dot) : s.slice(0, dot + 1 + d);
        const out = Number(cut);
        return Object.is(out, -0) ? 0 : out;
      },
    },
  ]);
}
