// The HTTP side of a `protocol: websockets` listener (options.ts): the listener's TCP or TLS
// server (listeners.ts) admits each connection as on an MQTT listener (accept.ts onAccept: bans,
// the pre-CONNECT guard with a deadline from accept for the HTTP upgrade and the CONNECT together,
// the TLS handshake, client certificates and CRLs), then hands it here instead of to the broker:
// an HTTP server that never listens parses its request (emit('connection')), and
// - a WebSocket upgrade (on `path` when set) offering the sub-protocol mqtt or mqttv3.1, or none,
//   becomes a WebSocketConnection (ws-connection.ts) handed to the broker as a TCP socket is
//   (ListenerHooks.onSocket, with the TCP socket as the one the pre-CONNECT guard tracks);
// - anything else is answered 426 Upgrade Required (404 off `path`; 400 for sub-protocols that are
//   not MQTT; 403 for a page of an origin not allowed: options.ts origins) with no body, the connection closed, counted and logged at a bounded rate.
// An upgrade with no Sec-WebSocket-Protocol is accepted (mosquitto does not serve it): the spec
// makes the client offer mqtt, but a client that offers nothing and then speaks MQTT loses nothing
// by being served, and its CONNECT goes through the same checks (docs/decisions.md). A client that
// offers sub-protocols but not mqtt asked for something else and is refused (a browser would fail
// the connection itself when the answer names none of its offers).
//
// Loaded (with `ws`) only when a listener has protocol websockets: the idle gateway pays nothing.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { nodeHttp } from '../../core/node-http.js';
import { HTTP_SERVER_LIMITS, MAX_HEADER_FIELDS } from '../../core/http-limits.js';
import { WebSocketConnection, type WebSocketRefusal } from './ws-connection.js';

/** Sub-protocols of MQTT over WebSockets, in the order the server picks them (MQTT 5 spec 6.0; mqttv3.1: MQTT 3.1 clients). */
export const MQTT_SUBPROTOCOLS = ['mqtt', 'mqttv3.1'] as const;

export interface WebSocketRouteOptions {
  /** The listener's name (logs, metrics). */
  listener: string;
  /** Upgrade only this URL path; undefined: every path. */
  path: string | undefined;
  /** Web origins whose pages may connect ('*': any); undefined: any when anonymous is false, none when true. */
  origins: readonly string[] | undefined;
  /** broker.allowAnonymous: a page from anywhere would connect as anonymous. */
  anonymous: boolean;
  /** The largest WebSocket message taken (ws maxPayload): the broker's largest packet. */
  maxPayloadBytes: number;
  /** A WebSocket connection ready for MQTT; `accepted`: the socket given to onAccept. */
  onSocket(socket: WebSocketConnection, accepted: Socket): void;
  /** A request refused or a connection closed for what it sent; ip: the peer's address as the socket gives it. */
  onRefused(reason: WebSocketRefusal, socket: Socket): void;
}

export interface WebSocketRoute {
  /** A connection admitted by the listener (after its TLS handshake on wss://): read its HTTP request. */
  accept(socket: Socket, accepted: Socket): void;
}

/** The sub-protocol the server answers with; false: the client offered only others. */
export function pickSubprotocol(offered: ReadonlySet<string>): string | false {
  for (const p of MQTT_SUBPROTOCOLS) if (offered.has(p)) return p;
  return false;
}

/** The Sec-WebSocket-Protocol header's offers (comma-separated tokens). */
function offeredSubprotocols(req: IncomingMessage): Set<string> {
  const h = req.headers['sec-websocket-protocol'];
  if (h === undefined) return new Set();
  return new Set(
    h
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0),
  );
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.search(/[?#]/);
  return q < 0 ? url : url.slice(0, q);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  426: 'Upgrade Required',
  431: 'Request Header Fields Too Large',
};

/** An HTTP status line and headers with no body on a raw socket, then closed. */
function refuseRaw(socket: Duplex, status: number): void {
  // node's HTTP server took its error listener off at the upgrade: a reset now is no crash
  socket.on('error', () => socket.destroy());
  const upgrade = status === 426 ? 'Upgrade: websocket\r\n' : '';
  socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\n${upgrade}Connection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
}

/**
 * Whether an upgrade with this Origin header may go on: no Origin (not a browser) always; else one
 * listed (or '*'), or, with no list, any while every client must authenticate (options.ts origins).
 */
export function originAllowed(origin: string | undefined, origins: readonly string[] | undefined, anonymous: boolean): boolean {
  if (origin === undefined) return true;
  if (origins === undefined) return !anonymous;
  return origins.includes('*') || origins.includes(origin.toLowerCase());
}

export function createWebSocketRoute(options: WebSocketRouteOptions): WebSocketRoute {
  const { path, onRefused } = options;
  const origins = options.origins?.map((o) => o.toLowerCase());
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPayloadBytes,
    // compressed frames: a small frame could inflate to maxPayload, and MQTT payloads are the apps' to compress
    perMessageDeflate: false,
    // MQTT strings are checked by the parsers (strict.ts); a text frame is refused anyway
    skipUTF8Validation: true,
    clientTracking: false,
    // pings are answered by ws-connection.ts while the socket has room (a pong per ping was unbounded)
    autoPong: false,
    handleProtocols: (offered) => pickSubprotocol(offered),
  });
  // ws would answer with a text body: the same bare answer as the rest instead
  wss.on('wsClientError', (_err: Error, socket: Duplex) => refuseRaw(socket, 400));
  // The admin API's header size cap and at most MAX_HEADER_FIELDS header fields (core/http-limits.ts).
  // Its header and request timeouts are not: node checks them only on a server that listens. The
  // time is bounded by the pre-CONNECT deadline instead (connectTimeoutMs from the TCP accept for
  // the request, the upgrade and the CONNECT together: accept.ts).
  const http = nodeHttp.createServer({ maxHeaderSize: HTTP_SERVER_LIMITS.maxHeaderSize }, (req: IncomingMessage, res: ServerResponse) => {
    const status = path !== undefined && pathOf(req) !== path ? 404 : 426;
    onRefused(status === 404 ? 'path' : 'not-upgrade', req.socket);
    res.writeHead(status, { ...(status === 426 ? { upgrade: 'websocket' } : {}), connection: 'close', 'content-length': 0 });
    res.end();
  });
  http.maxHeadersCount = MAX_HEADER_FIELDS;
  // a request node cannot parse (or over its header limits): closed without an answer page
  http.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    // (a peer gone in the middle of its request is no refusal)
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') onRefused('headers', socket as Socket);
    socket.destroy();
  });
  const accepted = new WeakMap<Socket, Socket>();
  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (req.rawHeaders.length / 2 > MAX_HEADER_FIELDS) {
      onRefused('headers', socket);
      return refuseRaw(socket, 431);
    }
    if (path !== undefined && pathOf(req) !== path) {
      onRefused('path', socket);
      return refuseRaw(socket, 404);
    }
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      onRefused('not-upgrade', socket);
      return refuseRaw(socket, 426);
    }
    // a page of another site in a browser that reaches the listener (docs/security.md)
    if (!originAllowed(req.headers.origin, origins, options.anonymous)) {
      onRefused('origin', socket);
      return refuseRaw(socket, 403);
    }
    const offered = offeredSubprotocols(req);
    if (offered.size > 0 && pickSubprotocol(offered) === false) {
      onRefused('subprotocol', socket);
      return refuseRaw(socket, 400);
    }
    // a bad handshake (method, key, version): answered below (wsClientError), within this call
    let upgraded = false;
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      upgraded = true;
      const conn = new WebSocketConnection(ws, socket, (reason) => onRefused(reason, socket));
      options.onSocket(conn, accepted.get(socket) ?? socket);
    });
    if (!upgraded) onRefused('handshake', socket);
  });
  return {
    accept(socket, raw) {
      if (raw !== socket) accepted.set(socket, raw);
      http.emit('connection', socket);
    },
  };
}
