// Browser-borne attacks on the admin API, refused before any route runs:
//  - DNS rebinding (admin on loopback): a hostile page whose name is re-pointed to 127.0.0.1 can
//    make the browser talk to the loopback admin API, but the Host header still carries the page's
//    name. Beyond loopback a token is required (config check), so no Host check there. Only the
//    names the admin is really reached by are accepted: localhost, 127.0.0.1, [::1], the
//    configured admin.host, the address the request arrived on (an IP literal cannot be rebound),
//    and admin.allowedHosts. Anything else: 421 Misdirected Request.
//  - CSRF: a page on another origin can POST/PUT/DELETE to the admin API (a "simple" request is
//    sent without preflight). Browsers mark such requests with Origin (and Sec-Fetch-Site): a
//    state-changing request whose Origin is not the admin's own (same host:port as Host) gets 403.
//    Requests without Origin (curl, the CLI, scripts) are not from a browser page and pass.
import type { IncomingMessage } from 'node:http';

export interface OriginVerdict {
  status: number;
  reason: 'host' | 'origin';
  message: string;
  hint: string;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Lower-case host name of a Host header value ("[::1]:9883" -> "::1", "Foo:80" -> "foo"). */
export function hostName(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : h;
  }
  const colon = h.indexOf(':');
  // More than one colon without brackets: a bare IPv6 address (not valid in Host, but harmless).
  return colon >= 0 && h.indexOf(':', colon + 1) < 0 ? h.slice(0, colon) : h;
}

/** The set of accepted host names (lower case, IPv6 without brackets). */
export function hostAllowList(bindHost: string, extra: readonly string[]): Set<string> {
  const out = new Set(['localhost', '127.0.0.1', '::1']);
  for (const h of [bindHost, ...extra]) {
    const bareIpv6 = !h.startsWith('[') && h.split(':').length > 2;
    out.add(bareIpv6 ? h.toLowerCase() : hostName(h));
  }
  // A wildcard bind is not a name anyone uses in Host.
  out.delete('0.0.0.0');
  out.delete('::');
  return out;
}

function normalizeAddress(a: string | undefined): string {
  if (!a) return '';
  const l = a.toLowerCase();
  return l.startsWith('::ffff:') ? l.slice(7) : l;
}

/** A refusal, or undefined when the request may be routed. `allowed` undefined: no Host check. */
export function checkRequestOrigin(req: IncomingMessage, allowed: Set<string> | undefined): OriginVerdict | undefined {
  const hostHeader = req.headers.host;
  if (allowed !== undefined && hostHeader !== undefined) {
    const name = normalizeAddress(hostName(hostHeader));
    if (!allowed.has(name) && name !== normalizeAddress(req.socket.localAddress)) {
      return {
        status: 421,
        reason: 'host',
        message: `Host '${hostHeader.slice(0, 100)}' is not a name of this admin API`,
        hint: 'use http://127.0.0.1:<port>/ or http://localhost:<port>/, or add the name to admin.allowedHosts',
      };
    }
  }
  const method = (req.method ?? 'GET').toUpperCase();
  if (SAFE_METHODS.has(method)) return undefined;
  const origin = req.headers.origin;
  const site = req.headers['sec-fetch-site'];
  let sameOrigin = true;
  if (origin !== undefined) {
    let originHost: string | undefined;
    try {
      originHost = origin === 'null' ? undefined : new URL(origin).host.toLowerCase();
    } catch {
      originHost = undefined;
    }
    sameOrigin = originHost !== undefined && hostHeader !== undefined && originHost === hostHeader.trim().toLowerCase();
  } else if (site === 'cross-site' || site === 'same-site') {
    sameOrigin = false;
  }
  if (sameOrigin) return undefined;
  return {
    status: 403,
    reason: 'origin',
    message: `cross-origin ${method} refused (Origin ${origin === undefined ? `absent, Sec-Fetch-Site ${String(site)}` : `'${origin.slice(0, 100)}'`})`,
    hint: 'state-changing admin requests must come from the status page itself or from a non-browser client (curl, gatehouse CLI)',
  };
}
