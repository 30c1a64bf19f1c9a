// The gateway's own traffic on aedes (Broker.publish and Broker.subscribe: rule republish,
// downlinks from sources, command topics): internal publishes handed to aedes one at a time in
// the order they were made, and internal subscriptions that keep $ topics from wildcard filters
// and contain a handler that throws. Apart from index.ts (the broker's set-up and surface): they
// are what the gateway itself does on the bus, not what clients do.
import type { Aedes, AedesPublishPacket, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import { errorMessage } from '../../core/errors.js';

export interface BrokerPublishPacket {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain?: boolean;
  properties?: PublishPacket['properties'];
}

/**
 * Broker.publish's ordering: each internal publish waits for the one before. aedes numbers a
 * message when publish() is called and drops, per 3.1.1 subscriber, one numbered below a message it
 * has already delivered (its dedupe); a QoS 1/2 message first waits for the persistence, so a QoS 0
 * one published in the same tick (a rule republishing at QoS 1, then at QoS 0) overtook it and the
 * QoS 1 message never reached 3.1.1 subscribers.
 */
export function createOrderedPublish(aedes: Aedes, monotonic: Clock): (packet: BrokerPublishPacket) => Promise<void> {
  /** The tail of the internal publishes: each waits for the one before. */
  let internalPublishes: Promise<void> = Promise.resolve();
  const noop = (): void => undefined;
  const publishToAedes = (packet: BrokerPublishPacket): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const p: PublishPacket = {
        cmd: 'publish',
        topic: packet.topic,
        payload: packet.payload,
        qos: packet.qos,
        retain: packet.retain ?? false,
        dup: false,
      };
      if (packet.properties) {
        p.properties = packet.properties;
        // the deadline (monotonic ms) v5 subscribers' Message Expiry counts down from (v5/router.ts)
        const e = packet.properties.messageExpiryInterval;
        if (e !== undefined) (p as PublishPacket & { messageExpiry?: number }).messageExpiry = monotonic() + e * 1000;
      }
      aedes.publish(p, (err?: Error) => (err ? reject(err) : resolve()));
    });
  return (packet) => {
    const run = (): Promise<void> => publishToAedes(packet);
    const p = internalPublishes.then(run, run);
    internalPublishes = p.then(noop, noop);
    return p;
  };
}

/** Broker.subscribe: an internal subscription to filter; returns unsubscribe. */
export function subscribeInternal(aedes: Aedes, log: Logger, filter: string, handler: (topic: string, payload: Buffer) => void): () => void {
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
}
