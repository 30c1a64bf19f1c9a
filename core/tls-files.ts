// A TLS client's files (ca, cert, key) read again before it reconnects, so a client certificate
// renewed on disk is presented at the next connection without a restart. A server checks a
// client's certificate only at the handshake: a connection outlives its certificate, and only the
// next handshake needs the new one. Used by the MQTT bridge destination and the control channel
// (both mqtt.js clients, whose reconnects take their TLS options from client.options).
//
// Files that cannot be read, or a key that does not match the certificate (a renewal caught half
// written), leave the options as they were: the reconnect uses the previous files and the next
// one tries again. Reading is synchronous (a few KB, once per reconnect attempt, which the
// callers' backoff bounds).
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { nodeTls } from './tls-modules.js';
import { GatehouseError, errorMessage, type ErrorCode } from './errors.js';

export interface TlsFilePaths {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

/** The TLS fields of a client's options (mqtt.js IClientOptions has these). */
export interface TlsFileOptions {
  ca?: unknown;
  cert?: unknown;
  key?: unknown;
}

export type TlsRefresh = { changed: false } | { changed: true } | { changed: false; error: string };

/** The TLS files a client or listener holds, as `changedTlsFiles` compares them. */
export type TlsFileBytes = { ca?: unknown; cert?: unknown; key?: unknown };

/** Which of ca, cert and key differ between what is held and what was just read. */
export function changedTlsFiles(held: TlsFileBytes, read: { ca?: Buffer; cert?: Buffer; key?: Buffer }): Array<'ca' | 'cert' | 'key'> {
  const same = (a: unknown, b: Buffer | undefined): boolean => (b === undefined ? a === undefined : Buffer.isBuffer(a) && a.equals(b));
  return (['cert', 'key', 'ca'] as const).filter((k) => !same(held[k], read[k]));
}

/** Read the files again; when they changed and load as a pair, put them into `options`. */
export function refreshTlsFiles(options: TlsFileOptions, paths: TlsFilePaths): TlsRefresh {
  let next: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  try {
    next = {};
    for (const k of ['ca', 'cert', 'key'] as const) {
      const p = paths[k];
      if (p !== undefined) next[k] = readFileSync(p);
    }
  } catch (err) {
    return { changed: false, error: `cannot read the TLS files again: ${(err as Error).message}` };
  }
  if (changedTlsFiles(options, next).length === 0) return { changed: false };
  try {
    // A certificate with another key fails here, not at the handshake.
    if (next.cert !== undefined || next.key !== undefined) nodeTls().createSecureContext(next);
  } catch (err) {
    return { changed: false, error: `the new TLS files do not load as a pair (${(err as Error).message}); the previous ones are kept` };
  }
  for (const k of ['ca', 'cert', 'key'] as const) {
    if (next[k] !== undefined) options[k] = next[k];
  }
  return { changed: true };
}

/** Where each file sits in the configuration (its key path), what the client is, and the code to throw. */
export interface ClientTlsContext {
  where: { ca: string; cert: string; key: string };
  subject: string;
  code: ErrorCode;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

function parsesAsCertificate(pem: string): boolean {
  try {
    return new X509Certificate(pem).fingerprint256.length > 0;
  } catch {
    return false;
  }
}

/**
 * A TLS client's files, read and checked as the handshake will use them: the CA bundle holds a
 * certificate, the certificate and key come together and are one pair. Throws `ctx.code` naming
 * the key, so a bad file is a configuration error (check-config, start), not an OpenSSL message
 * thrown from inside the MQTT client.
 */
export function readClientTlsFiles(paths: TlsFilePaths, ctx: ClientTlsContext): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  const bad = (k: 'ca' | 'cert' | 'key', message: string, hint: string): GatehouseError =>
    new GatehouseError(ctx.code, `${ctx.subject}: ${message}`, { where: ctx.where[k], hint });
  const name = (k: 'ca' | 'cert' | 'key'): string => ctx.where[k].slice(ctx.where[k].lastIndexOf('.') + 1);
  const out: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  for (const k of ['ca', 'cert', 'key'] as const) {
    const file = paths[k];
    if (file === undefined) continue;
    try {
      out[k] = readFileSync(file);
    } catch (err) {
      throw bad(k, `cannot read ${name(k)} ${file}: ${errorMessage(err)}`, 'check the path and its permissions');
    }
  }
  if (out.ca !== undefined) {
    const first = PEM_CERT.exec(out.ca.toString('latin1'))?.[0];
    if (first === undefined || !parsesAsCertificate(first)) {
      throw bad(
        'ca',
        `${name('ca')} ${paths.ca} holds no PEM certificate`,
        `${name('ca')} must be the PEM certificate(s) of the CA that issued the broker's certificate (-----BEGIN CERTIFICATE-----), not a key`,
      );
    }
  }
  if ((out.cert === undefined) !== (out.key === undefined)) {
    throw bad(out.cert ? 'key' : 'cert', `${name('cert')} and ${name('key')} go together (mutual TLS)`, 'set both, or neither');
  }
  if (out.cert !== undefined && out.key !== undefined) {
    try {
      nodeTls().createSecureContext({ cert: out.cert, key: out.key });
    } catch (err) {
      throw bad(
        'cert',
        `${name('cert')} ${paths.cert} and ${name('key')} ${paths.key} do not load as a pair: ${errorMessage(err)}`,
        `${name('cert')} and ${name('key')} must be PEM files of one key pair (the key the certificate was issued for)`,
      );
    }
  }
  return out;
}

/**
 * A TLS error that says the server's certificate did not verify (Node's and OpenSSL's wording):
 * self-signed, an unknown issuer, expired or not yet valid, another name, an OpenSSL CERT_ code.
 * What every client of the gateway (MQTT source, destinations) answers with its caFile fix.
 */
export function certificateNotVerified(message: string): boolean {
  return /self[- ]signed certificate|unable to (?:verify|get) (?:local )?issuer|certificate has expired|certificate is not yet valid|altnames|Hostname\/IP does not match|CERT_/i.test(
    message,
  );
}

/**
 * Why a server's certificate and key did not load as a pair, in words that say which file is wrong:
 * the two swapped (the commonest slip: the key given as cert), a cert file that holds no PEM
 * certificate, a key file that holds no PEM private key, a key of another certificate; else
 * OpenSSL's message. Before, each of these was "no start line" or "key values mismatch" alone.
 */
export function tlsPairProblem(cert: Buffer | string, key: Buffer | string, err: unknown): string {
  const c = cert.toString();
  const k = key.toString();
  const certIsKey = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(c);
  const keyIsCert = PEM_CERT.test(k);
  const openssl = errorMessage(err);
  if (certIsKey && keyIsCert) return `cert and key are swapped: the cert file holds a private key and the key file a certificate (${openssl})`;
  if (!PEM_CERT.test(c))
    return `the cert file is not a PEM certificate (no BEGIN CERTIFICATE block${certIsKey ? '; it holds a private key' : ''}) (${openssl})`;
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(k))
    return `the key file is not a PEM private key (no BEGIN ... PRIVATE KEY block${keyIsCert ? '; it holds a certificate' : ''}) (${openssl})`;
  if (/key values mismatch/i.test(openssl)) return `the key is not the certificate's own: they are not one key pair (${openssl})`;
  return `the files do not load as a pair: ${openssl}`;
}
