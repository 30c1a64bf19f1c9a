// Binary snapshot of a detector: header (magic, version, name, params as JSON) followed by each
// state array's bytes with a length prefix. Restore rebuilds the detector from name + params
// (same array sizes) and copies the bytes back, so no per-field (de)serialisation code exists.
import { ERRORS, type GatehouseError } from '../../core/errors.js';
import type { DetectorParams, StatefulDetector } from './types.js';

const MAGIC = 0x47484431; // 'GHD1'
const VERSION = 1;

/**
 * `newAtDefault`: params older versions do not know, left out while at this value (a restore
 * resolves a missing param to its default), so a gateway rolled back to such a version restores
 * the detector instead of refusing the snapshot ('unknown param') and learning again.
 */
export function encodeSnapshot(det: StatefulDetector, newAtDefault: Readonly<DetectorParams> = {}): Uint8Array {
  const params: DetectorParams = {};
  for (const [k, v] of Object.entries(det.params)) if (!(k in newAtDefault && newAtDefault[k] === v)) params[k] = v;
  const head = Buffer.from(JSON.stringify({ name: det.name, params }), 'utf8');
  const arrays = det.stateArrays();
  let size = 12 + head.length + 4;
  for (const a of arrays) size += 4 + a.byteLength;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC);
  view.setUint32(4, VERSION);
  view.setUint32(8, head.length);
  out.set(head, 12);
  let off = 12 + head.length;
  view.setUint32(off, arrays.length);
  off += 4;
  for (const a of arrays) {
    view.setUint32(off, a.byteLength);
    off += 4;
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
    off += a.byteLength;
  }
  return out;
}

function corrupt(what: string): GatehouseError {
  return ERRORS.GH_STORE_CORRUPT(
    { what: 'a detector snapshot', reason: what },
    {
      where: 'restoreDetector',
      hint: 'discard this snapshot; the detector restarts its warm-up',
    },
  );
}

export function decodeHeader(bytes: Uint8Array): { name: string; params: DetectorParams; bodyOffset: number } {
  if (bytes.byteLength < 16) throw corrupt('too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== MAGIC) throw corrupt('bad magic');
  if (view.getUint32(4) !== VERSION) throw corrupt(`unsupported version ${view.getUint32(4)}`);
  const len = view.getUint32(8);
  if (12 + len + 4 > bytes.byteLength) throw corrupt('header length');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 12, len).toString('utf8'));
  } catch {
    throw corrupt('header JSON');
  }
  const h = parsed as { name?: unknown; params?: unknown };
  if (typeof h.name !== 'string' || typeof h.params !== 'object' || h.params === null) throw corrupt('header fields');
  return { name: h.name, params: h.params as DetectorParams, bodyOffset: 12 + len };
}

/** Copy the arrays of a snapshot body into a freshly built detector of the same shape. */
export function fillState(det: StatefulDetector, bytes: Uint8Array, bodyOffset: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const arrays = det.stateArrays();
  let off = bodyOffset;
  if (view.getUint32(off) !== arrays.length) throw corrupt('array count');
  off += 4;
  for (const a of arrays) {
    if (off + 4 > bytes.byteLength) throw corrupt('truncated');
    const n = view.getUint32(off);
    off += 4;
    if (n !== a.byteLength || off + n > bytes.byteLength) throw corrupt('array size');
    new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(bytes.subarray(off, off + n));
    off += n;
  }
}
