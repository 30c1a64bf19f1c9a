// The CRL reader of tls.crl (gateway/broker/crl.ts, core/der.ts) against files made by openssl:
// revoked serials found by a certificate's issuer and serial, dates in UTCTime and
// GeneralizedTime, the signature checked against the CA bundle (EC and ed25519), a CA of the
// bundle without a CRL named, and files that are not CRLs refused with a reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRevoked, readCrls, firstToExpire } from '../../gateway/broker/crl.js';
import { needBinary, tempDir } from '../helpers/index.js';
import { deviceCa } from '../helpers/device-ca.js';
import { FIXTURE_CERT_PEM, FIXTURE_CRL_PEM, FIXTURE_DEVICE_CA_PEM } from '../helpers/tls-fixture.js';

test('the ed25519 fixture CRL: no revoked certificate, a GeneralizedTime nextUpdate (2126), signed by its CA', () => {
  const { crls, unrevoked } = readCrls(Buffer.from(FIXTURE_CRL_PEM), Buffer.from(FIXTURE_DEVICE_CA_PEM));
  assert.equal(crls.length, 1);
  assert.equal(crls[0]!.revoked.size, 0);
  assert.equal(crls[0]!.thisUpdate.toISOString(), '2026-12-01T00:00:00.000Z');
  assert.equal(crls[0]!.nextUpdate?.toISOString(), '2126-11-01T00:00:00.000Z');
  assert.equal(crls[0]!.issuerName, 'CN=gatehouse-docs-fixture devices CA');
  assert.deepEqual(unrevoked, []);
  assert.throws(() => readCrls(Buffer.from(FIXTURE_CRL_PEM), Buffer.from(FIXTURE_CERT_PEM)), /not signed by a CA of tls\.ca/);
  assert.throws(() => readCrls(Buffer.from(FIXTURE_CERT_PEM), Buffer.from(FIXTURE_DEVICE_CA_PEM)), /holds a certificate, not a CRL/);
  assert.throws(() => readCrls(Buffer.from('nothing'), undefined), /no PEM CRL/);
  // a signature byte changed: not this CA's CRL
  const b64 = FIXTURE_CRL_PEM.split('\n').slice(1, -2).join('');
  const der = Buffer.from(b64, 'base64');
  der[der.length - 1]! ^= 1;
  const tampered = `-----BEGIN X509 CRL-----\n${der.toString('base64')}\n-----END X509 CRL-----\n`;
  assert.throws(() => readCrls(Buffer.from(tampered), Buffer.from(FIXTURE_DEVICE_CA_PEM)), /not signed by a CA of tls\.ca/);
});

test('revoked serials are found by issuer and serial; a CA of the bundle without a CRL is named', { skip: needBinary('openssl', 'openssl') }, async (t) => {
  const dir = await tempDir(t);
  const a = deviceCa(dir, 'a');
  const b = deviceCa(dir, 'b');
  const certs = ['d1', 'd2', 'd3'].map((n) => a.issue(n, `/CN=${n}`));
  b.issue('o1', '/CN=o1');
  const other = b.issue('o2', '/CN=o2'); // serial 02 of another CA, as d2's
  a.revoke('d2');
  const crl = readFileSync(a.crl(join(dir, 'crl.pem')));
  const bundle = join(dir, 'bundle.pem');
  writeFileSync(bundle, `${readFileSync(a.cert, 'utf8')}${readFileSync(b.cert, 'utf8')}`);
  const { crls, unrevoked } = readCrls(crl, readFileSync(bundle));
  assert.deepEqual(unrevoked, ['CN=b CA']);
  assert.equal(crls[0]!.issuerName, 'CN=a CA');
  assert.ok(firstToExpire(crls)!.nextUpdate! > new Date(Date.now() + 6 * 86_400_000), 'default_crl_days = 7');
  const der = (p: string): Buffer => Buffer.from(readFileSync(p, 'utf8').split('-----')[2]!.replace(/\s+/g, ''), 'base64');
  assert.deepEqual(
    certs.map((c) => isRevoked(crls, der(c.cert))),
    [false, true, false],
  );
  assert.equal(isRevoked(crls, der(other.cert)), false, "the same serial from another CA is not revoked by this CA's CRL");
  assert.equal(isRevoked(crls, Buffer.from('not a certificate')), false);
});
