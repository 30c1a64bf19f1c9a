// What the broker's WebSocket listeners refused or closed, by listener and reason
// (websocket.ts, ws-connection.ts): requests that are not a WebSocket upgrade (a browser opening
// the port as a page, a scanner), another path, a sub-protocol that is not MQTT, a bad handshake or
// header block, a text frame, a message over the packet limit. Here, not in websocket.ts: the
// counter is registered with the broker's metrics at every start, `ws` is loaded only when used.
import type { Registry } from 'prom-client';
import { Counter } from '../../core/prom-client.js';
import type { WebSocketRefusal } from './ws-connection.js';

interface WebSocketRefusalStats {
  wsRefused: Map<string, number>;
}

export function countWebSocketRefusal(stats: WebSocketRefusalStats, listener: string, reason: WebSocketRefusal): void {
  const k = `${listener}\0${reason}`;
  stats.wsRefused.set(k, (stats.wsRefused.get(k) ?? 0) + 1);
}

export function registerWebSocketRefusalMetrics(registry: Registry, s: WebSocketRefusalStats): void {
  new Counter({
    name: 'gatehouse_mqtt_websocket_refused_total',
    help: 'Requests refused and connections closed by WebSocket listeners (protocol: websockets), by listener and reason: not-upgrade (answered 426), path (404), origin (a page of an origin not allowed: 403), subprotocol (not mqtt/mqttv3.1: 400), handshake (400), headers, text-frame (closed 1003), too-large (a message over the packet limit: closed 1009)',
    labelNames: ['listener', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [k, n] of s.wsRefused) {
        const [listener, reason] = k.split('\0') as [string, string];
        this.inc({ listener, reason }, n);
      }
    },
  });
}
