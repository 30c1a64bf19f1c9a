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
// - a subscriber whose socket stays full for drainTimeoutMs is disconnected by aedes.
import type { Socket } from 'node:net';
import type { AedesPublishPacket, Client } from 'aedes';
import { payloadBytes } from './session-queues.js';

export interface OutboundLimits {
  maxQueueMessages: number;
  maxQueueBytes: number;
}

type DeliverFn = (packet: AedesPublishPacket, cb: () => void) => void;

/** aedes internals wrapped here (not in its typings). */
export type DeliverInternals = Client & { deliver0: DeliverFn; deliverQoS: DeliverFn; conn: Socket };

export interface OutboundHooks {
  /** A QoS 0 message was dropped for this subscriber. */
  onDrop(client: Client): void;
  /** The queue overflowed with a QoS 1/2 message: the subscriber is being disconnected. */
  onOverflow(client: Client, queuedMessages: number, queuedBytes: number): void;
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
  let overflowed = false;

  const wrap = (deliver: DeliverFn, alwaysQos0: boolean): DeliverFn =>
    function deliverBounded(packet, cb) {
      if (overflowed) return cb();
      const size = sizeOf(packet);
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
      });
      cb();
    };

  client.deliver0 = wrap(client.deliver0, true);
  client.deliverQoS = wrap(client.deliverQoS, false);
}
