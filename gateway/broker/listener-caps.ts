// Per-listener connection limits (broker.listeners[].maxConnections, as mosquitto's per-listener
// max_connections). broker.maxConnections bounds the whole broker; a listener's own bound keeps a
// flood on one listener (a LAN full of devices reconnecting under new ids) from taking every slot,
// so local apps on a loopback listener still get in. Counted from the connected clients when a
// CONNECT reaches a capped listener: no second count to keep in step with the close paths.
import type { ConnState } from './connection.js';
import { listenerName, type ListenerOptions } from './options.js';

/** The listeners that have a maxConnections of their own: name -> bound. */
export function listenerConnectionCaps(listeners: readonly ListenerOptions[]): Map<string, number> {
  const caps = new Map<string, number>();
  listeners.forEach((l, i) => {
    if (l.maxConnections !== undefined) caps.set(listenerName(listeners, i), l.maxConnections);
  });
  return caps;
}

/**
 * Clients connected on `listener`, but for one with `clientId`: a client id reconnecting on the same
 * listener takes over its old connection, so it needs no new slot there.
 */
export function connectedOn(live: Iterable<ConnState>, listener: string, clientId: string): number {
  let n = 0;
  for (const st of live) if (st.listener === listener && st.client.id !== clientId) n++;
  return n;
}
