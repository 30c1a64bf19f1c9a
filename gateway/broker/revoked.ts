// Connections whose certificate a CRL reloaded on SIGHUP revokes are closed. OpenSSL checks a
// client certificate once, at the handshake: without this, a device whose certificate was revoked
// because it was stolen keeps its connection (and its session) for as long as it stays connected,
// days on a steady link. mosquitto leaves them; closing them is the point of revoking. A TLS
// session resumed after the reload is no way back in: the reload's new secure context has new
// session ticket keys and an empty session cache, so the next connection is a full handshake.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { ConnState } from './connection.js';
import { isRevoked, type ParsedCrl } from './crl.js';

/** Names of clients in the log line (the count is always whole). */
const NAMED = 20;

/** Close the connected clients of `listener` whose certificate `crls` revoke; returns how many. */
export function closeRevoked(
  live: Iterable<ConnState>,
  listener: string,
  crls: readonly ParsedCrl[],
  revokedClosed: Map<string, number>,
  log: Pick<Logger, 'warn'>,
): number {
  const closed: Array<{ client: string; user: string | undefined }> = [];
  for (const st of [...live]) {
    if (st.listener !== listener) continue;
    const socket = (st.client as { conn?: Socket }).conn as Partial<TLSSocket> | undefined;
    const raw = typeof socket?.getPeerCertificate === 'function' ? socket.getPeerCertificate().raw : undefined;
    if (!raw || !isRevoked(crls, raw)) continue;
    closed.push({ client: st.client.id, user: st.user });
    // as a dropped connection: its will is published, its session kept for its expiry (the
    // certificate, not the session, was revoked; a reconnect with it fails the handshake)
    socket!.destroy?.();
  }
  if (closed.length > 0) {
    revokedClosed.set(listener, (revokedClosed.get(listener) ?? 0) + closed.length);
    log.warn(
      { listener, closed: closed.length, clients: closed.slice(0, NAMED) },
      'TLS listener CRL reloaded: connected clients whose certificate it revokes were disconnected',
    );
  }
  return closed.length;
}
