// A raw HTTP CONNECT tunnel through the site's proxy: the socket to host:port once the proxy said
// 200, for a client that speaks on the socket itself and upgrades it to TLS when it wants (NATS
// reads the server's INFO in clear first: destinations/nats-transport.ts). The MQTT connections
// wrap it in a stream given at once (mqtt-tunnel.ts: mqtt.js writes its CONNECT straight away).
// Its faults are ProxyFaults (proxy-agent.ts): the caller turns them into GH_UPSTREAM_PROXY.
import type http from 'node:http';
import { nodeHttp } from '../../core/node-http.js';
import { isIP, type Socket } from 'node:net';
import { nodeHttps } from '../../core/tls-modules.js';
import { ProxyFault } from './proxy-agent.js';
import type { ProxyRoute } from './proxy.js';

/** A tunnel being opened: its socket, and abort() to give it up (the request and any socket closed). */
export interface Tunnel {
  /** The tunnel's socket (data after the proxy's answer unshifted into it); rejects with a ProxyFault. */
  socket: Promise<Socket>;
  /** Give it up: closes the request and the socket, whatever state it is in; `socket` rejects, if still pending. */
  abort(why: string): void;
}

/** A connection cut, from its error text. */
const CUT = /ended before|socket hang up|ECONNRESET|EPIPE/i;

/** The Proxy-Authorization header of a route whose URL holds a user (Basic), else none. */
export function proxyAuthorization(url: URL): Record<string, string> {
  if (!url.username) return {};
  const creds = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return { 'Proxy-Authorization': `Basic ${Buffer.from(creds).toString('base64')}` };
}

/**
 * Open a CONNECT tunnel to `host`:`port` through `route`'s proxy. Not bounded in time here: the
 * caller's connect timeout calls abort() (a proxy that never answers keeps the request open until then).
 */
export function openTunnel(route: ProxyRoute, host: string, port: number): Tunnel {
  const authority = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  let settle: { resolve(s: Socket): void; reject(f: ProxyFault): void } | undefined;
  const socket = new Promise<Socket>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const fail = (fault: ProxyFault): void => {
    settle?.reject(fault);
    settle = undefined;
  };
  const request = route.url.protocol === 'https:' ? nodeHttps().request : nodeHttp.request;
  const req = request({
    host: route.url.hostname.replace(/^\[|\]$/g, ''),
    port: route.url.port || (route.url.protocol === 'https:' ? 443 : 80),
    method: 'CONNECT',
    path: authority,
    headers: { Host: authority, ...proxyAuthorization(route.url) },
    agent: false,
  });
  let tunnel: Socket | undefined;
  req.once('connect', (res: http.IncomingMessage, s: Socket, head: Buffer) => {
    tunnel = s;
    if (settle === undefined) {
      // Given up while the answer was on its way.
      s.destroy();
      return;
    }
    if (res.statusCode !== 200) {
      s.destroy();
      return fail(new ProxyFault('refused', route.safe, authority, `HTTP ${res.statusCode} ${res.statusMessage ?? ''}`.trim(), res.statusCode));
    }
    // Bytes of the server's that came with the proxy's answer (a NATS server's INFO may): read first.
    if (head.length > 0) s.unshift(head);
    settle.resolve(s);
    settle = undefined;
  });
  // `on`: the request may fail again while it is torn down (an abort after a first error).
  req.on('error', (err) => {
    fail(new ProxyFault(CUT.test(err.message) ? 'closed' : 'unreachable', route.safe, authority, err.message));
  });
  req.end();
  return {
    socket,
    abort(why) {
      fail(new ProxyFault('unreachable', route.safe, authority, why));
      req.destroy();
      tunnel?.destroy();
    },
  };
}
