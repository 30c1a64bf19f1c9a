// SQL values in window checkpoints. A checkpoint is JSON, and JSON.stringify writes the whole
// Decimal 2.0 (a WholeDecimal) as 2, which reads back as the Int 2: `first(x) / 4` would divide
// as Int after a restart. State that holds raw values (first, last, collect, the rows of sliding
// and count windows) therefore saves each value as JSON text in which a whole Decimal is written
// `2.0`, and reads it back with the parser that keeps such numbers Decimal (sql/json-decimal.ts).
// Undefined, which JSON text cannot hold, is saved as null (a saved text is never null); an
// Undefined nested in an array becomes Null, as JSON.stringify wrote it before.
import { mayHoldWholeDecimal, parseJsonKeepingDecimals, stringifyForReparse } from '../sql/json-decimal.js';
import type { Value } from '../sql/values.js';

/** The saved form of a value: JSON text keeping whole Decimals, or null for Undefined. */
export function saveValue(v: Value): string | null {
  if (v === undefined) return null;
  try {
    return stringifyForReparse(v) ?? null;
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
