// The aedes hooks: authentication (CONNACK codes), the connection limit, publish checks (ACL,
// $SYS, size) ahead of the durability hand-off, subscribe ACL (SUBACK 0x80) and delivery filtering.
import type { Client, PublishPacket, Subscription, AedesPublishPacket, ConnectPacket } from 'aedes';
import type { Logger } from 'pino';
import type { Message, MessageProperties, MessageSource } from '../../core/message.js';
import { ERRORS, errorMessage, type GatehouseError } from '../../core/errors.js';
import { compileClientAcl, reservedSubscription } from './acl.js';
import { logProtocolError, type ConnState } from './connection.js';
import type { CommitWindow } from './inflight.js';
import type { BrokerStats } from './metrics.js';
import type { BrokerOptions } from './options.js';
import { topicForLog, utf8LengthOver } from './identifier-limits.js';
import { DUMMY_HASH, verifyPassword } from './password.js';
import type { AuthGuard, BanScope } from './auth-guard.js';
import type { RateLog } from '../../core/rate-log.js';
import { publishRateLimitsByUser } from './rate-limit.js';
import { connectedOn, listenerConnectionCaps } from './listener-caps.js';

/** A client publish the broker refused before the gateway saw it (for the control plane's status). */
export interface PublishRefusal {
  topic: string;
  reason: 'too-large' | 'denied';
  bytes: number;
  client: string;
}

/** Topics only the gateway may publish on, or only some users (control topics). */
export interface TopicGuard {
  /** A reason to refuse this client publish, or undefined to allow it. */
  refusePublish(topic: string, user: string | undefined): string | undefined;
}

/** Protocol violations aedes reports through clientError/connectionError (parser errors are counted at the parser). */
const PROTOCOL_ERROR =
  /Invalid protocol|not allowed in PUBLISH|empty topic|too many levels|queue limit|maxInflightInbound|unacceptable protocol|did not arrive in time|invalid topic/i;

type AuthError = GatehouseError & { returnCode: number };
type AuthCallback = (err: AuthError | null, ok: boolean | null) => void;

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
  authGuard: AuthGuard;
  /** Bounded-rate warnings (floods, bans). */
  rateLog: RateLog;
  topicGuard: TopicGuard | undefined;
  onPublishRefused(r: PublishRefusal): void;
  /** The client sent CONNECT: it leaves the pre-CONNECT limits. */
  onConnectReceived(client: Client): void;
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

/** A refusal aedes turns into a CONNACK with `returnCode` (2 id rejected, 3 unavailable, 4 bad credentials, 5 not authorized). */
function authError(returnCode: 2 | 3 | 4 | 5, err: GatehouseError): AuthError {
  return Object.assign(err, { returnCode });
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
  const guard = deps.authGuard;
  const usersByName = new Map(options.users.map((u) => [u.username, u.password]));
  // per-delivery read checks: deny rules overlapping a granted filter, and resumed persistent sessions
  const checkReads = options.acl !== undefined;
  const { maxPayloadBytes, maxConnections, maxTopicLength } = options;
  const rateLimitsOf = publishRateLimitsByUser(options);
  const listenerCaps = listenerConnectionCaps(options.listeners);

  function onClientError(client: Client, err: Error): void {
    if (PROTOCOL_ERROR.test(err.message)) {
      stats.protocolErrors++;
      if (err.message !== 'connect did not arrive in time') protocolErrorLog(client, err);
    }
    if (err.message === 'drain timeout') {
      stats.slowConsumerDisconnects++;
      log.warn(
        { client: client?.id, ip: states.get(client)?.ip, drainTimeoutMs: options.drainTimeoutMs },
        'slow subscriber: socket full for drainTimeoutMs, disconnected',
      );
    }
    if (err.message === 'connect did not arrive in time') {
      stats.connectTimeouts++;
      deps.rateLog('connect-timeout', { ip: states.get(client)?.ip, connectTimeoutMs: options.connectTimeoutMs }, 'socket sent no CONNECT in time: closed');
    }
    log.debug({ client: client?.id, err: err.message }, 'client connection error');
  }

  function protocolErrorLog(client: Client, err: Error): void {
    logProtocolError(deps.rateLog, states.get(client)?.ip, client?.id ?? undefined, err.message);
  }

  function preConnect(client: Client, packet: ConnectPacket, cb: (err: Error | null, ok: boolean) => void): void {
    deps.onConnectReceived(client);
    // [MQTT-3.1.3-8]: a zero-length client id requires clean session; aedes would invent an id.
    // Refused in authenticate(), the one hook that can send a CONNACK return code.
    if (packet.clientId === '' && !packet.clean) {
      const st = states.get(client);
      if (st) st.emptyIdPersistent = true;
    }
    // A will is kept with its connection (and published at its end): its topic is bounded too.
    if (packet.will) {
      const st = states.get(client);
      if (st) st.willTopicTooLong = utf8LengthOver(packet.will.topic, maxTopicLength);
    }
    // A persistent session may be resumed by another user presenting its client id: aedes checks
    // its restored subscriptions against the new client's ACL (authorizeSubscribe), but delivers
    // what was queued for the old owner through authorizeForward only, so each delivery is checked.
    if (!packet.clean && options.acl !== undefined) {
      const st = states.get(client);
      if (st) st.filterDeliveries = true;
    }
    cb(null, true);
  }

  function authenticate(client: Client, username: Readonly<string | undefined>, password: Readonly<Buffer | undefined>, cb: AuthCallback): void {
    const st = states.get(client);
    if (!st) return cb(authError(3, ERRORS.GH_INTERNAL({ reason: 'authenticate() for an unknown connection' })), null);
    if (st.emptyIdPersistent) {
      stats.protocolErrors++;
      return cb(authError(2, ERRORS.GH_CLIENT_ID_REJECTED({ reason: 'a zero-length client id needs clean session' })), null);
    }
    const idBytes = utf8LengthOver(client.id ?? '', options.maxClientIdLength);
    if (idBytes !== undefined) {
      stats.clientIdTooLong++;
      deps.rateLog(
        'client-id-too-long',
        { ip: st.ip, clientId: topicForLog(client.id), bytes: idBytes, maxClientIdLength: options.maxClientIdLength },
        'client id over broker.maxClientIdLength: CONNACK identifier rejected',
      );
      return cb(authError(2, ERRORS.GH_CLIENT_ID_TOO_LONG({ bytes: idBytes, maxClientIdLength: options.maxClientIdLength })), null);
    }
    if (st.willTopicTooLong !== undefined) return refuseWill(st, st.willTopicTooLong, cb);
    const anonymous = username === undefined || username === '';
    if (anonymous || (usersByName.size === 0 && options.allowAnonymous)) {
      // With no users configured, a user name proves nothing: the client is anonymous.
      if (!options.allowAnonymous) {
        const banned = guard.banned(st.ip, undefined);
        if (banned) return refuseBanned(st, undefined, banned, cb);
        failed(st, undefined);
        return cb(authError(5, ERRORS.GH_AUTH_FAILED({ reason: 'anonymous clients are not allowed' })), null);
      }
      return accept(st, undefined, cb);
    }
    const banned = guard.banned(st.ip, username);
    if (banned) return refuseBanned(st, username, banned, cb);
    guard.acquire().then(
      (release) => {
        if (!release) {
          stats.authBusy++;
          deps.rateLog('auth-busy', { maxQueuedChecks: options.authBackoff.maxQueuedChecks }, 'too many password checks waiting: CONNACK 0x03');
          return cb(authError(3, ERRORS.GH_AUTH_FAILED({ reason: 'too many authentication attempts in progress' })), null);
        }
        if (st.closed) {
          release();
          return cb(null, false);
        }
        // the ban may have started while this attempt waited for its slot
        const late = guard.banned(st.ip, username);
        if (late) {
          release();
          return refuseBanned(st, username, late, cb);
        }
        const hash = usersByName.get(username);
        // unknown user: spend the same scrypt time as for a known one (no enumeration by timing)
        verifyPassword(password ?? '', hash ?? DUMMY_HASH).then(
          (ok) => {
            release();
            if (ok && hash !== undefined) {
              guard.succeeded(st.ip, username);
              return accept(st, username, cb);
            }
            failed(st, username);
            cb(authError(4, ERRORS.GH_AUTH_FAILED({ reason: 'bad user name or password' })), null);
          },
          (err: unknown) => {
            release();
            cb(authError(3, ERRORS.GH_INTERNAL({ reason: `password check failed: ${errorMessage(err)}` }, { cause: err })), null);
          },
        );
      },
      (err: unknown) => cb(authError(3, ERRORS.GH_INTERNAL({ reason: `password check failed: ${errorMessage(err)}` }, { cause: err })), null),
    );
  }

  /** A will whose topic is over maxTopicLength: CONNACK 0x05 (3.1.1 has no code for a will; MQTT 5 answers 0x90 in v5/connection.ts). */
  function refuseWill(st: ConnState, bytes: number, cb: AuthCallback): void {
    stats.topicTooLong++;
    deps.rateLog(
      'will-topic-too-long',
      { client: st.client.id, ip: st.ip, bytes, maxTopicLength },
      'will topic over broker.maxTopicLength: CONNACK not authorized',
    );
    cb(authError(5, ERRORS.GH_TOPIC_TOO_LONG({ bytes, maxTopicLength })), null);
  }

  function failed(st: ConnState, user: string | undefined): void {
    stats.authFailures++;
    deps.rateLog('auth-failed', { user, ip: st.ip, failures: stats.authFailures }, 'MQTT authentication failed');
    for (const scope of guard.failed(st.ip, user)) {
      if (scope === 'address') stats.authBansAddress++;
      else stats.authBansUser++;
      deps.rateLog(
        `ban-${scope}`,
        { scope, ip: st.ip, user, bans: stats.authBansAddress + stats.authBansUser },
        'repeated failed authentication: temporary ban',
      );
    }
  }

  function refuseBanned(st: ConnState, user: string | undefined, scope: BanScope, cb: AuthCallback): void {
    stats.authBannedAttempts++;
    deps.rateLog('banned-attempt', { scope, ip: st.ip, user, refused: stats.authBannedAttempts }, 'CONNECT from a banned address or user name: CONNACK 0x05');
    cb(authError(5, ERRORS.GH_AUTH_FAILED({ reason: `temporarily banned (${scope}) after repeated failed authentication` })), null);
  }

  function accept(st: ConnState, user: string | undefined, cb: AuthCallback): void {
    if (st.closed) return cb(null, false); // socket gone while verifying; aedes drops it
    const client = st.client;
    // A reconnecting client id takes over its old session, so it does not need a new slot.
    if (stats.clients >= maxConnections && !deps.hasClient(client.id)) {
      stats.connectionsRefused++;
      // Rate-limited: devices over the limit retry at once, each refusal is counted (connections_refused_total).
      deps.rateLog(
        'max-connections',
        { maxConnections, client: client.id, ip: st.ip, refused: stats.connectionsRefused },
        'connection limit reached, refusing client (CONNACK 0x03)',
      );
      return cb(authError(3, ERRORS.GH_TOO_MANY_CLIENTS({ maxConnections })), null);
    }
    const listenerCap = listenerCaps.get(st.listener);
    if (listenerCap !== undefined && connectedOn(live, st.listener, client.id) >= listenerCap) {
      const refused = (stats.listenerRefused.get(st.listener) ?? 0) + 1;
      stats.listenerRefused.set(st.listener, refused);
      deps.rateLog(
        `listener-max-connections:${st.listener}`,
        { listener: st.listener, maxConnections: listenerCap, client: client.id, ip: st.ip, refused },
        "listener's connection limit reached, refusing client (CONNACK 0x03)",
      );
      return cb(authError(3, ERRORS.GH_LISTENER_FULL({ listener: st.listener, maxConnections: listenerCap })), null);
    }
    st.authorized = true;
    stats.clients++;
    live.add(st);
    st.user = user;
    st.connectedAt = now();
    st.acl = compileClientAcl(options.acl, user, client.id);
    st.rateLimits = rateLimitsOf(user);
    const source: MessageSource = { kind: 'mqtt', id: client.id };
    if (st.ip !== undefined) source.ip = st.ip;
    // principal(): the user name; for a mutual-TLS client without one, its certificate's thumbprint (as AWS IoT).
    const principal = user ?? st.certThumbprint;
    if (principal !== undefined) source.principal = principal;
    st.source = source;
    cb(null, true);
  }

  function authorizePublish(client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void): void {
    const st = client ? states.get(client) : undefined;
    if (!st) {
      // a will published by aedes for a client that is gone (only with persistent sessions)
      return cb(ERRORS.GH_INTERNAL({ reason: 'publish without connection state' }));
    }
    const topic = packet.topic;
    if (topic.charCodeAt(0) === 36 && topic.startsWith('$SYS')) {
      stats.aclDeniedPublish++;
      return cb(ERRORS.GH_ACL_DENIED({ topic, reason: '$SYS topics are reserved for the broker' }));
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const v5 = st.client.version === 5;
    const topicBytes = utf8LengthOver(topic, maxTopicLength);
    if (topicBytes !== undefined) {
      stats.topicTooLong++;
      deps.rateLog(
        `publish-topic-too-long-${v5 ? 5 : 4}`,
        { client: st.client.id, user: st.user, topic: topicForLog(topic), bytes: topicBytes, maxTopicLength },
        v5 ? 'publish topic over broker.maxTopicLength: reason code 0x90' : 'publish topic over broker.maxTopicLength: disconnecting',
      );
      return cb(ERRORS.GH_TOPIC_TOO_LONG({ bytes: topicBytes, maxTopicLength }));
    }
    if (payload.length > maxPayloadBytes) {
      stats.payloadTooLarge++;
      deps.rateLog('publish-too-large', { client: st.client.id, topic, bytes: payload.length, maxPayloadBytes }, 'publish over maxPayloadBytes: disconnecting');
      deps.onPublishRefused({ topic, reason: 'too-large', bytes: payload.length, client: st.client.id });
      return cb(ERRORS.GH_PAYLOAD_TOO_LARGE({ bytes: payload.length, maxPayloadBytes }));
    }
    if (!st.acl.canWrite(topic)) {
      stats.aclDeniedPublish++;
      // an MQTT 5 client gets PUBACK 0x87 and stays: it may go on, so the line is rate-limited
      deps.rateLog(
        `acl-publish-${v5 ? 5 : 4}`,
        { client: st.client.id, user: st.user, topic },
        v5 ? 'publish denied by ACL: reason code 0x87' : 'publish denied by ACL: disconnecting',
      );
      return cb(ERRORS.GH_ACL_DENIED({ topic, reason: 'not granted by the client ACL' }));
    }
    const refusal = deps.topicGuard?.refusePublish(topic, st.user);
    if (refusal !== undefined) {
      stats.aclDeniedPublish++;
      deps.rateLog(
        `reserved-publish-${v5 ? 5 : 4}`,
        { client: st.client.id, user: st.user, topic, why: refusal },
        v5 ? 'publish to a reserved topic refused: reason code 0x87' : 'publish to a reserved topic refused: disconnecting',
      );
      deps.onPublishRefused({ topic, reason: 'denied', bytes: payload.length, client: st.client.id });
      return cb(ERRORS.GH_ACL_DENIED({ topic, reason: refusal }));
    }
    // AWS IoT Basic Ingest: the message goes to the named rule and no subscriber may ever get it
    // (reservedSubscription), so it is not retained either: it would be kept for nobody.
    if (packet.retain && topic.startsWith('$aws/rules/')) packet.retain = false;
    const qos = packet.qos;
    stats.messagesIn[qos]!++;
    stats.bytesIn += payload.length;
    const msg: Message = { topic, payload, qos, retain: packet.retain, source: st.source, receivedAt: now() };
    if (packet.properties) msg.properties = toProperties(packet.properties);
    commit.submit(st, msg, cb);
  }

  function authorizeSubscribe(client: Client, sub: Subscription, cb: (err: Error | null, sub?: Subscription | null) => void): void {
    const st = states.get(client);
    if (!st) return cb(ERRORS.GH_INTERNAL({ reason: 'subscribe without connection state' }));
    const filterBytes = utf8LengthOver(sub.topic, maxTopicLength);
    if (filterBytes !== undefined) {
      stats.topicTooLong++;
      deps.rateLog(
        'subscribe-topic-too-long',
        { client: client.id, user: st.user, filter: topicForLog(sub.topic), bytes: filterBytes, maxTopicLength },
        'topic filter over broker.maxTopicLength refused (SUBACK 0x80)',
      );
      return cb(null, null);
    }
    const reserved = reservedSubscription(sub.topic);
    if (reserved !== undefined) {
      stats.aclDeniedSubscribe++;
      deps.rateLog(
        'reserved-subscribe',
        { client: client.id, user: st.user, filter: sub.topic, why: reserved },
        'subscription to a reserved topic refused (SUBACK 0x80)',
      );
      return cb(null, null);
    }
    const verdict = st.acl.subscribe(sub.topic);
    if (verdict === 'deny') {
      stats.aclDeniedSubscribe++;
      deps.rateLog('acl-subscribe', { client: client.id, user: st.user, filter: sub.topic }, 'subscription denied by ACL (SUBACK 0x80)');
      // a null subscription makes aedes answer 0x80 for this filter and keep the connection
      return cb(null, null);
    }
    const max = options.maxSubscriptionsPerClient;
    if (max > 0) {
      // a persistent session's restored filters are in client.subscriptions, not seen here
      // (aedes keeps them in client.subscriptions, which its typings do not declare)
      const held = (st.subscribed ??= new Set(Object.keys((client as Client & { subscriptions?: object }).subscriptions ?? {})));
      if (!held.has(sub.topic)) {
        if (held.size >= max) {
          stats.subscriptionsRefused++;
          deps.rateLog(
            'subscription-limit',
            { client: client.id, user: st.user, filter: sub.topic, maxSubscriptionsPerClient: max, refused: stats.subscriptionsRefused },
            'subscription over broker.maxSubscriptionsPerClient refused (SUBACK 0x80)',
          );
          return cb(null, null);
        }
        held.add(sub.topic);
      }
    }
    if (verdict === 'filter') st.filterDeliveries = true;
    cb(null, sub);
  }

  function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    if (checkReads) {
      const st = states.get(client);
      if (st?.filterDeliveries && !st.acl.canRead(packet.topic)) return null;
    }
    stats.messagesOut++;
    return packet;
  }

  return { preConnect, authenticate, authorizePublish, authorizeSubscribe, authorizeForward, onClientError };
}
