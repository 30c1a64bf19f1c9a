// Certificate revocation lists of a mutual-TLS listener (tls.crl). OpenSSL checks them at each
// handshake (node's `crl` option sets X509_V_FLAG_CRL_CHECK: the client certificate's issuer must
// have a CRL, and a revoked serial fails); this module reads them for what OpenSSL does not say:
//   - a file that is not a CRL of one of the listener's CAs (a CRL of another CA leaves the
//     devices' CA without one: every handshake would fail with UNABLE_TO_GET_CRL) is refused at
//     start and at a reload (the running one kept), with the listener's GH_BROKER_TLS;
//   - each CRL's nextUpdate, past which OpenSSL refuses every certificate of its CA
//     (CRL_HAS_EXPIRED): a gauge and a warning before it, as the certificates' expiry;
//   - the revoked serials, to close the connections whose certificate a reloaded CRL revokes
//     (a handshake is checked once: a stolen device's session would otherwise go on for days).
import { X509Certificate, verify as verifySignature } from 'node:crypto';
import { TAG, certificateIssuerSerial, certificateSubject, children, derOid, derSerial, derTime, readDer } from '../../core/der.js';

export interface ParsedCrl {
  /** The issuer's Name (DER). */
  issuer: Buffer;
  /** The CA of the listener's bundle that signed it (its subject, as node writes it), once checked. */
  issuerName: string;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  /** Revoked serial numbers (lower-case hex, no leading zeros). */
  revoked: Set<string>;
}

const PEM_CRL = /-----BEGIN X509 CRL-----([\s\S]+?)-----END X509 CRL-----/g;
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Signature algorithms a CRL is checked with here (OID -> the hash crypto.verify takes; null: EdDSA). */
const SIG_HASH: Record<string, string | null> = {
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.3.101.112': null,
  '1.3.101.113': null,
};

interface RawCrl {
  tbs: Buffer;
  sigAlg: string;
  signature: Buffer;
  issuer: Buffer;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  revoked: Set<string>;
}

function parseOne(der: Buffer): RawCrl {
  const [tbsEl, algEl, sigEl] = children(readDer(der).el);
  if (!tbsEl || !algEl || sigEl?.tag !== TAG.BIT_STRING) throw new Error('not a CertificateList');
  const f = children(tbsEl);
  // TBSCertList: version (optional INTEGER), signature, issuer, thisUpdate, nextUpdate (optional), revokedCertificates (optional), [0] extensions
  let i = f[0]!.tag === TAG.INTEGER ? 1 : 0;
  const issuer = f[i + 1]!.whole;
  const thisUpdate = derTime(f[i + 2]!);
  i += 3;
  let nextUpdate: Date | undefined;
  if (f[i] && (f[i]!.tag === TAG.UTC_TIME || f[i]!.tag === TAG.GENERALIZED_TIME)) nextUpdate = derTime(f[i++]!);
  const revoked = new Set<string>();
  if (f[i]?.tag === TAG.SEQUENCE) for (const entry of children(f[i]!)) revoked.add(derSerial(children(entry)[0]!));
  return { tbs: tbsEl.whole, sigAlg: derOid(children(algEl)[0]!), signature: sigEl.content.subarray(1), issuer, thisUpdate, nextUpdate, revoked };
}

/** Did `ca` sign this CRL? undefined: its algorithm is not one checked here (RSA-PSS): its issuer's name decides. */
function signedBy(crl: RawCrl, ca: X509Certificate): boolean | undefined {
  if (!(crl.sigAlg in SIG_HASH)) return undefined;
  try {
    return verifySignature(SIG_HASH[crl.sigAlg] ?? null, crl.tbs, ca.publicKey, crl.signature);
  } catch {
    return false;
  }
}

/**
 * The CRLs of a PEM file, each checked against the listener's CA bundle: it must parse and be
 * signed by one of its CAs. Throws a reason (the caller makes it the listener's GH_BROKER_TLS).
 * `unrevoked`: the CAs of the bundle with no CRL in the file (a warning: a CA that issues device
 * certificates needs one, a root that only issues intermediates does not).
 */
export function readCrls(pem: Buffer, caPem: Buffer | undefined): { crls: ParsedCrl[]; unrevoked: string[] } {
  const text = pem.toString('latin1');
  const blocks = [...text.matchAll(PEM_CRL)];
  if (blocks.length === 0) {
    throw new Error(
      /BEGIN CERTIFICATE/.test(text)
        ? 'the file holds a certificate, not a CRL (-----BEGIN X509 CRL-----)'
        : 'the file holds no PEM CRL (-----BEGIN X509 CRL-----; a DER one converts with `openssl crl -inform DER -in FILE -out FILE.pem`)',
    );
  }
  const cas = [...(caPem?.toString('latin1') ?? '').matchAll(PEM_CERT)].map((m) => new X509Certificate(m[0]));
  const used = new Set<X509Certificate>();
  const crls = blocks.map((b, n): ParsedCrl => {
    let raw: RawCrl;
    try {
      raw = parseOne(Buffer.from(b[1]!.replace(/\s+/g, ''), 'base64'));
    } catch (err) {
      throw new Error(`CRL ${n + 1} of the file does not parse (${(err as Error).message})`);
    }
    const ca = cas.find((c) => {
      const signed = signedBy(raw, c);
      return signed ?? certificateSubject(c.raw).equals(raw.issuer);
    });
    if (!ca)
      throw new Error(`CRL ${n + 1} of the file is not signed by a CA of tls.ca: its CA's certificates would all fail the handshake (UNABLE_TO_GET_CRL)`);
    used.add(ca);
    return { issuer: raw.issuer, issuerName: ca.subject.replaceAll('\n', ', '), thisUpdate: raw.thisUpdate, nextUpdate: raw.nextUpdate, revoked: raw.revoked };
  });
  return { crls, unrevoked: cas.filter((c) => !used.has(c)).map((c) => c.subject.replaceAll('\n', ', ')) };
}

/** Does one of `crls` revoke this certificate (DER)? A certificate that does not parse is not revoked here (OpenSSL decides at its handshake). */
export function isRevoked(crls: readonly ParsedCrl[], raw: Buffer): boolean {
  let cert: { issuer: Buffer; serial: string };
  try {
    cert = certificateIssuerSerial(raw);
  } catch {
    return false;
  }
  return crls.some((c) => c.issuer.equals(cert.issuer) && c.revoked.has(cert.serial));
}

/** The CRL whose nextUpdate comes first (a CRL without one never expires). */
export function firstToExpire(crls: readonly ParsedCrl[]): ParsedCrl | undefined {
  let first: ParsedCrl | undefined;
  for (const c of crls) if (c.nextUpdate && (!first || c.nextUpdate < first.nextUpdate!)) first = c;
  return first;
}
