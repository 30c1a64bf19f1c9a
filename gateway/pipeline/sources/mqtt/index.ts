// `type: mqtt` source kind: subscribe to topics on another broker (options.ts); mqtt.js and the
// source load only when one is configured.
import type { SourceKind } from '../kind.js';
import { mqttSourceSchema, sessionExpiryIgnored } from './options.js';
import { sharedSourceClientIdWarning } from './client-id.js';
import { hostGatewayId } from '../../../../core/deps.js';

export { mqttSourceSchema, type MqttSourceOptions } from './options.js';
export { MQTT_SOURCE_FILES } from './files.js';

export const mqttSourceKind: SourceKind<typeof mqttSourceSchema> = {
  type: 'mqtt',
  schema: mqttSourceSchema,
  async create(options, deps) {
    // Once per start (sources are created at start; a reload does not change them): check-config says it too.
    const ignored = sessionExpiryIgnored(options);
    if (ignored) deps.logger.warn({ fix: ignored.hint }, ignored.message);
    const shared = sharedSourceClientIdWarning(options, deps.gatewayId ?? hostGatewayId());
    if (shared) deps.logger.warn({ fix: shared.hint }, shared.message);
    const { MqttSubscribeSource } = await import('./source.js');
    return new MqttSubscribeSource(options, deps);
  },
};
