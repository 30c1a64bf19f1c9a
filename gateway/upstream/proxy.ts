// Which way an HTTP-based destination (kinesis, firehose, s3, http, webhook) reaches its endpoint: directly
// or through the site's proxy. Sources, first that applies: the destination's own `proxy` (false:
// direct; a URL: that proxy), the config's network.proxy (url, username, passwordFile, noProxy),
// the environment as curl reads it (https_proxy/HTTPS_PROXY for an https endpoint,
// http_proxy/HTTP_PROXY for an http one, else all_proxy/ALL_PROXY; no_proxy/NO_PROXY). The route is
// decided once, when the destination is built, and check-config prints it (describeRoute).
//
// NO_PROXY is matched here, with curl's rules, not by the proxy-from-env package: that package
// reads process.env only (the config's noProxy list could not be given to it), and it takes an
// entry without a leading dot as the exact host only, where curl (and the site's other tools) take
// `plant.local` to cover `historian.plant.local` too.
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { ipv6UrlProblem } from '../../core/bind-host.js';
import { GatehouseError } from '../../core/errors.js';
import type { Logger } from 'pino';
import type { NetworkProxyOptions } from './proxy-options.js';

/** The endpoint goes through a proxy. */
export interface ProxyRoute {
  kind: 'proxy';
  /** The proxy URL, credentials included: only for the agent, never printed. */
  url: URL;
  /** scheme://host:port of the proxy: what logs, status and errors show. */
  safe: string;
  /** Where it was configured (network.proxy.url, HTTPS_PROXY, destination.proxy...). */
  from: string;
  /** The proxy authenticates this gateway (Basic): a user was given. */
  auth: boolean;
}

/** The endpoint is reached directly; `why` says so in words (no proxy configured, a noProxy match...). */
export interface DirectRoute {
  kind: 'direct';
  why: string;
  /** No proxy is configured anywhere (nothing worth a log line at start). */
  none?: true;
}

export type Route = ProxyRoute | DirectRoute;

/** What the destinations get from the gateway to decide their route (DestinationDeps). */
export interface ProxySettings {
  /** The config's network.proxy (absent: as if empty). */
  proxy?: NetworkProxyOptions | undefined;
  /** The environment to read (default process.env): tests give their own. */
  env?: Readonly<Record<string, string | undefined>> | undefined;
}

/** scheme://host:port of a proxy URL: no user, password, path or query. */
export function safeProxy(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/** A variable of the environment, lower case first as curl reads them, then upper case. */
function envVar(env: Readonly<Record<string, string | undefined>>, name: string): { name: string; value: string } | undefined {
  for (const n of [name.toLowerCase(), name.toUpperCase()]) {
    const v = env[n]?.trim();
    if (v) return { name: n, value: v };
  }
  return undefined;
}

/** The port a URL connects to (its default when the URL names none). */
function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/**
 * The noProxy entry that `endpoint` matches, if any (curl's rules): '*' matches all; host:port
 * only that port; an IP address itself; a name itself and its subdomains ('.name' and '*.name'
 * only its subdomains); an address range in CIDR ('10.0.0.0/8', 'fd00::/8', as curl since 7.86:
 * a site's NO_PROXY often holds its LAN's ranges) the IP addresses in it. Case and a trailing dot
 * are ignored; an IPv6 address in brackets or bare, in any of its spellings (fd00:0:0::2 is fd00::2).
 */
export function noProxyMatch(endpoint: URL, entries: readonly string[]): string | undefined {
  const host = endpoint.hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
  const port = portOf(endpoint);
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return raw;
    let name = entry;
    let entryPort: number | undefined;
    // host:port, [v6]:port; a bare IPv6 address has colons but no port.
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry) ?? (isIP(entry) === 6 ? null : /^([^:]+):(\d+)$/.exec(entry));
    if (m) {
      name = m[1]!;
      entryPort = m[2] === undefined ? undefined : Number(m[2]);
    }
    if (entryPort !== undefined && entryPort !== port) continue;
    name = name.replace(/\.$/, '');
    const cidr = /^\[?([^\]/]+)\]?\/(\d{1,3})$/.exec(name);
    if (cidr) {
      if (inRange(host, cidr[1]!, Number(cidr[2]))) return raw;
      continue;
    }
    if (isIP(name) !== 0) {
      if (inRange(host, name)) return raw;
      continue;
    }
    const subOnly = name.startsWith('.') || name.startsWith('*.');
    const base = name.replace(/^\*?\./, '');
    if ((!subOnly && host === base) || host.endsWith(`.${base}`)) return raw;
  }
  return undefined;
}

/** Is `host` (an IP address, else never) the address `base`, or within base/prefix? Any spelling of either. */
function inRange(host: string, base: string, prefix?: number): boolean {
  const family = isIP(base);
  if (family === 0 || isIP(host) !== family) return false;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (prefix !== undefined && prefix > (family === 6 ? 128 : 32)) return false;
  const list = new BlockList();
  if (prefix === undefined) list.addAddress(base, type);
  else list.addSubnet(base, prefix, type);
  return list.check(host, type);
}

/** A URL of the environment or config parsed as a proxy URL (http or https), or a config error. */
function parseProxyUrl(value: string, from: string): URL {
  // curl takes a proxy without scheme as http://: so does the environment's (HTTPS_PROXY=proxy:3128).
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // http://fd00::1:3128 (the environment's variables are not checked by the config's schema)
    const v6 = ipv6UrlProblem(text);
    throw new GatehouseError('GH_CONFIG_INVALID', `${from} is not a URL${v6 ? `: ${v6}` : ''}`, {
      where: from,
      hint: 'give the proxy as http://host:port (or http://user:password@host:port; an IPv6 address in brackets: http://[fd00::1]:3128)',
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new GatehouseError('GH_CONFIG_INVALID', `${from} is a ${url.protocol.slice(0, -1)} proxy (${safeProxy(url)}): only HTTP proxies are supported`, {
      where: from,
      hint: 'give an HTTP proxy (http://host:port, which tunnels https with CONNECT); SOCKS proxies are not supported',
    });
  return url;
}

/** The first line of the password file, or a config error naming it (never its content). */
function readPasswordFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new GatehouseError('GH_CONFIG_INVALID', `network.proxy.passwordFile ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      where: 'network.proxy.passwordFile',
      hint: "give a file the gateway user can read, holding the password on its first line (relative paths are the config file folder's)",
    });
  }
  return text.split(/\r?\n/, 1)[0] ?? '';
}

/**
 * The route to `endpoint` of a destination whose own `proxy` option is `own`, given the gateway's
 * settings. Throws GH_CONFIG_INVALID for a proxy URL that is none or a password file that cannot be read.
 */
export function routeFor(endpoint: URL, own: false | string | undefined, settings: ProxySettings = {}, ownName = 'destination.proxy'): Route {
  if (own === false) return { kind: 'direct', why: ownName === 'destination.proxy' ? "the destination's proxy: false" : `${ownName}: false` };
  const env = settings.env ?? process.env;
  const net = settings.proxy ?? {};
  if (typeof own === 'string') return proxyRoute(parseProxyUrl(own, ownName), ownName, {});
  let url: URL;
  let from: string;
  if (net.url !== undefined) {
    url = parseProxyUrl(net.url, 'network.proxy.url');
    from = 'network.proxy.url';
  } else {
    const scheme = endpoint.protocol === 'https:' ? 'https_proxy' : 'http_proxy';
    const v = envVar(env, scheme) ?? envVar(env, 'all_proxy');
    if (!v) return { kind: 'direct', why: `no proxy configured (network.proxy.url, ${scheme.toUpperCase()}, ALL_PROXY: none set)`, none: true };
    url = parseProxyUrl(v.value, `the environment's ${v.name}`);
    from = v.name;
  }
  const noProxy = net.noProxy ?? envVar(env, 'no_proxy')?.value.split(/[,\s]+/) ?? [];
  const hit = noProxyMatch(endpoint, noProxy);
  if (hit !== undefined)
    return {
      kind: 'direct',
      why: `${endpoint.host} matches '${hit.trim()}' of ${net.noProxy ? 'network.proxy.noProxy' : 'NO_PROXY'} (the proxy ${safeProxy(url)} is not used)`,
    };
  return proxyRoute(url, from, net);
}

/** The proxy route of `url`, with network.proxy's username and passwordFile in place of the url's own. */
function proxyRoute(url: URL, from: string, net: NetworkProxyOptions): ProxyRoute {
  const withAuth = new URL(url.href);
  if (net.username !== undefined) withAuth.username = encodeURIComponent(net.username);
  if (net.passwordFile !== undefined) withAuth.password = encodeURIComponent(readPasswordFile(net.passwordFile));
  return { kind: 'proxy', url: withAuth, safe: safeProxy(withAuth), from, auth: withAuth.username !== '' };
}

/**
 * The route of an MQTT connection to `brokerUrl` (mqtt://, mqtts://, ws://, wss://): as an https
 * endpoint's for TLS (mqtts, wss: HTTPS_PROXY), an http one's otherwise (HTTP_PROXY), ALL_PROXY
 * else, NO_PROXY matched on the broker's host and port (1883, 8883, 80, 443 when the URL names none).
 * `ownName` names the connection's own proxy option (exporters.N.destination.proxy, control.upstream.proxy...).
 */
export function mqttRouteFor(brokerUrl: string, own: false | string | undefined, settings: ProxySettings = {}, ownName = 'destination.proxy'): Route {
  const u = new URL(brokerUrl);
  const scheme = u.protocol.slice(0, -1);
  const secure = scheme === 'mqtts' || scheme === 'wss' || scheme === 'ssl' || scheme === 'tls';
  const port = u.port || { mqtt: '1883', tcp: '1883', mqtts: '8883', ssl: '8883', tls: '8883', ws: '80', wss: '443' }[scheme] || '1883';
  return routeFor(new URL(`${secure ? 'https' : 'http'}://${u.host.replace(/:\d+$/, '')}:${port}`), own, settings, ownName);
}

/** The port of a NATS server URL (nats://host:port, tls://host:port, host:port) when it names none. */
const NATS_PORT = 4222;

/**
 * The host (no brackets) and port of a NATS server URL as the nats client reads it (any scheme
 * dropped, 4222 when it names none): what a tunnel is opened to, and the key its connection finds
 * its route by (nats-transport.ts).
 */
export function natsHostPort(server: string): { host: string; port: number } {
  const rest = server.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const u = new URL(`http://${rest}`);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : NATS_PORT };
}

/**
 * The route of a NATS connection to `server` (nats://, tls://, host:port): as an https endpoint's
 * when the connection is TLS (`secure`: a tls:// URL or the destination's tls files: HTTPS_PROXY),
 * an http one's otherwise (HTTP_PROXY), ALL_PROXY else, NO_PROXY matched on the server's host and
 * port (4222 when the URL names none), as the MQTT connections' (mqttRouteFor).
 */
export function natsRouteFor(
  server: string,
  secure: boolean,
  own: false | string | undefined,
  settings: ProxySettings = {},
  ownName = 'destination.proxy',
): Route {
  const { host, port } = natsHostPort(server);
  const tls = secure || /^tls:\/\//i.test(server.trim());
  return routeFor(new URL(`${tls ? 'https' : 'http'}://${isIP(host) === 6 ? `[${host}]` : host}:${port}`), own, settings, ownName);
}

/** The route in words for check-config and the start's log line: never the password. */
export function describeRoute(route: Route): string {
  if (route.kind === 'direct') return `direct (${route.why})`;
  const user = route.url.username ? ` as user ${decodeURIComponent(route.url.username)}` : '';
  return `through the proxy ${route.safe}${user} (from ${route.from})`;
}

/**
 * The start's log line of a destination's route (never the password): which proxy it uses, or
 * that it goes direct although one is configured (noProxy, proxy: false). Nothing when no proxy
 * is configured anywhere.
 */
export function logRoute(log: Logger, route: Route): void {
  if (route.kind === 'direct' && route.none) return;
  log.info({ route: describeRoute(route) }, `upstream ${describeRoute(route)}`);
}
