// `type: sparkplug` source kind: a Sparkplug B host application (options.ts); protobufjs, mqtt.js
// and the source load only when one is configured.
import type { SourceKind } from '../kind.js';
import { sparkplugSourceSchema } from './options.js';

export { sparkplugSourceSchema, type SparkplugSourceOptions } from './options.js';

export const sparkplugSourceKind: SourceKind<typeof sparkplugSourceSchema> = {
  type: 'sparkplug',
  schema: sparkplugSourceSchema,
  async create(options, deps) {
    const { SparkplugSource } = await import('./source.js');
    return new SparkplugSource(options, deps);
  },
};
