// Why TLS handshakes on the broker's listeners fail, counted by listener and reason: a revoked
// device certificate, one from an unknown CA, an expired one, a CRL past its nextUpdate (which
// fails every device of its CA at once), no certificate at all, or anything else (a plain MQTT
// client on the TLS port, a client that does not trust the gateway's certificate).
import type { Registry } from 'prom-client';
import { Counter } from '../../core/prom-client.js';

export type TlsFailureReason =
  | 'revoked'
  | 'unknown_ca'
  | 'cert_expired'
  | 'cert_not_yet_valid'
  | 'crl_expired'
  | 'crl_not_yet_valid'
  | 'crl_missing'
  | 'cert_invalid'
  | 'no_certificate'
  | 'handshake';

const BY_CERT_ERROR: Record<string, TlsFailureReason> = {
  CERT_REVOKED: 'revoked',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown_ca',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown_ca',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown_ca',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'unknown_ca',
  SELF_SIGNED_CERT_IN_CHAIN: 'unknown_ca',
  CERT_HAS_EXPIRED: 'cert_expired',
  CERT_NOT_YET_VALID: 'cert_not_yet_valid',
  CRL_HAS_EXPIRED: 'crl_expired',
  CRL_NOT_YET_VALID: 'crl_not_yet_valid',
  UNABLE_TO_GET_CRL: 'crl_missing',
};

/** The reason label of a failed handshake: OpenSSL's verify result of the client certificate when there is one, else the error's code. */
export function tlsFailureReason(code: string | undefined, certError: string | undefined): TlsFailureReason {
  if (certError !== undefined) return BY_CERT_ERROR[certError] ?? 'cert_invalid';
  return code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' ? 'no_certificate' : 'handshake';
}

interface TlsFailureStats {
  tlsFailures: Map<string, number>;
  revokedClosed: Map<string, number>;
}

export function countTlsFailure(stats: TlsFailureStats, listener: string, reason: TlsFailureReason): void {
  const k = `${listener}\0${reason}`;
  stats.tlsFailures.set(k, (stats.tlsFailures.get(k) ?? 0) + 1);
}

export function registerTlsFailureMetrics(registry: Registry, s: TlsFailureStats): void {
  new Counter({
    name: 'gatehouse_broker_tls_handshake_failures_total',
    help: 'Failed TLS handshakes on broker listeners, by listener and reason: revoked, unknown_ca, cert_expired, cert_not_yet_valid, crl_expired, crl_not_yet_valid, crl_missing, cert_invalid, no_certificate, handshake (anything else)',
    labelNames: ['listener', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [k, n] of s.tlsFailures) {
        const [listener, reason] = k.split('\0') as [string, string];
        this.inc({ listener, reason }, n);
      }
    },
  });
  new Counter({
    name: 'gatehouse_broker_tls_revoked_disconnects_total',
    help: 'Clients closed, or refused at CONNECT over a handshake made before, because a CRL loaded on SIGHUP (tls.crl) revokes their certificate, by listener',
    labelNames: ['listener'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [listener, n] of s.revokedClosed) this.inc({ listener }, n);
    },
  });
}
