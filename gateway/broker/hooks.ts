// The aedes hooks: authentication (CONNACK codes), the connection limit, publish checks (ACL,
// $SYS, size) ahead of the durability hand-off, subscribe ACL (SUBACK 0x80) and delivery filtering.
import type { Client, PublishPacket, Subscription, AedesPublishPacket, ConnectPacket } from 'aedes';
import type { Logger } from 'pino';
import type { Message, MessageProperties, MessageSource } from '../../core/message.js';
import { errorMessage } from '../../core/errors.js';
import { aclHasDeny, compileClientAcl } from './acl.js';
import type { ConnState } from './connection.js';
import type { CommitWindow } from './inflight.js';
import type { BrokerStats } from './metrics.js';
import type { BrokerOptions } from './options.js';
import { DUMMY_HASH, verifyPassword } from './password.js';
import { RC, coded } from './v5/codes.js';

/** Protocol violations aedes reports through clientError/connectionError (parser errors are counted at the parser). */
const PROTOCOL_ERROR = /Invalid protocol|not allowed in PUBLISH|empty topic|too many levels|queue limit|maxInflightInbound|unacceptable protocol|did not arrive in time|invalid topic/i;

type AuthCallback = (err: (Error & { returnCode: number }) | null, ok: boolean | null) => void;

export interface HookDeps {
  options: BrokerOptions;
  stats: BrokerStats;
  log: Logger;
  now: () => number;
  /** Connection state by aedes client (set when the socket is handed to aedes). */
  states: WeakMap<Client, ConnState>;
  /** Authorized connections (for clients()). */
  live: Set<ConnState>;
  commit: CommitWindow;
  /** Whether aedes already has a client with this id (a reconnect taking over its session). */
  hasClient(id: string): boolean;
}

export interface AedesHooks {
  preConnect(client: Client, packet: ConnectPacket, cb: (err: Error | null, ok: boolean) => void): void;
  authenticate(client: Client, username: Readonly<string | undefined>, password: Readonly<Buffer | undefined>, cb: AuthCallback): void;
  authorizePublish(client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void): void;
  authorizeSubscribe(client: Client, sub: Subscription, cb: (err: Error | null, sub?: Subscription | null) => void): void;
  authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null;
  /** For aedes' clientError and connectionError events. */
  onClientError(client: Client, err: Error): void;
}

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

/** The hooks are made once per broker; none allocates a closure per message. */
export function createAedesHooks(deps: HookDeps): AedesHooks {
  const { options, stats, log, now, states, live, commit } = deps;
  const usersByName = new Map(options.users.map((u) => [u.username, u.password]));
  const hasDeny = aclHasDeny(options.acl);
  const { maxPayloadBytes, maxConnections } = options;

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
    cb: AuthCallback,
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

  function accept(st: ConnState, user: string | undefined, cb: AuthCallback): void {
    if (st.closed) return cb(null, false); // socket gone while verifying; aedes drops it
    const client = st.client;
    // A reconnecting client id takes over its old session, so it does not need a new slot.
    if (stats.clients >= maxConnections && !deps.hasClient(client.id)) {
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
      return cb(coded(RC.NOT_AUTHORIZED, '$SYS topics are reserved'));
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (payload.length > maxPayloadBytes) {
      stats.payloadTooLarge++;
      log.info({ client: st.client.id, topic, bytes: payload.length, maxPayloadBytes }, 'publish over maxPayloadBytes: disconnecting');
      return cb(coded(RC.PACKET_TOO_LARGE, `payload of ${payload.length} bytes exceeds maxPayloadBytes ${maxPayloadBytes}`));
    }
    if (!st.acl.canWrite(topic)) {
      stats.aclDeniedPublish++;
      log.info({ client: st.client.id, user: st.user, topic }, 'publish denied by ACL: disconnecting');
      return cb(coded(RC.NOT_AUTHORIZED, `publish to ${topic} denied by ACL`));
    }
    const qos = packet.qos;
    stats.messagesIn[qos]!++;
    stats.bytesIn += payload.length;
    const msg: Message = { topic, payload, qos, retain: packet.retain, source: st.source, receivedAt: now() };
    if (packet.properties) msg.properties = toProperties(packet.properties);
    commit.submit(st, msg, cb);
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

  return { preConnect, authenticate, authorizePublish, authorizeSubscribe, authorizeForward, onClientError };
}
