// The embedded broker's public surface: what the runtime and the tests hold of it (index.ts makes
// it). Invariant: a client's QoS 1/2 PUBACK/PUBREC is sent only once deps.onPublish's promise
// resolved (the gateway committed the message); a rejection is never an acknowledgement.
import type { RuntimeDeps } from '../../core/deps.js';
import type { Message } from '../../core/message.js';
import type { CertExpiryEntry } from '../../core/cert-expiry.js';
import type { PublishRefusal, TopicGuard } from './hooks.js';
import type { BrokerPublishPacket } from './internal-bus.js';
import type { TlsReloadOutcome } from './tls-reload.js';

/** A listener as bound (port 0 resolved). */
export interface ListenerAddress {
  name: string;
  host: string;
  port: number;
  tls: boolean;
  /** mqtt (TCP/TLS) or websockets (ws:// or wss://). */
  protocol: 'mqtt' | 'websockets';
  /** websockets: the only path upgraded, when set. */
  path?: string;
}

export interface ClientInfo {
  id: string;
  user: string | undefined;
  ip: string | undefined;
  connectedAt: number;
  listener: string;
  protocolVersion: number;
  /** Its publishes wait for its rate budget now (broker.maxPublishRatePerClient / maxPublishBytesPerSecPerClient): its socket is read more slowly. */
  throttled: boolean;
  /** Times its publishes had to wait for its rate budget on this connection, and for how long in all. */
  throttles: number;
  throttledSeconds: number;
}

export interface Broker {
  /** Listen on every configured listener. A stop() while it runs wins: it then resolves without listening. */
  start(): Promise<void>;
  /** Stop accepting, close every client, close aedes. Idempotent; during a start, it waits for the state files' loading. */
  stop(): Promise<void>;
  /** Publish to subscribers from inside the gateway (rule republish). Does not call onPublish. */
  publish(packet: BrokerPublishPacket): Promise<void>;
  /** Internal subscription (e.g. serial downlink command topics). Returns unsubscribe. */
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): () => void;
  clients(): ClientInfo[];
  /** Actually bound addresses (port 0 resolved). */
  addresses(): ListenerAddress[];
  /** Be told of client publishes refused before the gateway saw them (too large, reserved topic). Returns unsubscribe. */
  onPublishRefused(listener: (r: PublishRefusal) => void): () => void;
  /** Read every TLS listener's files again and swap in those that changed (SIGHUP; tls-reload.ts). */
  reloadTls(): Promise<TlsReloadOutcome[]>;
  /** The certificates TLS listeners serve, as last read (their notAfter, near or past it or not). */
  servedCertificates(): CertExpiryEntry[];
}

export type BrokerDeps = RuntimeDeps & {
  /**
   * Called for every client publish (and will) after the ACL and size checks. For QoS 1/2 the
   * PUBACK/PUBREC waits for the returned promise; a rejection means no ack and a disconnect.
   */
  onPublish(msg: Message): Promise<void> | undefined;
  /** File keeping MQTT 5 sessions (with a session expiry) across restarts; none: memory only. */
  sessionFile?: string;
  /** File keeping retained messages across restarts (retained-file.ts); none: memory only. */
  retainedFile?: string;
  /** Topics reserved for the gateway or some users (control topics); checked after the ACL. */
  topicGuard?: TopicGuard;
  /**
   * Topics of the gateway's own retained state (its rule status, `<prefix>/<gatewayId>/rules/status`),
   * which only the gateway publishes (topicGuard refuses clients there): outside
   * maxRetainedMessages / maxRetainedBytes, which bound what clients retain (retained-bound.ts).
   */
  gatewayStateTopics?: readonly string[];
  /** The gateway's version, on $SYS/broker/version (sys-topics.ts). */
  version?: string;
};
