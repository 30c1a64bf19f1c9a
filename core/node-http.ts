// node:http, required (CommonJS) instead of imported (ESM). On Node 22 and 24 the ESM namespace of
// a builtin reads every export, and node:http's `WebSocket` export is a lazy getter that loads
// undici, Node's fetch and WebSocket client, and with it node:tls, http2, worker_threads and
// perf_hooks: ~3 MiB of an idle gateway's RSS for a client it never uses (docs/benchmarks.md,
// round 20). `require` reads no getter. Node 20 has no such getter: the same either way there.
import { createRequire } from 'node:module';
import type * as Http from 'node:http';

/** The node:http module, without its lazy exports evaluated. */
export const nodeHttp = createRequire(import.meta.url)('node:http') as typeof Http;
