// prom-client's classes, required from its lib/ files. Its index also loads its Pushgateway, which
// requires node:https and with it node:tls: ~0.8 MiB of an idle gateway's RSS for a client the
// gateway never uses (docs/benchmarks.md, round 18). Import the runtime classes from here; types may
// still come from 'prom-client' (`import type`), they are the same classes.
import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

const requireLib = createRequire(import.meta.url);

export const Registry = requireLib('prom-client/lib/registry') as typeof Prom.Registry;
export const Counter = requireLib('prom-client/lib/counter') as typeof Prom.Counter;
export const Gauge = requireLib('prom-client/lib/gauge') as typeof Prom.Gauge;
export const Histogram = requireLib('prom-client/lib/histogram') as typeof Prom.Histogram;
export type Registry = Prom.Registry;
export type Counter<T extends string = string> = Prom.Counter<T>;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export type Histogram<T extends string = string> = Prom.Histogram<T>;
