// The address a listener binds (broker.listeners[].host, admin.host), and a host the gateway
// dials given apart from its port (a Modbus TCP device's tcp.host). An IPv6 address is written
// as it is (`::1`, `fd00::2`, `::` for every address of both families): in brackets (`[::1]`, as
// in a URL) check-config said OK and `start` failed with "cannot listen on [fd00::2]:1883:
// ENOTFOUND", since the brackets go to the resolver as part of a name. The brackets are taken off
// here, so both spellings bind; what cannot be an address or a name (a port written into it:
// `::1:1883`, `[::1]:1883`, `0.0.0.0:1883`) is refused where the file is checked, saying where the
// port goes.
import { isIP } from 'node:net';
import { z } from './zod.js';

/** `[fd00::2]` -> `fd00::2`; anything else as it is. */
export function unbracketed(host: string): string {
  const m = /^\[([^\]]*)\]$/.exec(host.trim());
  return m && isIP(m[1]!) === 6 ? m[1]! : host;
}

/** Why `host` cannot be bound or dialled, or undefined. */
export function bindHostProblem(host: string): string | undefined {
  const h = unbracketed(host);
  if (isIP(h) !== 0) return undefined;
  const withPort = /^\[([^\]]*)\]:(\d+)$/.exec(h) ?? /^([^:]*):(\d+)$/.exec(h);
  if (withPort) return `not an address: '${host}' holds a port; write host: '${withPort[1]}' and port: ${withPort[2]}`;
  if (h.includes(':') || h.includes('[') || h.includes(']'))
    return `not an IPv4 or IPv6 address: write an IPv6 address as it is, without a port (e.g. '::1', 'fd00::2', or '::' for every address)`;
  return undefined; // a host name (localhost, the Pi's name): the resolver's, at start
}

/** A host option (a device's, a server's): an address or a name, brackets taken off an IPv6 address, no port in it. */
export function hostSchema() {
  return z
    .string()
    .min(1)
    .superRefine((host, ctx) => {
      const p = bindHostProblem(host);
      if (p) ctx.addIssue({ code: 'custom', message: p });
    })
    .transform(unbracketed);
}

/** The schema of a bind address with its default. */
export function bindHostSchema(defaultHost: string, description: string) {
  // the default before the transform: the docs (JSON schema of the input) show it
  return z
    .string()
    .default(defaultHost)
    .superRefine((host, ctx) => {
      const p = bindHostProblem(host);
      if (p) ctx.addIssue({ code: 'custom', message: p });
    })
    .transform(unbracketed)
    .describe(description);
}

/** A host as written before `:port` (in a URL, a message): an IPv6 address in brackets, `[::1]:1883`, not `::1:1883`. */
export function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/**
 * An IPv6 address written into a URL without its brackets (`mqtt://fd00::30:1883`), which no URL
 * parser reads as meant: the refusal said "the port must be a number" or "must be a URL". Says
 * how to write it, or undefined.
 */
export function ipv6UrlProblem(url: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)((?:[^@/?#]*@)?)([^/?#]*)(.*)$/is.exec(url.trim());
  if (!m) return undefined;
  const [, scheme, user, hostPort, rest] = m as unknown as [string, string, string, string, string];
  if (hostPort.includes('[') || hostPort.split(':').length < 3) return undefined;
  // 'fd00::30:1883' is an address by itself too: both readings are offered, the one with a port first
  const colon = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, colon);
  const port = hostPort.slice(colon + 1);
  const readings: string[] = [];
  if (isIP(host) === 6 && host !== '::' && /^\d{1,5}$/.test(port) && Number(port) <= 65535) readings.push(`[${host}]:${port}`);
  if (isIP(hostPort) === 6) readings.push(`[${hostPort}]`);
  if (readings.length === 0) return undefined;
  const [first, other] = readings.map((r) => `'${scheme}${user}${r}${rest}'`);
  return `an IPv6 address in a URL goes in brackets: ${first}${other ? ` (or ${other}, if all of it is the address)` : ''}`;
}

/** `schema` (a URL's), preceded by ipv6UrlProblem's check: an IPv6 address without brackets gets that refusal alone. */
export function bracketedUrl<T extends z.ZodType<string, string>>(schema: T) {
  return z
    .string()
    .superRefine((url, ctx) => {
      const p = ipv6UrlProblem(url);
      if (p) ctx.addIssue({ code: 'custom', message: p, abort: true });
    })
    .pipe(schema);
}
