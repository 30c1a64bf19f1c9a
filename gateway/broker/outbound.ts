// Slow consumers: a bounded outgoing queue per subscriber, and publishers that never wait on it.
//
// aedes hands each matching message to the subscriber's deliver function and calls the
// publisher's completion (and reads the publisher's next packet) only when every subscriber's
// write callback ran. A subscriber that stops reading makes that callback wait for 'drain', so
// one frozen subscriber stalled a QoS 1 publisher for drainTimeout (~30 s) while aedes kept
// appending to the frozen socket's buffer without bound.
//
// Here each client's deliver functions are wrapped before it can subscribe:
// - the completion is called at once: a publisher waits on no other client's socket (0 ms);
// - messages handed to the socket and not yet flushed are counted (messages and bytes);
// - over half of either limit, QoS 0 deliveries are dropped (counted);
// - a QoS 1/2 delivery that would exceed a limit disconnects the subscriber (a log line, a
//   counter): its persistent session, if any, keeps what it had not acknowledged;
// - a subscriber whose socket stays full for drainTimeoutMs is disconnected by aedes;
// - the retained messages a SUBSCRIBE matches are paced, not dropped: they are read from the store
//   (a lazy stream) and handed to client.deliverQoS one at a time, the next when its callback runs
//   (retained-subscribe.ts), so that callback is held while the queue is at half its soft bound
//   (the rest is for live messages) and called once the socket has taken enough. Handed over at
//   once, as before, a SUBSCRIBE over more retained messages than maxQueueMessages disconnected a
//   client that read fine (QoS 1 retained) or lost it the rest (QoS 0), on every try. A client
//   that stops reading holds the delivery (memory: the queue) until drainTimeoutMs disconnects it;
//   one whose filter is unsubscribed or subscribed again is not sent (retainedWanted).
import type { Socket } from 'node:net';
import type { AedesPublishPacket, Client } from 'aedes';
import { payloadBytes } from './session-queues.js';

export interface OutboundLimits {
  maxQueueMessages: number;
  maxQueueBytes: number;
}

type DeliverFn = (packet: AedesPublishPacket, cb: () => void) => void;

/**
 * A retained message aedes sends at SUBSCRIBE (lib/handlers/subscribe.js, completeSubscribe:
 * `packet.brokerId = null`, "should not be deduped"); every other packet carries a broker id.
 */
function retainedAtSubscribe(packet: AedesPublishPacket): boolean {
  return (packet as { brokerId?: unknown }).brokerId === null;
}

/** aedes internals wrapped here (not in its typings). */
export type DeliverInternals = Client & { deliver0: DeliverFn; deliverQoS: DeliverFn; conn: Socket };

export interface OutboundHooks {
  /** A QoS 0 message was dropped for this subscriber. */
  onDrop(client: Client): void;
  /** The queue overflowed with a QoS 1/2 message: the subscriber is being disconnected. */
  onOverflow(client: Client, queuedMessages: number, queuedBytes: number): void;
  /** A retained message read for a SUBSCRIBE was replaced since: not sent (persistence.ts). */
  retainedSuperseded(topic: string, payload: unknown): boolean;
  /** A retained message sent at SUBSCRIBE whose filter was unsubscribed or subscribed again since: not sent (retained-subscribe.ts). */
  retainedWanted(packet: AedesPublishPacket): boolean;
}

/** Bytes a delivery holds while queued (payload, topic, header estimate). */
function sizeOf(packet: AedesPublishPacket): number {
  return payloadBytes(packet.payload as Buffer | string | undefined) + packet.topic.length + 8;
}

export function boundOutbound(client: DeliverInternals, limits: OutboundLimits, hooks: OutboundHooks): void {
  const softMessages = Math.max(1, Math.floor(limits.maxQueueMessages / 2));
  const softBytes = Math.max(1, Math.floor(limits.maxQueueBytes / 2));
  let messages = 0;
  let bytes = 0;
  // retained deliveries wait below this (half the soft bound): at most one per SUBSCRIBE in progress
  const retainedMessages = Math.max(1, Math.floor(softMessages / 2));
  const retainedBytes = Math.max(1, Math.floor(softBytes / 2));
  let held: (() => void)[] = [];
  // overflowed, or the connection closed: every delivery is let through at once (a retained
  // delivery held for a client gone ends, and its stream is closed)
  let overflowed = false;

  const release = (): void => {
    if (held.length === 0 || messages >= retainedMessages || bytes >= retainedBytes) return;
    const go = held;
    held = [];
    for (const f of go) f();
  };

  const wrap = (deliver: DeliverFn, alwaysQos0: boolean): DeliverFn =>
    function deliverBounded(packet, cb) {
      if (overflowed) return cb();
      // aedes' deliverQoS sends a QoS 0 packet through deliver0: counted there, once
      if (!alwaysQos0 && packet.qos === 0) return client.deliver0(packet, cb);
      const retained = retainedAtSubscribe(packet);
      if (retained && (hooks.retainedSuperseded(packet.topic, packet.payload) || !hooks.retainedWanted(packet))) return cb();
      const size = sizeOf(packet);
      // (an empty queue takes any message: a retained one larger than the mark goes alone)
      if (messages > 0 && (messages >= retainedMessages || bytes + size > retainedBytes) && retained) {
        held.push(() => deliverBounded(packet, cb));
        return;
      }
      const droppable = alwaysQos0 || packet.qos === 0;
      if (droppable && (messages >= softMessages || bytes + size > softBytes)) {
        hooks.onDrop(client);
        return cb();
      }
      if (!droppable && (messages >= limits.maxQueueMessages || bytes + size > limits.maxQueueBytes)) {
        overflowed = true;
        hooks.onOverflow(client, messages, bytes);
        client.conn.destroy();
        return cb();
      }
      messages++;
      bytes += size;
      deliver.call(client, packet, () => {
        messages--;
        bytes -= size;
        release();
      });
      cb();
    };

  // Every held delivery ends: at a completion that takes the queue below the mark (the socket
  // took enough), or here when the connection closes (a client gone, taken over, disconnected as
  // slow, or the broker's stop): each is let through to cb() at once, sending nothing, and its
  // delivery stops reading its stream (retained-subscribe.ts). (A completion always comes:
  // written, failed, or the socket's drain, its drainTimeoutMs, or the client's close.)
  const closed = (): void => {
    overflowed = true;
    const go = held;
    held = [];
    for (const f of go) f();
  };
  if (client.conn.destroyed) closed();
  else client.conn.once('close', closed);
  client.deliver0 = wrap(client.deliver0, true);
  client.deliverQoS = wrap(client.deliverQoS, false);
}
