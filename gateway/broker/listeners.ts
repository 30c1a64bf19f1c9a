// TCP and TLS listeners for the broker, each speaking MQTT or MQTT over WebSockets (websocket.ts). Nagle is off on every socket: with it on, small PUBACKs
// wait for the peer's delayed ACK and p99 latency grows by tens of milliseconds.
//
// Every TCP connection is announced at accept (onAccept), on TLS listeners before the handshake:
// a socket stuck in the handshake is then under the same pre-CONNECT limits as a plain one.
// Before, TLS sockets reached the broker only after the handshake, and silent TCP sockets (no
// ClientHello) filled the listener's connection cap for two minutes: one address could lock every
// device out of a TLS listener.
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { PRIVILEGED_PORT_HINT } from '../../core/privileged-port.js';
import { nodeTls } from '../../core/tls-modules.js';
import { tlsPairProblem } from '../../core/tls-files.js';
import { ERRORS } from '../../core/errors.js';
import { listenerName, type ListenerOptions } from './options.js';
import { SERVER_TLS_OPTIONS, readTlsMaterial, type TlsListener } from './tls-reload.js';
import { urlHost } from '../../core/bind-host.js';
import { peerAddress } from './peer-address.js';
import { loadCrls } from './crl-load.js';
import type { ListenerAddress } from './contract.js';
import type { WebSocketRefusal } from './ws-connection.js';

export interface BoundListener {
  name: string;
  options: ListenerOptions;
  server: Server;
  tls: boolean;
  /** TLS listeners: their files and the bytes loaded (tls-reload.ts swaps them on SIGHUP). */
  tlsListener?: TlsListener;
}

export interface ListenerHooks {
  /**
   * A TCP connection was accepted (before any TLS handshake). `handshake`: a TLS handshake or a
   * WebSocket upgrade comes before its CONNECT (its deadline runs from accept). False: the hook closed it.
   */
  onAccept(socket: Socket, listener: string, handshake: boolean): boolean;
  /**
   * A socket ready for MQTT (after the TLS handshake for TLS listeners). `accepted` is the socket
   * given to onAccept: the same socket on plain listeners, the TCP socket under the TLS one.
   */
  onSocket(socket: Socket, listener: string, accepted: Socket): void;
  /** A WebSocket listener refused a request or closed a connection for what it sent (websocket.ts). */
  onWebSocketRefused(reason: WebSocketRefusal, ip: string | undefined, listener: string): void;
  /**
   * A TLS handshake failed or timed out (the socket is closed); ip: the peer when still known;
   * certError: why its client certificate was refused (OpenSSL's verify result: CERT_REVOKED,
   * CRL_HAS_EXPIRED, ...), when it was.
   */
  onTlsError(err: Error & { code?: string }, ip: string | undefined, listener: string, certError: string | undefined): void;
}

export interface ListenerSettings {
  /** tls.Server handshakeTimeout: a handshake not done by then is closed. */
  handshakeTimeoutMs: number;
  /** WebSocket listeners: the largest message taken (the broker's largest packet). */
  maxPacketBytes: number;
  /** broker.allowAnonymous (WebSocket listeners: pages of any origin are refused then, unless listed). */
  anonymous: boolean;
}

/**
 * Where a connection ready for MQTT goes: the broker (hooks.onSocket), or on a WebSocket listener
 * its HTTP upgrade first (websocket.ts, loaded with `ws` only when a listener asks for it).
 */
async function mqttEntry(
  l: ListenerOptions,
  name: string,
  hooks: ListenerHooks,
  settings: ListenerSettings,
): Promise<(socket: Socket, accepted: Socket) => void> {
  if (l.protocol !== 'websockets') return (socket, accepted) => hooks.onSocket(socket, name, accepted);
  const { createWebSocketRoute } = await import('./websocket.js');
  const route = createWebSocketRoute({
    listener: name,
    path: l.path,
    origins: l.origins,
    anonymous: settings.anonymous,
    maxPayloadBytes: settings.maxPacketBytes,
    // the adapter has what the broker uses of a socket (ws-connection.ts)
    onSocket: (conn, accepted) => hooks.onSocket(conn as unknown as Socket, name, accepted),
    onRefused: (reason, socket) => hooks.onWebSocketRefused(reason, peerAddress(socket), name),
  });
  return (socket, accepted) => route.accept(socket, accepted);
}

/** One TCP connection's ends: the TLS socket at 'secureConnection' has the same ones as its TCP socket. */
function connectionKey(s: Socket): string {
  return `${s.remoteAddress}|${s.remotePort}|${s.localAddress}|${s.localPort}`;
}

/** Create (not yet listening) servers for every listener; TLS files are read and checked here. */
export async function createListeners(listeners: readonly ListenerOptions[], hooks: ListenerHooks, settings: ListenerSettings): Promise<BoundListener[]> {
  const out: BoundListener[] = [];
  for (let i = 0; i < listeners.length; i++) {
    const l = listeners[i]!;
    const name = listenerName(listeners, i);
    const ready = await mqttEntry(l, name, hooks, settings);
    const upgrade = l.protocol === 'websockets';
    if (!l.tls) {
      const server = createNetServer({ noDelay: true }, (socket) => {
        if (hooks.onAccept(socket, name, upgrade)) ready(socket, socket);
      });
      out.push({ name, options: l, server, tls: false });
      continue;
    }
    const where = `broker.listeners.${i}.tls`;
    const files = { cert: l.tls.cert, key: l.tls.key, ca: l.tls.ca, crl: l.tls.crl };
    const material = await readTlsMaterial(files, name, where);
    const { cert, key, ca, crl } = material;
    const crls = loadCrls(material, name, where);
    // TCP sockets accepted and not yet through the handshake, to hand the TLS socket's owner
    // its TCP socket (node links them only through internals)
    const handshaking = new Map<string, Socket>();
    let server: Server;
    try {
      server = nodeTls().createServer(
        {
          ...SERVER_TLS_OPTIONS,
          cert,
          key,
          ...(ca ? { ca } : {}),
          // node sets X509_V_FLAG_CRL_CHECK with it: the leaf's CA must have a CRL, a revoked serial fails
          ...(crl ? { crl } : {}),
          requestCert: l.tls.requestCert,
          rejectUnauthorized: l.tls.requestCert,
          handshakeTimeout: settings.handshakeTimeoutMs,
          noDelay: true,
        },
        (socket: TLSSocket) => {
          socket.setNoDelay(true);
          const k = connectionKey(socket);
          const raw = handshaking.get(k);
          handshaking.delete(k);
          if (raw) ready(socket, raw);
          // not seen at accept (cannot happen while node emits 'connection' first): admit it now
          else if (hooks.onAccept(socket, name, true)) ready(socket, socket);
        },
      );
    } catch (err) {
      throw ERRORS.GH_BROKER_TLS(
        { listener: name, reason: tlsPairProblem(cert, key, err) },
        { where, hint: 'cert and key must be PEM files of the same key pair', cause: err },
      );
    }
    // tls.Server creates the TLS socket in its own 'connection' listener, which runs before this one
    server.on('connection', (raw: Socket) => {
      if (!hooks.onAccept(raw, name, true)) return;
      const k = connectionKey(raw);
      handshaking.set(k, raw);
      raw.once('close', () => {
        if (handshaking.get(k) === raw) handshaking.delete(k);
      });
    });
    // node leaves the socket of a handshake timeout open here: close it. A client certificate that
    // does not verify passes OpenSSL's handshake (node's verify callback accepts all) and node then
    // destroys the socket: the error is a 'socket hang up', and why is only in the socket's
    // authorizationError (CERT_REVOKED, UNABLE_TO_GET_ISSUER_CERT_LOCALLY, CRL_HAS_EXPIRED, ...).
    server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      const ip = peerAddress(socket);
      const certError = (socket as TLSSocket & { authorizationError?: string | null }).authorizationError ?? undefined;
      socket.destroy();
      hooks.onTlsError(err, ip, name, typeof certError === 'string' ? certError : undefined);
    });
    out.push({ name, options: l, server, tls: true, tlsListener: { name, index: i, files, server: server as TlsServer, material, crls } });
  }
  return out;
}

/** Listen on one listener; a bind failure becomes GH_BROKER_LISTEN naming the address. */
export function listen(b: BoundListener, index: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        ERRORS.GH_BROKER_LISTEN(
          { host: urlHost(b.options.host), port: b.options.port, reason: err.code ?? err.message },
          {
            where: `broker.listeners.${index}`,
            hint:
              err.code === 'EADDRINUSE'
                ? `another process (a mosquitto service?) uses this port (ss -ltnp 'sport = :${b.options.port}' names it): stop it, or choose another port (broker.listeners[${index}].port${index === 0 ? '; --mqtt-port N' : ''})`
                : err.code === 'EACCES'
                  ? PRIVILEGED_PORT_HINT
                  : "check the host address is one of this machine's (`ip -br addr` lists them)",
            cause: err,
          },
        ),
      );
    };
    b.server.once('error', onError);
    b.server.listen(b.options.port, b.options.host, () => {
      b.server.removeListener('error', onError);
      resolve();
    });
  });
}

export function address(b: BoundListener): ListenerAddress {
  const a = b.server.address();
  const port = typeof a === 'object' && a ? a.port : b.options.port;
  const ws = b.options.protocol === 'websockets';
  return { name: b.name, host: b.options.host, port, tls: b.tls, protocol: b.options.protocol, ...(ws && b.options.path ? { path: b.options.path } : {}) };
}

/** A listener's URL: mqtt://, mqtts://, ws:// or wss:// (with its path when set). */
export function listenerUrl(a: Pick<ListenerAddress, 'host' | 'port' | 'tls' | 'protocol' | 'path'>): string {
  const scheme = a.protocol === 'websockets' ? (a.tls ? 'wss' : 'ws') : a.tls ? 'mqtts' : 'mqtt';
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${scheme}://${host}:${a.port}${a.path ?? ''}`;
}
