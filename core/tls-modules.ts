// node:tls and node:https, required when first used. A gateway with no TLS listener, no TLS client
// and no https endpoint never needs them, and loading them costs ~0.8-1.5 MiB of an idle gateway's
// RSS (docs/benchmarks.md, round 18). `require` rather than `await import()`: the callers are
// synchronous, and an ESM import of node:tls also builds the root certificate list (the module
// namespace reads every export, `rootCertificates` included).
import { createRequire } from 'node:module';
import type * as Https from 'node:https';
import type * as Tls from 'node:tls';

const requireBuiltin = createRequire(import.meta.url);

/** The node:tls module (node caches it after the first call). */
export function nodeTls(): typeof Tls {
  return requireBuiltin('node:tls') as typeof Tls;
}

/** The node:https module (node caches it after the first call). */
export function nodeHttps(): typeof Https {
  return requireBuiltin('node:https') as typeof Https;
}
