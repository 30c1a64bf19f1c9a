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
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

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

/**
 * Read a client's TLS files at start (the files named; none when none is). A file that cannot be
 * read throws what `fail` makes of it (a config error naming the option).
 */
export function readTlsFiles(
  paths: TlsFilePaths,
  fail: (k: 'ca' | 'cert' | 'key', path: string, err: unknown) => Error,
): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  const out: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  for (const k of ['ca', 'cert', 'key'] as const) {
    const p = paths[k];
    if (p === undefined) continue;
    try {
      out[k] = readFileSync(p);
    } catch (err) {
      throw fail(k, p, err);
    }
  }
  return out;
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
    if (next.cert !== undefined || next.key !== undefined) createSecureContext(next);
  } catch (err) {
    return { changed: false, error: `the new TLS files do not load as a pair (${(err as Error).message}); the previous ones are kept` };
  }
  for (const k of ['ca', 'cert', 'key'] as const) {
    if (next[k] !== undefined) options[k] = next[k];
  }
  return { changed: true };
}
