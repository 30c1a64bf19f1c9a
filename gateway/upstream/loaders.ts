// Destination kinds loaded when used (issue 15, docs/benchmarks.md "Round 39"): the running gateway
// imports a kind's module when a configured exporter or a rule action of a rule set it compiles
// uses that kind, not at start. Each kind's module (with its helpers) costs resident memory for as
// long as the process runs, and the default configuration uses only the file destination.
// The static registry (registry.ts) lists the same kinds for what needs them all at once; a unit
// test (upstream-loaders) fails when the two lists differ.
import type { z } from '../../core/zod.js';
import type { Destination } from './types.js';
import { fileDestinationSchema, httpDestinationSchema, DESTINATION_TYPES, type DestinationType } from './options.js';
// The file kind is the default configuration's (the archive stream's exporter): imported with this
// module, not split off (a split point costs the bundle more chunk files at start: docs/benchmarks.md round 39).
import { createFileDestination } from './destinations/file.js';
import { destinationKind, type DestinationDeps, type DestinationFactories, type DestinationFactory, type DestinationKinds } from './destination-kind.js';

/** A kind's module, loaded: its options schema and its factory (destination-kind.ts destinationKind). */
export interface LoadedDestinationKind {
  schema: z.ZodType;
  factory: DestinationFactory;
}

function kind<S extends z.ZodType>(schema: S, type: DestinationType, create: (o: z.output<S>, deps: DestinationDeps) => Destination): LoadedDestinationKind {
  return { schema, factory: destinationKind(schema, type, create) };
}

/** How each built-in kind is loaded: `type -> () => import(its module)`. */
export const DESTINATION_LOADERS: { readonly [T in DestinationType]: () => Promise<LoadedDestinationKind> } = {
  file: () => Promise.resolve(kind(fileDestinationSchema, 'file', createFileDestination)),
  http: async () => kind(httpDestinationSchema, 'http', (await import('./destinations/http.js')).createHttpDestination),
  kinesis: async () => {
    const m = await import('./destinations/kinesis.js');
    return kind(m.kinesisOptionsSchema, 'kinesis', m.createKinesisDestination);
  },
  firehose: async () => {
    const m = await import('./destinations/firehose.js');
    return kind(m.firehoseOptionsSchema, 'firehose', m.createFirehoseDestination);
  },
  s3: async () => {
    const m = await import('./destinations/s3.js');
    return kind(m.s3OptionsSchema, 's3', m.createS3Destination);
  },
  nats: async () => {
    const m = await import('./destinations/nats.js');
    return kind(m.natsOptionsSchema, 'nats', m.createNatsDestination);
  },
  mqtt: async () => {
    const m = await import('./destinations/mqtt.js');
    return kind(m.mqttBridgeOptionsSchema, 'mqtt', m.createMqttBridgeDestination);
  },
  webhook: async () => {
    const [m, o] = await Promise.all([import('./destinations/webhook.js'), import('./destinations/webhook-options.js')]);
    return kind(o.webhookOptionsSchema, 'webhook', m.createWebhookDestination);
  },
  postgres: async () => {
    const [m, o] = await Promise.all([import('./destinations/postgres.js'), import('./destinations/postgres-options.js')]);
    return kind(o.postgresOptionsSchema, 'postgres', m.createPostgresDestination);
  },
  prometheus: async () => {
    const [m, o] = await Promise.all([import('./destinations/prometheus.js'), import('./destinations/prometheus-options.js')]);
    return kind(o.prometheusOptionsSchema, 'prometheus', m.createPrometheusDestination);
  },
};

const isDestinationType = (t: string): t is DestinationType => (DESTINATION_TYPES as readonly string[]).includes(t);

/**
 * The running gateway's destination kinds: none at first, each loaded by load() (once; loads of
 * the same kind at the same time share one import). Its factories and schemas are the loaded ones.
 */
export function lazyDestinationKinds(
  loaders: { readonly [T in DestinationType]?: () => Promise<LoadedDestinationKind> } = DESTINATION_LOADERS,
): DestinationKinds {
  const factories: DestinationFactories = {};
  const schemas: Partial<Record<DestinationType, z.ZodType>> = {};
  const loading = new Map<DestinationType, Promise<void>>();
  function loadOne(type: DestinationType): Promise<void> {
    let p = loading.get(type);
    const loader = loaders[type];
    if (!p && loader) {
      p = loader().then(
        (k) => {
          schemas[type] = k.schema;
          factories[type] = k.factory;
        },
        (err: unknown) => {
          loading.delete(type); // tried again at the next use
          throw err;
        },
      );
      loading.set(type, p);
    }
    return p ?? Promise.resolve();
  }
  return {
    async load(types) {
      await Promise.all([...new Set(types)].filter(isDestinationType).map(loadOne));
    },
    factories,
    schemaOf: (type) => schemas[type],
  };
}
