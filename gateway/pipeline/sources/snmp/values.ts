// SNMP values as JSON: Integer, Gauge32, Counter32 and TimeTicks as numbers; Counter64 as a number
// up to 2^53-1, beyond as a decimal string (JSON numbers past that lose digits in every consumer);
// an OctetString as UTF-8 text when it is printable, else as hex (a MAC address: "001a2b3c4d5e");
// IpAddress and OIDs as strings; noSuchObject, noSuchInstance and endOfMibView as null (counted
// by the caller as missing).
import type { Varbind } from './lib.js';

// net-snmp's ObjectType numbers (BER tags), fixed by the protocol.
const T = {
  Boolean: 1,
  Integer: 2,
  BitString: 3,
  OctetString: 4,
  Null: 5,
  OID: 6,
  IpAddress: 64,
  Counter: 65,
  Gauge: 66,
  TimeTicks: 67,
  Opaque: 68,
  Counter64: 70,
  NoSuchObject: 128,
  NoSuchInstance: 129,
  EndOfMibView: 130,
} as const;

export type JsonValue = string | number | boolean | null;

/** True for the three "no value here" exceptions of SNMPv2. */
export function isMissing(vb: Varbind): boolean {
  return vb.type === T.NoSuchObject || vb.type === T.NoSuchInstance || vb.type === T.EndOfMibView;
}

export function typeName(type: number): string {
  for (const [k, v] of Object.entries(T)) if (v === type) return k;
  return `type-${type}`;
}

/** Text with a control character other than tab, LF and CR, or U+FFFD (the bytes were not UTF-8). */
function unprintable(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f || c === 0xfffd) return true;
  }
  return false;
}

function octets(b: Buffer): string {
  // Many agents pad strings with NULs: taken off before the test.
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  const text = b.subarray(0, end).toString('utf8');
  return end > 0 && !unprintable(text) ? text : b.toString('hex');
}

function counter64(v: unknown): number | string {
  const big = Buffer.isBuffer(v) ? (v.length === 0 ? 0n : BigInt(`0x${v.toString('hex')}`)) : BigInt(v as number | string | bigint);
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big.toString();
}

export function jsonValue(vb: Varbind): JsonValue {
  const v = vb.value;
  switch (vb.type) {
    case T.Integer:
    case T.Counter:
    case T.Gauge:
    case T.TimeTicks:
      return typeof v === 'number' ? v : Number(v);
    case T.Counter64:
      return counter64(v);
    case T.OctetString:
      return Buffer.isBuffer(v) ? octets(v) : String(v);
    case T.Opaque:
    case T.BitString:
      return Buffer.isBuffer(v) ? v.toString('hex') : String(v);
    case T.Boolean:
      return Boolean(v);
    case T.IpAddress:
    case T.OID:
      return String(v);
    default:
      return null; // Null and the missing ones
  }
}
