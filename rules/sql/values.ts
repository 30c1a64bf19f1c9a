// AWS IoT SQL values on plain JS values, so a parsed JSON payload is used as is (no wrapping):
//   Int        a JS number that is whole        Decimal   a JS number that is not whole, or a
//   Boolean    boolean    String  string                   WholeDecimal box (1000.0, see below)
//   Array      unknown[]  Object  plain object  Null      null       Undefined  undefined
//   (binary payload via `*`: a Buffer)
// A Decimal whose value is whole (the literal 1000.0, cast(2 AS Decimal), 1.5 * 2) cannot be a
// plain number without reading as Int, so it is boxed in a WholeDecimal: Int and Decimal then
// follow the operator and function tables through evaluation (1500 / 1000.0 = 1.5). Non-whole
// Decimals, the common case, stay plain numbers. Where the SQL version matters (a payload number
// written 10.0, how a whole Decimal is written out) is recorded in docs/rules-sql.md.
// Conversions follow AWS's conversion tables.

export type Value = unknown;
export type SqlObject = Record<string, unknown>;

const hasOwn = Object.prototype.hasOwnProperty;

/** The number inside a WholeDecimal: a symbol key, so no field reference (`x.value`) can reach it. */
const AMOUNT: unique symbol = Symbol('decimal');

/**
 * A Decimal whose value is whole. Immutable; `toJSON` gives the plain number, so any
 * JSON.stringify (string conversion, 2016-03-23 output, state snapshots) writes it as `2`; only
 * the 2015-10-08 output writer (serializeOutput) writes `2.0`.
 */
export class WholeDecimal {
  readonly [AMOUNT]: number;
  constructor(n: number) {
    // -0.0 is written 0: the sign of a zero carries no information in the output.
    this[AMOUNT] = n === 0 ? 0 : n;
  }
  get amount(): number {
    return this[AMOUNT];
  }
  toJSON(): number {
    return this[AMOUNT];
  }
}

export function isWholeDecimal(v: unknown): v is WholeDecimal {
  return v instanceof WholeDecimal;
}

/** A Decimal result: finite or Undefined ("imaginary results are Undefined"); whole values boxed. */
export function decimal(n: number): number | WholeDecimal | undefined {
  if (!Number.isFinite(n)) return undefined;
  return Number.isInteger(n) ? new WholeDecimal(n) : n;
}

/** The number of an Int or Decimal value (no string conversion), else undefined. */
export function numeric(v: Value): number | undefined {
  if (typeof v === 'number') return v;
  return v instanceof WholeDecimal ? v.amount : undefined;
}

export function isObject(v: unknown): v is SqlObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof WholeDecimal);
}

/** An Int value (a whole plain number; a WholeDecimal is a Decimal). */
export function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

export function getField(obj: unknown, key: string): Value {
  // A WholeDecimal has no string-keyed own property, so it falls through to Undefined.
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
  if (v instanceof WholeDecimal) return v.amount;
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

/** Number formatting: whole values in plain notation (also a WholeDecimal), others possibly scientific (JS shortest form). */
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
      if (v instanceof WholeDecimal) return numberToString(v.amount);
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
      if (v instanceof WholeDecimal) return 'Decimal';
      return 'Object';
    default:
      return 'Undefined';
  }
}

/** Deep equality for = and <> (numbers by value, arrays in order, objects regardless of key order). */
export function deepEqual(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    // "Int is converted to Decimal before being compared": 1 = 1.0 even inside arrays/objects.
    const x = numeric(a);
    return x !== undefined && x === numeric(b);
  }
  if (a instanceof WholeDecimal || b instanceof WholeDecimal) {
    const x = numeric(a);
    return x !== undefined && x === numeric(b);
  }
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

/** `=` : Undefined if either side is Undefined; numbers numerically (Int = Decimal); same types deeply; mismatched types false. */
export function sqlEquals(a: Value, b: Value): boolean | undefined {
  if (a === undefined || b === undefined) return undefined;
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  const x = numeric(a);
  if (x !== undefined) return x === numeric(b);
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

/**
 * Arithmetic per the operator tables: Int op Int is an Int (division truncates toward zero,
 * `%` keeps the dividend's sign); an operand that is a Decimal, or a String converted to one,
 * makes the result a Decimal (1500 / 1000.0 = 1.5, 3.0 - 1 = 2.0).
 */
export function arith(op: '+' | '-' | '*' | '/' | '%', a: Value, b: Value): Value {
  // Int op Int: both plain whole numbers (the hot path: no box, no conversion).
  const ints = typeof a === 'number' && typeof b === 'number' && Number.isInteger(a) && Number.isInteger(b);
  if (op === '+') {
    if (typeof a === 'string' || typeof b === 'string') {
      const sa = toStr(a);
      const sb = toStr(b);
      return sa === undefined || sb === undefined ? undefined : sa + sb;
    }
    // The + table converts no strings (they concatenate): only Int and Decimal add.
    const x = numeric(a);
    const y = numeric(b);
    if (x === undefined || y === undefined) return undefined;
    return ints ? num(x + y) : decimal(x + y);
  }
  const x = typeof a === 'number' ? a : toNumber(a);
  const y = typeof b === 'number' ? b : toNumber(b);
  if (x === undefined || y === undefined) return undefined;
  switch (op) {
    case '-':
      return ints ? num(x - y) : decimal(x - y);
    case '*':
      return ints ? num(x * y) : decimal(x * y);
    case '/':
      if (y === 0) return undefined;
      return ints ? Math.trunc(x / y) : decimal(x / y);
    case '%':
      if (y === 0) return undefined;
      return ints ? x % y : decimal(x % y);
  }
}

/** Unary minus keeps the type: Int stays Int, a Decimal (or a String converted to one) stays Decimal. */
export function negate(v: Value): Value {
  if (typeof v === 'number') return v === 0 ? 0 : -v;
  const n = toNumber(v);
  return n === undefined ? undefined : decimal(-n);
}

/** Logical operand: Boolean or "true"/"false" strings; anything else Undefined. */
export function logical(v: Value): boolean | undefined {
  return typeof v === 'boolean' ? v : toBoolean(v);
}

/** WHERE passes only on Boolean true (or the string "true"); Undefined and everything else is false. */
export function truthy(v: Value): boolean {
  return v === true || (typeof v === 'string' && v.toLowerCase() === 'true');
}

/**
 * One value of a joined key (window GROUP BY, detector PARTITION BY; joined with \u0001): the
 * separator and the escape (\u0002) in a value are escaped, so ('x\u0001y', 'z') and
 * ('x', 'y\u0001z') are two groups (they were one: a payload could add to another group's
 * aggregates or train its detector). A value without them is unchanged (checkpoints keep their keys).
 */
export function keyPart(s: string): string {
  return s.includes('\u0001') || s.includes('\u0002') ? s.replaceAll('\u0002', '\u0002\u0002').replaceAll('\u0001', '\u0002\u0001') : s;
}
