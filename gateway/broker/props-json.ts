// MQTT 5 properties in the broker's JSON files (v5 sessions, retained messages): Buffer values
// (correlation data) as { b64 }, everything else as it is.
export function encodeProps(p: object | undefined): unknown {
  if (!p) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) out[k] = Buffer.isBuffer(v) ? { b64: v.toString('base64') } : v;
  return out;
}

export function decodeProps(p: unknown): Record<string, unknown> | undefined {
  if (!p || typeof p !== 'object') return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p as Record<string, unknown>)) {
    const b64 = v && typeof v === 'object' ? (v as { b64?: unknown }).b64 : undefined;
    out[k] = typeof b64 === 'string' ? Buffer.from(b64, 'base64') : v;
  }
  return out;
}
