// The set of exporters of a running gateway: one loop per configured (stream, destination), with
// dead-letter streams defined before the loops start.
import type { RuntimeDeps } from '../deps.js';
import { GatehouseError } from '../errors.js';
import type { LocalStreams } from '../store/types.js';
import { createExporter, destinationFactories, UplinkScheduler, type Exporter, type ExporterOptions, type ExporterStatus, type DestinationFactories } from '../upstream/index.js';

export interface ExporterSet {
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): ExporterStatus[];
}

export const allDestinationFactories: DestinationFactories = { ...destinationFactories };

export async function createExporterSet(
  options: ExporterOptions[],
  deps: RuntimeDeps & { streams: LocalStreams; dataDir: string; factories?: DestinationFactories; uplinkKbps?: number },
): Promise<ExporterSet> {
  const factories = deps.factories ?? allDestinationFactories;
  // One shared uplink cap, when configured, arbitrates between exporters by priority.
  const uplink = deps.uplinkKbps ? new UplinkScheduler(deps.uplinkKbps) : undefined;
  const exporters: Exporter[] = [];
  for (const [i, o] of options.entries()) {
    const factory = factories[o.destination.type];
    if (!factory) {
      throw new GatehouseError('GH_DESTINATION_CONFIG', `exporter '${o.name}': no destination of type '${o.destination.type}'`, {
        where: `exporters.${i}.destination.type`,
        hint: `use one of: ${Object.keys(factories).join(', ')}`,
      });
    }
    const dlq = o.deadLetterStream ?? `${o.stream}-dlq`;
    if (!deps.streams.hasStream(dlq)) await deps.streams.defineStream({ name: dlq, maxBytes: o.deadLetterMaxBytes, onFull: 'drop-oldest' });
    const destination = factory(o.destination, { logger: deps.logger.child({ exporter: o.name }), registry: deps.registry, dataDir: deps.dataDir });
    exporters.push(createExporter(o, { logger: deps.logger.child({ exporter: o.name }), registry: deps.registry, streams: deps.streams, destination, ...(uplink ? { uplink } : {}) }));
  }
  return {
    async start() {
      for (const e of exporters) await e.start();
    },
    async stop() {
      await Promise.all(exporters.map((e) => e.stop()));
    },
    status: () => exporters.map((e) => e.status()),
  };
}
