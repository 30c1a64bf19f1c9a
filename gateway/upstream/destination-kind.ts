// What a destination kind is, apart from the kinds themselves: the deps a factory takes, the one
// validation of a destination block (parseDestinationOptions) and the build of a destination from
// a set of factories. Light on purpose: the running gateway loads a kind's module only when a
// configured exporter or a rule action uses it (loaders.ts), the full static registry
// (registry.ts: config-docs, check-config, the CLI, tests) and the lazy one share this module.
import type { z } from '../../core/zod.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { ERRORS } from '../../core/errors.js';
import { validateConfig } from '../../core/validation.js';
import type { Destination } from './types.js';
import type { ProxySettings } from './proxy.js';
import type { DestinationType } from './options.js';

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
 * The destination kinds a caller can build, and the way to get more: the registry's holds every
 * kind from the start (registry.ts allDestinationKinds), the running gateway's loads each on first
 * use (loaders.ts lazyDestinationKinds).
 */
export interface DestinationKinds {
  /** Make these kinds available (each module imported once); a type no kind has is left to destinationFrom to name. */
  load(types: Iterable<string>): Promise<void>;
  /** The kinds available now, by type (destinationFrom's factories). */
  readonly factories: DestinationFactories;
  /** The options schema of a kind available now; undefined for one not loaded yet. */
  schemaOf(type: DestinationType): z.ZodType | undefined;
}

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

/** Build the destination of a `{ type, ...options }` block with one of `factories` (validating it first). */
export function destinationFrom(options: { type: DestinationType }, deps: DestinationDeps, factories: DestinationFactories): Destination {
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
