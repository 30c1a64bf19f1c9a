// SQL values in window checkpoints. A checkpoint is JSON, and JSON.stringify writes the whole
// Decimal 2.0 (a WholeDecimal) as 2, which reads back as the Int 2: `first(x) / 4` would divide
// as Int after a restart. State that holds raw values (first, last, collect, the rows of sliding
// and count windows) therefore saves each value as JSON text in which a whole Decimal is written
// `2.0`, and reads it back with the parser that keeps such numbers Decimal (sql/json-decimal.ts).
// Undefined, which JSON text cannot hold, is saved as null (a saved text is never null); an
// Undefined nested in an array becomes Null, as JSON.stringify wrote it before.
import { mayHoldWholeDecimal, parseJsonKeepingDecimals, wholeDecimalText } from '../sql/json-decimal.js';
import { WholeDecimal, type Value } from '../sql/values.js';

/** The saved form of a value: JSON text keeping whole Decimals, or null for Undefined. */
export function saveValue(v: Value): string | null {
  if (v === undefined) return null;
  try {
    return valueText(v) ?? null;
  } catch {
    // Nested deeper than this stack allows: written as before (a whole Decimal in it reads as Int).
    return JSON.stringify(v) ?? null;
  }
}

/** A value saved by saveValue (null, or anything that is not a string: Undefined). */
export function loadValue(saved: unknown): Value {
  if (typeof saved !== 'string') return undefined;
  // Most values hold no whole Decimal: the native parser reads them (the same values).
  if (!mayHoldWholeDecimal(saved)) return JSON.parse(saved);
  try {
    return parseJsonKeepingDecimals(saved);
  } catch {
    // Nested deeper than the parser's stack allows (or not JSON: JSON.parse throws then).
    return JSON.parse(saved);
  }
}

/**
 * JSON text as JSON.stringify writes it (undefined members dropped, undefined array items null,
 * toJSON honoured), except for the two numbers the reading parser would take for a Decimal
 * otherwise: a WholeDecimal is written `2.0`, and an Int of 1e21 or more in full digits
 * (JSON.stringify writes `1e+21`, which reads as a whole Decimal).
 */
function valueText(v: unknown): string | undefined {
  if (v instanceof WholeDecimal) return wholeDecimalText(v.amount);
  switch (typeof v) {
    case 'number':
      return Number.isInteger(v) && Math.abs(v) >= 1e21 ? BigInt(v).toString() : JSON.stringify(v);
    case 'string':
    case 'boolean':
      return JSON.stringify(v);
    case 'object':
      break;
    default:
      // undefined, functions, symbols: no JSON form (bigint never occurs in SQL values).
      return undefined;
  }
  if (v === null) return 'null';
  const toJSON = (v as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return valueText((toJSON as () => unknown).call(v));
  if (Array.isArray(v)) {
    let out = '[';
    for (let k = 0; k < v.length; k++) out += (k ? ',' : '') + (valueText(v[k]) ?? 'null');
    return `${out}]`;
  }
  let out = '{';
  let first = true;
  for (const k of Object.keys(v as object)) {
    const s = valueText((v as Record<string, unknown>)[k]);
    if (s === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${s}`;
    first = false;
  }
  return `${out}}`;
}
