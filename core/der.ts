// A minimal DER reader: the few fields of X.509 certificates and CRLs that node's crypto does not
// expose (a CRL's issuer, dates and revoked serial numbers; a certificate's issuer and serial as
// raw bytes, to find it in a CRL). Definite lengths only (DER has no other); anything malformed
// throws, and the callers say which file.

/** One element: its tag byte, its content, and the whole encoding (tag, length and content). */
export interface Der {
  tag: number;
  content: Buffer;
  whole: Buffer;
}

/** The element at `offset` of `buf`, and where the next one starts. */
export function readDer(buf: Buffer, offset = 0): { el: Der; next: number } {
  if (offset + 2 > buf.length) throw new Error('DER: truncated');
  const tag = buf[offset]!;
  let len = buf[offset + 1]!;
  let at = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // lengths over 4 bytes would be gigabytes: not a CRL or certificate
    if (n === 0 || n > 4 || at + n > buf.length) throw new Error('DER: bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[at + i]!;
    at += n;
  }
  if (at + len > buf.length) throw new Error('DER: truncated');
  return { el: { tag, content: buf.subarray(at, at + len), whole: buf.subarray(offset, at + len) }, next: at + len };
}

/** The elements inside a constructed element (a SEQUENCE, a context tag). */
export function children(el: Der): Der[] {
  const out: Der[] = [];
  for (let at = 0; at < el.content.length; ) {
    const { el: c, next } = readDer(el.content, at);
    out.push(c);
    at = next;
  }
  return out;
}

export const TAG = { INTEGER: 0x02, BIT_STRING: 0x03, OID: 0x06, UTC_TIME: 0x17, GENERALIZED_TIME: 0x18, SEQUENCE: 0x30 } as const;

/** A UTCTime (YYMMDDHHMMSSZ, years 1950-2049 as RFC 5280 says) or GeneralizedTime (YYYYMMDDHHMMSSZ). */
export function derTime(el: Der): Date {
  const s = el.content.toString('latin1');
  const m = el.tag === TAG.UTC_TIME ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s) : /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s);
  if (!m || (el.tag !== TAG.UTC_TIME && el.tag !== TAG.GENERALIZED_TIME)) throw new Error(`DER: not a time: ${s}`);
  let year = Number(m[1]);
  if (el.tag === TAG.UTC_TIME) year += year < 50 ? 2000 : 1900;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

/** An INTEGER's value as lower-case hex without leading zeros (a serial number as CRLs and certificates hold it). */
export function derSerial(el: Der): string {
  if (el.tag !== TAG.INTEGER) throw new Error('DER: not an INTEGER');
  return el.content.toString('hex').replace(/^(00)+(?=.)/, '');
}

/** An OBJECT IDENTIFIER in dotted form. */
export function derOid(el: Der): string {
  const b = el.content;
  if (el.tag !== TAG.OID || b.length === 0) throw new Error('DER: not an OID');
  const parts = [Math.min(2, Math.floor(b[0]! / 40)), b[0]! - Math.min(2, Math.floor(b[0]! / 40)) * 40];
  let v = 0;
  for (let i = 1; i < b.length; i++) {
    v = v * 128 + (b[i]! & 0x7f);
    if (!(b[i]! & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

/** A certificate's issuer (the DER of its Name) and serial: what a CRL entry of its issuer names. */
export function certificateIssuerSerial(raw: Buffer): { issuer: Buffer; serial: string } {
  const tbs = children(children(readDer(raw).el)[0]!);
  // tbsCertificate: [0] version (optional), serialNumber, signature, issuer, ...
  const i = tbs[0]!.tag === 0xa0 ? 1 : 0;
  return { serial: derSerial(tbs[i]!), issuer: tbs[i + 2]!.whole };
}

/** A certificate's subject, the DER of its Name (a CA's, to match the issuer of a CRL). */
export function certificateSubject(raw: Buffer): Buffer {
  const tbs = children(children(readDer(raw).el)[0]!);
  const i = tbs[0]!.tag === 0xa0 ? 1 : 0;
  return tbs[i + 4]!.whole;
}
