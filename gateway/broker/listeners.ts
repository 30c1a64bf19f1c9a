// TCP and TLS listeners for the broker. Nagle is off on every socket: with it on, small PUBACKs
// wait for the peer's delayed ACK and p99 latency grows by tens of milliseconds.
import { readFile } from 'node:fs/promises';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { GatehouseError } from '../../core/errors.js';
import { listenerName, type ListenerOptions } from './options.js';

export interface BoundListener {
  name: string;
  options: ListenerOptions;
  server: Server;
  tls: boolean;
}

export interface ListenerHooks {
  /** A socket ready for MQTT (after the TLS handshake for TLS listeners). */
  onSocket(socket: Socket, listener: string): void;
  /** A TLS handshake failed. */
  onTlsError(err: Error): void;
}

async function readTlsFile(path: string, where: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new GatehouseError('GH_BROKER_TLS', `cannot read ${path}: ${(err as Error).message}`, {
      where,
      hint: 'check the path and that the gatehouse user may read the file',
      cause: err,
    });
  }
}

/** Create (not yet listening) servers for every listener; TLS files are read and checked here. */
export async function createListeners(listeners: readonly ListenerOptions[], hooks: ListenerHooks): Promise<BoundListener[]> {
  const out: BoundListener[] = [];
  for (let i = 0; i < listeners.length; i++) {
    const l = listeners[i]!;
    const name = listenerName(listeners, i);
    if (!l.tls) {
      const server = createNetServer({ noDelay: true }, (socket) => hooks.onSocket(socket, name));
      out.push({ name, options: l, server, tls: false });
      continue;
    }
    const where = `broker.listeners[${i}].tls`;
    const cert = await readTlsFile(l.tls.cert, `${where}.cert`);
    const key = await readTlsFile(l.tls.key, `${where}.key`);
    const ca = l.tls.ca ? await readTlsFile(l.tls.ca, `${where}.ca`) : undefined;
    let server: Server;
    try {
      server = createTlsServer(
        {
          cert,
          key,
          ...(ca ? { ca } : {}),
          requestCert: l.tls.requestCert,
          rejectUnauthorized: l.tls.requestCert,
          noDelay: true,
        },
        (socket: TLSSocket) => {
          socket.setNoDelay(true);
          hooks.onSocket(socket, name);
        },
      );
    } catch (err) {
      throw new GatehouseError('GH_BROKER_TLS', `invalid TLS certificate or key: ${(err as Error).message}`, {
        where,
        hint: 'cert and key must be PEM files of the same key pair',
        cause: err,
      });
    }
    server.on('tlsClientError', (err) => hooks.onTlsError(err));
    out.push({ name, options: l, server, tls: true });
  }
  return out;
}

/** Listen on one listener; a bind failure becomes GH_BROKER_LISTEN naming the address. */
export function listen(b: BoundListener, index: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new GatehouseError('GH_BROKER_LISTEN', `cannot listen on ${b.options.host}:${b.options.port}: ${err.code ?? err.message}`, {
          where: `broker.listeners[${index}]`,
          hint:
            err.code === 'EADDRINUSE'
              ? 'another process (a mosquitto service?) uses this port: stop it or choose another port'
              : err.code === 'EACCES'
                ? 'ports below 1024 need privileges: use 1883/8883 or grant CAP_NET_BIND_SERVICE'
                : 'check the host address exists on this machine',
          cause: err,
        }),
      );
    };
    b.server.once('error', onError);
    b.server.listen(b.options.port, b.options.host, () => {
      b.server.removeListener('error', onError);
      resolve();
    });
  });
}

export function address(b: BoundListener): { name: string; host: string; port: number; tls: boolean } {
  const a = b.server.address();
  const port = typeof a === 'object' && a ? a.port : b.options.port;
  return { name: b.name, host: b.options.host, port, tls: b.tls };
}
