import { join } from 'node:path';
import { EC, asn1Time, caDatabase, openssl } from './cert-dates.js';

export interface DeviceCa {
  /** The CA certificate (tls.ca). */
  cert: string;
  /** A device certificate with `subject` ('/CN=dev1', '/O=Acme/OU=line 2'): dir/<name>.pem and .key. */
  issue(name: string, subject: string): { cert: string; key: string };
  /** Revoke dir/<name>.pem in the CA's database (the next crl() lists it). */
  revoke(name: string): void;
  /** Write the CA's CRL to `out` (PEM), valid 7 days from now, or for the dates given. */
  crl(out: string, dates?: { lastUpdate: Date; nextUpdate: Date }): string;
}

/** A CA `name` in `dir` (dir/<name>-ca.pem), valid a year. */
export function deviceCa(dir: string, name = 'devices'): DeviceCa {
  const { cert, key, conf } = caDatabase(dir, name, {
    days: 365,
    crl: true,
    ca: ['default_days = 30', 'default_crl_days = 7'],
    policy: ['commonName = optional', 'organizationName = optional', 'organizationalUnitName = optional'],
  });
  const ca = ['-config', conf, '-cert', cert, '-keyfile', key];
  return {
    cert,
    issue(n, subject) {
      const out = { cert: join(dir, `${n}.pem`), key: join(dir, `${n}.key`) };
      const csr = join(dir, `${n}.csr`);
      openssl(['req', ...EC, '-keyout', out.key, '-out', csr, '-subj', subject]);
      // -preserveDN: the subject in the order the request gives it (not the policy's)
      openssl(['ca', '-batch', ...ca, '-preserveDN', '-in', csr, '-out', out.cert, '-notext']);
      return out;
    },
    revoke(n) {
      openssl(['ca', ...ca, '-revoke', join(dir, `${n}.pem`)]);
    },
    crl(out, dates) {
      const when = dates ? ['-crl_lastupdate', asn1Time(dates.lastUpdate), '-crl_nextupdate', asn1Time(dates.nextUpdate)] : [];
      openssl(['ca', ...ca, '-gencrl', ...when, '-out', out]);
      return out;
    },
  };
}
