// NATS connections through the site's HTTP proxy: the nats client's own Node transport, with its
// dial (the TCP connection to a server) opened as an HTTP CONNECT tunnel for the servers whose
// route is a proxy (proxy.ts: natsRouteFor). Everything else is the client's: it reads the
// server's INFO in clear, upgrades to TLS when the server offers or requires it (here with the
// server's own name to verify, not the proxy's), authenticates, reconnects.
//
// Why a transport and not a local forwarder (docs/decisions.md, round 35): a forwarder on
// 127.0.0.1 would be a port any local user could reach the server through, with the gateway's
// proxy credentials; the client would name 127.0.0.1 in its errors and TLS; and a proxy's refusal
// would reach it as a bare hang-up. In the transport, a refusal is GH_UPSTREAM_PROXY with what to fix.
//
// The client's transport factory is process-global (setTransportFactory), and nats' connect() sets
// its own NodeTransport every time it is called: a connection finds its routes in its own options
// (ROUTING, which the client copies: a string key), so one factory serves direct and proxied
// connections alike, and installTransport() is called again before each dial of ours (the
// connection's reconnectDelayHandler: the client calls it at the top of every dial round, only
// promise steps before it makes the transport): whoever else called nats' connect() in the process
// meanwhile, our connections dial with this transport.
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ConnectionOptions } from 'nats';
import { setTransportFactory } from 'nats/lib/nats-base-client/transport.js';
import { NodeTransport, nodeResolveHost } from 'nats/lib/src/node_transport.js';
import { proxyError, type ProxyFault } from '../proxy-agent.js';
import { openTunnel, type Tunnel } from '../proxy-tunnel.js';
import type { ProxyRoute } from '../proxy.js';
import { ROUTING, routeKey, type NatsRouting, type RoutedOptions } from './nats-routes.js';

/** A server as the client hands it to its transport. */
interface ServerAddress {
  hostname: string;
  port: number;
  tlsName: string;
}

class RoutedTransport extends NodeTransport {
  private route: ProxyRoute | undefined;
  private routing: NatsRouting | undefined;
  private target: { host: string; tlsName: string } | undefined;
  private tunnel: Tunnel | undefined;
  /** Closed before it connected (the client's connect timeout, a stop): whatever comes of the dial is closed. */
  private abandoned = false;

  override connect(hp: ServerAddress, options: ConnectionOptions): Promise<void> {
    this.routing = (options as RoutedOptions)[ROUTING];
    this.route = this.routing?.routes.get(routeKey(hp.hostname, hp.port));
    this.target = { host: hp.hostname, tlsName: hp.tlsName };
    return super.connect(hp, options);
  }

  override async dial(hp: { hostname: string; port: number }): Promise<Socket> {
    const route = this.route;
    const routing = this.routing;
    let socket: Socket;
    if (route === undefined || routing === undefined) socket = await super.dial(hp);
    else {
      const tunnel = openTunnel(route, hp.hostname, hp.port);
      this.tunnel = tunnel;
      try {
        socket = await tunnel.socket;
      } catch (err) {
        const fault = proxyError(err as ProxyFault, routing.where);
        routing.report(fault);
        throw fault;
      } finally {
        this.tunnel = undefined;
      }
      socket.setNoDelay(true);
      routing.report(undefined);
    }
    // The client's connect timeout came first: it closed this transport, which had no socket yet.
    if (this.abandoned) {
      socket.destroy();
      throw new Error('the connection was given up before it was open');
    }
    return socket;
  }

  override startTLS(): Promise<TLSSocket> {
    const target = this.target;
    if (target !== undefined) {
      // The certificate is checked against the server's name or address: node takes the socket's
      // host only for a socket it opened with one, and 'localhost' otherwise. A tunnel's socket was
      // opened to the proxy; the client's own direct socket has none either (node 20), so a
      // tls://<address> server whose certificate names its address failed even direct. The name
      // the client resolved an address from (tlsName) first. `host` and `servername` are node's
      // tls.connect options, which the client passes on from options.tls (its own type lacks them).
      const own = typeof this.options.tls === 'object' && this.options.tls !== null ? this.options.tls : {};
      const host = target.tlsName || target.host;
      const tls = { ...own, host, ...(isIP(host) === 0 ? { servername: host } : {}) };
      this.options = { ...this.options, tls: tls as ConnectionOptions['tls'] };
    }
    return super.startTLS();
  }

  override close(err?: Error): Promise<void> {
    // The client closes a transport whose connect failed or timed out, and its own close does
    // nothing before the connection is up (it only acts once connected): the tunnel's request, or
    // the socket of a server that never sent its INFO, stayed open, one more per attempt.
    if (!this.connected) {
      this.abandoned = true;
      this.tunnel?.abort(`no answer to the CONNECT within ${this.options?.timeout ?? 20_000} ms (the connection's connectTimeoutMs)`);
      this.socket?.destroy();
    }
    return super.close(err);
  }
}

const FACTORY = { factory: () => new RoutedTransport(), dnsResolveFn: nodeResolveHost };

/** Make RoutedTransport the client's transport (again: nats' connect() sets its own at each call). */
export function installTransport(): void {
  setTransportFactory(FACTORY);
}
