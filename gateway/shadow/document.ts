// The Device Shadow documents (AWS IoT developer guide, "Device Shadow service documents"): a
// request checked as AWS checks it (each refusal its code and message, "Device Shadow error
// messages"), merged into the stored document (null deletes a key, objects merge, arrays and
// values replace), per-leaf metadata timestamps, the delta (desired where it differs from
// reported), and the answers' shapes. Pure: no I/O, no clock (`now` is given, epoch seconds).
import { isUtf8 } from 'node:buffer';

type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [k: string]: Json;
}

/** The stored document of one shadow. */
export interface ShadowDoc {
  state: { desired?: JsonObject; reported?: JsonObject };
  metadata: { desired?: JsonObject; reported?: JsonObject };
  version: number;
  /** Epoch seconds of its last update. */
  timestamp: number;
}

/** What a deleted shadow leaves: its version, which a new document continues within 48 hours (as AWS). */
export interface ShadowTombstone {
  deleted: true;
  version: number;
  /** Epoch seconds of the delete. */
  timestamp: number;
}

export type Stored = ShadowDoc | ShadowTombstone;

/** A refusal, as AWS answers on .../rejected: an HTTP-like code and its message. */
export class ShadowRejection extends Error {
  /** The request's clientToken, when it had a valid one (echoed in the rejected answer). */
  clientToken?: string;
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** AWS keeps a deleted shadow's version for 48 hours: a new document within them continues it. */
export const VERSION_KEPT_S = 48 * 3600;
/** AWS: "JSON contains too many levels of nesting; maximum is 6" (in desired and reported). */
export const MAX_DEPTH = 6;
/** AWS: a clientToken longer than 64 bytes is refused. */
export const MAX_CLIENT_TOKEN_BYTES = 64;
export const TOO_LARGE = 'The payload exceeds the maximum size allowed';

export interface Request {
  state?: { desired?: JsonObject | null; reported?: JsonObject | null };
  clientToken?: string;
  version?: number;
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The depth of a value: 0 for a scalar, 1 + its deepest member for an object or array. */
function depth(v: Json): number {
  if (v === null || typeof v !== 'object') return 0;
  let d = 0;
  for (const x of Array.isArray(v) ? v : Object.values(v)) d = Math.max(d, depth(x));
  return d + 1;
}

/** Parse a request payload (update, or an optional `{clientToken}` of get and delete). */
export function parseRequest(payload: Buffer, op: 'update' | 'get' | 'delete', maxRequestBytes: number): Request {
  if (payload.length > maxRequestBytes) throw new ShadowRejection(413, TOO_LARGE);
  if (op !== 'update' && payload.length === 0) return {};
  if (!isUtf8(payload)) throw new ShadowRejection(415, 'Unsupported documented encoding; supported encoding is UTF-8');
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new ShadowRejection(400, 'Invalid JSON');
  }
  if (!isObject(body)) throw new ShadowRejection(400, 'Invalid JSON');
  const out: Request = {};
  if (body.clientToken !== undefined) {
    if (typeof body.clientToken !== 'string' || Buffer.byteLength(body.clientToken) > MAX_CLIENT_TOKEN_BYTES)
      throw new ShadowRejection(400, 'Invalid clientToken');
    out.clientToken = body.clientToken;
  }
  if (op !== 'update') return out;
  try {
    return parseUpdate(body, out);
  } catch (err) {
    if (err instanceof ShadowRejection && out.clientToken !== undefined) err.clientToken = out.clientToken;
    throw err;
  }
}

function parseUpdate(body: JsonObject, out: Request): Request {
  if (body.version !== undefined) {
    if (typeof body.version !== 'number' || !Number.isSafeInteger(body.version) || body.version < 0) throw new ShadowRejection(400, 'Invalid version');
    out.version = body.version;
  }
  if (!('state' in body)) throw new ShadowRejection(400, 'Missing required node: state');
  const state = body.state;
  if (!isObject(state)) throw new ShadowRejection(400, 'State node must be an object');
  for (const k of Object.keys(state)) if (k !== 'desired' && k !== 'reported') throw new ShadowRejection(400, 'State contains an invalid node');
  if (state.desired !== undefined && state.desired !== null && !isObject(state.desired)) throw new ShadowRejection(400, 'Desired node must be an object');
  if (state.reported !== undefined && state.reported !== null && !isObject(state.reported)) throw new ShadowRejection(400, 'Reported node must be an object');
  for (const part of [state.desired, state.reported])
    if (isObject(part) && depth(part) > MAX_DEPTH) throw new ShadowRejection(400, `JSON contains too many levels of nesting; maximum is ${MAX_DEPTH}`);
  out.state = state as Request['state'];
  return out;
}

/** Metadata of a value: `{timestamp}` at each leaf, an array of them for an array (as AWS). */
function metaOf(v: Json, now: number): Json {
  if (Array.isArray(v)) return v.map((x) => metaOf(x, now));
  if (isObject(v)) {
    const m: JsonObject = {};
    for (const [k, x] of Object.entries(v)) m[k] = metaOf(x, now);
    return m;
  }
  return { timestamp: now };
}

/** Merge `patch` into `base` (both kept: a new object is returned); empty objects are removed. */
function merge(base: JsonObject | undefined, baseMeta: JsonObject | undefined, patch: JsonObject, now: number): [JsonObject, JsonObject] {
  const out: JsonObject = { ...base };
  const meta: JsonObject = { ...baseMeta };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      delete out[k];
      delete meta[k];
    } else if (isObject(v)) {
      const [o, m] = merge(isObject(out[k]) ? out[k] : undefined, isObject(meta[k]) && isObject(out[k]) ? meta[k] : undefined, v, now);
      if (Object.keys(o).length === 0) {
        delete out[k];
        delete meta[k];
      } else {
        out[k] = o;
        meta[k] = m;
      }
    } else {
      out[k] = v;
      meta[k] = metaOf(v, now);
    }
  }
  return [out, meta];
}

/** Metadata of a request's state: every leaf it names, nulls included (update/accepted). */
function requestMeta(v: JsonObject, now: number): JsonObject {
  const m: JsonObject = {};
  for (const [k, x] of Object.entries(v)) m[k] = isObject(x) ? requestMeta(x, now) : metaOf(x, now);
  return m;
}

function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i] as Json));
  const ka = Object.keys(a as JsonObject);
  if (ka.length !== Object.keys(b as JsonObject).length) return false;
  return ka.every((k) => Object.hasOwn(b as JsonObject, k) && deepEqual((a as JsonObject)[k] as Json, (b as JsonObject)[k] as Json));
}

/** Desired where it differs from reported (objects compared member by member), with desired's metadata. */
export function delta(doc: ShadowDoc): { state: JsonObject; metadata: JsonObject } | undefined {
  const walk = (d: JsonObject, r: JsonObject | undefined, dm: JsonObject | undefined): [JsonObject, JsonObject] => {
    const s: JsonObject = {};
    const m: JsonObject = {};
    for (const [k, v] of Object.entries(d)) {
      const rv = r?.[k];
      if (isObject(v) && isObject(rv)) {
        const [ss, mm] = walk(v, rv, isObject(dm?.[k]) ? dm[k] : undefined);
        if (Object.keys(ss).length > 0) {
          s[k] = ss;
          m[k] = mm;
        }
      } else if (rv === undefined || !deepEqual(v, rv)) {
        s[k] = v;
        if (dm?.[k] !== undefined) m[k] = dm[k];
      }
    }
    return [s, m];
  };
  if (!doc.state.desired) return undefined;
  const [state, metadata] = walk(doc.state.desired, doc.state.reported, doc.metadata.desired);
  return Object.keys(state).length > 0 ? { state, metadata } : undefined;
}

export const isTombstone = (s: Stored | undefined): s is ShadowTombstone => s !== undefined && 'deleted' in s;

/** The version a new document of a shadow continues from: a deleted one's within 48 hours, else 0. */
export function baseVersion(s: Stored | undefined, now: number): number {
  if (s === undefined) return 0;
  if (isTombstone(s)) return now - s.timestamp <= VERSION_KEPT_S ? s.version : 0;
  return s.version;
}

/** The state's size as AWS measures it: its JSON without whitespace (metadata not counted). */
export function stateBytes(doc: ShadowDoc): number {
  return Buffer.byteLength(JSON.stringify(doc.state));
}

/**
 * Apply an update request (parsed) to the stored shadow: the new document, or a ShadowRejection
 * (409 for a version that is not the current one, 413 for a state over maxStateBytes).
 */
export function applyUpdate(prev: Stored | undefined, req: Request, now: number, maxStateBytes: number): ShadowDoc {
  const current = isTombstone(prev) ? undefined : prev;
  const version = baseVersion(prev, now);
  if (req.version !== undefined && req.version !== version) throw new ShadowRejection(409, 'Version conflict');
  const next: ShadowDoc = { state: {}, metadata: {}, version: version + 1, timestamp: now };
  for (const part of ['desired', 'reported'] as const) {
    const patch = req.state?.[part];
    const base = current?.state[part];
    const baseMeta = current?.metadata[part];
    let s: JsonObject | undefined = base;
    let m: JsonObject | undefined = baseMeta;
    if (patch === null) {
      s = undefined;
      m = undefined;
    } else if (patch !== undefined) {
      [s, m] = merge(base, baseMeta, patch, now);
    }
    if (s && Object.keys(s).length > 0) {
      next.state[part] = s;
      next.metadata[part] = m ?? {};
    }
  }
  if (stateBytes(next) > maxStateBytes) throw new ShadowRejection(413, TOO_LARGE);
  return next;
}

const withToken = <T extends object>(o: T, clientToken: string | undefined): T & { clientToken?: string } =>
  clientToken === undefined ? o : { ...o, clientToken };

/** update/accepted: the request's state and the metadata of every leaf it names. */
export function acceptedAnswer(req: Request, doc: ShadowDoc, now: number): object {
  const state: JsonObject = {};
  const metadata: JsonObject = {};
  for (const part of ['desired', 'reported'] as const) {
    const v = req.state?.[part];
    if (v === undefined) continue;
    state[part] = v;
    metadata[part] = v === null ? { timestamp: now } : requestMeta(v, now);
  }
  return withToken({ state, metadata, version: doc.version, timestamp: now }, req.clientToken);
}

/** get/accepted (and the admin API's GET, get_thing_shadow()): state with its delta, metadata, version, timestamp. */
export function documentAnswer(doc: ShadowDoc, now: number, clientToken?: string): object {
  const d = delta(doc);
  const state: JsonObject = { ...doc.state };
  if (d) state.delta = d.state;
  return withToken({ state, metadata: doc.metadata, version: doc.version, timestamp: now }, clientToken);
}

/** update/delta: the whole delta and its metadata; undefined when desired equals reported. */
export function deltaAnswer(doc: ShadowDoc, now: number, clientToken?: string): object | undefined {
  const d = delta(doc);
  return d ? withToken({ version: doc.version, timestamp: now, state: d.state, metadata: d.metadata }, clientToken) : undefined;
}

/** update/documents: the document before (absent for a new one) and after, each state, metadata and version. */
export function documentsAnswer(prev: ShadowDoc | undefined, doc: ShadowDoc, now: number, clientToken?: string): object {
  const part = (d: ShadowDoc): object => ({ state: d.state, metadata: d.metadata, version: d.version });
  return withToken({ ...(prev ? { previous: part(prev) } : {}), current: part(doc), timestamp: now }, clientToken);
}

export function rejectedAnswer(r: ShadowRejection, now: number, clientToken?: string): object {
  return withToken({ code: r.code, message: r.message, timestamp: now }, clientToken);
}

/** AWS's 404: "No shadow exists with name: '<thing>'" (a named shadow: '<thing>~<name>'). */
export function notFound(thing: string, name: string | undefined): ShadowRejection {
  return new ShadowRejection(404, `No shadow exists with name: '${name === undefined ? thing : `${thing}~${name}`}'`);
}
