// `type: mqtt` source kind: subscribe to topics on another broker (options.ts); mqtt.js and the
// source load only when one is configured.
import type { SourceKind } from '../kind.js';
import { mqttSourceSchema } from './options.js';
import { readSourceTls } from './tls.js';

export { mqttSourceSchema, type MqttSourceOptions } from './options.js';
export { MQTT_SOURCE_FILES } from './files.js';

export const mqttSourceKind: SourceKind<typeof mqttSourceSchema> = {
  type: 'mqtt',
  schema: mqttSourceSchema,
  // check-config: the TLS files load as start will load them (a CA certificate, one key pair).
  preflight(options) {
    readSourceTls(options);
  },
  async create(options, deps) {
    const { MqttSubscribeSource } = await import('./source.js');
    return new MqttSubscribeSource(options, deps);
  },
};
