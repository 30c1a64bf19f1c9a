// The options every persistent mqtt.js client of the gateway starts from (the MQTT bridge
// destination, the MQTT source): a stable client id and a kept session (clean: false, and MQTT 5's
// session expiry), so QoS 1 messages survive a disconnect; reconnects are the caller's own backoff
// (mqtt.js would retry at a fixed interval). TLS files are the caller's (core/tls-files.ts).
import { isIP } from 'node:net';
import type { IClientOptions } from 'mqtt';

export interface PersistentClientSettings {
  clientId: string;
  protocolVersion: 4 | 5;
  keepaliveSec: number;
  connectTimeoutMs: number;
  rejectUnauthorized: boolean;
  sessionExpirySec: number;
  username?: string | undefined;
  password?: string | undefined;
}

export function persistentClientOptions(o: PersistentClientSettings): IClientOptions {
  const co: IClientOptions = {
    clientId: o.clientId,
    clean: false,
    protocolVersion: o.protocolVersion,
    keepalive: o.keepaliveSec,
    connectTimeout: o.connectTimeoutMs,
    reconnectPeriod: 0,
    rejectUnauthorized: o.rejectUnauthorized,
  };
  if (o.protocolVersion === 5) co.properties = { sessionExpiryInterval: o.sessionExpirySec };
  if (o.username !== undefined) co.username = o.username;
  if (o.password !== undefined) co.password = o.password;
  return co;
}

/**
 * mqtt.js 5 builds a WebSocket URL as `${protocol}://${hostname}:${port}${path}` from a hostname
 * it took out of the brackets: ws://[fd00::1]:8080/mqtt became 'ws://fd00::1:8080/mqtt', which
 * `new WebSocket` refuses (Invalid URL), thrown out of mqtt.connect: the gateway did not start.
 * The URL it connects to is built again with the brackets (a ws:// or wss:// connection: the
 * option is not read for the others).
 */
export function withWsBrackets(options: IClientOptions): IClientOptions {
  return {
    ...options,
    transformWsUrl: (built, opts) =>
      opts.hostname !== undefined && isIP(opts.hostname) === 6 ? `${opts.protocol}://[${opts.hostname}]:${opts.port}${opts.path ?? ''}` : built,
  };
}
