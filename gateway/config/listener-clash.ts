// Two sockets of the gateway that would take the same address and port: the second fails to listen
// at start (EADDRINUSE), and its message can only guess at another process. A wildcard address
// (0.0.0.0, ::) takes the port on every address, loopback included, so it clashes with any other
// listener on that port. Port 0 (any free port) never clashes.
import { GatehouseError } from '../../core/errors.js';
import type { GatehouseConfig } from './schema.js';
import { urlHost } from '../../core/bind-host.js';

interface Endpoint {
  label: string;
  where: string;
  host: string;
  port: number;
}

const WILDCARD = new Set(['0.0.0.0', '::', '::0', '']);

function overlap(a: string, b: string): boolean {
  return a === b || WILDCARD.has(a) || WILDCARD.has(b);
}

/** One GH_CONFIG_INVALID per clashing pair, at the later one's port. */
export function listenerClashes(config: GatehouseConfig): GatehouseError[] {
  const endpoints: Endpoint[] = config.broker.listeners.map((l, i) => ({
    label: `broker.listeners.${i}`,
    where: `broker.listeners.${i}.port`,
    host: l.host,
    port: l.port,
  }));
  if (config.admin.enabled) endpoints.push({ label: 'admin', where: 'admin.port', host: config.admin.host, port: config.admin.port });
  const problems: GatehouseError[] = [];
  for (const [j, b] of endpoints.entries()) {
    if (b.port === 0) continue;
    const a = endpoints.slice(0, j).find((e) => e.port === b.port && overlap(e.host, b.host));
    if (!a) continue;
    const wildcard = [a, b].find((e) => WILDCARD.has(e.host));
    problems.push(
      new GatehouseError(
        'GH_CONFIG_INVALID',
        `${a.label} (${urlHost(a.host)}:${a.port}) and ${b.label} (${urlHost(b.host)}:${b.port}) would take the same port: the second could not listen`,
        {
          where: b.where,
          hint: wildcard
            ? `${wildcard.host} listens on every address, loopback included: keep that one alone on port ${b.port}, or give the other another port`
            : `give one of them another port`,
        },
      ),
    );
  }
  return problems;
}
