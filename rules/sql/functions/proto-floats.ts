// A Protobuf `float` field decoded as the number its sender wrote: the float32 0.1 widened to a double
// prints 0.10000000149011612, which no device meant and no `WHERE v = 0.1` matches; protobuf's JSON
// mapping (Java's JsonFormat, Go's protojson) prints the shortest decimal that reads back as the
// same float32 (0.1), as the gateway does for every float32 it reads (core/float32.ts). protobufjs
// writes the widened double, so the decoded message's float fields are rounded here, before its
// JSON form is made. Types without a float field anywhere below them are not walked.
import { float32Value } from '../../../core/float32.js';

/** The parts of protobufjs's reflection read here. */
export interface ReflectedField {
  readonly name: string;
  readonly type: string;
  readonly repeated: boolean;
  readonly map: boolean;
  readonly resolvedType: unknown;
}
export interface ReflectedType {
  readonly fieldsArray: readonly ReflectedField[];
}

const hasFloatCache = new WeakMap<object, boolean>();

function isType(t: unknown): t is ReflectedType {
  return typeof t === 'object' && t !== null && Array.isArray((t as { fieldsArray?: unknown }).fieldsArray);
}

/** Whether a float field is in `t` or in a message type reachable from it (recursive types included). */
function hasFloat(t: ReflectedType): boolean {
  const known = hasFloatCache.get(t);
  if (known !== undefined) return known;
  const seen = new Set<ReflectedType>([t]);
  const todo = [t];
  let found = false;
  while (!found && todo.length) {
    for (const f of todo.pop()!.fieldsArray) {
      if (f.type === 'float') found = true;
      else if (isType(f.resolvedType) && !seen.has(f.resolvedType)) {
        seen.add(f.resolvedType);
        todo.push(f.resolvedType);
      }
    }
  }
  hasFloatCache.set(t, found);
  return found;
}

const round = (v: unknown): unknown => (typeof v === 'number' ? float32Value(v) : v);

/** Round the float fields of a decoded message (in place). Depth is bounded by the decoder's (100). */
export function roundFloats(t: ReflectedType, msg: unknown): void {
  if (typeof msg !== 'object' || msg === null || !hasFloat(t)) return;
  const m = msg as Record<string, unknown>;
  for (const f of t.fieldsArray) {
    // Own properties only: a field the payload left unset reads its default from the prototype.
    if (!Object.hasOwn(m, f.name)) continue;
    const v = m[f.name];
    if (v === undefined || v === null) continue;
    const sub = isType(f.resolvedType) ? f.resolvedType : undefined;
    if (f.type !== 'float' && !sub) continue;
    const one = (x: unknown): unknown => {
      if (sub) {
        roundFloats(sub, x);
        return x;
      }
      return round(x);
    };
    if (f.map) {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) o[k] = one(o[k]);
    } else if (f.repeated && Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = one(v[i]);
    } else {
      m[f.name] = one(v);
    }
  }
}
