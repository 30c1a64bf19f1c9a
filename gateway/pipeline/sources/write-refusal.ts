// The refusal of a downlink write to an industrial point (Modbus tag, OPC UA node) whose type cannot
// hold the value exactly: one error (GH_WRITE_VALUE_INVALID) saying what, to which point, why and
// how to fix it, and the one rule for one-bit points (a coil, a Boolean node) both sources share.
import { ERRORS, type GatehouseError } from '../../../core/errors.js';

/** Repeat a value as the user wrote it: numbers as they are, anything else as JSON. */
function shown(value: unknown): string {
  return typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
}

/** The refusal of a write: what, to which point, why, and how to fix it. */
export function refuseWrite(value: unknown, point: string, reason: string, hint: string): GatehouseError {
  return ERRORS.GH_WRITE_VALUE_INVALID({ value: shown(value), point, reason }, { hint });
}

/** A one-bit point takes only true/false or 1/0 (2 or 0.5 is a mistake, not 1): undefined otherwise. */
export function asBit(value: unknown): boolean | undefined {
  if (value === true || value === 1) return true;
  if (value === false || value === 0) return false;
  return undefined;
}
