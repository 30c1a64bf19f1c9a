// The gateway's sources: the built-in ones (broker, serial, control, republish) and those
// configured under `sources:` (created through registry.ts, lazily). Starts each with its own
// intake view (meta keys namespaced by source name), stops them in reverse order, reports their
// statuses (GET /api/sources, /api/overview) and `gatehouse_source_up{kind,name}` in /metrics.
import { GatehouseError, errorMessage } from '../../../core/errors.js';
import { gauge } from '../../../core/metrics.js';
import type { CertExpiryEntry } from '../../../core/cert-expiry.js';
import { SOURCE_UP_STATES, type Source, type SourceStatus } from '../contract.js';
import type { Ingest } from '../ingest.js';
import type { SourceDeps } from './registry.js';

export { BrokerSource } from './mqtt-broker.js';
export { SerialSource } from './serial.js';
export { ControlSource } from './control.js';
export { RepublishSource } from './republish.js';
// The kinds (registry.ts) load with the first `sources:` entry: import them from registry.ts.
export type { SourceKind, SourceDeps } from './registry.js';

/** One `sources:` entry after validation (its kind's schema output). */
export interface SourceEntry {
  type: string;
  name: string;
  enabled: boolean;
  [option: string]: unknown;
}

/** Create (not start) the configured sources; a type the build does not know is refused with its key path. */
export async function createConfiguredSources(entries: readonly SourceEntry[], deps: SourceDeps): Promise<Source[]> {
  if (entries.length === 0) return [];
  // The kinds' schemas and factories: loaded only when the config lists sources.
  const { sourceKind } = await import('./registry.js');
  const out: Source[] = [];
  const names = new Set<string>();
  for (const [i, e] of entries.entries()) {
    if (names.has(e.name))
      throw new GatehouseError('GH_CONFIG_INVALID', `duplicate source name '${e.name}'`, {
        where: `sources.${i}.name`,
        hint: 'give each source a unique name',
      });
    names.add(e.name);
    if (!e.enabled) continue;
    const kind = sourceKind(e.type);
    if (!kind)
      throw new GatehouseError('GH_CONFIG_INVALID', `unknown source type '${e.type}'`, {
        where: `sources.${i}.type`,
        hint: 'see docs/configuration.md (sources) for the types of this build',
      });
    out.push(await kind.create(e, { ...deps, logger: deps.logger.child({ source: e.name }) }));
  }
  return out;
}

export class SourceSet {
  private readonly started: Source[] = [];

  constructor(
    private readonly sources: readonly Source[],
    private readonly ingest: Ingest,
    registry: SourceDeps['registry'],
  ) {
    const status = () => this.status();
    gauge(
      registry,
      'gatehouse_source_up',
      'Whether a source is up (1: running, or connected) or not (0: stopped, connecting, retrying, failed)',
      ['kind', 'name'],
      {
        collect(): void {
          this.reset();
          for (const s of status()) this.set({ kind: s.kind, name: s.name }, SOURCE_UP_STATES.has(s.state) ? 1 : 0);
        },
      },
    );
  }

  /** Start in order; a failing start stops those already started and rethrows. */
  async start(filter: (s: Source) => boolean = () => true): Promise<void> {
    for (const s of this.sources) {
      if (!filter(s) || this.started.includes(s)) continue;
      await s.start(this.ingest.intakeFor(s.name));
      this.started.push(s);
    }
  }

  /** Stop in reverse start order; every source is asked even when one fails. */
  async stop(filter: (s: Source) => boolean = () => true, log?: (err: string, s: Source) => void): Promise<void> {
    for (const s of [...this.started].reverse()) {
      if (!filter(s)) continue;
      await s.stop().catch((err: unknown) => log?.(errorMessage(err), s));
      this.started.splice(this.started.indexOf(s), 1);
    }
  }

  /** SIGHUP: the sources that serve TLS (http) read their files again; one that fails does not stop the others. */
  async reloadTls(log?: (err: string, s: Source) => void): Promise<void> {
    for (const s of this.started) if (s.reloadTls) await s.reloadTls().catch((err: unknown) => log?.(errorMessage(err), s));
  }

  /** The certificates started sources serve (http sources' tls), beside the broker's and the admin API's in /healthz. */
  servedCertificates(): CertExpiryEntry[] {
    return this.started.flatMap((s) => s.servedCertificates?.() ?? []);
  }

  status(): SourceStatus[] {
    return this.sources.map((s) => s.status());
  }
}
