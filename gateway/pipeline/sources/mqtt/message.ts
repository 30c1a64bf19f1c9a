// A message of an MQTT source as the pipeline takes it: the remote broker's PUBLISH with its
// mapped topic, its MQTT 5 properties, and the mark that keeps the MQTT bridge destination from
// sending it back up (a record attribute once stored).
import type { IPublishPacket } from 'mqtt';
import type { Message, MessageProperties } from '../../../../core/message.js';

/** The user property that marks a message as bridged (destinations/mqtt.ts BRIDGED_PROPERTY). */
const BRIDGED = 'gatehouse-bridged';

/** The message of source `name` (client `clientId`) for `packet`, on the local `topic`, received at `now`. */
export function remoteMessage(packet: IPublishPacket, topic: string, name: string, clientId: string, now: number): Message {
  const p = packet.properties;
  const properties: MessageProperties = {};
  if (p?.contentType !== undefined) properties.contentType = p.contentType;
  if (p?.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = p.payloadFormatIndicator;
  if (p?.responseTopic !== undefined) properties.responseTopic = p.responseTopic;
  if (p?.correlationData !== undefined) properties.correlationData = p.correlationData;
  if (p?.messageExpiryInterval !== undefined) properties.messageExpiryInterval = p.messageExpiryInterval;
  properties.userProperties = { ...(p?.userProperties as Record<string, string | string[]> | undefined), [BRIDGED]: `source:${name}` };
  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : Buffer.from(packet.payload);
  return {
    topic,
    payload,
    qos: packet.qos === 0 ? 0 : 1,
    ...(packet.retain ? { retain: true } : {}),
    source: { kind: 'mqtt', id: clientId },
    receivedAt: now,
    properties,
  };
}
