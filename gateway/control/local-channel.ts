// The control channel's contract (ControlChannel: subscribe to the control topics, publish status
// and heartbeats, hear of reconnects and refused publishes) and its local implementation on the
// embedded broker (the default): always connected, never reconnecting, and with `ingest` a
// heartbeat handed to the rules as if a client had published it, so it is durable (stored for the
// archive rule and the MQTT bridge) once the publish resolves. The upstream implementation, a
// connection of its own to another broker, is channel.ts.

/** `retained`: the broker sent a retained message (upstream: on subscribing, at each connect). */
export type ControlHandler = (topic: string, payload: Buffer, retained?: boolean) => void;

export interface ControlChannel {
  /** 'local' or the upstream URL (for logs and status). */
  readonly kind: string;
  /** False while an upstream connection is down (heartbeats are skipped then, not queued). */
  connected(): boolean;
  /** Control topics the broker refused to subscribe us to at the last (re)connect (its ACL): none arrive. */
  refusedTopics(): readonly string[];
  /** Connect (upstream). A stop() while it runs wins: it then resolves without connecting. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Subscribe (QoS 1 upstream) to one exact topic; the handler gets every message on it. */
  subscribe(topic: string, handler: ControlHandler): void;
  /**
   * Publish; resolves when handed to the broker (upstream: PUBACK for QoS 1). `ingest` (local
   * channel only): also hand the message to the rules, so an archive rule and the MQTT bridge
   * exporter carry it upstream (heartbeats), as if a client had published it.
   */
  publish(topic: string, payload: Buffer | string, opts: { qos: 0 | 1; retain: boolean; ingest?: boolean }): Promise<void>;
  /**
   * Called after each reconnect (upstream; never on the local broker): the broker may have lost
   * what the gateway published retained before (restarted without persistence, a fail-over node).
   */
  onReconnect(listener: () => void): void;
  /** Upstream: messages over maxPayloadBytes, skipped unread (too-large), as the local broker's onPublishRefused. */
  onRefused?(listener: (r: PublishRefusal) => void): void;
}

export interface LocalBrokerPort {
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): () => void;
  /** Publish to local subscribers. */
  publish(packet: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean }): Promise<void>;
  /** Hand a message to the rules (durable once resolved), or undefined when no rule takes it. */
  ingest(packet: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean }): Promise<void> | undefined;
  /** Publishes the broker refused before delivery (control payloads over broker.maxPayloadBytes get a status). */
  onPublishRefused?(listener: (r: PublishRefusal) => void): () => void;
}

/** A client publish the local broker refused before delivery (the broker's PublishRefusal, structurally). */
export interface PublishRefusal {
  topic: string;
  reason: 'too-large' | 'denied';
  bytes: number;
  client: string;
  /** too-large: the limit it exceeded (broker.maxPayloadBytes). */
  maxPayloadBytes?: number;
}

export function localChannel(broker: LocalBrokerPort): ControlChannel {
  const unsubs: Array<() => void> = [];
  return {
    kind: 'local',
    connected: () => true,
    refusedTopics: () => [],
    onReconnect() {},
    async start() {},
    async stop() {
      for (const u of unsubs.splice(0)) u();
    },
    subscribe(topic, handler) {
      unsubs.push(broker.subscribe(topic, handler));
    },
    publish(topic, payload, opts) {
      const packet = { topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos: opts.qos, retain: opts.retain };
      const done = broker.publish(packet);
      const durable = opts.ingest ? broker.ingest(packet) : undefined;
      return durable === undefined ? done : Promise.all([done, durable]).then(() => undefined);
    },
  };
}
