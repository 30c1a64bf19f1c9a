// Destination kinds by type. The registry is the one place a destination block is validated: it
// takes `{ type, ...options }`, checks the options against the kind's strict zod schema (unknown
// keys refused, every problem listed with its key path, GH_DESTINATION_CONFIG) and hands the parsed
// options, defaults applied, to the kind's factory. Factories never parse again.
import type { z } from '../../core/zod.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { ERRORS } from '../../core/errors.js';
import { validateConfig } from '../../core/validation.js';
import type { Destination } from './types.js';
import type { ProxySettings } from './proxy.js';
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

export interface DestinationDeps extends RuntimeDeps {
  /** Gateway data directory (file destination default: <dataDir>/export; the installation id: installation-id.ts). */
  dataDir?: string;
  /**
   * The gateway's installation id (nats message ids, s3 keys), bound to its store and machine
   * (installation-id.ts); absent, the destination reads or makes the one kept in dataDir.
   */
  installationId?: () => Promise<string>;
  /** The config's gatewayId (s3 keys' ${gatewayId}; default the host name). */
  gatewayId?: string;
  /** Free bytes to leave on disk (store.reserveBytes): the file destination refuses to eat them. */
  reserveBytes?: number;
  /** Where the block sits in the configuration, for problem paths (default "destination"). */
  where?: string;
  /** The config's network.proxy and the environment to read (HTTP-based destinations: proxy.ts). */
  network?: ProxySettings;
}

/** Builds a destination from a raw `{ type, ...options }` block (validating it first). */
export type DestinationFactory = (options: unknown, deps: DestinationDeps) => Destination;

export type DestinationFactories = Partial<Record<DestinationType, DestinationFactory>>;

/**
 * Validate a destination block (its `type` key aside) with the kind's schema, or throw
 * GH_DESTINATION_CONFIG listing every problem as "destination.<key path>: what is wrong".
 */
export function parseDestinationOptions<S extends z.ZodType>(schema: S, options: unknown, kind: string, where = 'destination'): z.output<S> {
  let rest: unknown = options;
  if (typeof options === 'object' && options !== null && !Array.isArray(options) && 'type' in options) {
    const { type: _type, ...others } = options as Record<string, unknown>;
    rest = others;
  }
  return validateConfig(
    schema,
    rest,
    `${kind} destination`,
    'GH_DESTINATION_CONFIG',
    `see docs/configuration.md (Destination options, type: ${kind}) for its options and docs/destinations.md for what they do`,
    {
      where,
      pathPrefix: where,
    },
  );
}

/** A destination kind: its options schema and a factory that takes the parsed options. */
export function destinationKind<S extends z.ZodType>(
  schema: S,
  kind: string,
  create: (o: z.output<S>, deps: DestinationDeps) => Destination,
): DestinationFactory {
  return (options, deps) => create(parseDestinationOptions(schema, options, kind, deps.where), deps);
}

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

/** Build the destination of an exporter's `destination` block. */
export function createDestination(
  options: { type: DestinationType },
  deps: DestinationDeps,
  factories: DestinationFactories = destinationFactories,
): Destination {
  const factory = factories[options.type];
  if (!factory) {
    throw ERRORS.GH_DESTINATION_CONFIG(
      { source: 'destination', count: '1 problem', problems: `  - destination.type: type '${options.type}' is not available in this build` },
      {
        where: 'destination.type',
        hint: `use one of: ${Object.keys(factories).join(', ')}`,
      },
    );
  }
  return factory(options, deps);
}
