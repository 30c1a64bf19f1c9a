// The admin API's own certificate, taken past (or before) its dates by a CLI run with --config.
//
// `--config FILE` trusts the certificate admin.tls.cert names by its exact SHA-256 fingerprint
// (admin-client.ts). Node refuses a certificate outside its dates before that pin is looked at,
// so once admin.tls.cert expired (or on a Pi whose clock is still wrong: the gateway itself never
// refuses a certificate for its dates, core/cert-expiry.ts), `gatehouse status` could not say
// so: it failed with CERT_HAS_EXPIRED and the hint to trust the certificate it already trusted.
// This connection is tried after such a refusal only: the chain must still have been built and
// trusted (OpenSSL reports a date error only then), and the leaf must be the pinned one. It is
// handed to the request only once checked: nothing (the token) is written to a server refused.
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { checkServerIdentity, connect, type PeerCertificate } from 'node:tls';

/** The verification errors that only say the certificate is outside its dates (by this machine's clock). */
export const DATE_ERRORS: ReadonlySet<string> = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** The request's oncreate: with an error, the socket is not looked at (the destroyed one is passed). */
type Done = (err: Error | null, socket: Duplex) => void;

/** An https request's createConnection that lets the pinned certificates in whatever their dates. */
export function pinnedDespiteDates(
  pinned: readonly string[],
  ca: string[] | undefined,
): (opts: { host?: string | null; port?: number | string | null }, done: Done) => undefined {
  return (opts, done) => {
    const host = opts.host ?? 'localhost';
    const socket = connect({
      host,
      port: Number(opts.port ?? 443),
      ...(isIP(host) ? {} : { servername: host }),
      ...(ca ? { ca } : {}),
      // Checked below, before the socket is handed over: the pin, or a chain that verified.
      rejectUnauthorized: false,
      checkServerIdentity: (name: string, cert: PeerCertificate) => (pinned.includes(cert.fingerprint256) ? undefined : checkServerIdentity(name, cert)),
    });
    const failed = (err: Error): void => done(err, socket);
    socket.once('error', failed);
    socket.once('secureConnect', () => {
      socket.off('error', failed);
      // A string code since node 0.x (_tls_wrap: verifyError.code || message).
      const reason = String(socket.authorizationError ?? '');
      if (socket.authorized || (DATE_ERRORS.has(reason) && pinned.includes(socket.getPeerCertificate().fingerprint256))) {
        done(null, socket);
        return;
      }
      socket.destroy();
      done(Object.assign(new Error(`the admin API's certificate is refused (${reason})`), { code: reason }), socket);
    });
    return undefined;
  };
}
