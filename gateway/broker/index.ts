// The embedded MQTT broker: aedes behind our own listeners, with authentication, ACL, limits,
// metrics, and the durability hook.
//
// Durability: aedes writes PUBACK right after authorizePublish calls back and before
// broker.publish runs (lib/handlers/publish.js). So every client publish is handed to
// deps.onPublish inside authorizePublish, and for QoS 1/2 the callback waits for the returned
// promise: a PUBACK/PUBREC therefore means the gateway has committed the message.
//
// The parts: hooks.ts and authenticate.ts (the aedes hooks), inflight.ts (the per-client commit
// window behind authorizePublish), connection.ts (per-connection state, parser size cap),
// listeners.ts, accept.ts (each accepted socket: admission, routing to aedes (3.1.1) or the v5
// layer, the 3.1.1 connection's set-up), acl.ts, metrics.ts, persistence.ts (aedes' store:
// retained messages and sessions, bounded), internal-bus.ts (the gateway's own publishes and
// subscriptions); contract.ts holds the public surface (Broker, BrokerDeps, ClientInfo) this file makes.
// First: mqtt-packet must get its debug instances through it (see the module).
import './quiet-debug.js';
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Aedes, type Client } from 'aedes';
import { createBrokerPersistence } from './persistence.js';
import { isSysFilter, startSysTopics, type SysTopics } from './sys-topics.js';
import { QOS2_PENDING_MAX } from './session-queues.js';
import { createOrderedPublish, subscribeInternal } from './internal-bus.js';
import { ERRORS, errorMessage } from '../../core/errors.js';
import { clocksOf } from '../../core/clock.js';
import { noteTakeover, type ConnState } from './connection.js';
import { createAedesHooks, type PublishRefusal } from './hooks.js';
import { AuthGuard } from './auth-guard.js';
import type { DeliverInternals } from './outbound.js';
import { RetainedSubscribe } from './retained-subscribe.js';
import { PreConnectGuard } from './preconnect.js';
import { rateLimitedLog } from '../../core/rate-log.js';
import { createCommitWindow, MAX_WAITING } from './inflight.js';
import { closeClientsWithWills } from './close-clients.js';
import { createThrottleNotes } from './rate-limit.js';
import { address, createListeners, listen, type BoundListener } from './listeners.js';
import { ServedTls, type TlsListener } from './tls-reload.js';
import type { Broker, BrokerDeps, ClientInfo } from './contract.js';
import { closeRevoked } from './revoked.js';
import { createListenerHooks } from './accept.js';
import { BrokerStats, registerBrokerMetrics } from './metrics.js';
import { brokerOptionsSchema, checkBrokerSecurity, type BrokerOptions, type BrokerOptionsInput } from './options.js';
import { createV5Layer } from './v5/context.js';
import { refusalAnswer } from './v5/codes.js';

export { brokerOptionsSchema, checkBrokerSecurity, type BrokerOptions, type BrokerOptionsInput } from './options.js';
export { hashPassword, verifyPassword } from './password.js';
export type { PublishRefusal, TopicGuard } from './hooks.js';
export type { BrokerPublishPacket } from './internal-bus.js';
export type { Broker, BrokerDeps, ClientInfo } from './contract.js';

/**
 * The broker's bounded warnings (refused connections, failed logins, bans, takeovers, protocol
 * errors, shed sockets...): the first at once, then one a minute per kind with the number it stands
 * for. A fleet retrying over a limit or a device with a wrong password does so for hours, and the
 * journal is on the SD card: 10 s (until round 32) was 360 lines an hour per kind.
 */
export const WARN_LOG_MS = 60_000;

/** aedes internals we rely on (not in its typings): the client table. */
type AedesInternals = Aedes & { clients: Record<string, Client | undefined>; registerClient(client: Client): void };

export async function createBroker(input: BrokerOptions | BrokerOptionsInput, deps: BrokerDeps): Promise<Broker> {
  const options: BrokerOptions = brokerOptionsSchema.parse(input);
  checkBrokerSecurity(options);
  const log = deps.logger.child({ component: 'broker' });
  // Wall time (`now`) for receivedAt and connectedAt; monotonic time for every duration: bans,
  // rate-limited warnings, MQTT 5 message expiry (an interval by the spec, converted to wall time
  // only in the session and retained files, which must survive a restart).
  const clocks = clocksOf(deps);
  const { now, monotonic } = clocks;
  const stats = new BrokerStats();
  registerBrokerMetrics(deps.registry, stats);
  // The parser buffers a whole packet before aedes sees it: cap the packet length at the
  // largest legal PUBLISH (payload + topic + headers) so a huge length prefix is refused at once.
  const maxPacketBytes = options.maxPayloadBytes + 65_535 + 64;
  const { maxInflight, maxConnections } = options;

  const states = new WeakMap<Client, ConnState>();
  const live = new Set<ConnState>();
  const sockets = new Set<Socket>();
  let stopping: Promise<void> | undefined;

  const commit = createCommitWindow({
    stats,
    log,
    monotonic,
    maxInflight,
    sink: deps,
    throttle: createThrottleNotes(stats, log),
    v5Answer: refusalAnswer,
  });
  const rateLog = rateLimitedLog(log, 'warn', WARN_LOG_MS, monotonic);
  const refusedListeners = new Set<(r: PublishRefusal) => void>();
  const publishRefused = (r: PublishRefusal): void => {
    for (const l of refusedListeners) {
      try {
        l(r);
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'publish-refused listener threw');
      }
    }
  };
  // MQTT socket -> the socket the pre-CONNECT guard tracks (a TLS socket's TCP socket)
  const pendingOf = new WeakMap<Socket, Socket>();
  const connectReceived = (socket: Socket): void => preConnect.release(pendingOf.get(socket) ?? socket);
  const preConnect = new PreConnectGuard(
    { maxPending: options.maxPendingConnections, maxPendingPerAddress: options.maxPendingPerAddress },
    (_socket, reason, ip) => {
      if (reason === 'address') stats.preConnectShedAddress++;
      else stats.preConnectShedTotal++;
      rateLog(
        `shed-${reason}`,
        { ip, reason, pending: preConnect.size, shed: stats.preConnectShedAddress + stats.preConnectShedTotal },
        'too many sockets without CONNECT: closed the oldest',
      );
    },
  );
  const authGuard = new AuthGuard(options.authBackoff, monotonic);
  const hooks = createAedesHooks({
    options,
    stats,
    log,
    now,
    states,
    live,
    commit,
    hasClient: (id) => aedes.clients[id] !== undefined || v5.has(id),
    authGuard,
    rateLog,
    topicGuard: deps.topicGuard,
    onPublishRefused: publishRefused,
    onConnectReceived: (client) => connectReceived((client as DeliverInternals).conn),
    // (tls is made below, with the listeners; CONNECTs come only after they listen)
    certificateRevoked: (st) => tls.revoked(st.listener, (st.client as DeliverInternals).conn),
  });
  const isConnected = (id: string): boolean => aedes.clients[id] !== undefined;
  // aedes' store: retained messages bounded and mirrored to a file, session queues and persistent sessions bounded (persistence.ts)
  const { persistence, retained, persistentSessions, loadRetained, retainedSuperseded } = createBrokerPersistence({
    options,
    stats,
    log,
    clocks,
    rateLog,
    retainedFile: deps.retainedFile,
    gatewayStateTopics: deps.gatewayStateTopics,
    isConnected,
  });
  const aedes = new Aedes({
    persistence,
    connectTimeout: options.connectTimeoutMs,
    keepaliveLimit: options.keepaliveLimit,
    drainTimeout: options.drainTimeoutMs,
    // Packets behind a CONNECT, before its CONNACK (a client need not wait for it, 3.1.4): aedes
    // queues them, and its default of 42 closed a device that flushed its buffer on reconnect.
    // The queue is bounded by the one socket read that held them (as the commit window's).
    queueLimit: MAX_WAITING,
    // QoS 2 publishes awaiting PUBREL within one connection (aedes' default, said here): the same
    // bound as the session's across connections (session-queues.ts).
    maxInflightInbound: QOS2_PENDING_MAX,
    preConnect: hooks.preConnect,
    authenticate: hooks.authenticate,
    authorizePublish: hooks.authorizePublish,
    authorizeSubscribe: hooks.authorizeSubscribe,
    authorizeForward: hooks.authorizeForward,
  }) as AedesInternals;

  // the retained messages a 3.1.1 SUBSCRIBE matches, sent for aedes, ended by an UNSUBSCRIBE (retained-subscribe.ts)
  const retainedSubscribe = new RetainedSubscribe(persistence.createRetainedStreamCombi.bind(persistence), rateLog);
  retainedSubscribe.install(aedes, persistence);

  // a 3.1.1 CONNECT whose client id is connected closes that connection (aedes, [MQTT-3.1.4-2])
  const registerClient = aedes.registerClient.bind(aedes);
  aedes.registerClient = (client) => {
    const old = aedes.clients[client.id];
    if (old && old !== client) noteTakeover(stats, rateLog, client.id, states.get(client)?.ip, states.get(old)?.ip);
    registerClient(client);
  };

  // MQTT 5 clients: our own protocol layer (gateway/broker/v5/), with aedes as the message bus
  const v5 = createV5Layer({
    aedes,
    hooks,
    states,
    live,
    stats,
    log,
    clocks,
    options,
    maxPacketBytes,
    sessionFile: deps.sessionFile,
    onConnectReceived: connectReceived,
    rateLog,
    retainedSuperseded,
  });

  aedes.on('client', (client) => persistentSessions.connected(client));
  aedes.on('clientDisconnect', (client) => persistentSessions.disconnected(client));
  aedes.on('clientError', hooks.onClientError);
  // the filters a client holds, for maxSubscriptionsPerClient (hooks.ts authorizeSubscribe)
  aedes.on('unsubscribe', (filters, client) => {
    const held = states.get(client)?.subscribed;
    if (held) for (const f of filters) held.delete(f);
  });
  aedes.on('connectionError', hooks.onClientError);
  // aedes emits 'error' for persistence failures; unhandled it would crash the process
  (aedes as EventEmitter).on('error', (err: Error) => log.error({ err: err.message }, 'aedes error'));

  // What happens to each socket the listeners accept (accept.ts): admission, routing to aedes or v5.
  const listenerHooks = createListenerHooks({
    options,
    stats,
    rateLog,
    aedes,
    v5,
    states,
    live,
    sockets,
    authGuard,
    preConnect,
    pendingOf,
    maxPacketBytes,
    stopping: () => stopping !== undefined,
    publishRefused,
    retainedSuperseded,
    retainedWanted: (packet) => retainedSubscribe.wanted(packet),
  });
  const bound: BoundListener[] = await createListeners(
    options.listeners,
    listenerHooks,
    // The pending deadline (connectTimeoutMs from accept, handshake and CONNECT together) closes
    // slow handshakes. tls.Server's handshakeTimeout is an idle timeout (each byte restarts it):
    // only a backstop, a little later so the deadline closes first and the socket counts once.
    { handshakeTimeoutMs: options.connectTimeoutMs + 1000, maxPacketBytes, anonymous: options.allowAnonymous },
  );
  for (const b of bound) {
    // accepted sockets beyond this are dropped by the kernel-facing server; the headroom lets
    // connections over maxConnections still get a CONNACK 0x03 instead of a reset
    // pre-CONNECT sockets are bounded separately (shed oldest first), so they get their own room
    b.server.maxConnections = maxConnections + options.maxPendingConnections + 64;
  }
  const tls = new ServedTls(
    bound.flatMap((b): TlsListener[] => (b.tlsListener ? [b.tlsListener] : [])),
    { logger: log, registry: deps.registry, now, onCrlReloaded: (name, crls) => closeRevoked(live, name, crls, stats.revokedClosed, log) },
  );
  let started = false;
  /** The start's listen loop, once it began (settled: stop() waits for it, never rejects). */
  let listening: Promise<void> | undefined;
  // aedes (its persistence) and the v5 side ready, before any listener takes a client: internal
  // publishes may come first (a rule restored at start closing an overdue window republishes).
  let opened: Promise<void> | undefined;
  /** open() has finished: publishes go straight to aedes (no await per republished message). */
  let isOpen = false;
  const open = (): Promise<void> =>
    (opened ??= (async () => {
      await aedes.listen();
      // The retained messages of the last run, before any subscriber can ask for them.
      await loadRetained();
      await v5.start();
      isOpen = true;
    })());

  /** Internal publishes, each handed to aedes after the one before (internal-bus.ts). */
  const publishInOrder = createOrderedPublish(aedes, monotonic);
  let sys: SysTopics | undefined;
  aedes.on('subscribe', (subscriptions) => {
    // After the SUBACK's turn: the round must find the subscription in place.
    if (sys && subscriptions.some((s) => isSysFilter(s.topic))) setImmediate(() => sys?.subscribed());
  });

  const broker: Broker = {
    async start() {
      if (started) return;
      started = true;
      await open();
      const loop = (async () => {
        for (let i = 0; i < bound.length; i++) {
          // A stop while starting wins: no listener opens after it (one did, and stayed open after
          // the stop returned; the start resolved as if the broker were up).
          if (stopping) break;
          await listen(bound[i]!, i);
        }
      })();
      listening = loop.catch(() => undefined);
      try {
        await loop;
      } catch (err) {
        await broker.stop();
        throw err;
      }
      if (stopping) return; // the stop closes a listener bound meanwhile
      log.info({ listeners: bound.map(address) }, 'MQTT broker listening');
      tls.start();
      sys = startSysTopics(options.sysIntervalSec, {
        stats,
        publish: (packet) => publishInOrder(packet),
        version: `gatehouse ${deps.version ?? 'unknown'}`,
        monotonic,
        onError: (err) => rateLog('sys', { err: errorMessage(err) }, '$SYS figures not published'),
      });
    },

    stop() {
      stopping ??= (async () => {
        tls.stop();
        sys?.stop();
        const closed = bound.map((b) => new Promise<void>((r) => (b.server.listening ? b.server.close(() => r()) : r())));
        v5.stop();
        preConnect.stop();
        // A start still opening aedes and loading the state files finishes first. Closed before it,
        // aedes' listen() set its heartbeat timers after its close (never cleared: the process did
        // not exit), and a state file's journal was opened after its close (a file handle left open).
        await opened?.catch(() => undefined);
        // ... and a listener it was binding is closed too (it was not listening yet above).
        await listening;
        for (const b of bound) if (b.server.listening) closed.push(new Promise<void>((r) => b.server.close(() => r())));
        // The 3.1.1 clients first, each with its will committed and routed (close-clients.ts).
        await closeClientsWithWills(aedes, commit);
        await new Promise<void>((r) => aedes.close(() => r()));
        // The state files last: 3.1.1 clients publish until aedes closes them, and what they
        // published until then (PUBACKed) may be queued for an offline MQTT 5 session.
        await v5.close();
        await retained?.close();
        for (const s of sockets) s.destroy();
        await Promise.all(closed);
        log.info('MQTT broker stopped');
      })();
      return stopping;
    },

    async publish(packet) {
      // The limit devices are held to holds for what the gateway publishes to them too (rule
      // republish, downlinks from sources): a device sized for maxPayloadBytes gets nothing larger.
      const { maxPayloadBytes } = options;
      if (packet.payload.length > maxPayloadBytes) throw ERRORS.GH_PAYLOAD_TOO_LARGE({ bytes: packet.payload.length, maxPayloadBytes });
      if (!isOpen) await open();
      // One internal publish at a time, in the order they were made (internal-bus.ts).
      return publishInOrder(packet);
    },

    subscribe(filter, handler) {
      return subscribeInternal(aedes, log, filter, handler);
    },

    clients() {
      const out: ClientInfo[] = [];
      for (const st of live) {
        out.push({
          id: st.client.id,
          user: st.user,
          ip: st.ip,
          connectedAt: st.connectedAt,
          listener: st.listener,
          protocolVersion: st.client.version,
          throttled: st.throttledSince >= 0,
          throttles: st.throttles,
          throttledSeconds: Math.round((st.throttledMs + (st.throttledSince >= 0 ? monotonic() - st.throttledSince : 0)) / 100) / 10,
        });
      }
      return out;
    },

    addresses() {
      return bound.map(address);
    },

    reloadTls: () => tls.reload(),
    servedCertificates: () => tls.expiryEntries(),

    onPublishRefused(listener) {
      refusedListeners.add(listener);
      return () => refusedListeners.delete(listener);
    },
  };
  return broker;
}
