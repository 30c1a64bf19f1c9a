// A private CA for device certificates, made by the installed openssl the way an operator runs
// one (`openssl ca`, a database of issued certificates): it issues device certificates with any
// subject (one without a CN too), revokes them (`openssl ca -revoke`) and writes CRLs (`openssl ca
// -gencrl`, with chosen lastUpdate/nextUpdate for expired ones). For the mutual-TLS listener tests.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EC, asn1Time, openssl } from './cert-dates.js';

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
  const cert = join(dir, `${name}-ca.pem`);
  const key = join(dir, `${name}-ca.key`);
  openssl(['req', '-x509', ...EC, '-keyout', key, '-out', cert, '-days', '365', '-subj', `/CN=${name} CA`]);
  const db = join(dir, `${name}-ca.db`);
  const conf = join(dir, `${name}-ca.cnf`);
  writeFileSync(db, '');
  writeFileSync(`${db}.serial`, '01\n');
  writeFileSync(`${db}.crlnumber`, '01\n');
  writeFileSync(
    conf,
    [
      '[ca]',
      'default_ca = d',
      '[d]',
      `database = ${db}`,
      `new_certs_dir = ${dir}`,
      `serial = ${db}.serial`,
      `crlnumber = ${db}.crlnumber`,
      'default_md = sha256',
      'default_days = 30',
      'default_crl_days = 7',
      'policy = p',
      'unique_subject = no',
      '[p]',
      'commonName = optional',
      'organizationName = optional',
      'organizationalUnitName = optional',
      '',
    ].join('\n'),
  );
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
