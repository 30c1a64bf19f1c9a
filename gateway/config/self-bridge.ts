// An MQTT bridge destination pointed at this gateway's own broker (a test config kept, a copied
// url): every record it publishes comes back through the rules. Over MQTT 5 the loop-prevention
// mark stops it after one turn (each message stored twice); over MQTT 3.1.1 nothing marks it, and
// the records go round for ever (seen: one publish appended again each second, without end).
// check-config's warning (checks.ts).
import { isLoopback } from '../broker/options.js';
import { urlHost } from '../../core/bind-host.js';

/** Addresses a listener binds that also answer on loopback. */
const ANY_ADDRESS = new Set(['0.0.0.0', '::', '[::]']);

export interface ListenerLike {
  name?: string | undefined;
  host: string;
  port: number;
  tls?: unknown;
}

/** The gateway's own listener (its name and address) the broker URL reaches, or undefined. */
export function ownListenerOf(url: string, listeners: readonly ListenerLike[]): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'mqtt:' && u.protocol !== 'mqtts:') return undefined;
  const port = Number(u.port || (u.protocol === 'mqtts:' ? 8883 : 1883));
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  for (const l of listeners) {
    if (l.port !== port) continue;
    const bound = l.host.trim().toLowerCase();
    if (bound === host || (isLoopback(host) && (isLoopback(bound) || ANY_ADDRESS.has(bound))))
      return `${l.name ?? (l.tls ? 'mqtts' : 'mqtt')} ${urlHost(l.host)}:${l.port}`;
  }
  return undefined;
}

/** check-config's warning for an MQTT destination `d` that bridges to the gateway itself; `subject` names it
 * ("MQTT destination of exporter 'cloud'", "MQTT action of rule 'up'"). */
export function selfBridgeWarning(
  subject: string,
  d: Record<string, unknown>,
  listeners: readonly ListenerLike[],
): { message: string; hint: string } | undefined {
  if (d.type !== 'mqtt' || typeof d.url !== 'string') return undefined;
  const own = ownListenerOf(d.url, listeners);
  if (own === undefined) return undefined;
  const what =
    d.protocolVersion === 4
      ? 'with protocolVersion 4 nothing marks what it bridged, so each record comes back through the rules into the streams they write, and goes round for ever'
      : 'each record comes back through the rules once, so every message is stored twice (the loop-prevention mark keeps the copy from going round again)';
  return {
    message: `${subject} publishes to this gateway's own broker (listener ${own}): ${what}`,
    hint: "point url at the upstream broker; to publish a record on a local topic, use a rule's republish action",
  };
}
