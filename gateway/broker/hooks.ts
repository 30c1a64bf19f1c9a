// The aedes hooks: authentication (CONNACK codes) and the connection limits (authenticate.ts),
// publish checks (ACL, $SYS, size) ahead of the durability hand-off, subscribe ACL (SUBACK 0x80)
// and delivery filtering.
import type { Client, PublishPacket, Subscription, AedesPublishPacket, ConnectPacket } from 'aedes';
import type { Logger } from 'pino';
import type { Message, MessageProperties } from '../../core/message.js';
import { ERRORS } from '../../core/errors.js';
import { reservedSubscription } from './acl.js';
import { logProtocolError, type ConnState } from './connection.js';
import type { CommitWindow } from './inflight.js';
import type { BrokerStats } from './metrics.js';
import type { BrokerOptions } from './options.js';
import { topicForLog, utf8LengthOver } from './identifier-limits.js';
import type { AuthGuard } from './auth-guard.js';
import type { RateLog } from '../../core/rate-log.js';
import { createAuthenticate, type AuthCallback } from './authenticate.js';

/** A client publish the broker refused before the gateway saw it (for the control plane's status). */
/** What an MQTT 5 client is told of a publish refused as not authorised: a PUBACK 0x87 at QoS 1 and 2, nothing at QoS 0 (dropped). */
const V5_DENIED = (what: string, qos: number): string =>
  qos > 0 ? `${what}: reason code 0x87` : `${what}: dropped (QoS 0: no PUBACK to carry reason code 0x87)`;

export interface PublishRefusal {
  topic: string;
  reason: 'too-large' | 'denied';
  bytes: number;
  client: string;
  /** too-large: the limit it exceeded (broker.maxPayloadBytes). */
  maxPayloadBytes?: number;
}

/** Topics only the gateway may publish on, or only some users (control topics). */
export interface TopicGuard {
  /** A reason to refuse this client publish, or undefined to allow it. */
  refusePublish(topic: string, user: string | undefined): string | undefined;
}

/** Protocol violations aedes reports through clientError/connectionError (parser errors are counted at the parser). */
const PROTOCOL_ERROR =
  /Invalid protocol|not allowed in PUBLISH|empty topic|too many levels|queue limit|maxInflightInbound|unacceptable protocol|did not arrive in time|invalid topic/i;

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
  /** authenticate.ts: the listener's CRL revokes this client's certificate now. */
  certificateRevoked?(st: ConnState): boolean;
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
  const { options, stats, log, now, states, commit } = deps;
  // per-delivery read checks: deny rules overlapping a granted filter, and resumed persistent sessions
  const checkReads = options.acl !== undefined;
  const { maxPayloadBytes, maxTopicLength } = options;

  // aedes fails every write waiting on the socket with 'drain timeout', each a clientError: one
  // disconnect was counted once per write pending (131 for a SUBSCRIBE over 3,000 retained messages)
  const drainTimedOut = new WeakSet<Client>();

  function onClientError(client: Client, err: Error): void {
    if (PROTOCOL_ERROR.test(err.message)) {
      stats.protocolErrors++;
      if (err.message !== 'connect did not arrive in time') protocolErrorLog(client, err);
    }
    if (err.message === 'drain timeout' && !(client && drainTimedOut.has(client))) {
      if (client) drainTimedOut.add(client);
      stats.slowConsumerDisconnects++;
      // bounded (one line a minute, with the count): a subscriber on a slow link that reconnects
      // is disconnected again every few seconds for as long as the traffic lasts
      deps.rateLog(
        'slow-drain',
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

  // who may connect (authenticate.ts)
  const authenticate = createAuthenticate(deps);

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
      deps.onPublishRefused({ topic, reason: 'too-large', bytes: payload.length, client: st.client.id, maxPayloadBytes });
      return cb(ERRORS.GH_PAYLOAD_TOO_LARGE({ bytes: payload.length, maxPayloadBytes }));
    }
    if (!st.acl.canWrite(topic)) {
      stats.aclDeniedPublish++;
      // an MQTT 5 client gets PUBACK 0x87 and stays: it may go on, so the line is rate-limited
      // (at QoS 0 there is no PUBACK: the message is dropped, and the log must not say 0x87 was sent)
      deps.rateLog(
        `acl-publish-${v5 ? 5 : 4}`,
        { client: st.client.id, user: st.user, topic },
        v5 ? V5_DENIED('publish denied by ACL', packet.qos) : 'publish denied by ACL: disconnecting',
      );
      return cb(ERRORS.GH_ACL_DENIED({ topic, reason: 'not granted by the client ACL' }));
    }
    const refusal = deps.topicGuard?.refusePublish(topic, st.user);
    if (refusal !== undefined) {
      stats.aclDeniedPublish++;
      deps.rateLog(
        `reserved-publish-${v5 ? 5 : 4}`,
        { client: st.client.id, user: st.user, topic, why: refusal },
        v5 ? V5_DENIED('publish to a reserved topic refused', packet.qos) : 'publish to a reserved topic refused: disconnecting',
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
