// What the broker does with each socket its listeners hand it (listeners.ts ListenerHooks; a
// WebSocket connection is one too, ws-connection.ts):
// admission at accept (closed when stopping or from a banned address, else counted pending
// until its CONNECT, with a deadline for a TLS handshake and CONNECT together), routing by the
// CONNECT's protocol level (5 -> the v5 layer, anything else -> aedes), the set-up of a 3.1.1
// connection over aedes (its state, packet size cap, strict parser, bounded outgoing queue), and
// TLS handshake failures. createBroker (index.ts) creates these hooks once, before listening.
import type { Socket } from 'node:net';
import type { Aedes, AedesPublishPacket, Client } from 'aedes';
import type { RateLog } from '../../core/rate-log.js';
import type { AuthGuard } from './auth-guard.js';
import { capPacketLength, certThumbprint, ConnState, logProtocolError, type ClientInternals } from './connection.js';
import type { PublishRefusal } from './hooks.js';
import type { ListenerHooks } from './listeners.js';
import type { BrokerStats } from './metrics.js';
import type { BrokerOptions } from './options.js';
import { boundOutbound, type DeliverInternals } from './outbound.js';
import type { PendingDeadline, PreConnectGuard } from './preconnect.js';
import { makeParserStrict, type StrictParserInternals } from './strict.js';
import type { V5Layer } from './v5/context.js';
import { sniffProtocol } from './v5/sniff.js';
import { peerAddress } from './peer-address.js';
import { countTlsFailure, tlsFailureReason } from './tls-failures.js';
import { countWebSocketRefusal } from './ws-refusals.js';

export interface AcceptDeps {
  options: BrokerOptions;
  /** A retained message read for a SUBSCRIBE was replaced since: not sent (persistence.ts). */
  retainedSuperseded(topic: string, payload: unknown): boolean;
  /** A retained message sent at a 3.1.1 SUBSCRIBE is still wanted: its filter was not unsubscribed or subscribed again (retained-subscribe.ts). */
  retainedWanted(packet: AedesPublishPacket): boolean;
  stats: BrokerStats;
  /** Bounded-rate warnings (floods, bans, timeouts). */
  rateLog: RateLog;
  /** Serves the 3.1.1/3.1 connections. */
  aedes: Pick<Aedes, 'handle'>;
  /** Serves the connections whose CONNECT says protocol level 5 (when mqtt5 is enabled). */
  v5: Pick<V5Layer, 'handle'>;
  /** Connection state by aedes client (set here when the socket is handed to aedes). */
  states: WeakMap<Client, ConnState>;
  /** Authorized connections (for clients()). */
  live: Set<ConnState>;
  /** Every accepted socket until it closes (stop() destroys those left). */
  sockets: Set<Socket>;
  authGuard: AuthGuard;
  preConnect: PreConnectGuard;
  /** MQTT socket -> the socket the pre-CONNECT guard tracks (a TLS socket's TCP socket); filled here. */
  pendingOf: WeakMap<Socket, Socket>;
  /** The parser's cap on a packet's length (createBroker: the largest legal PUBLISH). */
  maxPacketBytes: number;
  /** Whether stop() has begun: sockets are then closed at once. */
  stopping(): boolean;
  /** Tell the publish-refused listeners (a PUBLISH over maxPayloadBytes). */
  publishRefused(r: PublishRefusal): void;
}

export function createListenerHooks(deps: AcceptDeps): ListenerHooks {
  const { options, stats, rateLog, aedes, v5, states, live, sockets, authGuard, preConnect, pendingOf, maxPacketBytes, stopping, publishRefused } = deps;
  const countConnectTimeout = (ip: string | undefined): void => {
    stats.connectTimeouts++;
    rateLog('connect-timeout', { ip, connectTimeoutMs: options.connectTimeoutMs }, 'socket sent no CONNECT in time: closed');
  };
  const handshakeDeadline: PendingDeadline = { ms: options.connectTimeoutMs, onExpire: (_socket, ip) => countConnectTimeout(ip) };

  /**
   * Every accepted TCP connection, on TLS listeners before the handshake: banned addresses are
   * closed here, the rest count as pending (pre-CONNECT) until their CONNECT arrives. A TLS
   * socket gets connectTimeoutMs from accept for its handshake and CONNECT together, a WebSocket
   * listener's for its TLS handshake, HTTP upgrade and CONNECT together.
   */
  function onAccept(socket: Socket, _listener: string, handshake: boolean): boolean {
    stats.connections++;
    if (stopping()) {
      socket.destroy();
      return false;
    }
    // A banned address is closed at accept: no parser, no CONNECT, no password check. This is
    // what keeps a wrong-password flood cheap once it is banned (thousands of attempts a second).
    // (one form per address: peer-address.ts)
    const ip = peerAddress(socket);
    if (authGuard.banned(ip, undefined) === 'address') {
      stats.authBannedAttempts++;
      rateLog('banned-accept', { ip, refused: stats.authBannedAttempts }, 'connection from a banned address: closed at accept');
      socket.destroy();
      return false;
    }
    sockets.add(socket);
    preConnect.admit(socket, ip, handshake ? handshakeDeadline : undefined);
    socket.once('close', () => {
      sockets.delete(socket);
      preConnect.release(socket);
    });
    return true;
  }

  function onSocket(socket: Socket, listener: string, accepted: Socket): void {
    if (stopping() || socket.destroyed) {
      socket.destroy();
      return;
    }
    // the pre-CONNECT guard knows a TLS connection by its TCP socket
    if (accepted !== socket) pendingOf.set(socket, accepted);
    if (!options.mqtt5.enabled) return handle311(socket, listener);
    // the CONNECT's protocol level picks the handler: 5 -> the v5 layer, anything else -> aedes
    sniffProtocol(
      socket,
      options.connectTimeoutMs,
      (level) => {
        if (socket.destroyed) return;
        if (level === 5) v5.handle(socket, listener);
        else handle311(socket, listener);
      },
      // a TLS or WebSocket connection's deadline runs from accept, a little before this one: it counts
      // the timeout (counted here too, a silent upgraded connection was two timeouts)
      () => (accepted === socket ? countConnectTimeout(peerAddress(socket)) : undefined),
    );
  }

  function handle311(socket: Socket, listener: string): void {
    const client = aedes.handle(socket) as ClientInternals;
    const st = new ConnState(client, listener, peerAddress(socket));
    st.certThumbprint = certThumbprint(socket);
    // aedes' keep alive timer (made at CONNECT), restarted while the rate limit holds publishes
    st.refreshKeepalive = () => (client as ClientInternals & { _keepaliveTimer?: NodeJS.Timeout | null })._keepaliveTimer?.refresh();
    states.set(client, st);
    socket.once('close', () => {
      st.closed = true;
      if (st.authorized) {
        st.authorized = false;
        stats.clients--;
        live.delete(st);
      }
    });
    capPacketLength(
      client,
      maxPacketBytes,
      stats,
      (o) => {
        rateLog(
          'too-large',
          { ip: st.ip, bytes: o.bytes, topic: o.topic, maxPayloadBytes: options.maxPayloadBytes },
          'packet over maxPayloadBytes: disconnecting',
        );
        if (o.topic !== undefined)
          publishRefused({ topic: o.topic, reason: 'too-large', bytes: o.bytes, client: client.id ?? '', maxPayloadBytes: options.maxPayloadBytes });
      },
      (err) => logProtocolError(rateLog, st.ip, client.id ?? undefined, err.message),
    );
    makeParserStrict(client._parser as unknown as StrictParserInternals, socket, (v) => {
      if (v === 'utf8') stats.strictUtf8++;
      else if (v === 'nul') stats.strictNul++;
      else stats.strictProtocolLevel++;
      rateLog(
        `strict-${v}`,
        { ip: st.ip, client: client.id ?? undefined, violation: v },
        v === 'protocol-level'
          ? 'unsupported MQTT protocol level: CONNACK 0x01, closing'
          : 'malformed MQTT string (invalid UTF-8 or U+0000): closing the connection',
      );
    });
    boundOutbound(client as unknown as DeliverInternals, options.outbound, {
      retainedSuperseded: deps.retainedSuperseded,
      retainedWanted: deps.retainedWanted,
      onDrop: () => {
        stats.outboundDropped++;
      },
      onOverflow: (c, messages, bytes) => {
        stats.slowConsumerDisconnects++;
        // bounded as the drain timeout's line (hooks.ts): a reconnecting slow subscriber repeats it
        rateLog(
          'slow-queue',
          { client: c.id, ip: st.ip, queuedMessages: messages, queuedBytes: bytes, ...options.outbound },
          'slow subscriber: outgoing queue full, disconnecting',
        );
      },
    });
  }

  return {
    onAccept,
    onSocket,
    onWebSocketRefused: (reason, ip, listener) => {
      countWebSocketRefusal(stats, listener, reason);
      rateLog(
        `ws-refused:${reason}`,
        { ip, listener, reason },
        reason === 'text-frame' || reason === 'too-large'
          ? 'MQTT over WebSockets: a text frame or a message over the packet limit, connection closed'
          : 'MQTT over WebSockets: request refused (see reason: not an upgrade, another path, a page of an origin not allowed, no MQTT sub-protocol, a bad handshake or headers), connection closed',
      );
    },
    onTlsError: (err, ip, listener, certError) => {
      // only when a socket escaped the pending deadline (index.ts: handshakeTimeoutMs)
      if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return countConnectTimeout(ip);
      stats.protocolErrors++;
      const reason = tlsFailureReason(err.code, certError);
      countTlsFailure(stats, listener, reason);
      // a device speaking plain MQTT to the TLS port, or not trusting the certificate, shows here;
      // one line per reason at a bounded rate: a revoked device is not hidden by others' noise
      rateLog(
        `tls-failed:${reason}`,
        { ip, listener, reason, certError, err: err.message, code: err.code },
        certError ? `TLS handshake failed: client certificate refused (${certError}), connection closed` : 'TLS handshake failed: connection closed',
      );
    },
  };
}
