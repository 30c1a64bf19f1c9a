// `type: mqtt` source kind: subscribe to topics on another broker (options.ts); mqtt.js and the
// source load only when one is configured.
import type { SourceKind } from '../kind.js';
import { mqttSourceSchema } from './options.js';

export { mqttSourceSchema, type MqttSourceOptions } from './options.js';
export { MQTT_SOURCE_FILES } from './files.js';

export const mqttSourceKind: SourceKind<typeof mqttSourceSchema> = {
  type: 'mqtt',
  schema: mqttSourceSchema,
  async create(options, deps) {
    const { MqttSubscribeSource } = await import('./source.js');
    return new MqttSubscribeSource(options, deps);
  },
};
