// A control broker that closes the connection for a publish it refuses, told apart from other
// closes (upstream control channel, channel.ts). A broker that disconnects a client for a publish
// its ACL or policy refuses (AWS IoT, Gatehouse's broker) closed the connection at each reconnect
// while the queued status went out, and mqtt.js subscribes only once what it queued is
// acknowledged: no update arrived, and the log said only 'offline'. A close within
// REFUSAL_CLOSE_MS of the CONNACK with a QoS 1 publish unacknowledged is a suspected refusal of its
// topic; two in a row on one topic are named, once (an error with the topic and the fix), and a
// connect after that says the broker took it. A suspected refusal is not counted as a quick close
// of another kind (the channel's session take-over line asks suspected()).
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';

/** A close this soon after the CONNACK, with a publish unacknowledged, looks like a refused publish. */
const REFUSAL_CLOSE_MS = 2000;

export interface RefusedPublishWatch {
  /** The last close came right after a publish (a suspected refusal), until the next connect. */
  suspected(): boolean;
}

/**
 * Watches `c`'s packets and closes. Its 'close' listener is added now, so it runs before those the
 * caller adds after this call (which may read suspected()). `who`: the client as the hint names it.
 */
export function watchRefusedPublish(c: MqttClient, log: Logger, url: string, who: () => string): RefusedPublishWatch {
  let connackAt: number | undefined;
  let inFlight: string | undefined;
  let suspect: { topic: string; closes: number } | undefined;
  c.on('packetreceive', (p) => {
    if (p.cmd === 'connack') connackAt = Date.now();
    if (p.cmd === 'connack' || p.cmd === 'puback') inFlight = undefined;
  });
  c.on('packetsend', (p) => {
    if (p.cmd === 'publish' && p.qos > 0) inFlight = p.topic;
  });
  c.on('connect', () => {
    if (suspect && suspect.closes >= 2) log.info({ url, topic: suspect.topic }, 'control channel: the broker took the publish it refused before');
    suspect = undefined;
  });
  c.on('close', () => {
    const refusedAt = connackAt !== undefined && Date.now() - connackAt < REFUSAL_CLOSE_MS ? inFlight : undefined;
    connackAt = undefined;
    inFlight = undefined;
    if (refusedAt === undefined) suspect = undefined;
    else {
      suspect = { topic: refusedAt, closes: suspect?.topic === refusedAt ? suspect.closes + 1 : 1 };
      if (suspect.closes === 2) {
        log.error(
          {
            url,
            topic: refusedAt,
            hint: `allow this client (${who()}) to publish on ${refusedAt} (and the heartbeat topic) in the control broker's ACL or policy`,
          },
          'control channel: the broker closes the connection right after the gateway publishes there (twice in a row): its ACL or policy probably refuses it; the gateway subscribes to the control topics once that publish is acknowledged, so updates from the office do not arrive',
        );
      }
    }
  });
  return { suspected: () => suspect !== undefined };
}
