// A self-signed ed25519 certificate and its key (CN gatehouse-docs-fixture, valid to 2126), for
// tests that need TLS files which load (check-config builds a TLS context from them) but never
// serve a real client. Made once with:
//   openssl req -x509 -newkey ed25519 -keyout key.pem -out cert.pem -days 36500 -nodes -subj /CN=gatehouse-docs-fixture
// Tests that connect over TLS make their own with openssl (broker-tls.test.ts).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export const FIXTURE_CERT_PEM = `-----BEGIN CERTIFICATE-----
MIIBWTCCAQugAwIBAgIUENbowlIAtqm1PbzOMM+n7TSpwEMwBQYDK2VwMCExHzAd
BgNVBAMMFmdhdGVob3VzZS1kb2NzLWZpeHR1cmUwIBcNMjYxMjAzMDk1NTI1WhgP
MjEyNjExMDkwOTU1MjVaMCExHzAdBgNVBAMMFmdhdGVob3VzZS1kb2NzLWZpeHR1
cmUwKjAFBgMrZXADIQD+I4sK42+CIv2N/ZleTNGCxcDGQ9KD1MNWdjYByWdR7qNT
MFEwHQYDVR0OBBYEFADhnG9Y2gvFPnW21PKDqAYNgrHrMB8GA1UdIwQYMBaAFADh
nG9Y2gvFPnW21PKDqAYNgrHrMA8GA1UdEwEB/wQFMAMBAf8wBQYDK2VwA0EAWsM7
qaRIEDQDpRlJxoJ4JvxCVDpLrah64PFLQN1WF38oVNo6Ly7y42Tyv8FfMXM8IoMS
abNgq5PSF1twHTxtAw==
-----END CERTIFICATE-----
`;

export const FIXTURE_KEY_PEM = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIEaAe25xVnUnRIVy3mPWFZkGffejXCzW663vyAzEUysn
-----END PRIVATE KEY-----
`;

// A device CA (ed25519, valid to 2126) and its CRL (nothing revoked, nextUpdate 2126-11-01), for
// examples of a mutual-TLS listener's tls.ca and tls.crl (docs-examples.test.ts). Made once with:
//   openssl req -x509 -newkey ed25519 -nodes -keyout ca.key -out ca.pem -days 36500 -subj "/CN=gatehouse-docs-fixture devices CA"
//   openssl ca -config ca.cnf -cert ca.pem -keyfile ca.key -gencrl -crl_lastupdate 20261201000000Z -crl_nextupdate 21261101000000Z -out crl.pem
export const FIXTURE_DEVICE_CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBbzCCASGgAwIBAgIUNZaVplOinj9oGMFz+C/u7SsvNnAwBQYDK2VwMCwxKjAo
BgNVBAMMIWdhdGVob3VzZS1kb2NzLWZpeHR1cmUgZGV2aWNlcyBDQTAgFw0yNjEy
MDcxMTQyMzlaGA8yMTI2MTExMzExNDIzOVowLDEqMCgGA1UEAwwhZ2F0ZWhvdXNl
LWRvY3MtZml4dHVyZSBkZXZpY2VzIENBMCowBQYDK2VwAyEAcxwzOSByFZI8VdSh
gDq3lLoeZkymhl2gO3vZw40J1MOjUzBRMB0GA1UdDgQWBBRnySonb5hAqtBGzd6R
0F0NX4aMgTAfBgNVHSMEGDAWgBRnySonb5hAqtBGzd6R0F0NX4aMgTAPBgNVHRMB
Af8EBTADAQH/MAUGAytlcANBACEmqL2TbDLobgKgkocAuYLJZmJban0uLHlxo56i
HmBr4XfMZp+qi3xTN/XvTZKM+0oH+pSKzwN9NPjaIprfPg8=
-----END CERTIFICATE-----
`;

export const FIXTURE_CRL_PEM = `-----BEGIN X509 CRL-----
MIG0MGgCAQEwBQYDK2VwMCwxKjAoBgNVBAMMIWdhdGVob3VzZS1kb2NzLWZpeHR1
cmUgZGV2aWNlcyBDQRcNMjYxMjAxMDAwMDAwWhgPMjEyNjExMDEwMDAwMDBaoA4w
DDAKBgNVHRQEAwIBATAFBgMrZXADQQDLl+ZNcfdu6dRg4DqhFCPNvGQehblxRZf5
xmwTcU7OtwC9WrcCcWUgDLwO/5knt37SpN+TAQDZBFyqXcw4VOIA
-----END X509 CRL-----
`;

/**
 * A self-signed EC (P-256) certificate for 127.0.0.1/localhost (or the names `san` lists), valid
 * `days`, made by openssl as dir/<name>.pem and dir/<name>.key (tests that connect over TLS; they
 * skip without openssl).
 */
export function opensslSelfSigned(dir: string, days = 1, name = 'cert', san = 'IP:127.0.0.1,DNS:localhost'): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', String(days)].concat([
      '-subj',
      `/CN=${san.includes('DNS:localhost') ? 'localhost' : 'gatehouse-test'}`,
      '-addext',
      `subjectAltName=${san}`,
    ]),
    { stdio: 'ignore' },
  );
  return { cert, key };
}
