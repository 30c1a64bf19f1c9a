// The MQTT 5 layer of the broker: it builds what its connections share (types.ts V5Context).
// aedes keeps serving 3.1.1/3.1 unchanged; connections whose CONNECT says protocol level 5 come
// here (see sniff.ts), and every message still travels through aedes (router.ts).
import type { Socket } from 'node:net';
import type { Aedes, Client, PublishPacket } from 'aedes';
import type { IConnectPacket } from 'mqtt-packet';
import type { Logger } from 'pino';
import { noteTakeover, type ConnState } from '../connection.js';
import type { V5Context, V5ConnectionHandle } from './types.js';
import type { AedesHooks } from '../hooks.js';
import type { BrokerStats } from '../metrics.js';
import type { BrokerOptions } from '../options.js';
import type { RateLog } from '../../../core/rate-log.js';
import type { Clocks } from '../../../core/clock.js';
import { V5Connection } from './connection.js';
import { RC } from './codes.js';
import { V5Router, forwardProperties, type RoutedPacket } from './router.js';
import { outMsgBytes, SessionStore, type OutMsg, type Session } from './session.js';
import { SessionFile } from './session-file.js';

export interface V5LayerDeps {
  aedes: Aedes;
  hooks: AedesHooks;
  states: WeakMap<Client, ConnState>;
  live: Set<ConnState>;
  stats: BrokerStats;
  log: Logger;
  /** Monotonic time for message expiry; wall time for what the session file keeps across restarts. */
  clocks: Clocks;
  options: BrokerOptions;
  maxPacketBytes: number;
  /** Where sessions with an expiry are kept across restarts (none: memory only). */
  sessionFile: string | undefined;
  /** The socket sent its CONNECT: it leaves the pre-CONNECT bound (preconnect.ts). */
  onConnectReceived(socket: Socket): void;
  /** Bounded-rate warnings (rate-log.ts). */
  rateLog: RateLog;
  /** A retained message read for a SUBSCRIBE was replaced since (persistence.ts). */
  retainedSuperseded(topic: string, payload: unknown): boolean;
}

export interface V5Layer {
  /** Serve a socket whose CONNECT said protocol level 5 (its bytes are still unread). */
  handle(socket: Socket, listener: string): void;
  /** Is a v5 client with this id connected? */
  has(clientId: string): boolean;
  /** Load saved sessions. */
  start(): Promise<void>;
  /** DISCONNECT 0x8B to every v5 client; no will from here on. */
  stop(): void;
  /**
   * Stop routing and save the sessions (the final snapshot): after aedes is closed, so that every
   * message it routed, a 3.1.1 client's PUBACKed publish among them, is in the snapshot.
   */
  close(): Promise<void>;
}

const noop = (): void => undefined;

export function createV5Layer(deps: V5LayerDeps): V5Layer {
  const { aedes, stats, log, clocks, options } = deps;
  const { monotonic } = clocks;
  const byId = new Map<string, V5ConnectionHandle>();
  const conns = new Set<V5ConnectionHandle>();
  /**
   * Delayed wills by client id: the timer, and the will's publication. A will is due when its delay
   * has passed or its session ends, whichever comes first [MQTT-3.1.3.2.2]: a session removed to
   * make room (maxSessions) publishes its will then, so pending wills are bounded by the sessions.
   */
  const wills = new Map<string, { timer: NodeJS.Timeout; publish: () => void }>();
  const cancelWill = (clientId: string): void => {
    const w = wills.get(clientId);
    if (!w) return;
    clearTimeout(w.timer);
    wills.delete(clientId);
  };
  let stopping = false;

  const router = new V5Router({ aedes, monotonic, deliver: (s, m) => deliver(s, m) });
  const sessionFile = deps.sessionFile;
  const sessions = new SessionStore({
    persistence: sessionFile ? (map) => new SessionFile(sessionFile, map, { log, clocks, stats }) : undefined,
    log,
    clocks,
    maxExpirySeconds: options.mqtt5.maxSessionExpirySeconds,
    onExpire(s) {
      // its session ended: a delayed will still waiting is due now (cleared first by a takeover)
      const will = wills.get(s.clientId);
      if (will) {
        cancelWill(s.clientId);
        will.publish();
      }
      router.removeAll(s);
      s.clearQueue();
      stats.v5Sessions = sessions.sessions.size;
    },
  });

  function deliver(s: Session, m: OutMsg): void {
    if (!s.link && m.qos === 0) return; // QoS 0 is not queued for offline sessions
    // bounded by count and bytes (outbound.maxQueueBytes, the limit 3.1.1 subscribers have too)
    if (s.queue.length >= options.mqtt5.maxQueuedMessages || s.queueBytes + outMsgBytes(m) > options.outbound.maxQueueBytes) {
      stats.v5Dropped++;
      return;
    }
    s.enqueue(m);
    // marked connected or not: a slow consumer's queue is kept too (a kill -9 loses at most ~200 ms of it)
    if (m.qos > 0) sessions.changed(s);
    if (s.link) s.link.pump();
  }

  function publishWill(clientId: string, client: Client, will: NonNullable<IConnectPacket['will']>): void {
    const { willDelayInterval: _d, ...props } = will.properties ?? {};
    const fwd = forwardProperties(props as never);
    const payload = typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload;
    const packet = {
      cmd: 'publish',
      topic: will.topic,
      payload,
      qos: will.qos ?? 0,
      retain: will.retain ?? false,
      dup: false,
      ...(fwd ? { properties: fwd } : {}),
    } as PublishPacket;
    deps.hooks.authorizePublish(client, packet, (err) => {
      if (err) return log.info({ client: clientId, topic: will.topic, err: err.message }, 'will refused');
      const expiry = fwd?.messageExpiryInterval;
      ctx.route({ ...packet, clientId, ...(expiry !== undefined ? { messageExpiry: monotonic() + expiry * 1000 } : {}) } as RoutedPacket);
    });
  }

  const ctx: V5Context = {
    options,
    stats,
    log,
    monotonic,
    hooks: deps.hooks,
    states: deps.states,
    live: deps.live,
    sessions,
    router,
    maxPacketBytes: deps.maxPacketBytes,
    receiveMaximum: options.maxInflight,
    topicAliasMaximum: options.mqtt5.topicAliasMaximum,
    maxKeepalive: keepaliveMaximum(options.keepaliveLimit, options.mqtt5.maxKeepaliveSeconds),
    takeOver(clientId, conn) {
      cancelWill(clientId);
      const old = byId.get(clientId);
      // a 3.1.1 client with the same id is taken over too [MQTT-3.1.4-3]
      const old311 = (aedes as Aedes & { clients: Record<string, { close(cb?: () => void): void } | undefined> }).clients[clientId];
      if ((old && old !== conn) || old311) {
        const previousIp = old && old !== conn ? old.ip : deps.states.get(old311 as unknown as Client)?.ip;
        noteTakeover(stats, deps.rateLog, clientId, conn.ip, previousIp);
      }
      if (old && old !== conn) old.takenOver();
      byId.set(clientId, conn);
      old311?.close();
    },
    newSession(clientId) {
      const s = sessions.create(clientId);
      stats.v5Sessions = sessions.sessions.size;
      return s;
    },
    route(packet) {
      aedes.publish(packet as PublishPacket, noop);
    },
    retained(filter) {
      const p = (aedes as Aedes & { persistence: { createRetainedStreamCombi(patterns: string[]): AsyncIterable<RoutedPacket> } }).persistence;
      return p.createRetainedStreamCombi([filter]);
    },
    retainedSuperseded: deps.retainedSuperseded,
    deliver,
    released(conn) {
      conns.delete(conn);
      if (byId.get(conn.clientId) === conn) byId.delete(conn.clientId);
      stats.v5Sessions = sessions.sessions.size;
    },
    stopping: () => stopping,
    connectReceived: (socket) => deps.onConnectReceived(socket),
    rateLog: deps.rateLog,
    scheduleWill(clientId, client, will, delaySeconds) {
      if (delaySeconds <= 0) return publishWill(clientId, client, will);
      cancelWill(clientId);
      const publish = (): void => publishWill(clientId, client, will);
      // setTimeout holds at most ~24.8 days (a longer delay fires at once): re-arm until the deadline.
      const arm = (ms: number): void => {
        const step = Math.min(ms, 2 ** 31 - 1);
        const timer = setTimeout(() => {
          if (ms > step) return arm(ms - step);
          wills.delete(clientId);
          publish();
        }, step);
        timer.unref();
        wills.set(clientId, { timer, publish });
      };
      arm(delaySeconds * 1000);
    },
  };

  return {
    handle(socket, listener) {
      if (stopping) return void socket.destroy();
      conns.add(new V5Connection(socket, listener, ctx));
    },
    has: (clientId) => byId.has(clientId),
    async start() {
      for (const s of await sessions.load()) for (const e of s.subs.values()) router.add(s, e);
      stats.v5Sessions = sessions.sessions.size;
    },
    stop() {
      stopping = true;
      for (const c of conns) c.disconnect(RC.SHUTTING_DOWN, 'the gateway is shutting down');
      for (const w of wills.values()) clearTimeout(w.timer);
      wills.clear();
    },
    async close() {
      router.close();
      await sessions.close();
    },
  };
}

/**
 * The largest keep alive granted to v5 clients: the smaller of keepaliveLimit (which refuses
 * 3.1.1 clients; v5 ones get Server Keep Alive instead) and mqtt5.maxKeepaliveSeconds, 0 in
 * either meaning "no limit"; 0 overall: grant any.
 */
export function keepaliveMaximum(keepaliveLimit: number, maxKeepaliveSeconds: number): number {
  if (keepaliveLimit === 0) return maxKeepaliveSeconds;
  if (maxKeepaliveSeconds === 0) return keepaliveLimit;
  return Math.min(keepaliveLimit, maxKeepaliveSeconds);
}
