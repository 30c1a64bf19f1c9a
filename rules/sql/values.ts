// AWS IoT SQL values on plain JS values, so a parsed JSON payload is used as is (no wrapping):
//   Int        a JS number that is whole        Decimal   a JS number that is not whole
//   Boolean    boolean    String  string        Array     unknown[]     Object  plain object
//   Null       null       Undefined  undefined  (binary payload via `*`: a Buffer)
// One numeric representation means a whole Decimal (10.0) behaves as Int (10): that is the
// documented 2016-03-23 behaviour, and this engine applies it under 2015-10-08 too
// (docs/rules-sql.md). Conversions follow AWS's conversion tables.

export type Value = unknown;
export type SqlObject = Record<string, unknown>;

const hasOwn = Object.prototype.hasOwnProperty;

export function isObject(v: unknown): v is SqlObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v);
}

export function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

export function getField(obj: unknown, key: string): Value {
  if (obj !== null && typeof obj === 'object' && !Array.isArray(obj) && hasOwn.call(obj, key)) {
    return (obj as SqlObject)[key];
  }
  return undefined;
}

const DECIMAL_RE = /^-?\d+(\.\d+)?([eE]-?\d+)?$/;

/** Numeric conversion for operators and functions: a finite number or undefined (null -> undefined). */
export function toNumber(v: Value): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string') {
    if (!DECIMAL_RE.test(v)) return undefined;
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** "Rounded down to the nearest Int" as the function tables say (floor). */
export function toIntFloor(v: Value): number | undefined {
  const n = toNumber(v);
  return n === undefined ? undefined : Math.floor(n);
}

/** To Boolean (standard conversion): booleans, and the strings "true"/"false" in any case. */
export function toBoolean(v: Value): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const l = v.toLowerCase();
    if (l === 'true') return true;
    if (l === 'false') return false;
  }
  return undefined;
}

/** Number formatting: Int in plain notation, Decimal possibly scientific (JS shortest form). */
export function numberToString(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return n.toFixed(0);
  return String(n);
}

/** To String (standard conversion): Null and Undefined have no string form. */
export function toStr(v: Value): string | undefined {
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
      return Number.isFinite(v) ? numberToString(v) : undefined;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      if (v === null) return undefined;
      if (Buffer.isBuffer(v)) return v.toString('utf8');
      return JSON.stringify(v);
    default:
      return undefined;
  }
}

export type TypeName = 'Int' | 'Decimal' | 'Boolean' | 'String' | 'Array' | 'Object' | 'Null' | 'Undefined' | 'Binary';

export function typeOf(v: Value): TypeName {
  switch (typeof v) {
    case 'number':
      return Number.isInteger(v) ? 'Int' : 'Decimal';
    case 'string':
      return 'String';
    case 'boolean':
      return 'Boolean';
    case 'undefined':
      return 'Undefined';
    case 'object':
      if (v === null) return 'Null';
      if (Array.isArray(v)) return 'Array';
      if (Buffer.isBuffer(v)) return 'Binary';
      return 'Object';
    default:
      return 'Undefined';
  }
}

/** Deep equality for = and <> (arrays in order, objects regardless of key order). */
export function deepEqual(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  const ka = Object.keys(a as SqlObject);
  const kb = Object.keys(b as SqlObject);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!hasOwn.call(b, k) || !deepEqual((a as SqlObject)[k], (b as SqlObject)[k])) return false;
  }
  return true;
}

/** `=` : Undefined if either side is Undefined; numbers numerically; same types deeply; mismatched types false. */
export function sqlEquals(a: Value, b: Value): boolean | undefined {
  if (a === undefined || b === undefined) return undefined;
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (typeof a !== typeof b) return false;
  return deepEqual(a, b);
}

/** Ordering comparisons: both sides converted to Decimal, else Undefined. Returns a-b sign. */
export function sqlCompare(a: Value, b: Value): number | undefined {
  const x = typeof a === 'number' ? a : toNumber(a);
  if (x === undefined) return undefined;
  const y = typeof b === 'number' ? b : toNumber(b);
  if (y === undefined) return undefined;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Finite double -> Value; NaN and infinities become Undefined ("imaginary results are Undefined"). */
export function num(n: number): number | undefined {
  return Number.isFinite(n) ? n : undefined;
}

/** Arithmetic per the operator tables. Int op Int stays Int (division truncates). */
export function arith(op: '+' | '-' | '*' | '/' | '%', a: Value, b: Value): Value {
  if (op === '+') {
    if (typeof a === 'string' || typeof b === 'string') {
      const sa = toStr(a);
      const sb = toStr(b);
      return sa === undefined || sb === undefined ? undefined : sa + sb;
    }
    if (typeof a !== 'number' || typeof b !== 'number') return undefined;
    return num(a + b);
  }
  const x = typeof a === 'number' ? a : toNumber(a);
  const y = typeof b === 'number' ? b : toNumber(b);
  if (x === undefined || y === undefined) return undefined;
  switch (op) {
    case '-':
      return num(x - y);
    case '*':
      return num(x * y);
    case '/':
      if (y === 0) return undefined;
      if (Number.isInteger(x) && Number.isInteger(y)) return Math.trunc(x / y);
      return num(x / y);
    case '%':
      if (y === 0) return undefined;
      return num(x % y);
  }
}

/** Logical operand: Boolean or "true"/"false" strings; anything else Undefined. */
export function logical(v: Value): boolean | undefined {
  return typeof v === 'boolean' ? v : toBoolean(v);
}

/** WHERE passes only on Boolean true (or the string "true"); Undefined and everything else is false. */
export function truthy(v: Value): boolean {
  return v === true || (typeof v === 'string' && v.toLowerCase() === 'true');
}
