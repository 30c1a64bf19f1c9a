// JSON payloads as SQL version 2015-10-08 reads them: a number written with a decimal point or an
// exponent stays a Decimal even when whole (10.0), which JSON.parse cannot tell from 10. AWS
// documents that only V1 keeps such numbers Decimal ("To reliably process whole number numeric
// values as Decimal values, use SQL V1"); 2016-03-23 reads them as Int, so V2 rules keep the fast
// JSON.parse. The parser runs only on text JSON.parse has already accepted, and only when the
// text holds a number token that could be a whole Decimal (see mayHoldWholeDecimal).
import { WholeDecimal } from './values.js';

/** Cheap pre-check: a digit then `.` and only zeros (`10.0`, `3.`), or an exponent (`1e3`). */
const WHOLE_DECIMAL_HINT = /\d\.0*(?![0-9])|\d[eE]/;

export function mayHoldWholeDecimal(text: string): boolean {
  return WHOLE_DECIMAL_HINT.test(text);
}

const NUMBER = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;

/**
 * Parse valid JSON text like JSON.parse (same values, same key order, `__proto__` an own key),
 * except that a whole number written as a Decimal becomes a WholeDecimal. Throws on input that is
 * not valid JSON or nests deeper than the stack allows: the caller falls back to JSON.parse.
 */
export function parseJsonKeepingDecimals(text: string): unknown {
  let i = 0;
  const ws = (): void => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else return;
    }
  };
  const fail = (): never => {
    throw new SyntaxError(`unexpected JSON at offset ${i}`);
  };
  const str = (): string => {
    const start = i;
    i++;
    let escaped = false;
    for (;;) {
      const c = text.charCodeAt(i);
      if (Number.isNaN(c)) fail();
      if (c === 34) break;
      if (c === 92) {
        escaped = true;
        i += 2;
      } else {
        i++;
      }
    }
    i++;
    // Escapes decoded exactly as JSON.parse does; plain strings sliced.
    return escaped ? (JSON.parse(text.slice(start, i)) as string) : text.slice(start + 1, i - 1);
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const o: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') {
        i++;
        return o;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const k = str();
        ws();
        if (text[i] !== ':') fail();
        i++;
        const v = value();
        // JSON.parse makes "__proto__" an own key; an assignment would set the prototype.
        if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
        else o[k] = v;
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return o;
        }
        fail();
      }
    }
    if (c === '[') {
      i++;
      const a: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return a;
      }
      for (;;) {
        a.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return a;
        }
        fail();
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) return fail();
    i += m[0].length;
    const n = Number(m[0]);
    return (m[1] !== undefined || m[2] !== undefined) && Number.isInteger(n) ? new WholeDecimal(n) : n;
  };
  const out = value();
  ws();
  if (i !== text.length) fail();
  return out;
}

/** A whole Decimal as 2015-10-08 writes it: `10.0` (exponent forms such as 1e+21 are kept). */
export function wholeDecimalText(n: number): string {
  const s = JSON.stringify(n);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/**
 * JSON.stringify for SQL output values, except that a WholeDecimal is written `10.0`. Same
 * results otherwise: Undefined members dropped, Undefined array items `null`, toJSON honoured
 * (a Buffer nested in an output is written as JSON.stringify writes it).
 */
export function stringifyKeepingDecimals(v: unknown): string | undefined {
  return stringifyDecimals(v, false);
}

/**
 * The same, for text parseJsonKeepingDecimals must read back to the same values (window
 * checkpoints): an Int of 1e21 or more is also written in full digits, because JSON.stringify's
 * `1e+21` would read back as a whole Decimal.
 */
export function stringifyForReparse(v: unknown): string | undefined {
  return stringifyDecimals(v, true);
}

function stringifyDecimals(v: unknown, fullDigitInts: boolean): string | undefined {
  if (v instanceof WholeDecimal) return wholeDecimalText(v.amount);
  if (v === null) return 'null';
  switch (typeof v) {
    case 'number':
      return fullDigitInts && Number.isInteger(v) && Math.abs(v) >= 1e21 ? BigInt(v).toString() : JSON.stringify(v);
    case 'string':
    case 'boolean':
      return JSON.stringify(v);
    case 'object':
      break;
    default:
      // undefined, functions, symbols: no JSON form (bigint never occurs in SQL values).
      return undefined;
  }
  const toJSON = (v as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return stringifyDecimals((toJSON as () => unknown).call(v), fullDigitInts);
  if (Array.isArray(v)) {
    let out = '[';
    for (let k = 0; k < v.length; k++) out += (k ? ',' : '') + (stringifyDecimals(v[k], fullDigitInts) ?? 'null');
    return `${out}]`;
  }
  let out = '{';
  let first = true;
  for (const k of Object.keys(v as object)) {
    const s = stringifyDecimals((v as Record<string, unknown>)[k], fullDigitInts);
    if (s === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${s}`;
    first = false;
  }
  return `${out}}`;
}

/** JSON text on one line, numbers written as they were (10.0 stays 10.0); undefined if not JSON. */
export function compactJson(text: string): string | undefined {
  try {
    JSON.parse(text);
    return stringifyKeepingDecimals(parseJsonKeepingDecimals(text));
  } catch {
    return undefined;
  }
}
