// What remote control reads of an update payload before it verifies it (remote.ts): the version it
// says it carries, to tell the office which of its updates gave way or failed its signature, and
// whether an unsigned payload is an update document (checked as one) or a bare rule set. Nothing
// read here is trusted or applied: a payload is only ever applied after the verifier and the
// document checks (verify.ts, document.ts). Neither throws: a payload they cannot read is no
// version, no document.
import { isUpdateDocument } from './document.js';
import { parseEnvelope } from './signing.js';

/**
 * The version a payload says it carries (an envelope's document, a bare document or rule set), read
 * without checking its signature: only to tell the office which of its updates gave way.
 */
export function claimedVersion(payload: Buffer): number | undefined {
  try {
    const text = parseEnvelope(payload).bytes.toString('utf8').trimStart();
    if (!text.startsWith('{')) {
      // A YAML rule set: its top-level `version: N` line, read without parsing YAML that nothing verified.
      const m = /^version:[ \t]*(\d{1,15})[ \t]*(?:#.*)?$/m.exec(text);
      return m ? Number(m[1]) : undefined;
    }
    const v = (JSON.parse(text) as { version?: unknown }).version;
    return typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Unsigned payloads may still be update documents (checked the same way, without a signature). */
export function looksLikeDocument(bytes: Buffer): boolean {
  const text = bytes.toString('utf8').trimStart();
  if (!text.startsWith('{')) return false;
  try {
    return isUpdateDocument(JSON.parse(text));
  } catch {
    return false;
  }
}
