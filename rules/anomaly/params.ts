// Parameter validation shared by every detector: one place that turns user input (numbers, or
// strings from the CLI / SQL) into checked values, with errors that say what is allowed.
import { closestName } from '../../core/closest-name.js';
import { ERRORS, type GatehouseError } from '../../core/errors.js';
import type { DetectorInfo, DetectorParams, ParamSpec, ParamValue } from './types.js';

function example(spec: ParamSpec): string {
  return `${spec.name}=${spec.default}`;
}

function allowed(spec: ParamSpec): string {
  if (spec.type === 'string') return `one of ${(spec.choices ?? []).join(', ')}`;
  const kind = spec.type === 'integer' ? 'an integer' : 'a number';
  return `${kind} in [${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}]`;
}

function checkOne(info: DetectorInfo, spec: ParamSpec, raw: ParamValue): ParamValue {
  const where = `detector ${info.name}, param ${spec.name}`;
  const bad = (): GatehouseError =>
    ERRORS.GH_DETECTOR_PARAM(
      { reason: `${info.name}: ${spec.name}=${String(raw)} is not allowed: expected ${allowed(spec)}` },
      {
        where,
        hint: `use e.g. ${example(spec)} (${spec.description})`,
      },
    );
  if (spec.type === 'string') {
    const v = String(raw);
    if (spec.choices && !spec.choices.includes(v)) throw bad();
    return v;
  }
  const v = typeof raw === 'number' ? raw : raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(v)) throw bad();
  if (spec.type === 'integer' && !Number.isInteger(v)) throw bad();
  if (spec.min !== undefined && v < spec.min) throw bad();
  if (spec.max !== undefined && v > spec.max) throw bad();
  return v;
}

/** Fill defaults and validate; unknown keys are an error naming the known ones (and the nearest). */
export function resolveParams(info: DetectorInfo, given: Readonly<Record<string, ParamValue>>): DetectorParams {
  const out: DetectorParams = {};
  for (const key of Object.keys(given)) {
    if (!info.params.some((p) => p.name === key)) {
      const names = info.params.map((p) => p.name);
      const near = info.params.find((p) => p.name === closestName(key, names));
      const eg = near ?? info.params[0];
      throw ERRORS.GH_DETECTOR_PARAM(
        { reason: `${info.name}: unknown param '${key}'${near ? ` (did you mean '${near.name}'?)` : ''}` },
        {
          where: `detector ${info.name}`,
          hint: `known params: ${names.join(', ')}; e.g. ${eg ? example(eg) : ''}`,
        },
      );
    }
  }
  for (const spec of info.params) {
    const raw = given[spec.name];
    out[spec.name] = raw === undefined ? spec.default : checkOne(info, spec, raw);
  }
  return out;
}

/** Typed getter for a resolved numeric param (resolveParams guarantees the type). */
export function num(params: DetectorParams, name: string): number {
  return params[name] as number;
}

/** Read the i-th value of a scalar-or-array input without allocating. */
export function valueAt(values: ArrayLike<number> | number, i: number): number {
  return typeof values === 'number' ? (i === 0 ? values : NaN) : values[i]!;
}

/** True when every one of the first n inputs is a finite number. */
export function allFinite(values: ArrayLike<number> | number, n: number): boolean {
  if (typeof values === 'number') return n === 1 && Number.isFinite(values);
  if (values.length < n) return false;
  for (let i = 0; i < n; i++) if (!Number.isFinite(values[i]!)) return false;
  return true;
}
