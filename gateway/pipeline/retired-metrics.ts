// The metric series of a retired rule exporter, taken off the registry when it goes
// (exporters.ts): the exporter's own (label `exporter`), those naming its dropped streams (label
// `stream`; the store removes its own too), and its
// destination's (labels `kind` and `target`) when no exporter left sends there. Without it, each
// rule update that moved an action to a new URL added a dozen series to /metrics for the life of
// the process. Only the gateway's metrics (gatehouse_*) are looked at: an embedder's stay.
import type { Metric, Registry } from 'prom-client';

type Labels = Record<string, string | number>;

export interface RetiredSeries {
  /** Absent: only the streams' series (a stream an operator dropped, admin/stream-drop.ts). */
  exporter?: string;
  streams: ReadonlySet<string>;
  /** The destination's series, unless another exporter still sends to it. */
  destination?: { kind: string; target: string };
}

function matches(labelNames: readonly string[], labels: Labels, r: RetiredSeries): boolean {
  if (r.exporter !== undefined && labelNames.includes('exporter') && labels.exporter === r.exporter) return true;
  if (labelNames.includes('stream') && r.streams.has(String(labels.stream))) return true;
  const d = r.destination;
  return d !== undefined && labelNames.includes('kind') && labelNames.includes('target') && labels.kind === d.kind && labels.target === d.target;
}

/** Remove every series of the gateway's metrics that names what retired; resolves with how many. */
export async function removeRetiredSeries(registry: Registry, retired: RetiredSeries): Promise<number> {
  let removed = 0;
  // The registry lists them as MetricObject; they are the metric instances (Counter, Gauge, ...).
  for (const metric of registry.getMetricsAsArray() as unknown as Metric[]) {
    // prom-client keeps the name and label names on the metric; not part of its typings (core/metrics.ts).
    const { name, labelNames = [] } = metric as unknown as { name: string; labelNames?: readonly string[] };
    if (!name.startsWith('gatehouse_') || labelNames.length === 0) continue;
    const seen = new Set<string>();
    for (const v of (await metric.get()).values) {
      // A histogram's bucket series carry `le` beside the metric's labels: remove() takes the metric's.
      const labels: Labels = {};
      for (const l of labelNames) if (v.labels[l] !== undefined) labels[l] = v.labels[l] as string | number;
      const key = JSON.stringify(labels);
      if (seen.has(key) || !matches(labelNames, labels, retired)) continue;
      seen.add(key);
      metric.remove(labels);
      removed++;
    }
  }
  return removed;
}
