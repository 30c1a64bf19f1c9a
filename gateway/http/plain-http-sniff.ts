// Plain HTTP on an HTTPS port of ours (the admin API's admin.tls, an http source's tls) gets an
// answer instead of a dropped connection. Why: node's TLS server drops bytes that are not a TLS
// handshake, so `curl http://gw:9883/` got an empty reply and a browser "connection reset", with no
// clue that the port speaks HTTPS. nginx answers such a client `400 The plain HTTP request was sent
// to HTTPS port`; we answer 400 in the server's error shape (the admin API's GH_ADMIN_PLAIN_HTTP,
// an http source's GH_HTTP_SOURCE_REQUEST) with the https:// URL to use.
//
// How: every TLS connection opens with a handshake record, whose first byte is its content type 22
// (0x16); an HTTP request opens with a method's letter. Only that first byte is read. A TLS client's
// byte is put back (unshift) and the socket handed to the TLS server's own connection listener,
// which feeds bytes already read to the TLS layer before its own reads (node's TLSSocket initRead).
// The https server stays the listening server, so its connection tracking (request and headers
// timeouts, closeAllConnections), keepAliveTimeout, certificate reloads (setSecureContext) and
// address() are what they were. Anything else gets the 400 and is closed.
//
// Bounds: a connection that sends nothing is closed after firstByteTimeoutMs (before, the TLS
// handshake timeout held it 120 s); one that trickles bytes is answered at its first byte; what a
// refused client still sends is read and dropped (not kept) for at most LINGER_MS, because closing a
// socket with unread input makes the kernel reset it, which can erase the 400 before the client
// reads it. The answers are counted; a scanner must not fill the log, so at most one debug line per
// LOG_EVERY_MS, with the count since (`suppressed`), as the admin API's refusals (admin/server.ts).
import type { Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { counter } from '../../core/metrics.js';
import type { GatehouseError } from '../../core/errors.js';
import { rateLimitedLog } from '../../core/rate-log.js';

/** Content type of a TLS handshake record: the first byte of every TLS connection (RFC 8446 5.1). */
const TLS_HANDSHAKE = 0x16;
/** How long a refused client may keep sending (its request body) after the 400 before it is cut. */
const LINGER_MS = 2000;
const LOG_EVERY_MS = 60_000;

export interface PlainHttpOptions {
  /** A connection silent this long before its first byte is closed. */
  firstByteTimeoutMs: number;
  registry: Registry;
  logger: Logger;
  /** Monotonic clock (ms) for the log rate limit. */
  monotonic: () => number;
  /** The error a plain HTTP client is answered with, given the https:// URL it should use. */
  answer: (url: string) => GatehouseError;
  /** The counter of those answers (gatehouse_admin_plain_http_total) and its help. */
  metric: { name: string; help: string; labels?: Record<string, string> };
  /** Who serves, in the log lines: 'admin API', "http source 'shelly'". */
  what: string;
}

export interface PlainHttpGuard {
  /** Destroy every connection it took (silent, being answered, or in TLS, handshake done or not): at stop. */
  close(): void;
}

/** `https://host:port/` of the address the client reached (an IPv4-mapped IPv6 address as IPv4). */
function urlOf(socket: Socket): string {
  const host = (socket.localAddress ?? '127.0.0.1').replace(/^::ffff:(?=\d+\.)/, '');
  return `https://${host.includes(':') ? `[${host}]` : host}:${socket.localPort ?? ''}/`;
}

function answerText(socket: Socket, answer: PlainHttpOptions['answer']): string {
  const err = answer(urlOf(socket));
  const body = JSON.stringify({ error: err.toJSON() });
  return [
    'HTTP/1.1 400 Bad Request',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * Put the first-byte check in front of `server`'s TLS connection listener (an https.Server). When
 * node's TLS server is not built as expected (one 'connection' listener), the check is left out
 * with a warning: HTTPS keeps working, plain HTTP gets the old dropped connection.
 */
export function answerPlainHttp(server: Server, options: PlainHttpOptions): PlainHttpGuard {
  const { logger } = options;
  const open = new Set<Socket>();
  const guard: PlainHttpGuard = {
    close() {
      for (const s of open) s.destroy();
      open.clear();
    },
  };
  // listeners() is typed Function[]; a net.Server's 'connection' listener takes the socket.
  const listeners = server.listeners('connection') as Array<(this: Server, socket: Socket) => void>;
  const tlsListener = listeners[0];
  if (listeners.length !== 1 || tlsListener === undefined) {
    logger.warn({ listeners: listeners.length }, `${options.what}: plain HTTP on the HTTPS port will not be answered (unexpected TLS server)`);
    return guard;
  }
  const labels = options.metric.labels ?? {};
  const answered = counter(options.registry, options.metric.name, options.metric.help, Object.keys(labels));
  const plainLog = rateLimitedLog(logger, 'debug', LOG_EVERY_MS, options.monotonic);

  const refuse = (socket: Socket, first: number): void => {
    answered.inc(labels);
    plainLog('plain-http', { remote: socket.remoteAddress, firstByte: first }, `${options.what}: plain HTTP (not TLS) on the HTTPS port answered 400`);
    const linger = setTimeout(() => socket.destroy(), LINGER_MS);
    socket.once('close', () => clearTimeout(linger));
    socket.on('data', () => {}); // read and drop: see LINGER_MS
    socket.end(answerText(socket, options.answer));
  };

  server.removeListener('connection', tlsListener);
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    const onError = (): void => void socket.destroy(); // a reset before (or during) the answer: nothing to tell
    const onTimeout = (): void => void socket.destroy();
    const onReadable = (): void => {
      const first = socket.read(1) as Buffer | null;
      if (first === null) return; // the end of a connection that sent nothing: 'close' follows
      socket.removeListener('readable', onReadable);
      socket.removeListener('timeout', onTimeout);
      socket.setTimeout(0);
      if (first[0] === TLS_HANDSHAKE) {
        // Stays in `open` until it closes: closeAllConnections at stop knows it only once its
        // handshake is done, and a client that stalls mid-handshake would hold stop() until then.
        socket.removeListener('error', onError); // TLS listens to it from here
        socket.unshift(first);
        tlsListener.call(server, socket);
      } else {
        refuse(socket, first[0] as number);
      }
    };
    socket.on('error', onError);
    socket.once('close', () => open.delete(socket));
    socket.setTimeout(options.firstByteTimeoutMs);
    socket.on('timeout', onTimeout);
    socket.on('readable', onReadable);
  });
  return guard;
}
