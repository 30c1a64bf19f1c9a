// The sockets of a syslog source: a UDP socket, a TCP server, TLS servers (tls, relp with tls; their certificates read
// with the syslog source's error code, reloaded on SIGHUP with its expiry watched by the broker's
// ServedTls, as an http source's). Binding failures are GH_SYSLOG_SOURCE_LISTEN naming the transport.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, isIP, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { ERRORS } from '../../../../core/errors.js';
import { urlHost } from '../../../../core/bind-host.js';
import { PRIVILEGED_PORT_HINT } from '../../../../core/privileged-port.js';
import { nodeTls } from '../../../../core/tls-modules.js';
import { tlsPairProblem } from '../../../../core/tls-files.js';
import { SERVER_TLS_OPTIONS, ServedTls, readTlsMaterial, syslogSourceTls, type ServedTlsDeps } from '../../../broker/tls-reload.js';
import { peerAddress } from '../../../broker/peer-address.js';
import type { Transport } from './metrics.js';
import type { SyslogSourceOptions } from './options.js';

function listenError(source: string, transport: Transport, host: string, port: number, err: unknown) {
  return ERRORS.GH_SYSLOG_SOURCE_LISTEN(
    { source, transport, host: urlHost(host), port, reason: (err as Error).message },
    {
      where: `sources.${source}.${transport}.port`,
      ...((err as NodeJS.ErrnoException).code === 'EACCES' ? { hint: PRIVILEGED_PORT_HINT } : {}),
      cause: err,
    },
  );
}

/**
 * A bound UDP socket; its port and receive buffer in bytes (as the kernel reports it: Linux
 * doubles what is asked for its bookkeeping, and caps the request at net.core.rmem_max).
 */
export async function bindUdp(
  source: string,
  udp: { host: string; port: number; receiveBufferBytes?: number | undefined },
): Promise<{ socket: UdpSocket; port: number; receiveBuffer: number | undefined; capped: boolean }> {
  const { host, port } = udp;
  const socket = createSocket({ type: isIP(host) === 6 || host === '::' ? 'udp6' : 'udp4' });
  try {
    socket.bind(port, host);
    await Promise.race([once(socket, 'listening'), once(socket, 'error').then(([e]) => Promise.reject(e as Error))]);
  } catch (err) {
    socket.close();
    throw listenError(source, 'udp', host, port, err);
  }
  let capped = false;
  if (udp.receiveBufferBytes !== undefined) {
    socket.setRecvBufferSize(udp.receiveBufferBytes);
    // Linux grants min(asked, net.core.rmem_max) and reports twice that (socket(7), SO_RCVBUF)
    capped = socket.getRecvBufferSize() < 2 * udp.receiveBufferBytes;
  }
  let receiveBuffer: number | undefined;
  try {
    receiveBuffer = socket.getRecvBufferSize();
  } catch {
    receiveBuffer = undefined;
  }
  return { socket, port: socket.address().port, receiveBuffer, capped };
}

async function listen(server: Server, source: string, transport: Transport, host: string, port: number): Promise<number> {
  try {
    server.listen(port, host);
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e as Error))]);
  } catch (err) {
    server.close();
    throw listenError(source, transport, host, port, err);
  }
  return (server.address() as AddressInfo).port;
}

export interface StreamHandlers {
  /** A raw connection (before a TLS handshake): false closes it (allow). */
  admit(socket: Socket, transport: Transport): boolean;
  /** A connection ready for syslog (TLS: after its handshake). */
  accept(socket: Socket, transport: Transport): void;
  /** One more than maxConnections, closed at accept. */
  dropped(transport: Transport): void;
  /** A TLS handshake failed (a plain sender on a TLS port, a client refusing the certificate or offering none). */
  tlsFailed(err: Error, ip: string | undefined, transport: 'tls' | 'relp'): void;
}

/** A plain stream listener: syslog over TCP, or RELP (its sessions are the source's). */
export async function listenTcp(o: SyslogSourceOptions, h: StreamHandlers, transport: 'tcp' | 'relp' = 'tcp'): Promise<{ server: Server; port: number }> {
  const l = (transport === 'tcp' ? o.tcp : o.relp)!;
  const server = createServer((socket) => {
    if (h.admit(socket, transport)) h.accept(socket, transport);
  });
  server.maxConnections = o.maxConnections;
  server.on('drop', () => h.dropped(transport));
  return { server, port: await listen(server, o.name, transport, l.host, l.port) };
}

/**
 * A TLS listener: syslog over TLS (the tls listener), or RELP over TLS (the relp listener with its
 * tls block; librelp speaks TLS from the first byte). With a `ca` (relp), a sender must present a
 * certificate that CA signed: its handshake fails otherwise (tlsFailed).
 */
export async function listenTls(
  o: SyslogSourceOptions,
  h: StreamHandlers,
  deps: ServedTlsDeps,
  transport: 'tls' | 'relp' = 'tls',
): Promise<{ server: TlsServer; port: number; servedTls: ServedTls }> {
  const l = transport === 'tls' ? { host: o.tls!.host, port: o.tls!.port, cert: o.tls!.cert, key: o.tls!.key, ca: undefined } : { ...o.relp!, ...o.relp!.tls! };
  const kind = syslogSourceTls(o.name, transport);
  // the metric label and /healthz entry of each listener: a source may serve both
  const listener = transport === 'tls' ? o.name : `${o.name}/relp`;
  const files = { cert: l.cert, key: l.key, ...(l.ca !== undefined ? { ca: l.ca } : {}) };
  const material = await readTlsMaterial(files, listener, kind.where(0), kind);
  // node takes a ca file without a certificate in it silently, and then refuses every sender
  if (material.ca && !material.ca.toString().includes('-----BEGIN CERTIFICATE-----'))
    throw ERRORS.GH_SYSLOG_SOURCE_TLS(
      { listener, reason: `the ca file ${l.ca} holds no PEM certificate (no BEGIN CERTIFICATE block)` },
      { where: `${kind.where(0)}.ca`, hint: "ca must be the PEM certificate(s) of the CA that signs the senders' certificates" },
    );
  const verify = material.ca ? { ca: material.ca, requestCert: true, rejectUnauthorized: true } : {};
  let server: TlsServer;
  try {
    // a handshake that stalls holds a connection: bounded as a message begun and not ended
    server = nodeTls().createServer({ ...SERVER_TLS_OPTIONS, cert: material.cert, key: material.key, ...verify, handshakeTimeout: o.messageTimeoutMs });
  } catch (err) {
    throw ERRORS.GH_SYSLOG_SOURCE_TLS(
      { listener, reason: tlsPairProblem(material.cert, material.key, err) },
      { where: kind.where(0), hint: 'cert and key must be PEM files of the same key pair (and ca PEM certificates)', cause: err },
    );
  }
  server.on('connection', (raw: Socket) => {
    if (!h.admit(raw, transport)) raw.destroy();
  });
  server.on('secureConnection', (socket: TLSSocket) => h.accept(socket, transport));
  server.on('tlsClientError', (err, socket) => {
    h.tlsFailed(err, peerAddress(socket), transport);
    socket.destroy();
  });
  server.maxConnections = o.maxConnections;
  server.on('drop', () => h.dropped(transport));
  const port = await listen(server, o.name, transport, l.host, l.port);
  const servedTls = new ServedTls([{ name: listener, index: 0, files, server, material }], deps, kind);
  return { server, port, servedTls };
}

/** Close a server (no new connections); resolves once its connections are gone too. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((r) => {
    if (!server.listening) return r();
    server.close(() => r());
  });
}
