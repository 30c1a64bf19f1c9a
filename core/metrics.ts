// One way to declare a Prometheus metric: `counter(registry, name, help, labels)` and friends.
// Components declare their metrics next to their code through these helpers, always on the
// registry they were handed (no module-level state). Several instances of a component share one
// registry (links, exporters, destinations), so declaring is idempotent per registry: the first
// call registers the metric, later calls return it. A later declaration that disagrees (another
// type or other label names) is a bug and throws GH_INTERNAL naming the metric.
//
// Metrics read at scrape time (`collect`) belong to one owner each: declaring one twice throws,
// because the second owner's collect would silently never run. An owner that goes away before
// the registry does (the rules engine on a rule set swap) calls `registry.removeSingleMetric`.
import type { Registry } from 'prom-client';
import { Counter, Gauge, Histogram } from './prom-client.js';
import { ERRORS } from './errors.js';

export interface MetricOptions<M> {
  /** Fill the metric at scrape time (`this` is the metric). Makes the metric single-owner. */
  collect?: (this: M) => void | Promise<void>;
}

export interface HistogramOptions<M> extends MetricOptions<M> {
  /** Upper bounds of the buckets (prom-client's defaults when omitted). */
  buckets?: number[];
}

type MetricClass = typeof Counter | typeof Gauge | typeof Histogram;

function existing<M>(registry: Registry, kind: MetricClass, name: string, labelNames: readonly string[], owned: boolean): M | undefined {
  const found = registry.getSingleMetric(name);
  if (!found) return undefined;
  const bad = (why: string) => ERRORS.GH_INTERNAL({ reason: `metric ${name} declared twice on one registry: ${why}` });
  if (!(found instanceof kind)) throw bad(`first as another type, now as a ${kind.name}`);
  if (owned) throw bad('it is filled at scrape time (collect), so it has one owner');
  // prom-client keeps the declared label names on the metric; not part of its typings.
  const had = ((found as unknown as { labelNames?: readonly string[] }).labelNames ?? []).join(',');
  if (had !== labelNames.join(',')) throw bad(`labels [${had}] then [${labelNames.join(',')}]`);
  return found as M;
}

/** Get or create the counter `name` on `registry`. */
export function counter<L extends string = string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  options: MetricOptions<Counter<L>> = {},
): Counter<L> {
  return (
    existing<Counter<L>>(registry, Counter, name, labelNames, options.collect !== undefined) ??
    new Counter<L>({ name, help, labelNames, registers: [registry], ...options })
  );
}

/** Get or create the gauge `name` on `registry`. */
export function gauge<L extends string = string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  options: MetricOptions<Gauge<L>> = {},
): Gauge<L> {
  return (
    existing<Gauge<L>>(registry, Gauge, name, labelNames, options.collect !== undefined) ??
    new Gauge<L>({ name, help, labelNames, registers: [registry], ...options })
  );
}

/** Get or create the histogram `name` on `registry`. */
export function histogram<L extends string = string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  options: HistogramOptions<Histogram<L>> = {},
): Histogram<L> {
  return (
    existing<Histogram<L>>(registry, Histogram, name, labelNames, options.collect !== undefined) ??
    new Histogram<L>({ name, help, labelNames, registers: [registry], ...options })
  );
}
