// Contract of a payload codec: frame payload bytes <-> one flat JSON object.

export type Decoded = Record<string, unknown>;

export interface Codec {
  readonly type: 'json' | 'csv' | 'kv' | 'struct';
  /** Decode one frame payload; throws GatehouseError(GH_CODEC_INVALID) on a bad payload. */
  decode(payload: Buffer): Decoded;
  /** JSON bytes for the Message payload (the json codec reuses the frame bytes: no re-serialising). */
  toJson(payload: Buffer, decoded: Decoded): Buffer;
  /** Encode an object for the downlink; throws GatehouseError(GH_CODEC_INVALID) when it can't. */
  encode(value: Decoded): Buffer;
}

/** Number parsing for text codecs: only strings that are plain finite numbers. */
export function parseScalar(s: string, numbers: boolean): string | number {
  if (!numbers || s.length === 0) return s;
  const c = s.charCodeAt(0);
  // Cheap pre-check before Number(): digit, sign or dot.
  if (!((c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46)) return s;
  const n = Number(s);
  return Number.isFinite(n) ? n : s;
}

export function scalarToText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
