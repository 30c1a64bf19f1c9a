// Certificates with chosen dates, made by the installed openssl: a CA (self-signed) and the
// certificates it issues, valid from and until any moment, past ones included. `openssl x509 -days`
// cannot date a certificate in the past and `req -not_before/-not_after` needs OpenSSL 3.4+, so
// `openssl ca -startdate/-enddate` (3.0 has it) signs them, with a throwaway database in `dir`.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** An EC P-256 key made with the request (openssl req). */
export const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** openssl ca's date form: YYYYMMDDHHMMSSZ (UTC). */
export function asn1Time(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

export interface TestCa {
  dir: string;
  cert: string;
  key: string;
  /** A certificate this CA signs for `cn`, valid from `notBefore` until `notAfter`: dir/<name>.pem and .key. */
  issue(name: string, cn: string, notBefore: Date, notAfter: Date, san?: string): { cert: string; key: string };
}

/** What `openssl ca` needs of a CA: its certificate and key, a database, a serial and a config. */
export interface CaFiles {
  cert: string;
  key: string;
  conf: string;
  /** The database file (a CRL number beside it when `crl`). */
  db: string;
}

/**
 * A self-signed CA `name` in `dir` (dir/<name>-ca.pem, -ca.key) valid `days`, with the database
 * and config `openssl ca` signs (and, with `crl`, revokes and writes CRLs) from: `ca` lines go
 * to the config's CA section, `policy` lines to its subject policy.
 */
export function caDatabase(dir: string, name: string, o: { days: number; ca: string[]; policy: string[]; crl?: boolean }): CaFiles {
  const cert = join(dir, `${name}-ca.pem`);
  const key = join(dir, `${name}-ca.key`);
  openssl(['req', '-x509', ...EC, '-keyout', key, '-out', cert, '-days', String(o.days), '-subj', `/CN=${name} CA`]);
  const db = join(dir, `${name}-ca.db`);
  const conf = join(dir, `${name}-ca.cnf`);
  writeFileSync(db, '');
  writeFileSync(`${db}.serial`, '01\n');
  if (o.crl) writeFileSync(`${db}.crlnumber`, '01\n');
  writeFileSync(
    conf,
    [
      '[ca]',
      'default_ca = d',
      '[d]',
      `database = ${db}`,
      `new_certs_dir = ${dir}`,
      `serial = ${db}.serial`,
      ...(o.crl ? [`crlnumber = ${db}.crlnumber`] : []),
      'default_md = sha256',
      'policy = p',
      'unique_subject = no',
      ...o.ca,
      '[p]',
      ...o.policy,
      '',
    ].join('\n'),
  );
  return { cert, key, conf, db };
}

/** A CA in `dir` (dir/<name>-ca.pem, -ca.key), valid for 10 years from a year ago. */
export function testCa(dir: string, name = 'test'): TestCa {
  const { cert, key, conf } = caDatabase(dir, name, { days: 3650, ca: ['copy_extensions = copy'], policy: ['commonName = supplied'] });
  return {
    dir,
    cert,
    key,
    issue(n, cn, notBefore, notAfter, san) {
      const out = { cert: join(dir, `${n}.pem`), key: join(dir, `${n}.key`) };
      const csr = join(dir, `${n}.csr`);
      openssl(['req', ...EC, '-keyout', out.key, '-out', csr, '-subj', `/CN=${cn}`, ...(san ? ['-addext', `subjectAltName=${san}`] : [])]);
      openssl(
        ['ca', '-batch', '-config', conf, '-cert', cert, '-keyfile', key, '-in', csr, '-out', out.cert, '-notext'].concat([
          '-startdate',
          asn1Time(notBefore),
          '-enddate',
          asn1Time(notAfter),
        ]),
      );
      return out;
    },
  };
}
