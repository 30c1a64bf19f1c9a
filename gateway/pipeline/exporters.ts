// The set of exporters of a running gateway: one loop per configured (stream, destination), plus
// the loops that rule actions such as `kinesis` create on demand (see actions/upstream.ts).
// Dead-letter streams are defined before a loop starts.
import type { RuntimeDeps } from '../../core/deps.js';
import type { LocalStreams, StreamOptions } from '../store/types.js';
import {
  createDestination,
  createExporter,
  destinationFactories,
  UplinkScheduler,
  type Exporter,
  type ExporterOptions,
  type ExporterStatus,
  type DestinationFactories,
} from '../upstream/index.js';

export interface ExporterSet {
  /** Start every exporter in turn. A stop() while it runs wins: the exporters not started yet are not. */
  start(): Promise<void>;
  /** Stop every exporter (one starting finishes its start first: Exporter.stop). */
  stop(): Promise<void>;
  /** Create and (when the set is running) start one more exporter. */
  add(options: ExporterOptions): Promise<void>;
  has(name: string): boolean;
  /**
   * An upstream rule action's stream and exporter, validated (actions/upstream.ts): created by
   * activate() once a rule set using it is installed, never for a set that is refused.
   */
  declare(stream: StreamOptions, exporter: ExporterOptions): void;
  /**
   * Before a rule set whose upstream actions append to the streams in `used` is installed: each
   * declared one has its stream defined and its exporter added (and
   * started when the set runs). Declarations of sets never installed are dropped.
   */
  activate(used: ReadonlySet<string>): Promise<void>;
  status(): ExporterStatus[];
}

export interface ExporterSetDeps extends RuntimeDeps {
  streams: LocalStreams;
  dataDir: string;
  factories?: DestinationFactories;
  /** One shared uplink cap (kbit/s) arbitrating between exporters by priority. */
  uplinkKbps?: number;
  /** store.reserveBytes, for destinations writing files. */
  reserveBytes?: number;
}

export async function createExporterSet(options: ExporterOptions[], deps: ExporterSetDeps): Promise<ExporterSet> {
  const factories = deps.factories ?? destinationFactories;
  const uplink = deps.uplinkKbps ? new UplinkScheduler(deps.uplinkKbps) : undefined;
  const exporters = new Map<string, Exporter>();
  let declared = new Map<string, { stream: StreamOptions; exporter: ExporterOptions }>();
  let running = false;

  async function build(o: ExporterOptions): Promise<Exporter> {
    const dlq = o.deadLetterStream ?? `${o.stream}-dlq`;
    if (!deps.streams.hasStream(dlq)) await deps.streams.defineStream({ name: dlq, maxBytes: o.deadLetterMaxBytes, onFull: 'drop-oldest' });
    const logger = deps.logger; // the exporter and destination add their own name to each line
    const destination = createDestination(
      o.destination,
      { logger, registry: deps.registry, dataDir: deps.dataDir, ...(deps.reserveBytes === undefined ? {} : { reserveBytes: deps.reserveBytes }) },
      factories,
    );
    return createExporter(o, { logger, registry: deps.registry, streams: deps.streams, destination, ...(uplink ? { uplink } : {}) });
  }

  async function add(o: ExporterOptions): Promise<void> {
    if (exporters.has(o.name)) return;
    const e = await build(o);
    exporters.set(o.name, e);
    if (running) await e.start();
  }

  for (const o of options) exporters.set(o.name, await build(o));
  return {
    async start() {
      running = true;
      // A stop while an exporter starts wins: the ones after it do not start (they did, after the
      // stop had returned, and ran until the process ended).
      for (const e of exporters.values()) {
        if (!running) break;
        await e.start();
      }
    },
    async stop() {
      running = false;
      await Promise.all([...exporters.values()].map((e) => e.stop()));
    },
    add,
    has: (name) => exporters.has(name),
    declare(stream, exporter) {
      declared.set(exporter.name, { stream, exporter });
    },
    async activate(used) {
      const ready = declared;
      declared = new Map();
      for (const name of used) {
        const d = ready.get(name);
        if (!d) continue;
        if (!deps.streams.hasStream(d.stream.name)) await deps.streams.defineStream(d.stream);
        await add(d.exporter);
      }
    },
    status: () => [...exporters.values()].map((e) => e.status()),
  };
}
