// Server -> client side of an MQTT 5 connection: the session's queue sent within the client's
// Receive Maximum, its Maximum Packet Size and Topic Alias Maximum, with message expiry counted
// down, and the PUBACK/PUBREC/PUBCOMP bookkeeping. Socket backpressure: stop at a full socket,
// resume on 'drain'; a socket full for drainTimeoutMs is closed.
import type { Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import type { BrokerStats } from '../metrics.js';
import type { OutMsg, PublishProperties, Session } from './session.js';

const uncork = (socket: Socket): void => {
  socket.uncork();
};

/**
 * Write through a cork held until the end of the tick: the PUBACKs and PUBLISHes of one read go
 * out in one writev instead of one syscall each (aedes does the same for 3.1.1).
 */
export function writeBatched(socket: Socket, buf: Buffer): boolean {
  if (socket.writableCorked === 0) {
    socket.cork();
    process.nextTick(uncork, socket);
  }
  return socket.write(buf);
}

export interface OutboundLimits {
  receiveMaximum: number;
  maximumPacketSize: number;
  topicAliasMaximum: number;
  drainTimeoutMs: number;
}

export class Outbound {
  private readonly aliases = new Map<string, number>();
  private blocked = false;
  private drainTimer: NodeJS.Timeout | undefined;
  /** Retained deliveries at SUBSCRIBE waiting for the queue to go down (subscribe.ts). */
  private waiters: (() => void)[] = [];
  closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly session: Session,
    private readonly limits: OutboundLimits,
    private readonly stats: BrokerStats,
    /** Monotonic ms (message expiry deadlines are on it). */
    private readonly now: () => number,
    /** May this connection read messages on the topic (ACL with deny rules)? */
    private readonly canRead: (topic: string) => boolean,
  ) {}

  write(packet: Packet): boolean {
    if (this.closed || this.socket.destroyed) return false;
    return this.writeBuf(mqttPacket.generate(packet, { protocolVersion: 5 }));
  }

  private writeBuf(buf: Buffer): boolean {
    const ok = writeBatched(this.socket, buf);
    if (!ok && !this.blocked) {
      this.blocked = true;
      this.socket.once('drain', this.onDrain);
      if (this.limits.drainTimeoutMs > 0) {
        this.drainTimer = setTimeout(() => {
          // counted as a 3.1.1 subscriber's drain timeout is (hooks.ts)
          this.stats.slowConsumerDisconnects++;
          this.socket.destroy();
        }, this.limits.drainTimeoutMs);
        this.drainTimer.unref();
      }
    }
    return ok;
  }

  private readonly onDrain = (): void => {
    this.blocked = false;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    this.pump();
  };

  /** Resend what was in flight when the session's last connection ended [MQTT-4.4.0-1]. */
  resume(): void {
    for (const f of this.session.inflight.values()) {
      if (f.state === 'pubrel') this.write({ cmd: 'pubrel', messageId: f.packetId });
      // sent to the session's earlier connection: the one resuming it may not read it (another user)
      else if (f.msg.topic.length > 0 && !this.canRead(f.msg.topic)) this.session.inflight.delete(f.packetId);
      else this.sendPublish(f.msg, f.packetId, true);
    }
    this.pump();
  }

  /** Resolves at the next pump() or at close(). */
  pumped(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Send queued messages while the client's receive window and the socket allow. */
  pump(): void {
    const s = this.session;
    // a connection taken over keeps its socket a moment: it must not send the session's messages
    if (s.link !== this) return this.wake();
    this.send();
    this.wake();
  }

  private send(): void {
    const s = this.session;
    while (!this.closed && !this.blocked && s.queue.length > 0) {
      const m = s.queue[0]!;
      if (m.expiresAt !== undefined && m.expiresAt <= this.now()) {
        s.dequeue();
        continue;
      }
      if (m.qos > 0 && s.inflight.size >= this.limits.receiveMaximum) return;
      s.dequeue();
      if (m.topic.length > 0 && !this.canRead(m.topic)) continue;
      this.sendPublish(m, m.qos > 0 ? s.packetId() : undefined, false);
    }
  }

  private sendPublish(m: OutMsg, packetId: number | undefined, dup: boolean): void {
    const props: PublishProperties = m.properties ? { ...m.properties } : {};
    if (m.expiresAt !== undefined) props.messageExpiryInterval = Math.max(0, Math.ceil((m.expiresAt - this.now()) / 1000));
    if (m.subIds) props.subscriptionIdentifier = m.subIds.length === 1 ? m.subIds[0]! : m.subIds;
    let topic = m.topic;
    let newAlias = false;
    if (this.limits.topicAliasMaximum > 0 && !dup) {
      const a = this.aliases.get(topic);
      if (a !== undefined) {
        props.topicAlias = a;
        topic = '';
      } else if (this.aliases.size < this.limits.topicAliasMaximum) {
        const next = this.aliases.size + 1;
        this.aliases.set(topic, next);
        props.topicAlias = next;
        newAlias = true;
      }
    }
    const p: IPublishPacket = { cmd: 'publish', topic, payload: m.payload, qos: m.qos, retain: m.retain, dup };
    if (packetId !== undefined) p.messageId = packetId;
    if (Object.keys(props).length > 0) p.properties = props;
    let buf: Buffer;
    try {
      buf = mqttPacket.generate(p, { protocolVersion: 5 });
    } catch {
      // a message that cannot be encoded (properties.ts refuses such publishes from clients; this
      // is for what came another way): dropped and counted, never thrown into the router, where
      // it closed the connection that routed it or, after an asynchronous commit, stopped the gateway
      if (newAlias) this.aliases.delete(m.topic);
      this.stats.v5Dropped++;
      return;
    }
    if (buf.length > this.limits.maximumPacketSize) {
      // [MQTT-3.1.2-25]: not sent, and treated as delivered
      if (newAlias) this.aliases.delete(m.topic);
      this.stats.v5Dropped++;
      return;
    }
    if (packetId !== undefined) this.session.inflight.set(packetId, { packetId, msg: m, state: 'publish' });
    this.stats.messagesOut++;
    this.writeBuf(buf);
  }

  onPuback(id: number): void {
    if (this.session.inflight.delete(id)) this.pump();
  }

  onPubrec(id: number, reasonCode: number | undefined): void {
    const f = this.session.inflight.get(id);
    if (!f) {
      this.write({ cmd: 'pubrel', messageId: id, reasonCode: 0x92 });
      return;
    }
    if ((reasonCode ?? 0) >= 0x80) {
      this.session.inflight.delete(id);
      this.pump();
      return;
    }
    f.state = 'pubrel';
    this.write({ cmd: 'pubrel', messageId: id });
  }

  onPubcomp(id: number): void {
    if (this.session.inflight.delete(id)) this.pump();
  }

  close(): void {
    this.closed = true;
    this.wake();
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.socket.removeListener('drain', this.onDrain);
  }
}
