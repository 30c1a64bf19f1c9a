// Destination kinds by type, every one loaded: what needs them all at once (config-docs,
// check-config, the CLI, tests). A destination block is validated in one place
// (destination-kind.ts): `{ type, ...options }`, the options checked against the kind's strict zod
// schema (unknown keys refused, every problem listed with its key path, GH_DESTINATION_CONFIG), the
// parsed options, defaults applied, handed to the kind's factory. Factories never parse again.
// The running gateway does not import this module: it loads a kind when a configured exporter or a
// rule action uses it (loaders.ts; its test checks the two lists of kinds agree).
import type { z } from '../../core/zod.js';
import type { Destination } from './types.js';
import { destinationFrom, destinationKind, type DestinationDeps, type DestinationFactories, type DestinationKinds } from './destination-kind.js';
import { fileDestinationSchema, httpDestinationSchema, type DestinationType } from './options.js';
import { createFileDestination } from './destinations/file.js';
import { createHttpDestination } from './destinations/http.js';
import { createKinesisDestination, kinesisOptionsSchema } from './destinations/kinesis.js';
import { createFirehoseDestination, firehoseOptionsSchema } from './destinations/firehose.js';
import { createS3Destination, s3OptionsSchema } from './destinations/s3.js';
import { createNatsDestination, natsOptionsSchema } from './destinations/nats.js';
import { createMqttBridgeDestination, mqttBridgeOptionsSchema } from './destinations/mqtt.js';
import { createWebhookDestination } from './destinations/webhook.js';
import { webhookOptionsSchema } from './destinations/webhook-options.js';
import { createPostgresDestination } from './destinations/postgres.js';
import { postgresOptionsSchema } from './destinations/postgres-options.js';
import { createPrometheusDestination } from './destinations/prometheus.js';
import { prometheusOptionsSchema } from './destinations/prometheus-options.js';

export {
  parseDestinationOptions,
  destinationKind,
  type DestinationDeps,
  type DestinationFactory,
  type DestinationFactories,
  type DestinationKinds,
} from './destination-kind.js';

/** The options schema of each built-in kind (also what `gatehouse config-docs` lists per type). */
export const destinationSchemas = {
  file: fileDestinationSchema,
  http: httpDestinationSchema,
  kinesis: kinesisOptionsSchema,
  firehose: firehoseOptionsSchema,
  s3: s3OptionsSchema,
  nats: natsOptionsSchema,
  mqtt: mqttBridgeOptionsSchema,
  webhook: webhookOptionsSchema,
  postgres: postgresOptionsSchema,
  prometheus: prometheusOptionsSchema,
} as const satisfies Record<DestinationType, z.ZodType>;

/** Built-in factories; copy or extend it (no global mutation needed). */
export const destinationFactories: DestinationFactories = {
  file: destinationKind(destinationSchemas.file, 'file', createFileDestination),
  http: destinationKind(destinationSchemas.http, 'http', createHttpDestination),
  kinesis: destinationKind(destinationSchemas.kinesis, 'kinesis', createKinesisDestination),
  firehose: destinationKind(destinationSchemas.firehose, 'firehose', createFirehoseDestination),
  s3: destinationKind(destinationSchemas.s3, 's3', createS3Destination),
  nats: destinationKind(destinationSchemas.nats, 'nats', createNatsDestination),
  mqtt: destinationKind(destinationSchemas.mqtt, 'mqtt', createMqttBridgeDestination),
  webhook: destinationKind(destinationSchemas.webhook, 'webhook', createWebhookDestination),
  postgres: destinationKind(destinationSchemas.postgres, 'postgres', createPostgresDestination),
  prometheus: destinationKind(destinationSchemas.prometheus, 'prometheus', createPrometheusDestination),
};

/** Every built-in kind, loaded (the inert action registry of check-config and `rules check`). */
export const allDestinationKinds: DestinationKinds = {
  load: () => Promise.resolve(),
  factories: destinationFactories,
  schemaOf: (type) => destinationSchemas[type],
};

/** Build the destination of an exporter's `destination` block. */
export function createDestination(
  options: { type: DestinationType },
  deps: DestinationDeps,
  factories: DestinationFactories = destinationFactories,
): Destination {
  return destinationFrom(options, deps, factories);
}
