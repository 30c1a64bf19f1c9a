// The embedded MQTT broker: aedes behind our own listeners, with authentication, ACL, limits,
// metrics, and the durability hook.
//
// Durability: aedes writes PUBACK right after authorizePublish calls back and before
// broker.publish runs (lib/handlers/publish.js). So every client publish is handed to
// deps.onPublish inside authorizePublish, and for QoS 1/2 the callback waits for the returned
// promise: a PUBACK/PUBREC therefore means the gateway has committed the message.
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Aedes, type Client, type PublishPacket, type Subscription, type AedesPublishPacket, type ConnectPacket } from 'aedes';
import type { RuntimeDeps } from '../deps.js';
import type { Message, MessageProperties, MessageSource } from '../message.js';
import { errorMessage } from '../errors.js';
import { aclHasDeny, compileClientAcl, OPEN_ACL, type ClientAcl } from './acl.js';
import { address, createListeners, listen, type BoundListener } from './listeners.js';
import { BrokerStats, registerBrokerMetrics } from './metrics.js';
import { brokerOptionsSchema, checkBrokerSecurity, type BrokerOptions, type BrokerOptionsInput } from './options.js';
import { DUMMY_HASH, verifyPassword } from './password.js';

export { brokerOptionsSchema, checkBrokerSecurity, type BrokerOptions, type BrokerOptionsInput } from './options.js';
export { hashPassword, verifyPassword } from './password.js';

export interface ClientInfo {
  id: string;
  user: string | undefined;
  ip: string | undefined;
  connectedAt: number;
  listener: string;
  protocolVersion: number;
}

export interface BrokerPublishPacket {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain?: boolean;
  properties?: PublishPacket['properties'];
}

export interface Broker {
  /** Listen on every configured listener. */
  start(): Promise<void>;
  /** Stop accepting, close every client, close aedes. Idempotent. */
  stop(): Promise<void>;
  /** Publish to subscribers from inside the gateway (rule republish). Does not call onPublish. */
  publish(packet: BrokerPublishPacket): Promise<void>;
  /** Internal subscription (e.g. serial downlink command topics). Returns unsubscribe. */
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): () => void;
  clients(): ClientInfo[];
  /** Actually bound addresses (port 0 resolved). */
  addresses(): { name: string; host: string; port: number; tls: boolean }[];
}

export type BrokerDeps = RuntimeDeps & {
  /**
   * Called for every client publish (and will) after the ACL and size checks. For QoS 1/2 the
   * PUBACK/PUBREC waits for the returned promise; a rejection means no ack and a disconnect.
   */
  onPublish(msg: Message): Promise<void> | undefined;
};

/** A client publish beyond maxInflight, waiting for a slot (FIFO keeps per-client order). */
interface Waiting {
  msg: Message;
  cb: (err?: Error | null) => void;
}

/** Per-connection state, created when the socket is handed to aedes. */
class ConnState {
  user: string | undefined = undefined;
  authorized = false;
  closed = false;
  emptyIdPersistent = false;
  connectedAt = 0;
  acl: ClientAcl = OPEN_ACL;
  filterDeliveries = false;
  source: MessageSource;
  inflight = 0;
  waiting: Waiting[] = [];
  /** Settle handlers of this connection's QoS 0 commits (made once, not per message). */
  qos0Done: (() => void) | undefined = undefined;
  qos0Failed: ((err: unknown) => void) | undefined = undefined;
  constructor(
    readonly client: Client,
    readonly listener: string,
    readonly ip: string | undefined,
  ) {
    this.source = { kind: 'mqtt', id: '' };
  }
}

/** aedes internals we rely on (not in its typings): the per-client packet parser and the client table. */
interface ParserInternals {
  packet: { length: number };
  _parseLength(): boolean;
  _emitError(err: Error): void;
  on(event: 'error', fn: (err: Error) => void): void;
}
type ClientInternals = Client & { _parser: ParserInternals };
type AedesInternals = Aedes & { clients: Record<string, Client | undefined> };

/** Waiting publishes per client beyond maxInflight. aedes reads no more from a socket until every
 * packet of the last read chunk is handled, so this is bounded by one chunk; the cap is a guard. */
const MAX_WAITING = 65_536;
/** Protocol violations aedes reports through clientError/connectionError (parser errors are counted at the parser). */
const PROTOCOL_ERROR = /Invalid protocol|not allowed in PUBLISH|empty topic|too many levels|queue limit|maxInflightInbound|unacceptable protocol|did not arrive in time|invalid topic/i;

function authError(returnCode: 2 | 3 | 4 | 5, message: string): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode });
}

function toProperties(p: NonNullable<PublishPacket['properties']>): MessageProperties {
  const out: MessageProperties = {};
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = p.payloadFormatIndicator;
  if (p.responseTopic !== undefined) out.responseTopic = p.responseTopic;
  if (p.correlationData !== undefined) out.correlationData = p.correlationData;
  if (p.messageExpiryInterval !== undefined) out.messageExpiryInterval = p.messageExpiryInterval;
  if (p.userProperties !== undefined) out.userProperties = p.userProperties;
  return out;
}

export async function createBroker(input: BrokerOptions | BrokerOptionsInput, deps: BrokerDeps): Promise<Broker> {
  const options: BrokerOptions = brokerOptionsSchema.parse(input);
  checkBrokerSecurity(options);
  const log = deps.logger.child({ component: 'broker' });
  const now = deps.now ?? Date.now;
  const stats = new BrokerStats();
  registerBrokerMetrics(deps.registry, stats);
  const usersByName = new Map(options.users.map((u) => [u.username, u.password]));
  const hasDeny = aclHasDeny(options.acl);
  // The parser buffers a whole packet before aedes sees it: cap the packet length at the
  // largest legal PUBLISH (payload + topic + headers) so a huge length prefix is refused at once.
  const maxPacketBytes = options.maxPayloadBytes + 65_535 + 64;
  const { maxInflight, maxPayloadBytes, maxConnections } = options;

  const states = new WeakMap<Client, ConnState>();
  const live = new Set<ConnState>();
  const sockets = new Set<Socket>();
  let stopping: Promise<void> | undefined;
  let lastRejectLog = 0;

  const logRejection = (err: unknown, topic: string): void => {
    stats.publishRejected++;
    const t = now();
    // one warning per second at most: a failing store would otherwise flood the log
    if (t - lastRejectLog >= 1000) {
      lastRejectLog = t;
      log.warn({ err: errorMessage(err), topic, rejectedTotal: stats.publishRejected }, 'gateway refused a client publish (no PUBACK sent)');
    }
  };
  const onQos0Rejected = (err: unknown): void => logRejection(err, '(qos 0)');

  const aedes = new Aedes({
    connectTimeout: options.connectTimeoutMs,
    keepaliveLimit: options.keepaliveLimit,
    drainTimeout: options.drainTimeoutMs,
    preConnect,
    authenticate,
    authorizePublish,
    authorizeSubscribe,
    authorizeForward,
  }) as AedesInternals;

  aedes.on('clientError', onClientError);
  aedes.on('connectionError', onClientError);
  // aedes emits 'error' for persistence failures; unhandled it would crash the process
  (aedes as EventEmitter).on('error', (err: Error) => log.error({ err: err.message }, 'aedes error'));

  function onClientError(client: Client, err: Error): void {
    if (PROTOCOL_ERROR.test(err.message)) stats.protocolErrors++;
    log.debug({ client: client?.id, err: err.message }, 'client connection error');
  }

  function preConnect(client: Client, packet: ConnectPacket, cb: (err: Error | null, ok: boolean) => void): void {
    // [MQTT-3.1.3-8]: a zero-length client id requires clean session; aedes would invent an id.
    // Refused in authenticate(), the one hook that can send a CONNACK return code.
    if (packet.clientId === '' && !packet.clean) {
      const st = states.get(client);
      if (st) st.emptyIdPersistent = true;
    }
    cb(null, true);
  }

  function authenticate(
    client: Client,
    username: Readonly<string | undefined>,
    password: Readonly<Buffer | undefined>,
    cb: (err: (Error & { returnCode: number }) | null, ok: boolean | null) => void,
  ): void {
    const st = states.get(client);
    if (!st) return cb(authError(3, 'unknown connection'), null);
    if (st.emptyIdPersistent) {
      stats.protocolErrors++;
      return cb(authError(2, 'a zero-length client id needs clean session'), null);
    }
    const anonymous = username === undefined || username === '';
    if (anonymous || (usersByName.size === 0 && options.allowAnonymous)) {
      // With no users configured, a user name proves nothing: the client is anonymous.
      if (!options.allowAnonymous) {
        stats.authFailures++;
        return cb(authError(5, 'anonymous clients are not allowed'), null);
      }
      return accept(st, undefined, cb);
    }
    const hash = usersByName.get(username);
    // unknown user: spend the same scrypt time as for a known one (no enumeration by timing)
    verifyPassword(password ?? '', hash ?? DUMMY_HASH).then((ok) => {
      if (ok && hash !== undefined) return accept(st, username, cb);
      stats.authFailures++;
      log.info({ user: username, ip: st.ip }, 'MQTT authentication failed');
      cb(authError(4, 'bad user name or password'), null);
    }, (err: unknown) => cb(authError(3, errorMessage(err)), null));
  }

  function accept(st: ConnState, user: string | undefined, cb: (err: (Error & { returnCode: number }) | null, ok: boolean | null) => void): void {
    if (st.closed) return cb(null, false); // socket gone while verifying; aedes drops it
    const client = st.client;
    // A reconnecting client id takes over its old session, so it does not need a new slot.
    if (stats.clients >= maxConnections && aedes.clients[client.id] === undefined) {
      stats.connectionsRefused++;
      log.warn({ maxConnections }, 'connection limit reached, refusing client');
      return cb(authError(3, 'server connection limit reached'), null);
    }
    st.authorized = true;
    stats.clients++;
    live.add(st);
    st.user = user;
    st.connectedAt = now();
    st.acl = compileClientAcl(options.acl, user, client.id);
    const source: MessageSource = { kind: 'mqtt', id: client.id };
    if (st.ip !== undefined) source.ip = st.ip;
    if (user !== undefined) source.principal = user;
    st.source = source;
    cb(null, true);
  }

  function authorizePublish(client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void): void {
    const st = client ? states.get(client) : undefined;
    if (!st) {
      // a will published by aedes for a client that is gone (only with persistent sessions)
      return cb(new Error('no connection state'));
    }
    const topic = packet.topic;
    if (topic.charCodeAt(0) === 36 && topic.startsWith('$SYS')) {
      stats.aclDeniedPublish++;
      return cb(new Error('$SYS topics are reserved'));
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (payload.length > maxPayloadBytes) {
      stats.payloadTooLarge++;
      log.info({ client: st.client.id, topic, bytes: payload.length, maxPayloadBytes }, 'publish over maxPayloadBytes: disconnecting');
      return cb(new Error(`payload of ${payload.length} bytes exceeds maxPayloadBytes ${maxPayloadBytes}`));
    }
    if (!st.acl.canWrite(topic)) {
      stats.aclDeniedPublish++;
      log.info({ client: st.client.id, user: st.user, topic }, 'publish denied by ACL: disconnecting');
      return cb(new Error(`publish to ${topic} denied by ACL`));
    }
    const qos = packet.qos;
    stats.messagesIn[qos]!++;
    stats.bytesIn += payload.length;
    const msg: Message = { topic, payload, qos, retain: packet.retain, source: st.source, receivedAt: now() };
    if (packet.properties) msg.properties = toProperties(packet.properties);
    if (st.inflight >= maxInflight || st.waiting.length > 0) {
      if (st.waiting.length >= MAX_WAITING) return cb(new Error('too many publishes waiting for the gateway'));
      st.waiting.push({ msg, cb });
      return;
    }
    if (qos === 0) dispatch0(st, msg, cb);
    else dispatch(st, msg, cb);
  }

  /**
   * QoS 0: nothing to ack, but the commit still takes one of the client's in-flight slots, so a
   * QoS 0 flood meets the same bound as QoS 1 (the socket is not read while the client is at
   * maxInflight) instead of piling up pending appends in memory without limit.
   */
  function dispatch0(st: ConnState, msg: Message, cb: (err?: Error | null) => void): void {
    let p: Promise<void> | undefined;
    try {
      p = deps.onPublish(msg);
    } catch (err) {
      onQos0Rejected(err);
    }
    if (p) {
      st.inflight++;
      st.qos0Done ??= () => release(st);
      st.qos0Failed ??= (err: unknown) => {
        onQos0Rejected(err);
        release(st);
      };
      p.then(st.qos0Done, st.qos0Failed);
    }
    cb(null);
  }

  /** Hand a QoS 1/2 message to the gateway; ack (call back) when it is committed. */
  function dispatch(st: ConnState, msg: Message, cb: (err?: Error | null) => void): void {
    let p: Promise<void> | undefined;
    try {
      p = deps.onPublish(msg);
    } catch (err) {
      logRejection(err, msg.topic);
      return cb(err instanceof Error ? err : new Error(String(err)));
    }
    if (p === undefined) return cb(null);
    st.inflight++;
    // two small closures per QoS 1/2 message: the promise API offers no cheaper way to carry cb
    p.then(
      () => settle(st, cb, null, msg.topic),
      (err: unknown) => settle(st, cb, err, msg.topic),
    );
  }

  function settle(st: ConnState, cb: (err?: Error | null) => void, err: unknown, topic: string): void {
    if (err === null) cb(null);
    else {
      logRejection(err, topic);
      cb(err instanceof Error ? err : new Error(String(err)));
    }
    release(st);
  }

  /** One in-flight slot is free: hand waiting publishes on, in order. */
  function release(st: ConnState): void {
    st.inflight--;
    while (st.inflight < maxInflight && st.waiting.length > 0) {
      const w = st.waiting.shift()!;
      // the client is gone: it gets no ack and will resend, so do not store it now
      if (st.closed) w.cb(new Error('connection closed'));
      else if (w.msg.qos === 0) dispatch0(st, w.msg, w.cb);
      else dispatch(st, w.msg, w.cb);
    }
  }

  function authorizeSubscribe(client: Client, sub: Subscription, cb: (err: Error | null, sub?: Subscription | null) => void): void {
    const st = states.get(client);
    if (!st) return cb(new Error('no connection state'));
    const verdict = st.acl.subscribe(sub.topic);
    if (verdict === 'deny') {
      stats.aclDeniedSubscribe++;
      log.info({ client: client.id, user: st.user, filter: sub.topic }, 'subscription denied by ACL (SUBACK 0x80)');
      // a null subscription makes aedes answer 0x80 for this filter and keep the connection
      return cb(null, null);
    }
    if (verdict === 'filter') st.filterDeliveries = true;
    cb(null, sub);
  }

  function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    if (hasDeny) {
      const st = states.get(client);
      if (st?.filterDeliveries && !st.acl.canRead(packet.topic)) return null;
    }
    stats.messagesOut++;
    return packet;
  }

  function onSocket(socket: Socket, listener: string): void {
    stats.connections++;
    if (stopping) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    const client = aedes.handle(socket) as ClientInternals;
    const st = new ConnState(client, listener, socket.remoteAddress);
    states.set(client, st);
    socket.once('close', () => {
      sockets.delete(socket);
      st.closed = true;
      if (st.authorized) {
        st.authorized = false;
        stats.clients--;
        live.delete(st);
      }
    });
    // aedes gives the parser no size limit: refuse an oversized packet as soon as its length
    // prefix is read, before buffering it.
    const parser = client._parser;
    const parseLength = parser._parseLength;
    parser._parseLength = function parseLengthCapped(this: ParserInternals): boolean {
      const ok = parseLength.call(this);
      if (ok && this.packet.length > maxPacketBytes) {
        stats.payloadTooLarge++;
        this._emitError(Object.assign(new Error(`packet of ${this.packet.length} bytes exceeds the broker limit`), { tooLarge: true }));
        return false;
      }
      return ok;
    };
    parser.on('error', (err: Error & { tooLarge?: boolean }) => {
      if (!err.tooLarge) stats.protocolErrors++;
    });
  }

  const bound: BoundListener[] = await createListeners(options.listeners, {
    onSocket,
    onTlsError: (err) => {
      stats.protocolErrors++;
      log.debug({ err: err.message }, 'TLS handshake failed');
    },
  });
  for (const b of bound) {
    // accepted sockets beyond this are dropped by the kernel-facing server; the headroom lets
    // connections over maxConnections still get a CONNACK 0x03 instead of a reset
    b.server.maxConnections = maxConnections + 64;
  }
  let started = false;

  const broker: Broker = {
    async start() {
      if (started) return;
      started = true;
      await aedes.listen();
      try {
        for (let i = 0; i < bound.length; i++) await listen(bound[i]!, i);
      } catch (err) {
        await broker.stop();
        throw err;
      }
      log.info({ listeners: bound.map(address) }, 'MQTT broker listening');
    },

    stop() {
      stopping ??= (async () => {
        const closed = bound.map((b) => new Promise<void>((r) => (b.server.listening ? b.server.close(() => r()) : r())));
        await new Promise<void>((r) => aedes.close(() => r()));
        for (const s of sockets) s.destroy();
        await Promise.all(closed);
        log.info('MQTT broker stopped');
      })();
      return stopping;
    },

    publish(packet) {
      return new Promise<void>((resolve, reject) => {
        const p: PublishPacket = {
          cmd: 'publish',
          topic: packet.topic,
          payload: packet.payload,
          qos: packet.qos,
          retain: packet.retain ?? false,
          dup: false,
        };
        if (packet.properties) p.properties = packet.properties;
        aedes.publish(p, (err?: Error) => (err ? reject(err) : resolve()));
      });
    },

    subscribe(filter, handler) {
      const skipDollar = filter.startsWith('#') || filter.startsWith('+');
      const deliver = (packet: AedesPublishPacket, done: () => void): void => {
        // [MQTT-4.7.2-1]: wildcard filters do not see $SYS
        if (!(skipDollar && packet.topic.startsWith('$'))) {
          try {
            const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
            handler(packet.topic, payload);
          } catch (err) {
            log.error({ err: errorMessage(err), filter }, 'internal subscriber threw');
          }
        }
        done();
      };
      aedes.subscribe(filter, deliver, () => {});
      let active = true;
      return () => {
        if (!active) return;
        active = false;
        aedes.unsubscribe(filter, deliver, () => {});
      };
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
        });
      }
      return out;
    },

    addresses() {
      return bound.map(address);
    },
  };
  return broker;
}
