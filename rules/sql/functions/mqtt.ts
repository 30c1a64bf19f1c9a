// Context functions: they read the Message (topic, client, MQTT 5 properties), not the payload.
import { define, type FunctionRegistry } from './types.js';
import { toIntFloor, toStr, type Value } from '../values.js';
import { messageTraceId } from '../context.js';

export function registerMqtt(reg: FunctionRegistry): void {
  define(reg, [
    {
      name: 'topic',
      minArgs: 0,
      maxArgs: 1,
      impl: (c, a) => {
        if (a.length === 0) return c.message.topic;
        const n = toIntFloor(a[0]);
        if (n === undefined || n < 1) return undefined;
        return c.topicLevels()[n - 1];
      },
    },
    {
      name: 'clientid',
      minArgs: 0,
      maxArgs: 0,
      impl: (c) => (c.message.source.kind === 'mqtt' ? c.message.source.id : 'n/a'),
    },
    { name: 'principal', minArgs: 0, maxArgs: 0, impl: (c) => c.message.source.principal },
    { name: 'sourceip', minArgs: 0, maxArgs: 0, impl: (c) => c.message.source.ip },
    { name: 'timestamp', minArgs: 0, maxArgs: 0, impl: (c) => c.message.receivedAt },
    { name: 'traceid', minArgs: 0, maxArgs: 0, impl: (c) => messageTraceId(c.message) },
    {
      name: 'get_mqtt_property',
      minArgs: 1,
      maxArgs: 1,
      since: '2016-03-23',
      impl: (c, a) => {
        const p = c.message.properties;
        const name = toStr(a[0]);
        if (!p || name === undefined) return undefined;
        switch (name.toLowerCase()) {
          case 'format':
          case 'format_indicator':
          case 'payload_format_indicator':
            return p.payloadFormatIndicator === undefined ? undefined : p.payloadFormatIndicator ? 'UTF8_DATA' : 'UNSPECIFIED_BYTES';
          case 'content_type':
            return p.contentType;
          case 'response_topic':
            return p.responseTopic;
          case 'correlation_data':
            return p.correlationData ? p.correlationData.toString('base64') : undefined;
          case 'message_expiry_interval':
          case 'message_expiry':
            return p.messageExpiryInterval;
          default:
            return undefined;
        }
      },
    },
    {
      name: 'get_user_properties',
      minArgs: 0,
      maxArgs: 1,
      since: '2016-03-23',
      impl: (c, a) => {
        const up = c.message.properties?.userProperties;
        if (!up) return undefined;
        if (a.length === 0) {
          const out: Value[] = [];
          for (const [k, v] of Object.entries(up)) {
            for (const one of Array.isArray(v) ? v : [v]) out.push({ [k]: one });
          }
          return out;
        }
        const key = toStr(a[0]);
        if (key === undefined || !Object.hasOwn(up, key)) return undefined;
        const v = up[key]!;
        return Array.isArray(v) ? [...v] : [v];
      },
    },
  ]);
}
