// MQTT 5 properties of a message kept on its stored record, as record attributes under the
// `mqtt5.` prefix (the store codec already stores string attributes; 3.1.1 records get none and
// cost nothing). Exporters read them back: the MQTT bridge sends them as v5 properties again, the
// file/S3 exports show them under "attrs".
import type { MessageProperties } from '../../core/message.js';

export const MQTT5_ATTR = {
  contentType: 'mqtt5.contentType',
  payloadFormatIndicator: 'mqtt5.payloadFormatIndicator',
  responseTopic: 'mqtt5.responseTopic',
  correlationData: 'mqtt5.correlationData',
  messageExpiryInterval: 'mqtt5.messageExpiryInterval',
  userProperties: 'mqtt5.userProperties',
} as const;

/** Record attributes for a message's v5 properties (undefined when it has none). */
export function propertiesToAttrs(p: MessageProperties | undefined): Record<string, string> | undefined {
  if (!p) return undefined;
  const a: Record<string, string> = {};
  if (p.contentType !== undefined) a[MQTT5_ATTR.contentType] = p.contentType;
  if (p.payloadFormatIndicator !== undefined) a[MQTT5_ATTR.payloadFormatIndicator] = p.payloadFormatIndicator ? '1' : '0';
  if (p.responseTopic !== undefined) a[MQTT5_ATTR.responseTopic] = p.responseTopic;
  if (p.correlationData !== undefined) a[MQTT5_ATTR.correlationData] = Buffer.from(p.correlationData).toString('base64');
  if (p.messageExpiryInterval !== undefined) a[MQTT5_ATTR.messageExpiryInterval] = String(p.messageExpiryInterval);
  if (p.userProperties !== undefined) a[MQTT5_ATTR.userProperties] = JSON.stringify(p.userProperties);
  return Object.keys(a).length > 0 ? a : undefined;
}

/** The v5 properties kept on a record (undefined when it has none). */
export function attrsToProperties(attrs: Record<string, string> | undefined): MessageProperties | undefined {
  if (!attrs) return undefined;
  const p: MessageProperties = {};
  const ct = attrs[MQTT5_ATTR.contentType];
  if (ct !== undefined) p.contentType = ct;
  const pfi = attrs[MQTT5_ATTR.payloadFormatIndicator];
  if (pfi !== undefined) p.payloadFormatIndicator = pfi === '1';
  const rt = attrs[MQTT5_ATTR.responseTopic];
  if (rt !== undefined) p.responseTopic = rt;
  const cd = attrs[MQTT5_ATTR.correlationData];
  if (cd !== undefined) p.correlationData = Buffer.from(cd, 'base64');
  const mei = attrs[MQTT5_ATTR.messageExpiryInterval];
  if (mei !== undefined && /^\d+$/.test(mei)) p.messageExpiryInterval = Number(mei);
  const up = attrs[MQTT5_ATTR.userProperties];
  if (up !== undefined) {
    try {
      const v = JSON.parse(up) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) p.userProperties = v as Record<string, string | string[]>;
    } catch {
      // a hand-made attribute that is not JSON: not a v5 property
    }
  }
  return Object.keys(p).length > 0 ? p : undefined;
}
