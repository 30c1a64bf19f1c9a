// npm packages loaded on first use instead of at start, so an idle gateway does not pay for what its
// configuration does not use (docs/benchmarks.md, "Idle footprint"). Synchronous (require), for
// call sites that cannot await: a YAML parse, a cron expression check inside a zod refinement.
// Async call sites use `await import()` directly. A missing package is a clear GH_PACKAGE_MISSING
// naming what needed it, not a bare "Cannot find module" at some later moment.
import { createRequire } from 'node:module';
import { ERRORS } from './errors.js';

const load = createRequire(import.meta.url);

function isNotFound(err: unknown, name: string): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e?.code === 'MODULE_NOT_FOUND' && typeof e.message === 'string' && e.message.includes(`'${name}'`);
}

/**
 * `() => the package`, required on the first call and the same object afterwards. `feature` says
 * who needs it ("YAML configuration files"), for the error when the package is not installed.
 */
export function lazyPackage<T>(name: string, feature: string): () => T {
  let loaded: T | undefined;
  return () => {
    if (loaded === undefined) {
      try {
        loaded = load(name) as T;
      } catch (err) {
        if (isNotFound(err, name)) throw ERRORS.GH_PACKAGE_MISSING({ feature, package: name }, { cause: err });
        throw err;
      }
    }
    return loaded;
  };
}
