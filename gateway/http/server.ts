// The HTTP(S) server the gateway's own HTTP doors share (the admin API, http sources), with what
// the admin API learned in the field, in one place:
// - header and request timeouts checked every second (node's default check runs every 30 s: a
//   client trickling its headers was answered 408 10 to 40 s after it connected, not at 10 s), a
//   16 KiB header cap and at most MAX_HEADER_FIELDS header fields (431), keep-alive 5 s;
// - a bound on open connections (each holds a file descriptor, shared with the broker and the
//   store's LevelDB tables): one more is closed at accept, and counted by the caller (onDrop);
// - with TLS: the files read with the kind's error code, a pair that does not load said as the
//   broker's listeners say it, no renegotiation, a handshake or a silent connection dropped after
//   firstByteTimeoutMs, plain HTTP on the HTTPS port answered 400 (plain-http-sniff.ts), and the
//   certificate reloaded on SIGHUP with its expiry watched (broker/tls-reload.ts ServedTls).
// The caller keeps its routes, its answers and its own counters.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ERRORS } from '../../core/errors.js';
import { nodeHttp } from '../../core/node-http.js';
import { nodeHttps } from '../../core/tls-modules.js';
import { tlsPairProblem } from '../../core/tls-files.js';
import { SERVER_TLS_OPTIONS, ServedTls, readTlsMaterial, type TlsFiles, type TlsKind } from '../broker/tls-reload.js';
import { answerPlainHttp, type PlainHttpGuard, type PlainHttpOptions } from './plain-http-sniff.js';
import { HTTP_SERVER_LIMITS, MAX_HEADER_FIELDS } from '../../core/http-limits.js';

// The timeouts, header size and header field count (core/http-limits.ts: the broker's WebSocket listeners use them too).
export { HTTP_SERVER_LIMITS, MAX_HEADER_FIELDS };
/** An idle keep-alive connection is closed after this long. */
export const KEEP_ALIVE_TIMEOUT_MS = 5000;

export interface HardenedServerOptions {
  /** The TLS listener's name (the expiry gauge's `listener` label, the errors' text). */
  name: string;
  /** Serve HTTPS with these files; `index` is the `where` of the kind's errors (kind.where(index)). */
  tls?: { files: TlsFiles; kind: TlsKind; index: number } | undefined;
  /** Connections open at once; one more is closed at accept and onDrop called. */
  maxConnections: number;
  onDrop(): void;
  /** With tls: a connection silent this long before its first byte, or whose handshake takes longer, is closed (default: the headers timeout). */
  firstByteTimeoutMs?: number | undefined;
  /** With tls: how plain HTTP on the port is answered and counted (plain-http-sniff.ts). */
  plainHttp: Pick<PlainHttpOptions, 'answer' | 'metric' | 'what'>;
  /** Override the request timeout (ms): a body of maxBodyBytes on a slow link must fit in it. */
  requestTimeoutMs?: number | undefined;
}

export interface HardenedServerDeps {
  logger: Logger;
  registry: Registry;
  /** Wall clock (certificate expiry is a calendar date). */
  now: () => number;
  /** Monotonic clock (log rate limits). */
  monotonic: () => number;
}

export interface HardenedServer {
  server: Server;
  /** With tls: its certificate (start() once listening; reload() on SIGHUP; stop()). */
  servedTls?: ServedTls;
  /** With tls: the connections the sniff holds (close() at stop). */
  plainHttp?: PlainHttpGuard;
  /** Close the listener and every connection (also those the sniff holds, before or in a handshake). */
  close(): Promise<void>;
}

/** Create the server (not listening). With TLS, its files are read first: GatehouseError of the kind's code. */
export async function createHardenedServer(
  options: HardenedServerOptions,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  deps: HardenedServerDeps,
): Promise<HardenedServer> {
  const httpOptions = {
    ...HTTP_SERVER_LIMITS,
    // node refuses a headers timeout over the request timeout
    ...(options.requestTimeoutMs !== undefined
      ? { requestTimeout: options.requestTimeoutMs, headersTimeout: Math.min(HTTP_SERVER_LIMITS.headersTimeout, options.requestTimeoutMs) }
      : {}),
  };
  // Node keeps rawHeaders a batch past maxHeadersCount (it truncates `headers` only): more than the cap were sent.
  const guarded = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.rawHeaders.length / 2 <= MAX_HEADER_FIELDS) return handler(req, res);
    const text = `more than ${MAX_HEADER_FIELDS} header fields\n`;
    res.writeHead(431, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), connection: 'close' });
    res.end(text);
  };
  let server: Server;
  let servedTls: ServedTls | undefined;
  let plainHttp: PlainHttpGuard | undefined;
  if (options.tls) {
    const { files, kind, index } = options.tls;
    const where = kind.where(index);
    const material = await readTlsMaterial(files, options.name, where, kind);
    const firstByteTimeoutMs = options.firstByteTimeoutMs ?? httpOptions.headersTimeout;
    // node:https only when TLS is set (idle footprint: docs/benchmarks.md).
    const { createServer: createHttpsServer } = nodeHttps();
    let https: ReturnType<typeof createHttpsServer>;
    try {
      // A handshake that stalls is dropped as soon as a silent connection is (node's default: 120 s).
      https = createHttpsServer(
        { ...httpOptions, ...SERVER_TLS_OPTIONS, handshakeTimeout: firstByteTimeoutMs, cert: material.cert, key: material.key },
        guarded,
      );
    } catch (err) {
      // The two swapped, a key of another certificate, or a file that is not PEM: said as the broker's listeners say it.
      throw ERRORS[kind.code](
        { listener: options.name, reason: tlsPairProblem(material.cert, material.key, err) },
        { where, hint: 'cert and key must be PEM files of the same key pair', cause: err },
      );
    }
    servedTls = new ServedTls([{ name: options.name, index, files, server: https, material }], deps, kind);
    plainHttp = answerPlainHttp(https, { ...options.plainHttp, firstByteTimeoutMs, registry: deps.registry, logger: deps.logger, monotonic: deps.monotonic });
    server = https;
  } else {
    server = nodeHttp.createServer(httpOptions, guarded);
  }
  server.maxHeadersCount = MAX_HEADER_FIELDS;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.maxConnections = options.maxConnections;
  server.on('drop', () => options.onDrop());
  const s = server;
  return {
    server,
    ...(servedTls ? { servedTls } : {}),
    ...(plainHttp ? { plainHttp } : {}),
    async close() {
      servedTls?.stop();
      plainHttp?.close(); // its connections, also those closeAllConnections does not know (before or in a handshake)
      s.closeAllConnections();
      if (s.listening) await new Promise<void>((r) => s.close(() => r()));
    },
  };
}

/** Listen on host:port; rejects with the listen error (EADDRINUSE, EACCES...) for the caller to name. */
export async function listenOn(server: Server, port: number, host: string): Promise<void> {
  server.listen(port, host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e as Error))]);
}
