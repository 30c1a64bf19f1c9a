// Broker metrics. The hot path bumps plain numbers on a stats object; prom-client reads them at
// scrape time through collect(), so a publish costs an integer add, not a labelled inc().
import type { Registry } from 'prom-client';
import { Counter, Gauge } from '../../core/prom-client.js';
import { registerTlsFailureMetrics } from './tls-failures.js';
import { registerWebSocketRefusalMetrics } from './ws-refusals.js';

export class BrokerStats {
  clients = 0;
  connections = 0;
  authFailures = 0;
  aclDeniedPublish = 0;
  aclDeniedSubscribe = 0;
  /** Indexed by QoS 0..2. */
  readonly messagesIn = [0, 0, 0];
  bytesIn = 0;
  messagesOut = 0;
  protocolErrors = 0;
  payloadTooLarge = 0;
  publishRejected = 0;
  connectionsRefused = 0;
  /** CONNECTs refused because their listener held its own maxConnections, by listener name. */
  readonly listenerRefused = new Map<string, number>();
  /** Pre-CONNECT sockets closed to make room, by limit. */
  preConnectShedAddress = 0;
  preConnectShedTotal = 0;
  connectTimeouts = 0;
  /** CONNECTs refused at once because the address or user name is banned. */
  authBannedAttempts = 0;
  /** Bans imposed, by scope. */
  authBansAddress = 0;
  authBansUser = 0;
  /** CONNECTs refused because too many password checks were waiting. */
  authBusy = 0;
  /** Malformed strings and unsupported protocol levels (connection closed). */
  strictUtf8 = 0;
  strictNul = 0;
  strictProtocolLevel = 0;
  outboundDropped = 0;
  /** Connections closed because a new connection used their client id. */
  takeovers = 0;
  /** MQTT 3.1.1: messages not queued for an offline persistent session (its queue full). */
  offlineDropped = 0;
  /** MQTT 3.1.1 persistent sessions held (connected or not; persistent-sessions.ts). */
  persistentSessions = 0;
  /** MQTT 3.1.1 disconnected persistent sessions removed to make room (maxPersistentSessions). */
  sessionsEvicted = 0;
  /** Retained messages held, and their payload bytes (retained-bound.ts). */
  retainedMessages = 0;
  retainedBytes = 0;
  /** Retained publishes delivered but not retained (maxRetainedMessages / maxRetainedBytes). */
  retainedRefused = 0;
  /** SUBSCRIBEs whose retained messages are being sent now, paced (persistence.ts). */
  retainedDeliveries = 0;
  /** PUBLISH topics and SUBSCRIBE filters refused for their length (maxTopicLength). */
  topicTooLong = 0;
  /** CONNECTs refused for the length of their client id (maxClientIdLength). */
  clientIdTooLong = 0;
  /** MQTT 5 retained messages whose Message Expiry passed, dropped to make room (retained-bound.ts). */
  retainedExpiredDropped = 0;
  /** MQTT 3.1.1 client ids with QoS 1/2 messages queued or in flight (session-queues.ts). */
  queuedClients = 0;
  /** MQTT 3.1.1 client ids with QoS 2 publishes received and not yet released. */
  qos2StoreClients = 0;
  /** MQTT 3.1.1 QoS 2 publishes received and not yet released, all clients (QOS2_PENDING_MAX per client). */
  qos2Pending = 0;
  /** MQTT 3.1.1 QoS 2 packet ids forgotten unreleased to keep a client to QOS2_PENDING_MAX (session-queues.ts). */
  qos2Forgotten = 0;
  /** Topic filters refused because their client held maxSubscriptionsPerClient already. */
  subscriptionsRefused = 0;
  /** State files (retained, MQTT 5 sessions; state-journal.ts): journal lines ignored at load (torn by a kill -9 or power cut). */
  stateTornLines = 0;
  /** State snapshots that did not parse at load (set aside, the broker started without them). */
  stateCorruptFiles = 0;
  /** Failed writes of a state file (retried as a whole snapshot). */
  stateWriteErrors = 0;
  slowConsumerDisconnects = 0;
  /** Times a client's publishes started waiting for its rate budget, their total wait (ms), clients waiting now. */
  throttles = 0;
  throttledMs = 0;
  clientsThrottled = 0;
  /** MQTT 5: QoS 1/2 publishes answered with a negative PUBACK/PUBREC (connection kept). */
  v5NegativeAcks = 0;
  /** MQTT 5: messages not sent to a subscriber (over its Maximum Packet Size, or its queue full). */
  v5Dropped = 0;
  /** MQTT 5: sessions held (connected or within their Session Expiry Interval). */
  v5Sessions = 0;
  /** MQTT 5: disconnected sessions removed to make room for a new one (mqtt5.maxSessions reached). */
  v5SessionsEvicted = 0;
  /** Mutual TLS (tls-failures.ts): failed handshakes by `listener\0reason`, clients closed for a reloaded CRL by listener. */
  readonly tlsFailures = new Map<string, number>();
  /** `${listener}\0${reason}` -> requests refused and connections closed by WebSocket listeners (ws-refusals.ts). */
  readonly wsRefused = new Map<string, number>();
  readonly revokedClosed = new Map<string, number>();
}

/** A counter mirroring a monotonically growing number read at scrape time. */
function mirrorCounter(registry: Registry, name: string, help: string, read: () => number): void {
  let reported = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read();
      if (v > reported) {
        this.inc(v - reported);
        reported = v;
      }
    },
  });
}

export function registerBrokerMetrics(registry: Registry, s: BrokerStats): void {
  registerTlsFailureMetrics(registry, s);
  registerWebSocketRefusalMetrics(registry, s);
  new Gauge({
    name: 'gatehouse_mqtt_clients',
    help: 'MQTT clients currently connected (authenticated)',
    registers: [registry],
    collect() {
      this.set(s.clients);
    },
  });
  mirrorCounter(
    registry,
    'gatehouse_mqtt_connections_total',
    'TCP/TLS connections accepted by the broker listeners (WebSocket listeners: before their HTTP upgrade)',
    () => s.connections,
  );
  mirrorCounter(registry, 'gatehouse_mqtt_connections_refused_total', 'Connections refused because maxConnections was reached', () => s.connectionsRefused);
  new Counter({
    name: 'gatehouse_mqtt_listener_connections_refused_total',
    help: 'Connections refused because their listener reached its own maxConnections (broker.listeners[].maxConnections), by listener',
    labelNames: ['listener'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [listener, n] of s.listenerRefused) this.inc({ listener }, n);
    },
  });
  mirrorCounter(
    registry,
    'gatehouse_mqtt_auth_failures_total',
    'CONNECTs refused for a wrong user name/password, anonymous access not allowed, or a client certificate without the identity its listener takes (tls.identity)',
    () => s.authFailures,
  );
  const acl = new Counter({
    name: 'gatehouse_mqtt_acl_denied_total',
    help: 'Publishes and subscriptions refused by the ACL',
    labelNames: ['action'],
    registers: [registry],
    collect() {
      // set absolute values: reset then inc (labelled counters have no set())
      this.reset();
      this.inc({ action: 'publish' }, s.aclDeniedPublish);
      this.inc({ action: 'subscribe' }, s.aclDeniedSubscribe);
    },
  });
  void acl;
  new Counter({
    name: 'gatehouse_mqtt_messages_in_total',
    help: 'PUBLISH packets received from clients (accepted by ACL and size checks), by QoS',
    labelNames: ['qos'],
    registers: [registry],
    collect() {
      this.reset();
      for (let q = 0; q < 3; q++) this.inc({ qos: String(q) }, s.messagesIn[q]!);
    },
  });
  mirrorCounter(registry, 'gatehouse_mqtt_bytes_in_total', 'Payload bytes of PUBLISH packets received from clients', () => s.bytesIn);
  mirrorCounter(registry, 'gatehouse_mqtt_messages_out_total', 'PUBLISH packets forwarded to subscribed clients', () => s.messagesOut);
  mirrorCounter(
    registry,
    'gatehouse_mqtt_protocol_errors_total',
    'Connections closed for malformed packets, protocol violations or failed TLS handshakes',
    () => s.protocolErrors,
  );
  mirrorCounter(registry, 'gatehouse_mqtt_payload_too_large_total', 'PUBLISH packets refused for exceeding maxPayloadBytes', () => s.payloadTooLarge);
  mirrorCounter(
    registry,
    'gatehouse_mqtt_topic_too_long_total',
    'PUBLISH topics and SUBSCRIBE topic filters refused for exceeding broker.maxTopicLength',
    () => s.topicTooLong,
  );
  mirrorCounter(
    registry,
    'gatehouse_mqtt_client_id_too_long_total',
    'CONNECTs refused for a client id longer than broker.maxClientIdLength',
    () => s.clientIdTooLong,
  );
  new Counter({
    name: 'gatehouse_mqtt_preconnect_shed_total',
    help: 'Sockets closed before sending CONNECT to make room for new ones, by the limit hit (address: maxPendingPerAddress, total: maxPendingConnections)',
    labelNames: ['limit'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ limit: 'address' }, s.preConnectShedAddress);
      this.inc({ limit: 'total' }, s.preConnectShedTotal);
    },
  });
  mirrorCounter(registry, 'gatehouse_mqtt_connect_timeouts_total', 'Sockets closed for not sending CONNECT within connectTimeoutMs', () => s.connectTimeouts);
  mirrorCounter(
    registry,
    'gatehouse_mqtt_auth_banned_attempts_total',
    'CONNECTs refused (CONNACK 0x05) without a password check because the address or user name is banned',
    () => s.authBannedAttempts,
  );
  new Counter({
    name: 'gatehouse_mqtt_auth_bans_total',
    help: 'Temporary bans imposed after repeated failed authentication, by scope (address, user)',
    labelNames: ['scope'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ scope: 'address' }, s.authBansAddress);
      this.inc({ scope: 'user' }, s.authBansUser);
    },
  });
  mirrorCounter(registry, 'gatehouse_mqtt_auth_busy_total', 'CONNECTs refused (CONNACK 0x03) because too many password checks were waiting', () => s.authBusy);
  new Counter({
    name: 'gatehouse_mqtt_strict_violations_total',
    help: 'Connections closed for ill-formed UTF-8 or U+0000 in an MQTT string, or refused (CONNACK 0x01) for an unsupported protocol level',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ kind: 'utf8' }, s.strictUtf8);
      this.inc({ kind: 'nul' }, s.strictNul);
      this.inc({ kind: 'protocol-level' }, s.strictProtocolLevel);
    },
  });
  mirrorCounter(
    registry,
    'gatehouse_mqtt_outbound_dropped_total',
    'QoS 0 deliveries dropped because the subscriber queue was over half full',
    () => s.outboundDropped,
  );
  mirrorCounter(
    registry,
    'gatehouse_mqtt_slow_consumer_disconnects_total',
    'Subscribers disconnected as slow consumers: outgoing queue overflowed with QoS 1/2 messages, or socket full for drainTimeoutMs',
    () => s.slowConsumerDisconnects,
  );
  mirrorCounter(
    registry,
    'gatehouse_mqtt_publish_rejected_total',
    'Client publishes the gateway failed to accept (onPublish rejected): no PUBACK was sent',
    () => s.publishRejected,
  );
  mirrorCounter(
    registry,
    'gatehouse_mqtt_takeovers_total',
    'Connections closed because a new connection used their client id (two devices sharing one id take each other over in turn)',
    () => s.takeovers,
  );
  mirrorCounter(
    registry,
    'gatehouse_mqtt_subscriptions_refused_total',
    'Topic filters refused because their client held broker.maxSubscriptionsPerClient filters already',
    () => s.subscriptionsRefused,
  );
  new Counter({
    name: 'gatehouse_mqtt_state_file_problems_total',
    help: 'Broker state files (mqtt-retained.json, mqtt5-sessions.json and their journals) by problem: torn_line (ignored at load), corrupt (a snapshot set aside), write_error (GH_BROKER_STATE_FILE)',
    labelNames: ['problem'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ problem: 'torn_line' }, s.stateTornLines);
      this.inc({ problem: 'corrupt' }, s.stateCorruptFiles);
      this.inc({ problem: 'write_error' }, s.stateWriteErrors);
    },
  });
  mirrorCounter(
    registry,
    'gatehouse_mqtt_client_throttled_total',
    'Times a client publishing over broker.maxPublishRatePerClient or maxPublishBytesPerSecPerClient had its socket read paused (nothing dropped)',
    () => s.throttles,
  );
  mirrorCounter(
    registry,
    'gatehouse_mqtt_client_throttled_seconds_total',
    'Seconds clients spent with their socket read paused by the publish rate limits (summed over clients; counted when each pause ends)',
    () => s.throttledMs / 1000,
  );
  new Gauge({
    name: 'gatehouse_mqtt_clients_throttled',
    help: 'MQTT clients whose socket read is paused by the publish rate limits now',
    registers: [registry],
    collect() {
      this.set(s.clientsThrottled);
    },
  });
  mirrorCounter(
    registry,
    'gatehouse_mqtt_offline_dropped_total',
    'MQTT 3.1.1 QoS 1/2 messages not queued for an offline persistent session (maxQueuedMessages or outbound.maxQueueBytes reached)',
    () => s.offlineDropped,
  );
  mirrorCounter(
    registry,
    'gatehouse_mqtt_sessions_evicted_total',
    'MQTT 3.1.1 disconnected persistent sessions removed (the one disconnected longest ago) to make room for a new one when maxPersistentSessions are held',
    () => s.sessionsEvicted,
  );
  new Gauge({
    name: 'gatehouse_mqtt_retained_deliveries',
    help: 'Subscriptions whose matching retained messages are being sent now, at the pace the subscriber reads them (each ends at its last message, or when its connection closes)',
    registers: [registry],
    collect() {
      this.set(s.retainedDeliveries);
    },
  });
  new Gauge({
    name: 'gatehouse_mqtt_retained_messages',
    help: "Retained messages held by the broker for clients (broker.maxRetainedMessages; the gateway's own rule status is not counted)",
    registers: [registry],
    collect() {
      this.set(s.retainedMessages);
    },
  });
  new Gauge({
    name: 'gatehouse_mqtt_retained_bytes',
    help: "Bytes of the retained messages held by the broker for clients, each its topic, its payload and its MQTT 5 properties (broker.maxRetainedBytes; the gateway's own rule status is not counted)",
    registers: [registry],
    collect() {
      this.set(s.retainedBytes);
    },
  });
  mirrorCounter(
    registry,
    'gatehouse_mqtt_retained_refused_total',
    'Retained publishes delivered but not retained: broker.maxRetainedMessages or maxRetainedBytes reached',
    () => s.retainedRefused,
  );
  mirrorCounter(
    registry,
    'gatehouse_mqtt_retained_expired_dropped_total',
    'MQTT 5 retained messages whose Message Expiry had passed, dropped to make room for a new retained message',
    () => s.retainedExpiredDropped,
  );
  new Gauge({
    name: 'gatehouse_mqtt_session_state_clients',
    help: 'MQTT 3.1.1 client ids holding session state in memory: kind=queue (QoS 1/2 messages queued or in flight), kind=qos2 (QoS 2 publishes not yet released)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.set({ kind: 'queue' }, s.queuedClients);
      this.set({ kind: 'qos2' }, s.qos2StoreClients);
    },
  });
  new Gauge({
    name: 'gatehouse_mqtt_qos2_pending',
    help: 'MQTT 3.1.1 QoS 2 publishes received and awaiting their PUBREL, all clients (at most 1,000 per client id, across its connections)',
    registers: [registry],
    collect() {
      this.set(s.qos2Pending);
    },
  });
  mirrorCounter(
    registry,
    'gatehouse_mqtt_qos2_forgotten_total',
    'MQTT 3.1.1 QoS 2 packet ids awaiting PUBREL forgotten (the oldest of the client) to keep a client id to 1,000: its PUBRELs withheld across connections',
    () => s.qos2Forgotten,
  );
  new Gauge({
    name: 'gatehouse_mqtt_persistent_sessions',
    help: 'MQTT 3.1.1 persistent sessions (clean: false) held, connected or not',
    registers: [registry],
    collect() {
      this.set(s.persistentSessions);
    },
  });
  mirrorCounter(
    registry,
    'gatehouse_mqtt5_negative_acks_total',
    'MQTT 5 QoS 1/2 publishes answered with a negative PUBACK/PUBREC reason code (not committed)',
    () => s.v5NegativeAcks,
  );
  mirrorCounter(
    registry,
    'gatehouse_mqtt5_sessions_evicted_total',
    'MQTT 5 disconnected sessions removed (the one disconnected longest ago) to make room for a new one when mqtt5.maxSessions are held',
    () => s.v5SessionsEvicted,
  );
  mirrorCounter(
    registry,
    'gatehouse_mqtt5_dropped_total',
    'MQTT 5 messages not delivered to a subscriber (over its Maximum Packet Size or its session queue full)',
    () => s.v5Dropped,
  );
  new Gauge({
    name: 'gatehouse_mqtt5_sessions',
    help: 'MQTT 5 sessions held (connected, or disconnected within their Session Expiry Interval)',
    registers: [registry],
    collect() {
      this.set(s.v5Sessions);
    },
  });
}
