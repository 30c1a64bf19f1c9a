// Destination factories by type. The exporter wiring (gateway start-up) looks up
// `destinationFactories[options.destination.type]` and passes the destination block as is;
// each factory validates it with the destination's own zod schema and throws
// GH_DESTINATION_CONFIG listing every problem.
import type { z } from 'zod';
import type { RuntimeDeps } from '../../core/deps.js';
import { GatehouseError } from '../../core/errors.js';
import type { Destination } from './types.js';
import type { DestinationType } from './options.js';
import { createFileDestination } from './destinations/file.js';
import { createHttpDestination } from './destinations/http.js';
import { createKinesisDestination, kinesisOptionsSchema } from './destinations/kinesis.js';
import { createFirehoseDestination, firehoseOptionsSchema } from './destinations/firehose.js';
import { createS3Destination, s3OptionsSchema } from './destinations/s3.js';
import { createNatsDestination, natsOptionsSchema } from './destinations/nats.js';
import { createMqttBridgeDestination, mqttBridgeOptionsSchema } from './destinations/mqtt.js';

export interface DestinationDeps extends RuntimeDeps {
  /** Gateway data directory (file destination default: <dataDir>/export). */
  dataDir?: string;
  /** Free bytes to leave on disk (store.reserveBytes): the file destination refuses to eat them. */
  reserveBytes?: number;
}

export type DestinationFactory = (options: unknown, deps: DestinationDeps) => Destination;

export type DestinationFactories = Partial<Record<DestinationType, DestinationFactory>>;

/** Validate a destination block with its schema, or throw GH_DESTINATION_CONFIG with every issue. */
export function parseDestinationOptions<S extends z.ZodType>(schema: S, options: unknown, kind: string): z.output<S> {
  const parsed = schema.safeParse(options);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `destination.${i.path.join('.')}: ${i.message}`);
  throw new GatehouseError('GH_DESTINATION_CONFIG', `invalid ${kind} destination: ${issues.join('; ')}`, {
    where: 'destination', hint: `see docs/destinations.md (${kind} destination)`, details: parsed.error.issues,
  });
}

function validated<S extends z.ZodType>(schema: S, kind: string, create: (o: z.output<S>, deps: RuntimeDeps) => Destination): DestinationFactory {
  return (options, deps) => create(parseDestinationOptions(schema, options, kind), deps);
}

/** Built-in factories; copy or extend it (no global mutation needed). */
export const destinationFactories: DestinationFactories = {
  file: createFileDestination,
  http: createHttpDestination,
  kinesis: validated(kinesisOptionsSchema, 'kinesis', createKinesisDestination),
  firehose: validated(firehoseOptionsSchema, 'firehose', createFirehoseDestination),
  s3: validated(s3OptionsSchema, 's3', createS3Destination),
  nats: validated(natsOptionsSchema, 'nats', createNatsDestination),
  mqtt: validated(mqttBridgeOptionsSchema, 'mqtt', createMqttBridgeDestination),
};

/** Build the destination of an exporter's `destination` block. */
export function createDestination(options: { type: DestinationType }, deps: DestinationDeps, factories: DestinationFactories = destinationFactories): Destination {
  const factory = factories[options.type];
  if (!factory) {
    throw new GatehouseError('GH_DESTINATION_CONFIG', `destination type '${options.type}' is not available in this build`, {
      where: 'destination.type', hint: `use one of: ${Object.keys(factories).join(', ')}`,
    });
  }
  return factory(options, deps);
}
