// Every rule action kind, and the ONE registry builder used by `start` (live), `check-config`,
// `rules check` (inert) and the tests. rules/ only defines the Action interface it executes
// (rules/types.ts); the kinds live here, one file each. A new action kind = one file in this
// folder exporting an ActionFactory builder, plus one entry in ACTION_KINDS below.
//
// Live and inert differ only in what the factories are handed (ActionEnv): live actions write to
// the store, the broker, serial links and exporters; inert ones construct and validate their
// options exactly as live ones do (same parse, same errors) and never run.
import pino from 'pino';
import { Registry } from '../../../core/prom-client.js';
import type { RuntimeDeps } from '../../../core/deps.js';
import type { ActionFactory, ActionRegistry } from '../../../rules/index.js';
import type { LocalStreams } from '../../store/types.js';
import type { ExporterSet } from '../exporters.js';
import { republishAction, type Publisher } from './republish.js';
import { streamAction, type StreamAppender } from './stream.js';
import { serialAction, type SerialLinkLookup } from './serial.js';
import { upstreamActionFactories } from './upstream.js';
import type { SerialLink } from '../../../firmware-bridge/index.js';
import type { DestinationKinds } from '../../upstream/destination-kind.js';

export { republishAction, republishOptionsSchema, MAX_REPUBLISH_HOPS, type Publisher } from './republish.js';
export { streamAction, streamOptionsSchema, type StreamAppender } from './stream.js';
export { serialAction, type SerialLinkLookup } from './serial.js';
export { upstreamActionFactories, upstreamKindsOf, UPSTREAM_ACTION_KINDS, type UpstreamActionDeps } from './upstream.js';

/** What action factories are handed: the same shape in both modes. */
export interface ActionEnv extends RuntimeDeps {
  publisher: Publisher;
  streams: StreamAppender;
  links: SerialLinkLookup;
  dataDir: string;
  /** The destination kinds upstream actions build with (live: loaded when a rule set names them). */
  destinations: DestinationKinds;
  /** Live only: the store and exporter set upstream actions define their stream and loop in. */
  store?: LocalStreams;
  exporters?: ExporterSet;
}

/** The action kinds, in the order `rules check` lists them. */
const ACTION_KINDS: ReadonlyArray<(env: ActionEnv) => Iterable<[string, ActionFactory]>> = [
  (env) => [['republish', republishAction(env.publisher)]],
  (env) => [['stream', streamAction(env.streams)]],
  (env) => [['serial', serialAction(env.links)]],
  (env) =>
    upstreamActionFactories({
      logger: env.logger,
      registry: env.registry,
      dataDir: env.dataDir,
      destinations: env.destinations,
      ...(env.store ? { streams: env.store } : {}),
      ...(env.exporters ? { exporters: env.exporters } : {}),
    }),
];

export type ActionRegistryMode =
  | {
      mode: 'live';
      deps: RuntimeDeps & { dataDir: string };
      /** Republish: publish on the broker and re-enter the rules (the republish source). */
      publisher: Publisher;
      streams: LocalStreams;
      links: SerialLinkLookup;
      exporters: ExporterSet;
      /**
       * Destination kinds, each loaded when a rule set names it (upstream/loaders.ts); the rule
       * host loads a set's kinds before compiling it (RuleHostDeps.destinations).
       */
      destinations: DestinationKinds;
    }
  | {
      mode: 'inert';
      /** Known stream names (undefined: any name is accepted, e.g. `rules check` without a config). */
      streamNames?: readonly string[];
      /** Known serial link names (undefined: any). */
      linkNames?: readonly string[];
      /** Deps for constructing destinations offline (nothing connects). Default: a silent logger, a private registry. */
      deps?: RuntimeDeps & { dataDir: string };
      /** Every destination kind, loaded (upstream/registry.ts allDestinationKinds): the options of any action are checked. */
      destinations: DestinationKinds;
    };

export function buildActionRegistry(m: ActionRegistryMode): ActionRegistry {
  let env: ActionEnv;
  if (m.mode === 'live') {
    env = { ...m.deps, publisher: m.publisher, streams: m.streams, links: m.links, store: m.streams, exporters: m.exporters, destinations: m.destinations };
  } else {
    const streams = m.streamNames ? new Set(m.streamNames) : undefined;
    const links = m.linkNames ? new Set(m.linkNames) : undefined;
    env = {
      ...(m.deps ?? { logger: pino({ level: 'silent' }), registry: new Registry(), dataDir: '.' }),
      destinations: m.destinations,
      publisher: { publish: () => undefined },
      streams: { append: () => Promise.resolve(0), ...(streams ? { hasStream: (n: string) => streams.has(n) } : {}) },
      // Only existence is checked offline; an inert link is never written to.
      links: { get: (n: string) => (links === undefined || links.has(n) ? ({} as SerialLink) : undefined) },
    };
  }
  const registry: ActionRegistry = new Map();
  for (const kinds of ACTION_KINDS) for (const [kind, factory] of kinds(env)) registry.set(kind, factory);
  return registry;
}
