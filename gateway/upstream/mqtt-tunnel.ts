// MQTT connections (the bridge destination, the MQTT source, the control channel) through the
// site's HTTP proxy: mqtt:// and mqtts:// in an HTTP CONNECT tunnel (TLS inside the tunnel, with
// the connection's own ca, cert, key and the broker's host name as servername), ws:// and wss://
// through https-proxy-agent's tunnel agent (as a browser behind a proxy does: CONNECT, then the
// WebSocket upgrade inside). AWS IoT devices behind a proxy do the same (Greengrass's networkProxy).
//
// mqtt.js calls its stream builder at every (re)connect and wants a stream at once (it writes the
// CONNECT packet into it straight away): TunnelStream is that stream, joined to the tunnel's socket
// once the proxy said 200 (mqtt.js's own SOCKS support works the same way). A refused CONNECT
// (407, 403), a proxy down or hanging up destroys the stream with GH_UPSTREAM_PROXY (a GatehouseError
// has a `code`: mqtt.js emits the client's 'error' only for errors with one), so the connection's
// own error handling, status and backoff see it as any other connect failure.
import { Duplex } from 'node:stream';
import { isIP, type Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
// node:tls and node:https when a tunnel needs them: this module loads with the MQTT connections'
// code, and a gateway with no TLS anywhere does not load them (test/integration/idle-lazy.test.ts).
import { nodeTls } from '../../core/tls-modules.js';
import type { IClientOptions, MqttClient } from 'mqtt';
import { withWsBrackets } from '../../core/mqtt-client.js';
import type { GatehouseError } from '../../core/errors.js';
import { type ProxyAgentOptions, type ProxyFault, proxyAgents, proxyError } from './proxy-agent.js';
import { openTunnel } from './proxy-tunnel.js';
import type { ProxyRoute, Route } from './proxy.js';

/** The stream mqtt.js gets at once: what it writes waits (corked) until the tunnel is open. */
class TunnelStream extends Duplex {
  private socket: Socket | undefined;
  private flowing = false;
  /** Called at destroy: ends the CONNECT request or the tunnel being set up. */
  abort: (() => void) | undefined;

  constructor() {
    super({ autoDestroy: false });
    this.cork();
  }

  /** The tunnel is open (and TLS up, for mqtts): join it. */
  start(socket: Socket): void {
    if (this.destroyed) {
      socket.destroy();
      return;
    }
    this.socket = socket;
    if (!this.flowing) socket.pause();
    socket.on('data', (chunk: Buffer) => {
      this.flowing = this.push(chunk);
      if (!this.flowing) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
    this.uncork();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    // Only reached after start(): the stream is corked until then.
    if (!this.socket) return done(new Error('tunnel not open'));
    this.socket.write(chunk, done);
  }

  override _read(): void {
    this.flowing = true;
    this.socket?.resume();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.abort?.();
    this.socket?.destroy();
    done(err);
  }
}

export interface TunnelTarget {
  host: string;
  port: number;
  /** TLS inside the tunnel (mqtts): the connection's own options (ca, cert, key, rejectUnauthorized). */
  tls?: ConnectionOptions | undefined;
}

/**
 * A stream to `target` through `route`'s proxy (an HTTP CONNECT tunnel, proxy-tunnel.ts), at once;
 * joined when the proxy answers 200 (and TLS is up). Its faults destroy it with GH_UPSTREAM_PROXY
 * for `where`. `answerWithinMs`: how long the proxy has to answer the CONNECT; without that bound a
 * proxy that accepts and never answers showed only as mqtt.js's "connack timeout", which blames the
 * broker behind it.
 */
export function tunnelStream(route: ProxyRoute, target: TunnelTarget, where: string, waiting?: string, answerWithinMs?: number): Duplex {
  const stream = new TunnelStream();
  const tunnel = openTunnel(route, target.host, target.port);
  const timer =
    answerWithinMs === undefined ? undefined : setTimeout(() => tunnel.abort(`no answer to the CONNECT within ${answerWithinMs} ms`), answerWithinMs);
  let secure: Socket | undefined;
  stream.abort = () => {
    clearTimeout(timer);
    tunnel.abort('the connection was given up');
    secure?.destroy();
  };
  tunnel.socket.then(
    (socket) => {
      clearTimeout(timer);
      if (!target.tls) return stream.start(socket);
      // host: the name or address the certificate is checked against. Without it node takes the
      // socket's own host, the proxy's: a broker given by its IP address was checked against the proxy's name.
      const servername = isIP(target.host) === 0 ? target.host : undefined;
      const tls = nodeTls().connect({ ...target.tls, socket, host: target.host, ...(servername ? { servername } : {}) });
      secure = tls;
      // A certificate refused is the broker's fault, not the proxy's: the stream fails with it as it
      // would direct. `on`, not `once`: a second error with no listener would be thrown (a crash).
      const tlsFailed = (err: Error): void => {
        stream.destroy(err);
      };
      tls.on('error', tlsFailed);
      tls.once('secureConnect', () => {
        tls.off('error', tlsFailed);
        stream.start(tls);
      });
    },
    (fault: ProxyFault) => {
      clearTimeout(timer);
      stream.destroy(proxyError(fault, where, fault, waiting));
    },
  );
  return stream;
}

/** The error mqtt.js passes on for a fault of the proxy: GH_UPSTREAM_PROXY, or undefined for any other. */
export function proxyErrorOf(err: unknown): GatehouseError | undefined {
  return (err as { code?: unknown } | undefined)?.code === 'GH_UPSTREAM_PROXY' ? (err as GatehouseError) : undefined;
}

/** Connects a client with the given options (mqtt.js's connect, the URL bound). */
export type MqttConnect = (options: IClientOptions) => MqttClient;

/**
 * mqtt.connect bound to `url`, through `route`'s proxy when it has one: mqtt.js (and, for ws:// and
 * wss://, the proxy agent) loaded now, when the connection starts, not with every gateway. `where`
 * names the connection in the errors (the destination's target, "control channel"...), `waiting`
 * what becomes of the data while the proxy does not let it through (proxyError's hint).
 */
export async function mqttConnector(url: string, route: Route, where: string, waiting?: string): Promise<MqttConnect> {
  const mqtt = await import('mqtt');
  const u = new URL(url);
  const scheme = u.protocol.slice(0, -1);
  const ws = scheme === 'ws' || scheme === 'wss';
  if (route.kind === 'direct') return (options) => mqtt.connect(url, ws ? withWsBrackets(options) : options);
  if (ws) {
    // The tunnel agent of the HTTP destinations: CONNECT, then (wss) TLS with the request's own
    // options, which mqtt.js copies from the client's (ca, cert, key, rejectUnauthorized).
    // connectTimeoutMs (read by the agent at each CONNECT) is the connection's: ws gives up its
    // handshake without a word to the agent, which kept its connection to a proxy that never
    // answered open, one more per reconnect.
    const agentOptions: ProxyAgentOptions = { keepAlive: false, wrapFault: (fault) => proxyError(fault, where, undefined, waiting) };
    const { https: agent } = await proxyAgents(route, agentOptions);
    return (options) => {
      agentOptions.connectTimeoutMs = options.connectTimeout ?? 30_000;
      return mqtt.connect(url, withWsBrackets({ ...options, wsOptions: { ...options.wsOptions, agent } }));
    };
  }
  const secure = scheme === 'mqtts' || scheme === 'ssl' || scheme === 'tls';
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port ? Number(u.port) : secure ? 8883 : 1883;
  // The builder reads the client's options at each connect: TLS files read again before a reconnect are used.
  const build = (client: MqttClient): Duplex => {
    const co = client.options;
    const tls: ConnectionOptions | undefined = secure
      ? {
          ...(co.ca === undefined ? {} : { ca: co.ca as ConnectionOptions['ca'] }),
          ...(co.cert === undefined ? {} : { cert: co.cert as ConnectionOptions['cert'] }),
          ...(co.key === undefined ? {} : { key: co.key as ConnectionOptions['key'] }),
          rejectUnauthorized: co.rejectUnauthorized !== false,
        }
      : undefined;
    // The proxy's answer well within the connection's own connect timeout, which then still ends
    // the attempt for a broker that says nothing inside the tunnel (mqtt.js's "connack timeout").
    return tunnelStream(route, { host, port, tls }, where, waiting, Math.round(0.8 * (co.connectTimeout ?? 30_000)));
  };
  return (options) => {
    // What mqtt.connect takes from the URL (credentials: as it does, the URL's over the options').
    const opts: IClientOptions = { ...options, protocol: secure ? 'mqtts' : 'mqtt', host, hostname: host, port };
    if (u.username) opts.username = decodeURIComponent(u.username);
    if (u.password) opts.password = decodeURIComponent(u.password);
    const client = new mqtt.MqttClient(build, opts);
    // As mqtt.connect: an 'error' nobody listens to must not throw (the callers add their own).
    client.on('error', () => {});
    return client;
  };
}
