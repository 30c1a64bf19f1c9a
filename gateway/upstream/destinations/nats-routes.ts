// The way each server of a NATS destination is reached (direct, or through the site's proxy:
// proxy.ts's natsRouteFor, as the other destinations'), decided when the destination is built,
// printed by check-config and logged at start; and the connection options that make the client
// dial through it (nats-transport.ts, loaded with the client). Apart from nats.ts (the connection
// and the sends).
import type { ConnectionOptions } from 'nats';
import type { GatehouseError } from '../../../core/errors.js';
import { withoutCredentials } from '../../../core/broker-url.js';
import { describeRoute, natsHostPort, natsRouteFor, type ProxyRoute, type ProxySettings, type Route } from '../proxy.js';
import type { NatsOptions } from './nats-options.js';

/** The key of a connection's NatsRouting in its options (copied by the client's option parsing: a string, not a symbol). */
export const ROUTING = 'gatehouseRouting';

/** How a connection's servers are reached, and where its proxy's faults go. */
export interface NatsRouting {
  /** The proxy route of each server reached through a proxy, by routeKey(host, port); a server not here is dialled directly. */
  routes: ReadonlyMap<string, ProxyRoute>;
  /** Names the connection in the errors (the destination's target). */
  where: string;
  /** Each tunnel's outcome: the proxy's fault (GH_UPSTREAM_PROXY), or undefined once a tunnel is open. */
  report(fault: GatehouseError | undefined): void;
}

/** The key of a server in NatsRouting.routes: its host (lower case, no brackets) and port, as the client parses it. */
export function routeKey(host: string, port: number): string {
  return `${host.toLowerCase()}:${port}`;
}

export type RoutedOptions = ConnectionOptions & { [ROUTING]?: NatsRouting };

/** A server of the destination (without credentials) and its route. */
export interface ServerRoute {
  server: string;
  route: Route;
}

/** The route of each of `servers`: TLS (HTTPS_PROXY) for a tls:// URL or when the destination has tls files. */
export function serverRoutes(servers: readonly string[], o: Pick<NatsOptions, 'tls' | 'proxy'>, network: ProxySettings | undefined): ServerRoute[] {
  return servers.map((s) => ({ server: withoutCredentials(s), route: natsRouteFor(s, o.tls !== undefined, o.proxy, network) }));
}

/**
 * The route check-config prints and the start logs: the one of every server, or per server when
 * they differ. `quiet`: none when no proxy is configured anywhere (the start's log, as logRoute).
 */
export function routeLines(routes: readonly ServerRoute[], quiet = false): string[] {
  if (quiet && routes.every((r) => r.route.kind === 'direct' && r.route.none)) return [];
  const words = new Set(routes.map((r) => describeRoute(r.route)));
  if (words.size <= 1) return [...words];
  return routes.map((r) => `to ${r.server} ${describeRoute(r.route)}`);
}

/** The client's jitter on top of reconnectTimeWait (its defaults: 100 ms, 1 s with TLS), kept with the delay handler below. */
const JITTER_MS = 100;
const JITTER_TLS_MS = 1000;

/**
 * `co` made to dial through the transport of nats-transport.ts (`install`: its installTransport),
 * and through the proxy for the servers whose route is one: their names go to the proxy
 * unresolved (the gateway may have no DNS for them), and the cluster's other servers the INFO
 * announces are not dialled (the site's rules and NO_PROXY were decided for the servers
 * configured: a cluster's internal addresses are rarely reachable from the proxy either).
 */
export function routedOptions(
  co: ConnectionOptions,
  routes: readonly ServerRoute[],
  where: string,
  report: (fault: GatehouseError | undefined) => void,
  install: () => void,
): RoutedOptions {
  const proxied = new Map<string, ProxyRoute>();
  for (const { server, route } of routes) {
    if (route.kind !== 'proxy') continue;
    const { host, port } = natsHostPort(server);
    proxied.set(routeKey(host, port), route);
  }
  const wait = co.reconnectTimeWait ?? 2000;
  const jitter = co.tls ? JITTER_TLS_MS : JITTER_MS;
  const out: RoutedOptions = {
    ...co,
    // Called by the client at the top of each dial round (the first connect's too): our transport again.
    reconnectDelayHandler: () => {
      install();
      return wait + Math.floor(Math.random() * (jitter + 1));
    },
  };
  if (proxied.size > 0) {
    const routing: NatsRouting = { routes: proxied, where, report };
    out.gatehouseRouting = routing;
    out.resolve = false;
    out.ignoreClusterUpdates = true;
  }
  return out;
}
