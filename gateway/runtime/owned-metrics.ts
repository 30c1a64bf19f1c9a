// The metrics one gateway declares on the registry it is handed, taken off it again when the
// gateway stops or its start fails. Metrics filled at scrape time (collect) have one owner each
// (core/metrics.ts), and prom-client refuses a second registration of a name: without this, an
// embedder who started again on the same registry (after a failed start, say a port still taken,
// or after a stop) got "declared twice" / "already been registered" instead of a gateway, and a
// dead gateway's collect would have answered the scrapes.
//
// Recorded here, at the registry, rather than by each component in its stop: the gateway is the
// one owner of everything it declares, whatever component declared it and whenever (exporters and
// destinations share metrics by label, so none of them could remove one; rule actions and sources
// declare theirs lazily). The components get a handle on the registry that records what is
// registered through it; what was on the registry before (the embedder's own metrics, the default
// process metrics) is not touched, nor what the embedder declares beside the gateway meanwhile.
import type { Registry } from 'prom-client';

type Metric = Parameters<Registry['registerMetric']>[0];

export interface OwnedMetrics {
  /** The registry to hand the gateway's components: it records what they register. */
  readonly registry: Registry;
  /** Take every metric registered through `registry` off the registry (idempotent). */
  release(): void;
}

export function ownedMetrics(registry: Registry): OwnedMetrics {
  // The metric object last registered under each name: a name the registry holds with another
  // object (registered by someone else after ours was removed) is not ours to remove.
  const declared = new Map<string, Metric>();
  const registerMetric = (metric: Metric): void => {
    registry.registerMetric(metric);
    // prom-client keeps the name on the metric; not part of its typings (as labelNames, core/metrics.ts).
    declared.set((metric as unknown as { name: string }).name, metric);
  };
  const handle = new Proxy(registry, {
    get(target, prop) {
      if (prop === 'registerMetric') return registerMetric;
      const value: unknown = Reflect.get(target, prop, target);
      // Methods run on the registry itself (prom-client keeps its metrics on `this`).
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    registry: handle,
    release() {
      for (const [name, metric] of declared) if (registry.getSingleMetric(name) === metric) registry.removeSingleMetric(name);
      declared.clear();
    },
  };
}
