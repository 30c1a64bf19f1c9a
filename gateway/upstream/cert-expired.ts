// Why an upstream connection failed, when a certificate it uses is past its notAfter: a server
// refuses an expired client certificate in the handshake, and what the client sees is a TLS alert
// ("sslv3 alert certificate expired", "alert bad certificate"), or only a reset (AWS IoT Core, a
// proxy in between). Before, that was "upstream MQTT broker not connected (... alert ...): check
// the broker URL and network"; now the error names the file, its date and what to do
// (GH_UPSTREAM_CERT_EXPIRED). Nothing is refused locally: the dates are read from the bytes the
// client holds (the ones its next handshake presents), by the wall clock, only once a connection
// has failed.
import { readFile } from 'node:fs/promises';
import { ERRORS, type GatehouseError } from '../../core/errors.js';
import { certificateNotVerified } from '../../core/tls-files.js';
import { describeLeft, earliestValidity } from '../../core/cert-expiry.js';

/** Failures that say nothing of the certificates: the name does not resolve, nothing listens, a proxy's fault. */
const NOT_TLS = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|CONNECTION_REFUSED|EHOSTUNREACH|ENETUNREACH|GH_UPSTREAM_PROXY/;

export interface HeldTlsFiles {
  /** The client certificate the connection presents (its bytes, as held) and its path. */
  cert?: { file: string; pem: unknown } | undefined;
  /** The CA bundle it verifies the server with. */
  ca?: { file: string; pem: unknown } | undefined;
}

/** The files of a client's options (caFile, certFile) with the bytes it holds (mqtt.js options' ca, cert). */
export function heldTlsFiles(
  o: { caFile?: string | undefined; certFile?: string | undefined },
  held: { ca?: unknown; cert?: unknown } | undefined,
): HeldTlsFiles {
  return {
    cert: o.certFile === undefined ? undefined : { file: o.certFile, pem: held?.cert },
    ca: o.caFile === undefined ? undefined : { file: o.caFile, pem: held?.ca },
  };
}

function expiredOf(held: { file: string; pem: unknown } | undefined, now: number): { file: string; notAfter: Date; leftMs: number } | undefined {
  if (held === undefined || !(Buffer.isBuffer(held.pem) || typeof held.pem === 'string')) return undefined;
  const v = earliestValidity(held.pem);
  if (v === undefined || v.notAfter.getTime() > now) return undefined;
  return { file: held.file, notAfter: v.notAfter, leftMs: v.notAfter.getTime() - now };
}

/**
 * The reason a connection failed with `why`, when its client certificate (any failure but DNS, a
 * refused port or a proxy's) or its CA bundle (a server certificate that did not verify) is past
 * its notAfter; undefined otherwise.
 */
export function expiredCertificateReason(subject: string, files: HeldTlsFiles, why: string | undefined, now: number): string | undefined {
  if (why !== undefined && NOT_TLS.test(why)) return undefined;
  const tail = why ? ` (the connection failed: ${why.trim()})` : '';
  const client = expiredOf(files.cert, now);
  if (client)
    return `${subject}: the client certificate ${client.file} expired on ${client.notAfter.toISOString()} (${describeLeft(client.leftMs)}, by this gateway's clock): the server refuses it in the TLS handshake; renew it${tail}`;
  const ca = why !== undefined && certificateNotVerified(why) ? expiredOf(files.ca, now) : undefined;
  if (ca)
    return `${subject}: the CA bundle ${ca.file} holds a certificate that expired on ${ca.notAfter.toISOString()} (${describeLeft(ca.leftMs)}, by this gateway's clock): the server's certificate no longer verifies against it; get the CA's current certificate${tail}`;
  return undefined;
}

/**
 * GH_UPSTREAM_CERT_EXPIRED for `where` (a destination's target), or undefined when no certificate it
 * holds has expired. `hint`: what to do when it is not the catalogue's (a client that reads its files
 * only when it is made takes a renewed one at a restart, not at a SIGHUP).
 */
export function expiredCertificateError(
  subject: string,
  files: HeldTlsFiles,
  why: string | undefined,
  where: string,
  now = Date.now(),
  hint?: string,
): GatehouseError | undefined {
  const reason = expiredCertificateReason(subject, files, why, now);
  return reason === undefined ? undefined : ERRORS.GH_UPSTREAM_CERT_EXPIRED({ reason }, { where, ...(hint === undefined ? {} : { hint }) });
}

/**
 * expiredCertificateError for a client that reads its files (caFile, certFile) at each connect (the
 * NATS client): the bytes on disk are the ones its next handshake presents, so they are read here,
 * once a send found it not connected. A file that cannot be read says nothing.
 */
export async function expiredOnDiskError(
  subject: string,
  o: { caFile?: string | undefined; certFile?: string | undefined } | undefined,
  why: string | undefined,
  where: string,
): Promise<GatehouseError | undefined> {
  if (o === undefined || (o.caFile === undefined && o.certFile === undefined)) return undefined;
  const read = (file: string | undefined): Promise<Buffer | undefined> =>
    file === undefined ? Promise.resolve(undefined) : readFile(file).catch(() => undefined);
  const [cert, ca] = await Promise.all([read(o.certFile), read(o.caFile)]);
  return expiredCertificateError(subject, heldTlsFiles(o, { cert, ca }), why, where);
}

/**
 * What to do about an expired file of a client that reads it only when it is made (the HTTP-based
 * destinations): a SIGHUP does not rebuild it, a restart does (docs/security.md#certificate-expiry).
 */
export const RESTART_TO_RENEW_HINT =
  "write the renewed file (or the CA's current certificate) in its place and restart the gateway (`systemctl restart gatehouse`): this destination reads it when it starts; if the certificate is not really expired, check the clock (timedatectl); the records wait in the local stream; docs/security.md#certificate-expiry";
